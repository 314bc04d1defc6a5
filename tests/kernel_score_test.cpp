#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/score/kernel_score.hpp>

using namespace sf;

namespace {

Particles normals(std::size_t n, std::size_t d, std::uint64_t seed, double scale = 1) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = scale * r.normal();
  }
  return x;
}

// Direct log Σ_j w̄_j N(q; x_j, h²I) with std::exp and a log-sum-exp.
double brute_log_density(const Particles& x, const std::vector<double>& logw, const double* q,
                         double h, std::size_t skip = SIZE_MAX) {
  std::vector<double> t;
  double m = -INFINITY, lwm = -INFINITY;
  for (std::size_t j = 0; j < x.n(); ++j) {
    if (j == skip) continue;
    double s = 0;
    for (std::size_t k = 0; k < x.d(); ++k) s += (q[k] - x(j, k)) * (q[k] - x(j, k));
    const double lw = logw.empty() ? 0.0 : logw[j];
    t.push_back(lw - s / (2 * h * h));
    m = std::max(m, t.back());
    lwm = std::max(lwm, lw);
  }
  double a = 0, b = 0;
  for (double v : t) a += std::exp(v - m);
  for (std::size_t j = 0; j < x.n(); ++j)
    if (j != skip) b += std::exp((logw.empty() ? 0.0 : logw[j]) - lwm);
  return m + std::log(a) - (lwm + std::log(b)) -
         0.5 * static_cast<double>(x.d()) * std::log(2 * std::numbers::pi * h * h);
}

}  // namespace

class KdeAgainstBruteForce : public ::testing::TestWithParam<std::tuple<std::size_t, bool>> {};

TEST_P(KdeAgainstBruteForce, LogDensityAndScore) {
  const auto [d, weighted] = GetParam();
  const Particles x = normals(700, d, 1);  // not a multiple of the tile size
  std::vector<double> logw;
  if (weighted)
    for (std::size_t i = 0; i < x.n(); ++i) logw.push_back(std::sin(static_cast<double>(i)) * 3);
  const double h = 0.4;
  const KernelDensity kde(x.rows(), h, logw);
  const Particles q = normals(50, d, 2, 1.5);
  std::vector<double> lp(q.n());
  Particles s(q.n(), d);
  kde.log_density_and_score(q.rows(), lp, s.rows());
  std::vector<double> lp_only(q.n());
  kde.log_density(q.rows(), lp_only);
  for (std::size_t i = 0; i < q.n(); ++i) {
    EXPECT_NEAR(lp[i], brute_log_density(x, logw, q.row(i), h), 1e-10);
    EXPECT_EQ(lp[i], lp_only[i]);
    for (std::size_t k = 0; k < d; ++k) {  // score = ∇ log p̂ by central differences
      std::vector<double> a(q.row(i), q.row(i) + d), b = a;
      a[k] += 1e-5;
      b[k] -= 1e-5;
      const double fd =
          (brute_log_density(x, logw, a.data(), h) - brute_log_density(x, logw, b.data(), h)) /
          2e-5;
      EXPECT_NEAR(s(i, k), fd, 1e-5 * (1 + std::abs(fd)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kde, KdeAgainstBruteForce,
                         ::testing::Combine(::testing::Values(1u, 2u, 5u), ::testing::Bool()));

TEST(Kde, FarQueriesDoNotUnderflow) {
  const Particles x = normals(300, 2, 3);
  const double h = 0.1;
  const KernelDensity kde(x.rows(), h);
  Particles q(1, 2);
  q(0, 0) = 30;  // ~ exp(-45000): every kernel value underflows unshifted
  q(0, 1) = -5;
  std::vector<double> lp(1);
  Particles s(1, 2);
  kde.log_density_and_score(q.rows(), lp, s.rows());
  EXPECT_TRUE(std::isfinite(lp[0]));
  EXPECT_NEAR(lp[0], brute_log_density(x, {}, q.row(0), h), 1e-8 * std::abs(lp[0]));
  EXPECT_LT(s(0, 0), 0);  // points back towards the data
}

TEST(Kde, LeaveOneOutMatchesBruteForce) {
  const Particles x = normals(400, 2, 4);
  const KernelDensity kde(x.rows(), 0.3);
  std::vector<double> lp(x.n());
  kde.log_density_loo(lp);
  for (std::size_t i = 0; i < x.n(); i += 37)
    EXPECT_NEAR(lp[i], brute_log_density(x, {}, x.row(i), 0.3, i), 1e-10);
}

TEST(Kde, SameNumbersForAnyThreadCount) {
  const Particles x = normals(3000, 2, 5);
  const KernelDensity kde(x.rows(), 0.2);
  Particles s1(x.n(), 2), s2(x.n(), 2);
  set_thread_count(1);
  kde.score(x.rows(), s1.rows());
  set_thread_count(2);
  kde.score(x.rows(), s2.rows());
  EXPECT_EQ(s1.values(), s2.values());
}

TEST(Kde, ConvergesToTheTrueDensity) {
  // Large sample, small bandwidth: p̂ ≈ N(0, (1 + h²)I) exactly in expectation.
  const Particles x = normals(200000, 1, 6);
  const double h = 0.3;
  const KernelDensity kde(x.rows(), h);
  Particles q(3, 1, {0.0, 1.0, -2.0});
  std::vector<double> lp(3);
  kde.log_density(q.rows(), lp);
  for (std::size_t i = 0; i < 3; ++i) {
    const double v = 1 + h * h, z = q(i, 0);
    const double exact = -0.5 * z * z / v - 0.5 * std::log(2 * std::numbers::pi * v);
    // Relative MC error of p̂ is about sqrt(1/(n h p 2√π)); 4 SE.
    const double p = std::exp(exact);
    EXPECT_NEAR(lp[i], exact,
                4 * std::sqrt(1 / (200000 * h * p * 2 * std::sqrt(std::numbers::pi))));
  }
}

TEST(Kde, BandwidthRulesAndBadInput) {
  const Particles x = normals(10000, 1, 7);
  // Silverman for N(0,1): (4/3n)^(1/5).
  EXPECT_NEAR(silverman_bandwidth(x.rows()), std::pow(4.0 / (3 * 10000), 0.2), 0.02);
  EXPECT_GT(median_bandwidth(x.rows()), 0);
  EXPECT_THROW(KernelDensity(x.rows(), 0.0), InvalidArgument);
  EXPECT_THROW(KernelDensity(x.rows(), -1.0), InvalidArgument);
  const KernelDensity kde(x.rows(), 0.5);
  Particles q(2, 3);
  std::vector<double> lp(2);
  EXPECT_THROW(kde.log_density(q.rows(), lp), InvalidArgument);
}

namespace {

// The data in blocks of `block` rows, in order, as a sweep across processes delivers them.
template <class F>
void in_blocks(const Particles& x, const std::vector<double>& logw, std::size_t block, F&& f) {
  for (std::size_t first = 0; first < x.n(); first += block) {
    const std::size_t rows = std::min(block, x.n() - first);
    f(first, ConstRows{x.row(first), rows, x.d()},
      std::span<const double>(logw).subspan(first, rows));
  }
}

}  // namespace

// Streamed over blocks, the estimate equals the whole-data one to the bit, near the data and
// far from it (where both shift the underflowed sums), for several block sizes.
TEST(Kde, StreamedOverBlocksEqualsTheWholeDataToTheBit) {
  for (const auto& [d, n] :
       {std::pair<std::size_t, std::size_t>{1, 1000}, {2, 1000}, {3, 1000}, {2, 301}, {2, 257}}) {
    const Particles x = normals(n, d, 5);
    std::vector<double> logw(x.n());
    for (std::size_t i = 0; i < x.n(); ++i) logw[i] = 2 * std::sin(0.37 * static_cast<double>(i));
    Particles q = normals(40, d, 6);
    for (std::size_t k = 0; k < d; ++k) q(0, k) = 40;  // every kernel underflows unshifted
    const double h = 0.2, log_max = *std::max_element(logw.begin(), logw.end());
    std::vector<double> whole(q.n());
    KernelDensity(x.rows(), h, logw).log_density(q.rows(), whole);
    for (std::size_t block : {256u, 512u, 1024u}) {
      StreamedKernelDensity kde(q.rows(), h, log_max);
      const auto add = [&](std::size_t first, ConstRows b, std::span<const double> w) {
        kde.add(first, b, w);
      };
      in_blocks(x, logw, block, add);
      ASSERT_TRUE(kde.underflowed());
      for (int pass = 0; pass < 2; ++pass) kde.next_pass(), in_blocks(x, logw, block, add);
      EXPECT_EQ(kde.log_density(), whole) << "d " << d << " n " << n << " block " << block;
    }
    StreamedSilverman rule(d, log_max);
    do {
      in_blocks(x, logw, 256,
                [&](std::size_t, ConstRows b, std::span<const double> w) { rule.add(b, w); });
    } while (rule.next_pass());
    EXPECT_EQ(rule.bandwidth(), silverman_bandwidth(x.rows(), logw)) << "d " << d << " n " << n;
  }
}

TEST(Kde, StreamedBlocksOutOfOrderAreRefused) {
  const Particles x = normals(600, 2, 1), q = normals(3, 2, 2);
  const std::vector<double> logw(600, 0.0);
  StreamedKernelDensity kde(q.rows(), 0.3, 0.0);
  EXPECT_THROW(kde.add(256, ConstRows{x.row(256), 256, 2}, std::span(logw).subspan(256, 256)),
               Error);
  kde.add(0, ConstRows{x.row(0), 256, 2}, std::span(logw).subspan(0, 256));
  EXPECT_THROW(kde.add(256, ConstRows{x.row(256), 100, 2}, std::span(logw).subspan(0, 99)), Error);
  EXPECT_THROW(StreamedKernelDensity(q.rows(), 0.3, -INFINITY), NumericalError);
}
