#include <gtest/gtest.h>

#include <Eigen/LU>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/diagnostics/kl.hpp>
#include <scoreflow/diagnostics/ksd.hpp>
#include <scoreflow/diagnostics/sliced_wasserstein.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/targets/registry.hpp>
#include "helpers.hpp"

using namespace sf;

namespace {

Particles normals(std::size_t n, std::size_t d, std::uint64_t seed, double mean = 0,
                  double sd = 1) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = mean + sd * r.normal();
  }
  return x;
}

struct MeanSe {
  double mean, se;
};
template <class F>
MeanSe replicate(int reps, F&& f) {
  double s = 0, s2 = 0;
  for (int r = 0; r < reps; ++r) {
    const double v = f(static_cast<std::uint64_t>(r));
    s += v;
    s2 += v * v;
  }
  const double m = s / reps;
  return {m, std::sqrt((s2 / reps - m * m) / (reps - 1))};
}

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}
// E|Z| for Z ~ N(m, s²).
double abs_mean(double m, double s) {
  return s * std::sqrt(2 / std::numbers::pi) * std::exp(-m * m / (2 * s * s)) +
         m * (1 - 2 * normal_cdf(-m / s));
}

}  // namespace

TEST(Kl, GaussianClosedForm) {
  Eigen::VectorXd m1(1), m2(1);
  m1 << 0;
  m2 << 1;
  Eigen::MatrixXd s1(1, 1), s2(1, 1);
  s1 << 1;
  s2 << 2;
  // ½(σ1²/σ2² + μ²/σ2² − 1 + ln σ2²/σ1²) = ½ ln 2.
  EXPECT_NEAR(kl_gaussian(m1, s1, m2, s2), 0.5 * std::log(2.0), 1e-14);
  EXPECT_NEAR(kl_gaussian(m1, s1, m1, s1), 0.0, 1e-14);
}

TEST(Kl, KdeEstimateApproachesTheExactValue) {
  // p = N(0, 1), π = N(1, 1): KL = ½. KDE smoothing adds about h²/2 ≈ 0.006 of entropy
  // bias at n = 20,000; the Monte Carlo error of the mean log-ratio is ≈ 0.008.
  const auto t = make_target("gauss:d=1,mean=1");
  const Particles x = normals(20000, 1, 1);
  EXPECT_NEAR(kl_kde(x.rows(), *t), 0.5, 0.04);
  EXPECT_THROW(kl_kde(x.rows(), *make_target("gauss:d=2")), InvalidArgument);
}

TEST(Mmd, UnbiasedEstimateMatchesGaussianClosedForm) {
  // X ~ N(0,1), Y ~ N(μ,1), k = exp(−r²/2ℓ²): MMD² = 2(1 + 2/ℓ²)^{-1/2}(1 − exp(−μ²/(2(ℓ² + 2)))).
  const double mu = 0.5, ell = 1.3;
  const double exact =
      2 / std::sqrt(1 + 2 / (ell * ell)) * (1 - std::exp(-mu * mu / (2 * (ell * ell + 2))));
  const auto r = replicate(30, [&](std::uint64_t s) {
    return mmd2(normals(1500, 1, 2 * s).rows(), normals(1500, 1, 2 * s + 1, mu).rows(), ell, {}, {},
                true);
  });
  EXPECT_NEAR(r.mean, exact, 4 * r.se);
  EXPECT_GT(exact, 10 * r.se);  // the check can tell a shift from none
}

TEST(Mmd, WeightedVersionEqualsDuplicatedPoints) {
  const Particles x(3, 1, {0.0, 1.0, 2.0});
  const Particles y(4, 1, {0.0, 1.0, 1.0, 2.0});
  const Particles z(2, 1, {0.5, 3.0});
  const std::vector<double> lw{0.0, std::log(2.0), 0.0};
  EXPECT_NEAR(mmd2(x.rows(), z.rows(), 1.0, lw), mmd2(y.rows(), z.rows(), 1.0), 1e-14);
  EXPECT_NEAR(mmd2(x.rows(), x.rows(), 1.0), 0.0, 1e-15);
}

TEST(EnergyDistance, MatchesGaussianClosedForm) {
  const double mu = 0.7;
  const std::size_t n = 1000;
  // V-statistic expectation: 2E|X−Y| − (n−1)/n (E|X−X'| + E|Y−Y'|), X−X' ~ N(0, 2).
  const double nn = static_cast<double>(n);
  const double exact =
      2 * abs_mean(mu, std::sqrt(2.0)) - 2 * (nn - 1) / nn * abs_mean(0, std::sqrt(2.0));
  const auto r = replicate(30, [&](std::uint64_t s) {
    return energy_distance(normals(n, 1, 2 * s).rows(), normals(n, 1, 2 * s + 1, mu).rows());
  });
  EXPECT_NEAR(r.mean, exact, 4 * r.se);
}

// The pair loops run in SIMD lanes over a transposed copy: against plain loops written from
// the definitions, weighted and not, sizes that leave lane remainders.
TEST(EnergyDistance, AndKsdEqualPlainPairLoops) {
  for (const std::size_t d : {1, 3}) {
    const Particles x = normals(37, d, 5, 0.3), y = normals(53, d, 6);
    std::vector<double> lw(x.n());
    for (std::size_t i = 0; i < x.n(); ++i) lw[i] = 0.1 * static_cast<double>(i % 7);
    const auto w = normalised_weights(lw, x.n());
    const auto dist = [&](ConstRows a, std::size_t i, ConstRows b, std::size_t j) {
      double r2 = 0;
      for (std::size_t k = 0; k < d; ++k)
        r2 += (a.row(i)[k] - b.row(j)[k]) * (a.row(i)[k] - b.row(j)[k]);
      return std::sqrt(r2);
    };
    double xy = 0, xx = 0, yy = 0;
    const double ny = static_cast<double>(y.n());
    for (std::size_t i = 0; i < x.n(); ++i)
      for (std::size_t j = 0; j < y.n(); ++j) xy += w[i] * dist(x.rows(), i, y.rows(), j) / ny;
    for (std::size_t i = 0; i < x.n(); ++i)
      for (std::size_t j = 0; j < x.n(); ++j) xx += w[i] * w[j] * dist(x.rows(), i, x.rows(), j);
    for (std::size_t i = 0; i < y.n(); ++i)
      for (std::size_t j = 0; j < y.n(); ++j) yy += dist(y.rows(), i, y.rows(), j) / (ny * ny);
    EXPECT_NEAR(energy_distance(x.rows(), y.rows(), lw), 2 * xy - xx - yy, 1e-12) << d;

    // KSD² with the IMQ kernel (c = 1, β = −½), from its Stein kernel u_p(x, y).
    Particles g(x.n(), d);
    make_target(fmt::format("gauss:d={}", d))->score(x.rows(), g.rows());
    double weighted = 0, unweighted = 0;
    for (std::size_t i = 0; i < x.n(); ++i)
      for (std::size_t j = 0; j < x.n(); ++j) {
        double r2 = 0, sxsy = 0, sx_r = 0, sy_r = 0;
        for (std::size_t k = 0; k < d; ++k) {
          const double r = x(i, k) - x(j, k);
          r2 += r * r, sxsy += g(i, k) * g(j, k), sx_r += g(i, k) * r, sy_r += g(j, k) * r;
        }
        const double q = 1 + r2, beta = -0.5;
        const double u = sxsy * std::pow(q, beta) +
                         2 * beta * std::pow(q, beta - 1) * (sy_r - sx_r) -
                         2 * beta * static_cast<double>(d) * std::pow(q, beta - 1) -
                         4 * beta * (beta - 1) * std::pow(q, beta - 2) * r2;
        weighted += w[i] * w[j] * u;
        if (i != j) unweighted += u;
      }
    const double n = static_cast<double>(x.n());
    EXPECT_NEAR(ksd2_imq(x.rows(), g.rows(), lw), weighted, 1e-12) << d;
    EXPECT_NEAR(ksd2_imq(x.rows(), g.rows()), unweighted / (n * (n - 1)), 1e-12) << d;
  }
}

// A trace compares every row with one reference: its own terms are computed once, and the
// results equal the two-sample functions to the bit.
TEST(ReferenceSample, EqualsMmdAndEnergyDistanceToTheBit) {
  const Particles y = normals(301, 2, 8), x = normals(257, 2, 9, 0.4);
  std::vector<double> lw(x.n());
  for (std::size_t i = 0; i < x.n(); ++i) lw[i] = -0.01 * static_cast<double>(i);
  const ReferenceSample ref(y, 1.1);
  EXPECT_EQ(ref.mmd2(x.rows()), mmd2(x.rows(), y.rows(), 1.1));
  EXPECT_EQ(ref.mmd2(x.rows(), lw), mmd2(x.rows(), y.rows(), 1.1, lw));
  EXPECT_EQ(ref.energy_distance(x.rows()), energy_distance(x.rows(), y.rows()));
  EXPECT_EQ(ref.energy_distance(x.rows(), lw), energy_distance(x.rows(), y.rows(), lw));
  EXPECT_THROW(ReferenceSample(y, 0.0), InvalidArgument);
  EXPECT_THROW(ref.mmd2(normals(5, 3, 1).rows()), InvalidArgument);
}

TEST(SlicedWasserstein, OneDimensionalExactCases) {
  const std::vector<double> a{0, 1}, half{0.5, 0.5}, b{0}, one{1};
  EXPECT_NEAR(wasserstein2_squared_1d(a, half, a, half), 0.0, 1e-15);
  EXPECT_NEAR(wasserstein2_squared_1d(b, one, one, one), 1.0, 1e-15);
  EXPECT_NEAR(wasserstein2_squared_1d(a, half, b, one), 0.5, 1e-15);
  const std::vector<double> c{0, 1, 2}, third{1.0 / 3, 1.0 / 3, 1.0 / 3}, d{3};
  EXPECT_NEAR(wasserstein2_squared_1d(c, third, d, one), (9 + 4 + 1) / 3.0, 1e-12);
}

TEST(SlicedWasserstein, IsotropicGaussians) {
  // SW2² = |Δμ|²/d + (σ1 − σ2)² for isotropic Gaussians.
  const std::size_t d = 3;
  const Particles x = normals(40000, d, 1), y = normals(40000, d, 2, 1.0, 1.5);
  const double sw = sliced_wasserstein2(x.rows(), y.rows(), 200, 3);
  EXPECT_NEAR(sw * sw, 3 * 1.0 / 3 + 0.25, 0.03);
}

TEST(Ksd, UnbiasedForExactSamplesAndPositiveOtherwise) {
  const auto t = make_target("gauss:d=2");
  auto ksd_of = [&](double shift, std::uint64_t seed) {
    const Particles x = normals(600, 2, seed, shift);
    Particles g(x.n(), 2);
    t->score(x.rows(), g.rows());
    return ksd2_imq(x.rows(), g.rows());
  };
  const auto exact = replicate(30, [&](std::uint64_t s) { return ksd_of(0.0, s); });
  EXPECT_NEAR(exact.mean, 0.0, 4 * exact.se);
  const auto shifted = replicate(10, [&](std::uint64_t s) { return ksd_of(0.5, s); });
  EXPECT_GT(shifted.mean, 10 * exact.se + 4 * shifted.se);
}

TEST(SummaryStats, EssModeCoverageFisherAndExtremeWeights) {
  EXPECT_NEAR(normalised_ess(std::vector<double>(10, 3.0)), 1.0, 1e-14);
  std::vector<double> lw(100, -1e6);
  lw[7] = 1e6;  // log-sum-exp keeps this finite
  EXPECT_NEAR(normalised_ess(lw), 0.01, 1e-14);
  const Particles x(4, 1, {0.0, 5.0, 10.0, 20.0});
  EXPECT_NEAR(
      weighted_mean(x.rows(), lw.data() ? std::vector<double>{1e5, -1e5, -1e5, -1e5} : lw)(0), 0.0,
      1e-12);

  const std::vector<std::vector<double>> modes{{0.0}, {10.0}};
  const Particles all_one(3, 1, {0.1, -0.2, 0.3});
  EXPECT_NEAR(mode_coverage(all_one.rows(), modes).entropy, 0.0, 1e-14);
  EXPECT_EQ(mode_coverage(all_one.rows(), modes).modes_hit, 1u);
  const Particles both(4, 1, {0.1, 9.0, -0.2, 11.0});
  EXPECT_NEAR(mode_coverage(both.rows(), modes).entropy, 1.0, 1e-14);

  const Particles a(2, 1, {1.0, 2.0}), b(2, 1, {0.0, 0.0});
  EXPECT_NEAR(relative_fisher(a.rows(), b.rows()), 2.5, 1e-15);
}

// A KDE of Gaussian samples has mean m̂ and variance ŝ² + h². As π is Gaussian, its KL to π
// is the closed-form KL of N(m̂, ŝ² + h²) plus KL(p̂ ‖ N(m̂, ŝ² + h²)) ≥ 0, the KDE's own
// non-Gaussianity, which is small for 5,000 points (below 0.002 here).
TEST(Kl, QuadratureKdeKlMatchesTheSmoothedGaussian) {
  const auto target = make_target("gauss:d=1");
  const auto x = sf::test::draw("gauss:d=1,var=0.25", 5000, 3);
  const double h = 0.1;
  const Eigen::VectorXd m = weighted_mean(x.rows());
  Eigen::MatrixXd v = weighted_cov(x.rows());
  v(0, 0) += h * h;
  const double expected =
      kl_gaussian(m, v, Eigen::VectorXd::Zero(1), Eigen::MatrixXd::Identity(1, 1));
  const double kl = kl_kde_quadrature_1d(x.rows(), *target, h);
  EXPECT_GE(kl, expected - 1e-6);
  EXPECT_LT(kl, expected + 0.002);
  EXPECT_GT(expected, 0.2);  // far from π, so the comparison is not trivial
  EXPECT_THROW(kl_kde_quadrature_1d(sf::test::draw("gauss:d=2", 10, 1).rows(), *target),
               InvalidArgument);
}

// The SBTM authors' estimator, from its definition: p̂(x_i) = (1/n) Σ_j N(x_i; x_j, H) with
// H = n^(−2/(d+4)) Σ̂ (scipy's gaussian_kde), evaluated directly with H⁻¹ and det H on
// correlated 2-D particles; and the clip at 0 when the particles are π's own draws.
TEST(Kl, ResubstitutionKdeMatchesItsDefinition) {
  const auto target = make_target("gauss:d=2");
  Particles x = normals(60, 2, 11, 0.5, 0.8);
  for (std::size_t i = 0; i < x.n(); ++i) x(i, 1) = 0.6 * x(i, 0) + 0.3 * x(i, 1);
  const Eigen::VectorXd m = weighted_mean(x.rows());
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(2, 2);
  for (std::size_t i = 0; i < x.n(); ++i) {
    const Eigen::Vector2d c(x(i, 0) - m(0), x(i, 1) - m(1));
    cov += c * c.transpose();
  }
  cov /= static_cast<double>(x.n() - 1);
  const Eigen::Matrix2d h = std::pow(60.0, -2.0 / 6.0) * cov;
  const Eigen::Matrix2d hinv = h.inverse();
  double expected = 0;
  for (std::size_t i = 0; i < x.n(); ++i) {
    double p = 0;
    for (std::size_t j = 0; j < x.n(); ++j) {
      const Eigen::Vector2d u(x(i, 0) - x(j, 0), x(i, 1) - x(j, 1));
      p += std::exp(-0.5 * u.dot(hinv * u)) / (2 * std::numbers::pi * std::sqrt(h.determinant()));
    }
    const double log_pi =
        -0.5 * (x(i, 0) * x(i, 0) + x(i, 1) * x(i, 1)) - std::log(2 * std::numbers::pi);
    expected += std::log(p / 60.0) - log_pi;
  }
  expected /= 60.0;
  ASSERT_GT(expected, 0.1);
  EXPECT_NEAR(kl_kde_resubstitution(x.rows(), *target), expected, 1e-10);

  // On π's own draws the estimate is small (its biases are O(1/(n h)) and O(h²)) and never
  // negative (the clip).
  const double own = kl_kde_resubstitution(normals(2000, 1, 3).rows(), *make_target("gauss:d=1"));
  EXPECT_GE(own, 0.0);
  EXPECT_LT(own, 0.02);
  // Scott's rule oversmooths a well-separated mixture: its own draws score below 0 unclipped.
  const auto far = make_target("mix1d-far");
  const Particles own_far = sf::test::draw("mix1d-far", 2000, 1);
  EXPECT_LT(kl_kde_resubstitution(own_far.rows(), *far, false), -0.01);
  EXPECT_EQ(kl_kde_resubstitution(own_far.rows(), *far), 0.0);
  EXPECT_THROW(kl_kde_resubstitution(normals(2, 2, 1).rows(), *target), InvalidArgument);
  EXPECT_THROW(kl_kde_resubstitution(x.rows(), *make_target("gauss:d=3")), InvalidArgument);
}
