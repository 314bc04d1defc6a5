#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/score/heat_ball_estimator.hpp>
#include <scoreflow/sde/fokker_planck.hpp>

using namespace sf;

namespace {

// OU dX = −X dt + √2 dW from N(m₀, s₀² I): θ(t) = t and p_t is Gaussian (exact reference).
struct OuCase {
  std::size_t n;
  std::unique_ptr<ForwardSde> sde = make_forward_sde("ou:theta=1,sigma=1.4142135623730951");
  double m0 = 0.8, s0 = 0.5, t = 1;
  StartLaw start() const { return {Particles(1, n, m0), s0}; }
  GaussianLaw law() const { return linear_sde_law(*sde, std::vector<double>(n, m0), s0, t); }
};

std::vector<double> query(std::size_t n, double shift) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = 0.3 + shift * std::cos(static_cast<double>(i + 1));
  return x;
}

}  // namespace

TEST(ForwardSampler, TimeChangeMatchesTheClosedFormForVp) {
  const auto vp = make_forward_sde("vp");
  const TimeChange clock(*vp, 1.0);
  for (double s : {0.0, 0.1, 0.5, 1.0}) {
    const double exact = 0.5 * (0.1 * s + 0.5 * 19.9 * s * s);
    EXPECT_NEAR(clock.theta(s), exact, 1e-7);  // linear interpolation between 2^14 nodes
    EXPECT_NEAR(clock.inverse(exact), s, 1e-6);
  }
}

TEST(ForwardSampler, LinearLawMatchesTheOuClosedForm) {
  const OuCase c{1};
  const GaussianLaw g = c.law();
  EXPECT_NEAR(g.mean[0], 0.8 * std::exp(-1.0), 1e-10);
  EXPECT_NEAR(g.cov[0], 0.25 * std::exp(-2.0) + 1 - std::exp(-2.0), 1e-10);
}

class OuMeanValue : public ::testing::TestWithParam<std::tuple<std::size_t, double, double>> {};

// Density and score within 4 standard errors of the exact Gaussian, at every radius.
TEST_P(OuMeanValue, DensityAndScoreMatchTheExactLaw) {
  const auto [n, r, shift] = GetParam();
  const OuCase c{n};
  const TimeChange clock(*c.sde, c.t);
  const auto sampler = make_forward_sampler(*c.sde, c.start(), c.t, 1);
  const auto x = query(n, shift);
  HeatBallEstimatorOptions opt;
  opt.radius = r;
  opt.samples = 400000;
  opt.seed = 5;
  const HeatBallEstimate e = heat_ball_estimate(*c.sde, *sampler, clock, x, c.t, opt);
  const GaussianLaw g = c.law();
  const double p = std::exp(g.log_density(x.data()));
  const auto s = g.score(x.data());
  EXPECT_NEAR(e.density, p, 4 * e.density_se) << "rel se " << e.density_se / p;
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_NEAR(e.score[i], s[i], 4 * e.score_se[i]) << "coordinate " << i;
  EXPECT_NEAR(e.log_density, std::log(p), 4 * e.log_density_se);
  EXPECT_NEAR(e.entropy, -p * std::log(p), 4 * e.entropy_se + 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Radii, OuMeanValue,
                         ::testing::Values(std::tuple{1u, 0.5, 0.0}, std::tuple{1u, 1.5, 0.9},
                                           std::tuple{1u, 3.0, -0.7}, std::tuple{2u, 0.8, 0.5},
                                           std::tuple{2u, 2.0, -0.8}, std::tuple{3u, 1.5, 0.4}));

HeatBallEstimate ou_estimate(std::size_t n, double r, bool source, std::uint64_t seed = 5,
                             double shift = 0.6) {
  const OuCase c{n};
  const TimeChange clock(*c.sde, c.t);
  const auto sampler = make_forward_sampler(*c.sde, c.start(), c.t, 1);
  HeatBallEstimatorOptions opt;
  opt.radius = r;
  opt.samples = 200000;
  opt.source = source;
  opt.seed = seed;
  return heat_ball_estimate(*c.sde, *sampler, clock, query(n, shift), c.t, opt);
}

// Without the source term −(2/σ²)∇·(b p) the formula is the homogeneous heat equation's, which
// p does not solve. Near the mean F = p(n − x·(x − m)/v) ≈ n p, so at n = 2, R = 3 the
// density is off by many standard errors.
TEST(HeatBallEstimator, SourceTermIsNeeded) {
  const HeatBallEstimate with = ou_estimate(2, 3.0, true, 5, 0.0);
  const HeatBallEstimate without = ou_estimate(2, 3.0, false, 5, 0.0);
  const OuCase c{2};
  const auto x = query(2, 0.0);
  const double p = std::exp(c.law().log_density(x.data()));
  EXPECT_NEAR(with.density, p, 4 * with.density_se);
  EXPECT_GT(std::abs(without.density - p), 8 * without.density_se)
      << without.density << " vs " << p;
}

TEST(HeatBallEstimator, SameNumbersForAnyThreadCount) {
  const int threads = thread_count();
  set_thread_count(1);
  const HeatBallEstimate one = ou_estimate(2, 1.0, true, 9);
  set_thread_count(std::max(threads, 2));
  const HeatBallEstimate two = ou_estimate(2, 1.0, true, 9);
  set_thread_count(threads);
  EXPECT_EQ(one.density, two.density);
  EXPECT_EQ(one.score, two.score);
  EXPECT_EQ(one.score_se, two.score_se);
}

// A nonlinear drift through Euler paths, against finite-volume Fokker–Planck:
// dX = (−X − X³) dt + 0.8 dW from 1.5, t = 1 (E4's 1-D case).
TEST(HeatBallEstimator, NonlinearDriftMatchesFokkerPlanck) {
  const auto sde = make_forward_sde("ou-cubic");
  const double t = 1;
  const TimeChange clock(*sde, t);
  const auto sampler = make_forward_sampler(*sde, {Particles(1, 1, 1.5), 0}, t, 400);
  FokkerPlanckOptions fp;
  fp.horizon = t;
  fp.steps = 4000;
  const auto pde = solve_fokker_planck(*sde, {1.5}, {{-3, 4, 2000}}, fp);
  HeatBallEstimatorOptions opt;
  opt.radius = 1.2;
  opt.samples = 100000;
  for (double x : {-0.4, 0.1, 0.6}) {
    const HeatBallEstimate e = heat_ball_estimate(*sde, *sampler, clock, std::vector{x}, t, opt);
    const double p = pde.density_at(&x), s = pde.score(&x)[0];
    // Euler (400 steps) and the finite-volume grid each carry about 1 % error.
    EXPECT_NEAR(e.density, p, 4 * e.density_se + 0.02 * p) << "x " << x;
    EXPECT_NEAR(e.score[0], s, 4 * e.score_se[0] + 0.05) << "x " << x;
  }
}

TEST(HeatBallEstimator, GammaCdfMatchesClosedForms) {
  for (double x : {0.1, 1.0, 5.0}) {
    EXPECT_NEAR(gamma_cdf(1, 2, x), 1 - std::exp(-2 * x), 1e-13);
    EXPECT_NEAR(gamma_cdf(2, 1, x), 1 - std::exp(-x) * (1 + x), 1e-13);
  }
  EXPECT_EQ(gamma_cdf(3.5, 0.5, 0), 0.0);
}

TEST(HeatBallEstimator, RejectsBadInput) {
  const OuCase c{1};
  const TimeChange clock(*c.sde, c.t);
  const auto sampler = make_forward_sampler(*c.sde, c.start(), c.t, 1);
  const std::vector<double> x{0.1};
  HeatBallEstimatorOptions opt;
  opt.radius = 4;  // √(4π θ(1)) = 3.54
  EXPECT_THROW(heat_ball_estimate(*c.sde, *sampler, clock, x, c.t, opt), InvalidArgument);
  opt.radius = 1;
  EXPECT_THROW(heat_ball_estimate(*c.sde, *sampler, clock, x, 2.0, opt), InvalidArgument);
  opt.tip = 0;
  EXPECT_THROW(heat_ball_estimate(*c.sde, *sampler, clock, x, c.t, opt), InvalidArgument);
  opt.tip = 1e-3, opt.score_tip = 1e-4;  // the score's cut may not lie below the density's
  EXPECT_THROW(heat_ball_estimate(*c.sde, *sampler, clock, x, c.t, opt), InvalidArgument);
}
