#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>

#include <scoreflow/score/heat_ball_source.hpp>

using namespace sf;

namespace {

// dX = −X dt + √2 dW from X₀ ~ N(m₀, s₀²I): θ(t) = t and p_t = N(m₀e^{−t}, v_t I) with
// v_t = s₀²e^{−2t} + 1 − e^{−2t}; p_t − Δp = ∇·(x p) =: F[p]. `stretch` ≠ 1 scales the
// variance, giving a function that is not a solution.
struct OuDensity {
  std::size_t n;
  double m0 = 0.8, s0 = 0.5, stretch = 1;
  double var(double t) const {
    return stretch * (s0 * s0 * std::exp(-2 * t) + 1 - std::exp(-2 * t));
  }
  double mean(double t) const { return m0 * std::exp(-t); }
  double operator()(const double* y, double t) const {
    const double v = var(t), m = mean(t);
    double q = 0;
    for (std::size_t j = 0; j < n; ++j) q += (y[j] - m) * (y[j] - m);
    return std::exp(-0.5 * q / v -
                    0.5 * static_cast<double>(n) * std::log(2 * std::numbers::pi * v));
  }
  // F[u] = ∇·(y u) = u (n − y·(y − m)/v).
  double source(const double* y, double t) const {
    const double v = var(t), m = mean(t);
    double a = 0;
    for (std::size_t j = 0; j < n; ++j) a += y[j] * (y[j] - m);
    return (*this)(y, t) * (static_cast<double>(n) - a / v);
  }
  // u_t − Δu − F[u] at (y, t) by central differences.
  double pointwise_residual(std::vector<double> y, double t) const {
    const double h = 1e-4;
    double lap = 0;
    for (std::size_t j = 0; j < n; ++j) {
      auto a = y, b = y;
      a[j] += h, b[j] -= h;
      lap += ((*this)(a.data(), t) - 2 * (*this)(y.data(), t) + (*this)(b.data(), t)) / (h * h);
    }
    const double ut = ((*this)(y.data(), t + h) - (*this)(y.data(), t - h)) / (2 * h);
    return ut - lap - source(y.data(), t);
  }
};

}  // namespace

TEST(SourceMeasure, DrawsLieInTheBallWithLogXEqualToE) {
  for (std::size_t n : {1u, 2u, 10u, 256u}) {
    const KappaDraws k = source_sample(n, 0, 2000, 3);
    const std::vector<double> x(n, 0.1);
    Particles y(2000, n);
    std::vector<double> s(2000), dx(n);
    heat_ball_points(k, x, 1.0, 0.8, y.rows(), s);
    for (std::size_t i = 0; i < 2000; ++i) {
      for (std::size_t j = 0; j < n; ++j) dx[j] = x[j] - y(i, j);
      const double log_x = static_cast<double>(n) * std::log(0.8) + heat_kernel_log(dx, 1.0 - s[i]);
      ASSERT_GE(k.e[i], 0.0);
      ASSERT_NEAR(log_x, k.e[i], 1e-7 * (1 + k.e[i] + static_cast<double>(n)));
    }
  }
}

class OuResidual : public ::testing::TestWithParam<std::tuple<std::size_t, double>> {};

TEST_P(OuResidual, ExactDensityHasZeroResidualAtEveryRadius) {
  const auto [n, r] = GetParam();
  const OuDensity p{n};
  std::vector<double> x(n);
  for (std::size_t j = 0; j < n; ++j) x[j] = 0.4 * std::cos(static_cast<double>(j));
  const auto res = heat_ball_residual(
      p, [&](const double* y, double s) { return p.source(y, s); }, x, 1.0, r, 200000, 11);
  // In units of p(x, t), so that n = 10 (a small density) is judged on the same scale.
  EXPECT_NEAR(res.value, 0.0, 4 * res.std_error)
      << "n " << n << " r " << r << " p " << p(x.data(), 1.0);
  EXPECT_LT(res.std_error * kappa_mean_tau_over_r2(n) * r * r, 0.02 * p(x.data(), 1.0));
  // Power: without the source term the OU density is far from mean-value.
  const auto no_source = heat_ball_residual(
      p, [](const double*, double) { return 0.0; }, x, 1.0, r, 200000, 11);
  EXPECT_GT(std::abs(no_source.value), 10 * no_source.std_error) << "n " << n << " r " << r;
}

INSTANTIATE_TEST_SUITE_P(Radii, OuResidual,
                         ::testing::Combine(::testing::Values(1u, 2u, 10u),
                                            ::testing::Values(0.3, 0.7, 1.5)));

TEST(HeatBallResidual, TendsToThePointwiseResidualOfANonSolution) {
  const OuDensity u{2, 0.8, 0.5, 1.4};  // variance stretched: not a solution
  const std::vector<double> x{0.3, -0.2};
  const double t = 1.0, exact = u.pointwise_residual(x, t);
  ASSERT_GT(std::abs(exact), 0.02);
  const auto f = [&](const double* y, double s) { return u.source(y, s); };
  double previous_gap = INFINITY;
  for (double r : {0.8, 0.4, 0.2}) {
    const auto res = heat_ball_residual(u, f, x, t, r, 400000, 5);
    const double gap = std::abs(res.value - exact);
    std::printf("r = %.1f: residual %.4f ± %.4f, pointwise %.4f\n", r, res.value, res.std_error,
                exact);
    // The gap shrinks with r (its O(r²) part dominates the Monte Carlo error here).
    EXPECT_LT(gap, previous_gap + 4 * res.std_error) << r;
    previous_gap = gap;
    if (r == 0.2) {
      EXPECT_NEAR(res.value, exact, 4 * res.std_error + 0.15 * std::abs(exact));
    }
  }
}
