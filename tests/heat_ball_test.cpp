#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <scoreflow/core/error.hpp>
#include <scoreflow/score/heat_ball.hpp>

using namespace sf;

namespace {
const std::vector<std::size_t> kDims = {1, 2, 10, 256, 784};
}

class KappaLaws : public ::testing::TestWithParam<std::size_t> {};

TEST_P(KappaLaws, SamplesLieInTheBallAndTwoLogRnPhiIsChiSquaredTwo) {
  const std::size_t n = GetParam(), m = 20000;
  const KappaDraws k = kappa_sample(n, 0, m, 3);
  const std::vector<double> x(n, 0.7);
  const double t = 2.0, r = 1.3;
  Particles y(m, n);
  std::vector<double> s(m), v(m);
  heat_ball_points(k, x, t, r, y.rows(), s);
  std::vector<double> dx(n);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) dx[j] = x[j] - y(i, j);
    // From the geometry of (y, s), not from the draw's E. Recomputing τ = t − s and
    // x − y = −√τ z loses digits when τ ≪ t or √τ|z| ≪ |x|: the rounding bound below.
    v[i] = 2 * (static_cast<double>(n) * std::log(r) + heat_kernel_log(dx, t - s[i]));
    double z2 = 0;
    for (std::size_t j = 0; j < n; ++j) z2 += k.z(i, j) * k.z(i, j);
    const double tau = t - s[i], eps = 2.3e-16;
    const double tol = 8 * eps *
                       ((z2 + 2 * static_cast<double>(n)) * (1 + t / tau) +
                        0.7 * std::sqrt(static_cast<double>(n) * z2 / tau));
    ASSERT_GE(v[i], -tol) << "sample " << i << " outside the heat ball";
    ASSERT_NEAR(v[i], 2 * k.e[i], tol + 1e-12 * static_cast<double>(n));
  }
  // Kolmogorov–Smirnov against χ²₂ (CDF 1 − e^{−v/2}); critical value at level 0.001.
  std::sort(v.begin(), v.end());
  double d = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double f = 1 - std::exp(-v[i] / 2);
    d = std::max({d, f - static_cast<double>(i) / m, static_cast<double>(i + 1) / m - f});
  }
  EXPECT_LT(d, 1.95 / std::sqrt(static_cast<double>(m))) << n;
}

TEST_P(KappaLaws, MeanTauAndSpreadOfRhoMatchTheirFormulas) {
  const std::size_t n = GetParam(), m = 40000;
  const KappaDraws k = kappa_sample(n, 0, m, 5);
  const double r = 1.0, c = r * r / (4 * std::numbers::pi);
  double a = 0, a2 = 0, b = 0, b2 = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double tau = c * std::exp(-k.rho[i]);
    a += tau, a2 += tau * tau, b += k.rho[i], b2 += k.rho[i] * k.rho[i];
  }
  const double dm = static_cast<double>(m);
  const double mt = a / dm, vt = a2 / dm - mt * mt;
  EXPECT_NEAR(mt, kappa_mean_tau_over_r2(n) * r * r, 4 * std::sqrt(vt / dm)) << n;
  const double mr = b / dm, sd = std::sqrt(b2 / dm - mr * mr);
  // SE of a sample sd ≈ sd/√(2m) for near-normal ρ (large n); ρ is skewed for small n, so ×2.
  EXPECT_NEAR(sd, kappa_sd_rho(n), 4 * 2 * sd / std::sqrt(2 * dm)) << n;
  EXPECT_NEAR(kappa_sd_rho(n), std::sqrt(2.0 / static_cast<double>(n)),
              2.5 / static_cast<double>(n));
}

TEST_P(KappaLaws, CaloricFunctionsAreReproducedInExpectation) {
  const std::size_t n = GetParam();
  if (n == 784) GTEST_SKIP() << "covered by n = 256; keeps the test short";
  std::vector<double> x(n), kv(n, 0.6 / std::sqrt(static_cast<double>(n)));
  for (std::size_t j = 0; j < n; ++j) x[j] = 0.3 * std::sin(static_cast<double>(j) + 1);
  const double t = 1.0, r = 1.2, k2 = 0.36;
  // u = exp(k·y + |k|² s)
  const auto exp_u = [&](const double* y, double s) {
    double a = k2 * s;
    for (std::size_t j = 0; j < n; ++j) a += kv[j] * y[j];
    return std::exp(a);
  };
  const double ex = exp_u(x.data(), t);
  const auto e1 = heat_ball_mean(exp_u, x, t, r, 100000, 7);
  EXPECT_NEAR(e1.value, ex, 4 * e1.std_error) << n;
  EXPECT_LT(e1.std_error, 0.02 * ex);
  // u = |y|² + 2n s
  const auto quad_u = [&](const double* y, double s) {
    double a = 2 * static_cast<double>(n) * s;
    for (std::size_t j = 0; j < n; ++j) a += y[j] * y[j];
    return a;
  };
  const auto e2 = heat_ball_mean(quad_u, x, t, r, 100000, 8);
  EXPECT_NEAR(e2.value, quad_u(x.data(), t), 4 * e2.std_error) << n;
  // A non-caloric function is not reproduced: u = |y|² alone is off by E_κ[2nτ].
  const auto sq = [&](const double* y, double) { return quad_u(y, 0.0); };
  const auto e3 = heat_ball_mean(sq, x, t, r, 100000, 9);
  const double expected_gap = 2 * static_cast<double>(n) * kappa_mean_tau_over_r2(n) * r * r;
  EXPECT_NEAR(e3.value - quad_u(x.data(), 0.0), expected_gap, 4 * e3.std_error + 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Dimensions, KappaLaws, ::testing::ValuesIn(kDims));

TEST(Kappa, SameDrawsWhateverTheBlocking) {
  const KappaDraws all = kappa_sample(5, 0, 100, 1);
  const KappaDraws part = kappa_sample(5, 40, 20, 1);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(part.rho[i], all.rho[40 + i]);
    for (std::size_t j = 0; j < 5; ++j) EXPECT_EQ(part.z(i, j), all.z(40 + i, j));
  }
  EXPECT_THROW(kappa_sample(0, 0, 10, 1), InvalidArgument);
}
