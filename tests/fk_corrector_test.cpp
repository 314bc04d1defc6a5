#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include <Eigen/Dense>

#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/samplers/fk_corrector.hpp>
#include <scoreflow/samplers/weighted.hpp>
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

FkCorrector tempering(const GaussianMixture& data, double beta, std::size_t steps,
                      double ess_threshold) {
  FkCorrectorConfig cfg;
  cfg.steps = steps;
  cfg.seed = 5;
  cfg.resampler = resampler_by_name("systematic");
  cfg.ess_threshold = ess_threshold;
  return FkCorrector({mixture_factor(data, cfg.sde, beta)}, data.dim(), cfg);
}

}  // namespace

TEST(FkCorrector, DiffusedMixtureEndpoints) {
  const GaussianMixture data = make_mix1d(2.0, "mix1d-near");
  const LinearSde vp = LinearSde::by_name("vp");
  const GaussianMixture q0 = diffuse(data, vp, 0.0);
  Particles x(3, 1, {-2.0, 0.5, 3.0});
  std::vector<double> a(3), b(3);
  data.log_density(x.rows(), a);
  q0.log_density(x.rows(), b);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(a[i], b[i], 1e-12);
  EXPECT_LT(vp.mean_coef(1.0), 0.01);  // q_T is close to N(0, I)
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
  const FkCorrector fk = tempering(data, beta, 40, 0.95);
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
  const FkCorrector fk = tempering(data, beta, 1000, 0.5);
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

namespace {

GaussianMixture isotropic_pair(Eigen::Vector2d m0, Eigen::Vector2d m1, double w0, double sd,
                               const std::string& name) {
  const Eigen::MatrixXd cov = sd * sd * Eigen::MatrixXd::Identity(2, 2);
  return GaussianMixture(name, {{w0, m0, cov}, {1 - w0, m1, cov}});
}

// Weighted mean and second moments E[x_k x_l] of a weighted state.
std::pair<Eigen::Vector2d, Eigen::Matrix2d> weighted_moments(const SamplerState& s) {
  const auto w = normalised_weights(s.x.log_weights(), s.x.n());
  Eigen::Vector2d m = Eigen::Vector2d::Zero();
  Eigen::Matrix2d m2 = Eigen::Matrix2d::Zero();
  for (std::size_t i = 0; i < s.x.n(); ++i) {
    const Eigen::Vector2d x(s.x(i, 0), s.x(i, 1));
    m += w[i] * x;
    m2 += w[i] * x * x.transpose();
  }
  return {m, m2};
}

// Exact mean and second moments of a mixture.
std::pair<Eigen::Vector2d, Eigen::Matrix2d> mixture_moments(const GaussianMixture& g) {
  Eigen::Vector2d m = Eigen::Vector2d::Zero();
  Eigen::Matrix2d m2 = Eigen::Matrix2d::Zero();
  for (const auto& c : g.component_list()) {
    m += c.weight * c.mean;
    m2 += c.weight * (c.cov + c.mean * c.mean.transpose());
  }
  return {m, m2};
}

}  // namespace

TEST(MixtureProduct, DensityIsTheNormalisedProduct) {
  const auto a = isotropic_pair({-1, 0.5}, {1.5, 0}, 0.3, 0.7, "a");
  const GaussianMixture b("b",
                          {{0.6, Eigen::Vector2d(0, -1), Eigen::Matrix2d{{0.5, 0.2}, {0.2, 0.8}}},
                           {0.4, Eigen::Vector2d(0.5, 1.2), Eigen::Matrix2d::Identity()}});
  double log_z = 0;
  const GaussianMixture ab = mixture_product(a, b, &log_z);
  // log Z by quadrature on a fine grid.
  const std::size_t m = 601;
  Particles grid(m * m, 2);
  const double lo = -6, h = 12.0 / (m - 1);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < m; ++j) {
      grid(i * m + j, 0) = lo + h * static_cast<double>(i);
      grid(i * m + j, 1) = lo + h * static_cast<double>(j);
    }
  std::vector<double> la(m * m), lb(m * m), lab(m * m);
  a.log_density(grid.rows(), la);
  b.log_density(grid.rows(), lb);
  ab.log_density(grid.rows(), lab);
  double z = 0;
  for (std::size_t k = 0; k < m * m; ++k) z += std::exp(la[k] + lb[k]) * h * h;
  EXPECT_NEAR(log_z, std::log(z), 1e-6);
  for (std::size_t k = 0; k < m * m; k += 997) EXPECT_NEAR(lab[k], la[k] + lb[k] - log_z, 1e-9);
}

// The corrector on two exact diffused mixtures samples their product: its weighted moments
// and log Z estimate match the closed form within Monte Carlo error, while summing the two
// scores without the weights does not. Resampling ties the particles of one run together, so
// the error is measured across independent runs, not from one run's ESS.
TEST(FkCorrector, ProductOfTwoMixturesMatchesTheClosedForm) {
  const auto a = isotropic_pair({-1.5, 0}, {1.5, 0}, 0.3, 0.8, "a");
  const auto b = isotropic_pair({0, -1.5}, {1.2, 1.5}, 0.5, 0.9, "b");
  double log_z = 0;
  const auto [mean, second] = mixture_moments(mixture_product(a, b, &log_z));
  const std::size_t runs = 16, n = 2000, steps = 1000;
  // Per run: mean (2), E[x_k²] (2), log Z, and the same means without the weights.
  std::vector<std::array<double, 7>> est(runs);
  for (std::size_t r = 0; r < runs; ++r) {
    FkCorrectorConfig cfg;
    cfg.steps = steps;
    cfg.seed = 100 + r;
    const FkCorrector fk({mixture_factor(a, cfg.sde, 1), mixture_factor(b, cfg.sde, 1)}, 2, cfg);
    SamplerState s = fk.init(standard_normals(n, 2, 100 + r));
    SamplerState plain = fk.init(standard_normals(n, 2, 100 + r));
    for (std::size_t k = 0; k < steps; ++k) {
      fk.step(s);
      fk.step(plain);
      plain.x.log_weights().assign(n, 0.0);
    }
    const auto [m, m2] = weighted_moments(s);
    const Eigen::Vector2d pm = weighted_moments(plain).first;
    est[r] = {
        m(0),  m(1), m2(0, 0), m2(1, 1), s.log_normaliser + log_mean_weight(s.x.log_weights()),
        pm(0), pm(1)};
  }
  const auto stat = [&](int j) {
    double mu = 0, var = 0;
    for (const auto& e : est) mu += e[j] / runs;
    for (const auto& e : est) var += (e[j] - mu) * (e[j] - mu) / (runs - 1);
    return std::pair{mu, std::sqrt(var / runs)};
  };
  // 4 standard errors plus the Euler–Maruyama bias of 1000 steps (about 0.01 in 1-D, above;
  // the log Z estimate moved by 0.2 between 400 and 1600 steps, so 0.05 for it at 1000).
  const double exact[5] = {mean(0), mean(1), second(0, 0), second(1, 1), log_z};
  const char* what[5] = {"E[x0]", "E[x1]", "E[x0^2]", "E[x1^2]", "log Z"};
  for (int j = 0; j < 5; ++j) {
    const auto [mu, se] = stat(j);
    std::printf("%-8s FK %.4f +- %.4f, exact %.4f\n", what[j], mu, se, exact[j]);
    EXPECT_NEAR(mu, exact[j], 4 * se + (j == 4 ? 0.05 : 0.03)) << what[j];
  }
  // Without the weights the summed scores give another law.
  double gap = 0;
  for (int j = 5; j < 7; ++j) {
    const auto [mu, se] = stat(j);
    std::printf("unweighted E[x%d] %.4f +- %.4f, exact %.4f\n", j - 5, mu, se, exact[j - 5]);
    gap = std::max(gap, (std::abs(mu - exact[j - 5]) - 0.03) / se);
  }
  EXPECT_GT(gap, 8);
}
