// R̂ and ESS against values worked out by hand from the definitions of Vehtari et al. (2021)
// (the normal quantiles from Python's statistics.NormalDist), and against the exact
// autocorrelation time of an AR(1) chain.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/mcmc_convergence.hpp>

using namespace sf;

namespace {

// `chains` AR(1) chains x_{i+1} = ρ x_i + sqrt(1 − ρ²) ξ started in stationarity, plus
// per-chain offsets and scales.
std::vector<double> ar1(std::size_t chains, std::size_t draws, double rho, std::uint64_t seed,
                        std::vector<double> offset = {}, std::vector<double> scale = {}) {
  std::vector<double> v(chains * draws);
  for (std::size_t c = 0; c < chains; ++c) {
    Draws r(seed, Stream::init, c, 0);
    double x = r.normal();
    for (std::size_t i = 0; i < draws; ++i) {
      const double o = offset.empty() ? 0 : offset[c], s = scale.empty() ? 1 : scale[c];
      v[c * draws + i] = o + s * x;
      x = rho * x + std::sqrt(1 - rho * rho) * r.normal();
    }
  }
  return v;
}

}  // namespace

TEST(Rhat, BasicMatchesTheFormulaByHand) {
  // Chains {1,2,3}, {4,5,6}: n = 3, B = n var(2, 5) = 13.5, W = 1, R̂ = sqrt((13.5 + 2)/3).
  const std::vector<double> v{1, 2, 3, 4, 5, 6};
  EXPECT_NEAR(rhat_basic({v, 2, 3}), std::sqrt(15.5 / 3), 1e-14);
  EXPECT_NEAR(rhat_basic({v, 2, 3}), 2.273030282830976, 1e-14);
}

TEST(Rhat, RankNormalisedSplitMatchesTheDefinitionsByHand) {
  // Chains {1,2,3,4}, {5,6,7,8} split into {1,2},{3,4},{5,6},{7,8}; ranks are the values,
  // z_r = Φ⁻¹((r − 3/8)/8.25). Bulk R̂ of the z chains: 2.9994207791566865. Folded draws
  // |x − 4.5| split into {3.5,2.5},{1.5,.5},{.5,1.5},{2.5,3.5} with tied ranks 7.5, 5.5, 3.5,
  // 1.5: tail R̂ 1.618658569695271. R̂ is the larger.
  const std::vector<double> v{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_NEAR(rhat_rank({v, 2, 4}), 2.9994207791566865, 1e-9);
}

TEST(Rhat, IsNearOneForMixedChainsAndFlagsShiftedOrWiderChains) {
  const auto mixed = ar1(4, 2000, 0.5, 1);
  EXPECT_LT(rhat_rank({mixed, 4, 2000}), 1.01);
  // One chain of four shifted by one sd: the variance of the 8 split-chain means is about
  // (2/8)(6/8)(8/7) = 0.21, so R̂ ≈ sqrt(1 + 0.21) ≈ 1.10.
  const auto shifted = ar1(4, 2000, 0.5, 2, {0, 0, 0, 1.0});
  EXPECT_GT(rhat_rank({shifted, 4, 2000}), 1.05);
  // Equal means, one chain three times wider: only the folded (tail) R̂ sees it.
  const auto wider = ar1(4, 2000, 0.5, 3, {}, {1, 1, 1, 3});
  EXPECT_LT(rhat_basic({wider, 4, 2000}), 1.01);
  EXPECT_GT(rhat_rank({wider, 4, 2000}), 1.05);
}

TEST(Ess, MatchesTheAutocorrelationTimeOfAnAr1Chain) {
  // AR(1) with ρ: τ = (1 + ρ)/(1 − ρ), so ESS = S (1 − ρ)/(1 + ρ). The estimate's relative
  // error at S = 40,000 and τ = 3 is a few per cent; 15 % leaves room beyond 4 of them.
  for (const double rho : {0.0, 0.5, 0.9}) {
    const auto v = ar1(4, 10000, rho, 4);
    const double expected = 40000 * (1 - rho) / (1 + rho);
    EXPECT_NEAR(ess_basic({v, 4, 10000}) / expected, 1.0, 0.15) << "rho " << rho;
    EXPECT_NEAR(ess_bulk({v, 4, 10000}) / expected, 1.0, 0.15) << "rho " << rho;
    // Indicators of the 5 % tails mix like the chain itself or faster.
    EXPECT_GT(ess_tail({v, 4, 10000}) / expected, 0.7) << "rho " << rho;
  }
}

TEST(Ess, IsUnchangedByMonotoneTransformsInTheBulk) {
  auto v = ar1(4, 1000, 0.7, 5);
  const double before = ess_bulk({v, 4, 1000});
  for (double& x : v) x = std::exp(x);  // ranks are unchanged
  EXPECT_DOUBLE_EQ(ess_bulk({v, 4, 1000}), before);
}

TEST(Ess, RefusesTooFewDrawsOrNonFiniteValues) {
  const std::vector<double> few{1, 2, 3};
  EXPECT_THROW(ess_bulk({few, 1, 3}), InvalidArgument);
  const std::vector<double> bad{1, 2, NAN, 4, 5, 6, 7, 8};
  EXPECT_THROW(rhat_rank({bad, 2, 4}), InvalidArgument);
}
