#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/samplers/fk_corrector.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>

using namespace sf;

namespace {

Particles standard_normals(std::size_t n, std::size_t d, std::uint64_t seed) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = r.normal();
  }
  return x;
}

// E[x] and E[x²] under q^β for a 1-D mixture, by quadrature.
std::pair<double, double> tempered_moments(const GaussianMixture& q, double beta) {
  const std::size_t m = 40001;
  Particles g(m, 1);
  for (std::size_t i = 0; i < m; ++i) g(i, 0) = -15 + 30.0 * static_cast<double>(i) / (m - 1);
  std::vector<double> lp(m);
  q.log_density(g.rows(), lp);
  double z = 0, m1 = 0, m2 = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double w = std::exp(beta * lp[i]);
    z += w, m1 += w * g(i, 0), m2 += w * g(i, 0) * g(i, 0);
  }
  return {m1 / z, m2 / z};
}

}  // namespace

TEST(FkCorrector, DiffusedMixtureEndpoints) {
  const GaussianMixture data = make_mix1d(2.0, "mix1d-near");
  const NoiseSchedule vp = NoiseSchedule::vp();
  const GaussianMixture q0 = diffuse(data, vp, 0.0);
  Particles x(3, 1, {-2.0, 0.5, 3.0});
  std::vector<double> a(3), b(3);
  data.log_density(x.rows(), a);
  q0.log_density(x.rows(), b);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(a[i], b[i], 1e-12);
  EXPECT_LT(vp.alpha(1.0), 0.01);  // q_T is close to N(0, I)
}

// β ∇log q_0 by central differences of the mixture's log-density.
double tempered_score_fd(const GaussianMixture& q, double beta, double x) {
  const double h = 1e-5;
  Particles at(2, 1, {x - h, x + h});
  std::vector<double> lp(2);
  q.log_density(at.rows(), lp);
  return beta * (lp[1] - lp[0]) / (2 * h);
}

// The state's grad is the score of the law the run samples, at the particles it holds: after
// init, after every move and after every resampling (the trace's KSD reads it).
TEST(FkCorrector, StateHoldsTheTargetScoreAtItsParticles) {
  const double beta = 2;
  const GaussianMixture data = make_mix1d(2.0, "mix1d-near");
  const FkCorrector fk(data,
                       FkCorrectorConfig{beta, 40, 5, {}, resampler_by_name("systematic"), 0.95});
  SamplerState s = fk.init(standard_normals(200, 1, 1));
  const auto expect_target_score = [&](const std::string& when) {
    ASSERT_EQ(s.grad.n(), s.x.n()) << when;
    for (std::size_t i = 0; i < s.x.n(); ++i)
      ASSERT_NEAR(s.grad(i, 0), tempered_score_fd(data, beta, s.x(i, 0)), 1e-5)
          << when << ", particle " << i << " at " << s.x(i, 0);
  };
  expect_target_score("after init");
  std::size_t resampled = 0;
  for (int k = 0; k < 40; ++k) {
    resampled += fk.step(s).resampled;
    expect_target_score("after step " + std::to_string(k + 1));
  }
  EXPECT_GT(resampled, 0u);  // the resampled states were checked too
}

class FkTemperatures : public ::testing::TestWithParam<double> {};

TEST_P(FkTemperatures, WeightedMomentsMatchTheTemperedMixture) {
  const double beta = GetParam();
  const GaussianMixture data = make_mix1d(2.0, "mix1d-near");
  const FkCorrector fk(data,
                       FkCorrectorConfig{beta, 1000, 5, {}, resampler_by_name("systematic"), 0.5});
  const std::size_t n = 20000;
  SamplerState s = fk.init(standard_normals(n, 1, 1));
  run(fk, s, 1000, {});
  const auto [m1, m2] = tempered_moments(data, beta);
  const auto& lw = s.x.log_weights();
  const double mean = weighted_mean(s.x.rows(), lw)(0);
  double second = 0;
  const auto w = normalised_weights(lw, n);
  for (std::size_t i = 0; i < n; ++i) second += w[i] * s.x(i, 0) * s.x(i, 0);
  const double ess = normalised_ess(lw) * static_cast<double>(n);
  const double var = m2 - m1 * m1;
  // 4 standard errors with the ESS as sample size, plus 0.03 for the Euler–Maruyama
  // discretisation (1000 steps; its bias at β = 1 is about 0.01 here).
  EXPECT_NEAR(mean, m1, 4 * std::sqrt(var / ess) + 0.03) << beta;
  EXPECT_NEAR(second, m2, 4 * std::sqrt((m2 * m2 * 2) / ess) + 0.06) << beta;
  // Without the correction the β = 2 answer is visibly off: the plain reverse SDE gives q_0.
  if (beta != 1.0) {
    const auto [p1, p2] = tempered_moments(data, 1.0);
    EXPECT_GT(std::abs(p1 - m1), 8 * std::sqrt(var / ess) + 0.03);
  }
}

INSTANTIATE_TEST_SUITE_P(Temperatures, FkTemperatures, ::testing::Values(1.0, 2.0, 0.5));
