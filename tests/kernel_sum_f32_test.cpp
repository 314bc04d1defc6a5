#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>

#include <scoreflow/core/fastmath.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/score/kernel_score.hpp>
#include <scoreflow/score/kernel_sum_f32.hpp>

using namespace sf;

namespace {

// A correlated Gaussian far from the origin (coordinates near 100, bandwidths near 0.5): the
// float32 path must centre the data, or rounding the coordinates alone would cost 1e-5.
Particles far_gaussian(std::size_t n, std::size_t d, std::uint64_t seed) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    double common = r.normal();
    for (std::size_t k = 0; k < d; ++k) x(i, k) = 100 + 0.5 * common + r.normal();
  }
  return x;
}

}  // namespace

TEST(FastExpf, IsWithinItsStatedErrorOnEveryExponentAndZeroBelowItsFloor) {
  // Every 61st float in [−86, 0] (all exponents and mantissa patterns): ≈ 1.8·10⁷ values.
  const auto last = std::bit_cast<std::uint32_t>(kFastExpfFloor);
  double worst = 0;
  for (std::uint32_t b = 0x80000000u; b <= last; b += 61) {
    const float x = std::bit_cast<float>(b);
    worst = std::max(worst, std::abs(fast_expf(x) / std::exp(static_cast<double>(x)) - 1));
  }
  EXPECT_LT(worst, kFastExpfError);
  EXPECT_GT(worst, kFastExpfError / 8);  // a float32 exp: the test sees its rounding
  EXPECT_EQ(fast_expf(-86.5f), 0.0f);
  EXPECT_EQ(fast_expf(-1e30f), 0.0f);
  EXPECT_EQ(fast_expf(0.0f), 1.0f);
}

struct F32Case {
  std::size_t d;
  bool weighted;
  double tol;
  const char* name;
};

void PrintTo(const F32Case& c, std::ostream* os) {
  *os << "d = " << c.d << (c.weighted ? ", weighted" : "") << ", tol = " << c.tol;
}

class Float32Sums : public ::testing::TestWithParam<F32Case> {};

// Against the exact tiled sum at the data and at other points: every query's error within its
// stated bound, the bounds within the tolerance, and most queries from the float32 kernels.
TEST_P(Float32Sums, AgreeWithTheExactSumWithinTheirBounds) {
  const F32Case c = GetParam();
  const Particles data = far_gaussian(1300, c.d, 3 + c.d);
  const Particles other = far_gaussian(300, c.d, 77 + c.d);
  std::vector<double> lw;
  if (c.weighted)
    for (std::size_t i = 0; i < data.n(); ++i)
      lw.push_back(3 * Draws(9, Stream::init, i, 1).normal());
  const double h = silverman_bandwidth(data.rows(), lw);
  Float32KernelSum f32(data.rows(), h, lw);
  const KernelDensity exact(data.rows(), h, lw);
  const auto check = [&](const Particles* q, BoundedKde& g) {
    g = f32.kde(q->rows(), c.tol, true);
    std::vector<double> want(q->n());
    Particles want_score(q->n(), c.d);
    exact.log_density_and_score(q->rows(), want, want_score.rows());
    std::size_t from_float32 = 0;
    double largest_error = 0;
    for (std::size_t i = 0; i < q->n(); ++i) {
      ASSERT_LE(g.bound[i], c.tol) << i;
      // The exact sum carries its own rounding, ≈ 1e-15 relative.
      EXPECT_NEAR(g.log_density[i], want[i], -std::log1p(-g.bound[i]) + 1e-13) << "query " << i;
      double err = 0, size = 0;
      for (std::size_t k = 0; k < c.d; ++k) {
        err += std::pow(g.score(i, k) - want_score(i, k), 2);
        size += std::pow(want_score(i, k), 2);
      }
      const double scale = std::max(std::sqrt(size), 1 / h);
      EXPECT_LE(g.score_bound[i], c.tol * scale * (1 + 1e-9)) << i;
      EXPECT_LE(std::sqrt(err), g.score_bound[i] + 1e-12 * scale) << "query " << i;
      from_float32 += g.bound[i] > 0;
      largest_error = std::max(largest_error, std::abs(g.log_density[i] - want[i]));
    }
    EXPECT_EQ(from_float32 + g.exact, q->n());
    EXPECT_GT(from_float32, q->n() * 9 / 10);
    EXPECT_GT(largest_error, 1e-9);  // float32 rounding shows: the exact sum was not used
  };
  for (const Particles* q : {&data, &other}) {
    SCOPED_TRACE(q == &data ? "at the data" : "at other points");
    BoundedKde in_float64, planned;
    check(q, in_float64);  // the score's lanes before plan(): float64
    ASSERT_EQ(f32.score_in_float32(), false);
    ASSERT_TRUE(f32.plan(c.tol, true, 1 << 20));
    EXPECT_TRUE(f32.score_in_float32());  // these bandwidths allow float32 partial sums
    check(q, planned);
    EXPECT_NE(planned.score.values(), in_float64.score.values());
    for (std::size_t i = 0; i < q->n(); ++i)  // the lanes sum only the score
      if (planned.bound[i] > 0 && in_float64.bound[i] > 0) {
        ASSERT_EQ(planned.log_density[i], in_float64.log_density[i]) << i;
      }
    f32 = Float32KernelSum(data.rows(), h, lw);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Dimensions, Float32Sums,
    ::testing::Values(F32Case{1, false, 1e-5, "d1_tol5"}, F32Case{2, false, 1e-5, "d2_tol5"},
                      F32Case{4, true, 1e-4, "d4_weighted_tol4"},
                      F32Case{5, false, 1e-4, "d5_tol4"},
                      F32Case{10, true, 1e-4, "d10_weighted_tol4"},
                      F32Case{19, false, 1e-4, "d19_tol4"}),  // d > 16: the kernel for any d
    [](const ::testing::TestParamInfo<F32Case>& p) { return std::string(p.param.name); });

// The density alone gives the same log-densities as with the score, and a query's answer
// does not depend on which queries are asked with it (as across processes).
TEST(Float32SumsQueries, AnswerEachQueryAloneAndWithoutTheScoreAlike) {
  const Particles data = far_gaussian(700, 6, 5);
  const double h = silverman_bandwidth(data.rows());
  const Float32KernelSum f32(data.rows(), h);
  const BoundedKde all = f32.kde(data.rows(), 1e-4, true);
  const BoundedKde density = f32.kde(data.rows(), 1e-4, false);
  EXPECT_EQ(all.log_density, density.log_density);
  const ConstRows shifted{data.rows().row(3), data.n() - 3, data.d()};  // other companions
  const BoundedKde later = f32.kde(shifted, 1e-4, true);
  for (std::size_t i = 0; i < shifted.n; ++i) {
    ASSERT_EQ(later.log_density[i], all.log_density[i + 3]) << i;
    for (std::size_t k = 0; k < data.d(); ++k)
      ASSERT_EQ(later.score(i, k), all.score(i + 3, k)) << i;
  }
}

TEST(Float32SumsQueries, SameNumbersForAnyThreadCount) {
  const Particles data = far_gaussian(2000, 7, 6);
  const Float32KernelSum f32(data.rows(), silverman_bandwidth(data.rows()));
  const int before = thread_count();
  std::vector<std::vector<double>> runs;
  for (const int threads : {1, 2, 3}) {
    set_thread_count(threads);
    const BoundedKde g = f32.kde(data.rows(), 1e-4, true);
    runs.push_back(g.score.values());
    runs.back().insert(runs.back().end(), g.log_density.begin(), g.log_density.end());
  }
  set_thread_count(before);
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

// A query far from the data (all its terms below float32's range) and a tolerance the float32
// kernels cannot meet: both summed exactly, to the bit.
TEST(Float32SumsQueries, FallBackToTheExactSumWhereTheBoundFails) {
  const Particles data = far_gaussian(600, 5, 2);
  const double h = silverman_bandwidth(data.rows());
  Particles q(2, 5);
  for (std::size_t k = 0; k < 5; ++k) q(0, k) = data(0, k), q(1, k) = 100 + 30 * h;
  const Float32KernelSum f32(data.rows(), h);
  std::vector<double> want(2);
  KernelDensity(data.rows(), h).log_density(q.rows(), want);
  const BoundedKde loose = f32.kde(q.rows(), 1e-4, false);
  EXPECT_GT(loose.bound[0], 0.0);
  EXPECT_EQ(loose.bound[1], 0.0);
  EXPECT_EQ(loose.log_density[1], want[1]);
  EXPECT_EQ(loose.exact, 1u);
  const BoundedKde tight = f32.kde(q.rows(), 1e-9, false);
  EXPECT_EQ(tight.exact, 2u);
  EXPECT_EQ(tight.log_density, want);
}

TEST(Float32SumsQueries, PayOnlyWithEnoughQueriesAndATolerableBound) {
  const Particles data = far_gaussian(3000, 8, 4);
  Float32KernelSum f32(data.rows(), silverman_bandwidth(data.rows()));
  EXPECT_TRUE(f32.plan(1e-4, true, 3000));
  EXPECT_FALSE(f32.plan(1e-4, true, Float32KernelSum::kMinQueries - 1));
  EXPECT_FALSE(f32.plan(0, true, 3000));
  EXPECT_FALSE(f32.plan(1e-8, false, 3000));
}

// Many points (a small bandwidth, so large scaled coordinates |z̃|) at a tight tolerance:
// float32 partial sums of the score would miss it, float64 ones meet it, and plan() takes them.
TEST(Float32SumsQueries, SumTheScoreInFloat64WhereFloat32LanesWouldMissTheTolerance) {
  const Particles data = far_gaussian(20000, 5, 12);
  const double h = silverman_bandwidth(data.rows());
  Float32KernelSum f32(data.rows(), h);
  ASSERT_TRUE(f32.plan(1e-5, true, data.n()));
  EXPECT_FALSE(f32.score_in_float32());
  const ConstRows q{data.rows().row(0), 400, 5};
  const BoundedKde g = f32.kde(q, 1e-5, true);
  EXPECT_LT(g.exact, q.n / 8);
  std::vector<double> want(q.n);
  Particles want_score(q.n, 5);
  KernelDensity(data.rows(), h).log_density_and_score(q, want, want_score.rows());
  for (std::size_t i = 0; i < q.n; ++i) {
    double err = 0;
    for (std::size_t k = 0; k < 5; ++k) err += std::pow(g.score(i, k) - want_score(i, k), 2);
    ASSERT_LE(std::sqrt(err), g.score_bound[i] + 1e-12 / h) << i;
  }
  ASSERT_TRUE(f32.plan(1e-4, true, data.n()));
  EXPECT_TRUE(f32.score_in_float32());
}

// The choice in kde.hpp: float32 kernels where the lattice does not apply (d > 3) and the
// tolerance admits them; exact sums at tol = 0.
TEST(Float32SumsQueries, AreWhatKdeEstimateUsesInHigherDimensions) {
  const Particles data = far_gaussian(2500, 6, 8);
  const KdeEstimate loose = kde_estimate(data.rows(), data.rows(), 0, {}, 1e-4);
  const KdeEstimate exact = kde_estimate(data.rows(), data.rows(), 0, {}, 0);
  EXPECT_GT(loose.counts.float32_queries, data.n() * 9 / 10);
  EXPECT_EQ(exact.counts.float32_queries, 0u);
  for (std::size_t i = 0; i < data.n(); ++i)
    ASSERT_NEAR(loose.log_density[i], exact.log_density[i], 2e-4) << i;
  KdeCounts counts{7, 7};  // overwritten, not added to
  const std::vector<double> lp =
      kde_log_density(data.rows(), {}, loose.bandwidth, data.rows(), 1e-4, 0, &counts);
  for (std::size_t i = 0; i < data.n(); ++i) ASSERT_NEAR(lp[i], exact.log_density[i], 2e-4) << i;
  EXPECT_NE(lp, exact.log_density);
  EXPECT_GT(counts.float32_queries, data.n() * 9 / 10);
  EXPECT_EQ(counts.lattice_queries, 0u);
  kde_log_density(data.rows(), {}, loose.bandwidth, data.rows(), 0, 0, &counts);
  EXPECT_EQ(counts.float32_queries, 0u);
  const ParzenScore parzen(data.rows(), loose.bandwidth, 1e-4);
  EXPECT_TRUE(parzen.uses_float32());
}
