#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>
#include <utility>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/score/grid_gauss.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/score/kernel_score.hpp>

using namespace sf;

namespace {

// Two clusters of different spread, so that the lattice has dense and empty regions.
Particles clusters(std::size_t n, std::size_t d, std::uint64_t seed) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    const double centre = i % 3 == 0 ? 3.0 : -1.0, scale = i % 3 == 0 ? 0.5 : 1.2;
    for (std::size_t k = 0; k < d; ++k) x(i, k) = centre + scale * r.normal();
  }
  return x;
}

std::vector<double> spread_log_weights(std::size_t n, std::uint64_t seed) {
  std::vector<double> lw(n);
  for (std::size_t i = 0; i < n; ++i) lw[i] = 4 * Draws(seed, Stream::init, i, 1).uniform() - 2;
  return lw;
}

}  // namespace

struct GridCase {
  std::size_t d;
  double h;
  bool weighted;
};

void PrintTo(const GridCase& c, std::ostream* os) {
  *os << "d = " << c.d << ", h = " << c.h << (c.weighted ? ", weighted" : "");
}

class GridGauss : public ::testing::TestWithParam<GridCase> {};

// Against the exact tiled sum (KernelDensity) at the data and at random points around them:
// every query's error within its stated bound, and the bound within the tolerance.
TEST_P(GridGauss, AgreesWithTheExactSumWithinItsBound) {
  const GridCase c = GetParam();
  const Particles data = clusters(1500, c.d, 11 + c.d);
  const Particles around = clusters(400, c.d, 99 + c.d);
  const auto lw = c.weighted ? spread_log_weights(data.n(), 5) : std::vector<double>{};
  const KernelDensity exact(data.rows(), c.h, lw);
  // The default tolerance, and a tight one that asks for a finer lattice.
  for (const auto& [q, tol] : {std::pair{&data, 1e-6}, std::pair{&around, 1e-6},
                               std::pair{&data, 1e-10}, std::pair{&around, 1e-10}}) {
    const GridGaussPlan plan = grid_gauss_plan(data.rows(), c.h, tol);
    ASSERT_EQ(plan.d, c.d);
    EXPECT_LT(plan.relative_error, tol / 10);
    const BoundedKde g = grid_kde(plan, data.rows(), lw, q->rows(), tol, true);
    std::vector<double> want(q->n());
    Particles want_score(q->n(), c.d);
    exact.log_density_and_score(q->rows(), want, want_score.rows());
    std::size_t checked = 0;
    for (std::size_t i = 0; i < q->n(); ++i) {
      ASSERT_LE(g.bound[i], tol) << i;
      // |p̂/p − 1| ≤ bound, and |log p̂ − log p| ≤ −log(1 − bound); both sums also carry the
      // exact sum's own rounding (≈ 1e-15 relative).
      const double allowed = -std::log1p(-g.bound[i]) + 1e-13;
      EXPECT_NEAR(g.log_density[i], want[i], allowed) << "query " << i << " d " << c.d;
      double err = 0, size = 0;
      for (std::size_t k = 0; k < c.d; ++k) {
        err += std::pow(g.score(i, k) - want_score(i, k), 2);
        size += std::pow(want_score(i, k), 2);
      }
      const double scale = std::max(std::sqrt(size), 1 / c.h);
      EXPECT_LE(g.score_bound[i], tol * scale * (1 + 1e-9)) << i;
      EXPECT_LE(std::sqrt(err), g.score_bound[i] + 1e-12 * scale) << "query " << i << " d " << c.d;
      checked += g.bound[i] > 0;
    }
    EXPECT_GT(checked, q->n() / 2);  // most queries come from the lattice, not the fallback
  }
}

INSTANTIATE_TEST_SUITE_P(DimensionsAndBandwidths, GridGauss,
                         ::testing::Values(GridCase{1, 0.05, false}, GridCase{1, 0.3, true},
                                           GridCase{2, 0.15, false}, GridCase{2, 0.4, true},
                                           GridCase{3, 0.8, false}, GridCase{3, 1.0, true}),
                         [](const ::testing::TestParamInfo<GridCase>& p) {
                           const GridCase& c = p.param;
                           return "d" + std::to_string(c.d) + "_h" +
                                  std::to_string(static_cast<int>(std::lround(c.h * 100))) +
                                  (c.weighted ? "_weighted" : "");
                         });

// A query far from all data: the lattice's bound is useless there, so it is summed exactly.
TEST(GridGaussFallback, FarQueriesAreSummedExactly) {
  const Particles data = clusters(500, 2, 3);
  Particles q(3, 2);
  q(0, 0) = 0.1, q(0, 1) = 0.2;
  q(1, 0) = 9, q(1, 1) = -7;  // far out: its sum is tiny next to W·exp(−D0²/2)
  q(2, 0) = -1, q(2, 1) = -1;
  const double h = 0.2;
  const GridGaussPlan plan = grid_gauss_plan(data.rows(), h);
  const BoundedKde g = grid_kde(plan, data.rows(), {}, q.rows(), 1e-6, false);
  EXPECT_EQ(g.bound[1], 0.0);
  EXPECT_EQ(g.exact, 1u);
  std::vector<double> want(3);
  KernelDensity(data.rows(), h).log_density(q.rows(), want);
  EXPECT_EQ(g.log_density[1], want[1]);  // the exact sum itself
  EXPECT_NEAR(g.log_density[0], want[0], 1e-9);
}

TEST(GridGaussThreads, SameNumbersForAnyThreadCount) {
  const Particles data = clusters(3000, 2, 8);
  const double h = 0.1;
  const GridGaussPlan plan = grid_gauss_plan(data.rows(), h);
  const int before = thread_count();
  set_thread_count(1);
  const auto one = grid_kde(plan, data.rows(), {}, data.rows(), 1e-6, true).score.values();
  set_thread_count(2);
  const auto two = grid_kde(plan, data.rows(), {}, data.rows(), 1e-6, true).score.values();
  set_thread_count(3);
  const auto three = grid_kde(plan, data.rows(), {}, data.rows(), 1e-6, true).score.values();
  set_thread_count(before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, three);
}

TEST(GridGaussPlan, RefusesWhatItCannotDo) {
  const Particles d4 = clusters(10, 4, 1);
  EXPECT_EQ(grid_gauss_plan(d4.rows(), 0.5).d, 0u);  // d > 3: exact sums only
  const Particles d2 = clusters(10, 2, 1);
  EXPECT_EQ(grid_gauss_plan(d2.rows(), 1e-6).d, 0u);  // lattice too large
  EXPECT_THROW(grid_gauss_plan(d2.rows(), -1), InvalidArgument);
  // Small N: the exact sum is cheaper.
  const GridGaussPlan plan = grid_gauss_plan(d2.rows(), 0.5);
  EXPECT_FALSE(grid_gauss_pays(plan, 10, 10));
}

// The chooser: the lattice where it pays (and then within the tolerance of the exact sum),
// the exact sum itself for small N, with tol = 0, and for d > 3.
TEST(KdeLogDensity, ChoosesTheLatticeOnlyWhereItPaysAndStaysWithinTheTolerance) {
  const Particles big = clusters(20000, 2, 4);
  const Particles q = clusters(300, 2, 40);
  const double h = 0.08, tol = 1e-6;
  const GridGaussPlan plan = grid_gauss_plan(big.rows(), h, tol);
  ASSERT_TRUE(grid_gauss_pays(plan, big.n(), big.n()));
  std::vector<double> exact(q.n());
  KernelDensity(big.rows(), h).log_density(q.rows(), exact);
  // 300 queries alone would not pay; as the shard of 20,000 they do.
  EXPECT_EQ(kde_log_density(big.rows(), {}, h, q.rows(), tol), exact);
  KdeCounts counts;
  const auto fast = kde_log_density(big.rows(), {}, h, q.rows(), tol, big.n(), &counts);
  EXPECT_NE(fast, exact);
  EXPECT_EQ(counts.lattice_queries, q.n());  // every bound within the tolerance
  EXPECT_EQ(counts.float32_queries, 0u);
  for (std::size_t i = 0; i < q.n(); ++i) EXPECT_NEAR(fast[i], exact[i], 1.01 * tol) << i;
  EXPECT_EQ(kde_log_density(big.rows(), {}, h, q.rows(), 0, big.n()), exact);
  EXPECT_THROW(kde_log_density(big.rows(), {}, h, q.rows(), -1e-6), InvalidArgument);
  EXPECT_THROW(kde_log_density(big.rows(), {}, h, q.rows(), NAN), InvalidArgument);
  const Particles d4 = clusters(3000, 4, 2);
  std::vector<double> exact4(d4.n());
  KernelDensity(d4.rows(), 0.5).log_density(d4.rows(), exact4);
  EXPECT_EQ(kde_log_density(d4.rows(), {}, 0.5, d4.rows(), tol), exact4);
}

// ESM's target: the lattice built once for 20,000 points serves batch after batch within the
// tolerance; few points keep the exact sums.
TEST(ParzenScoreTarget, BatchesThroughOneLatticeStayWithinTheTolerance) {
  const Particles data = clusters(20000, 2, 6);
  const double h = silverman_bandwidth(data.rows()), tol = 1e-6;
  const ParzenScore target(data.rows(), h, tol);
  ASSERT_TRUE(target.uses_lattice());
  const KernelDensity exact(data.rows(), h);
  for (std::uint64_t batch = 0; batch < 3; ++batch) {
    const Particles q = clusters(256, 2, 100 + batch);
    Particles got(q.n(), 2), want(q.n(), 2);
    target.score(q.rows(), got.rows());
    exact.score(q.rows(), want.rows());
    for (std::size_t i = 0; i < q.n(); ++i) {
      const double size = std::hypot(want(i, 0), want(i, 1));
      EXPECT_LE(std::hypot(got(i, 0) - want(i, 0), got(i, 1) - want(i, 1)),
                1.01 * tol * std::max(size, 1 / h))
          << i;
    }
  }
  EXPECT_FALSE(ParzenScore(clusters(200, 2, 1).rows(), h, tol).uses_lattice());
  EXPECT_FALSE(ParzenScore(data.rows(), h, 0).uses_lattice());
}
