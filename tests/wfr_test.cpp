#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/diagnostics/log_normaliser.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/samplers/birth_death.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/samplers/wfr.hpp>
#include <scoreflow/targets/registry.hpp>
#include "helpers.hpp"

using namespace sf;
using sf::test::draw;

namespace {

// Weighted fraction of particles with x₀ < 0.
double mass_left(const Particles& x) {
  const auto w = normalised_weights(x.log_weights(), x.n());
  double m = 0;
  for (std::size_t i = 0; i < x.n(); ++i) m += x(i, 0) < 0 ? w[i] : 0;
  return m;
}

}  // namespace

TEST(Weights, ConstantIncrementsKeepWeightsUniformAndExtremesFinite) {
  SamplerState s;
  s.x = Particles(5, 1);
  add_log_weights(s, std::vector<double>(5, -1e6));  // log ρ̂ − log π constant: uniform
  for (double v : s.x.log_weights()) EXPECT_EQ(v, 0.0);
  EXPECT_NEAR(normalised_ess(s.x.log_weights()), 1.0, 1e-15);
  add_log_weights(s, std::vector<double>{1e6, -1e6, 0, 3, -7e5});
  for (double v : s.x.log_weights()) EXPECT_FALSE(std::isnan(v));
  EXPECT_NEAR(normalised_ess(s.x.log_weights()), 0.2, 1e-12);
  EXPECT_THROW(add_log_weights(s, std::vector<double>(5, NAN)), NumericalError);
}

TEST(Wfr, WeightsStayNearlyUniformWhenStartedAtTheTarget) {
  // π = ρ₀: log ρ̂ − log π is only estimation noise, so the weights barely move. With
  // N = 4000 the per-step noise of log ρ̂ is ~1/√(N h^{d/2}) ≈ 0.05 and the factor
  // 1 − e^{−h} ≈ 0.01 scales it, so after 50 steps the log-weight spread is ≪ 1.
  const auto t = make_target("gauss:d=1");
  for (const std::string density : {"ula-kernel", "kde"}) {
    const Wfr wfr(
        *t, WfrConfig{0.01, 3, density, 0, "silverman", resampler_by_name("systematic"), 0.0});
    SamplerState s = wfr.init(draw("gauss:d=1", 4000, 1));
    double min_ess = 1;
    for (int k = 0; k < 50; ++k) min_ess = std::min(min_ess, wfr.step(s).ess);
    EXPECT_GT(min_ess, 0.99) << density;
  }
}

TEST(Wfr, BalancesModeMassesWhereUlaDoesNot) {
  // mix1d-far = 0.25 N(−4,1) + 0.75 N(4,1); all particles start in the right mode.
  const auto t = make_target("mix1d-far");
  const std::size_t n = 2000, steps = 600;
  const Particles x0 = draw("gauss:d=1,mean=4", n, 2);
  const Ula ula(*t, {0.05, 4});
  SamplerState su = ula.init(x0);
  run(ula, su, steps, {});
  EXPECT_LT(mass_left(su.x), 0.01);  // a Langevin crossing of the barrier is vanishingly rare
  for (const std::string density : {"ula-kernel", "kde"}) {
    const Wfr wfr(*t, WfrConfig{0.05, 4, density});
    SamplerState s = wfr.init(x0);
    run(wfr, s, steps, {});
    // Binomial error of the left mass with the normalised ESS as effective sample size.
    const double ess = normalised_ess(s.x.log_weights()) * static_cast<double>(n);
    const double se = std::sqrt(0.25 * 0.75 / ess);
    EXPECT_NEAR(mass_left(s.x), 0.25, 4 * se + 0.03)
        << density;  // + KDE smoothing bias at the barrier
  }
}

TEST(Wfr, SameNumbersForAnyThreadCountAndResamplingIsRecorded) {
  const auto t = make_target("gmm4");
  const Wfr wfr(*t, WfrConfig{0.01, 5, "kde", 0, "median", resampler_by_name("residual"), 0.999});
  auto go = [&](int threads) {
    set_thread_count(threads);
    SamplerState s = wfr.init(draw("gauss:d=2,mean=[0,8],var=[1.2,0.01]", 777, 1));
    std::size_t resamplings = 0;
    for (int k = 0; k < 40; ++k) resamplings += wfr.step(s).resampled;
    return std::make_pair(s.x, resamplings);
  };
  const auto [a, ra] = go(1);
  const auto [b, rb] = go(2);
  EXPECT_EQ(a.values(), b.values());
  EXPECT_EQ(a.log_weights(), b.log_weights());
  EXPECT_EQ(ra, rb);
  EXPECT_GT(ra, 0u);
}

TEST(Wfr, BadConfigurationIsRejected) {
  const auto t = make_target("gauss:d=2");
  EXPECT_THROW(Wfr(*t, WfrConfig{0.0}), InvalidArgument);
  EXPECT_THROW(Wfr(*t, WfrConfig{0.1, 0, "knn"}), InvalidArgument);
  EXPECT_THROW(Wfr(*t, WfrConfig{0.1, 0, "kde", -1}), InvalidArgument);
  EXPECT_THROW(Wfr(*t, WfrConfig{0.1, 0, "kde", 0, "scott"}), InvalidArgument);
  EXPECT_THROW(Wfr(*t, WfrConfig{0.1, 0, "kde", 0, "silverman", {"systematic", nullptr}}),
               InvalidArgument);
  EXPECT_THROW(
      Wfr(*t, WfrConfig{0.1, 0, "kde", 0, "silverman", resampler_by_name("systematic"), 1.5}),
      InvalidArgument);
}

TEST(BirthDeath, RatesAreCentredAndJumpsBalanceTheModes) {
  // From the right mode of mix1d-far, the few particles that Langevin carries across the
  // barrier are multiplied until the left mode holds its share 0.25 (ULA alone: < 1%).
  const auto t = make_target("mix1d-far");
  const std::size_t n = 2000;
  for (const bool kernelised : {false, true}) {
    const BirthDeath bd(*t, BirthDeathConfig{0.05, 4, 0, kernelised});
    SamplerState s = bd.init(draw("gauss:d=1,mean=4", n, 2));
    const auto beta = bd.rates(s);
    double mean = 0;
    for (double b : beta) mean += b / static_cast<double>(beta.size());
    EXPECT_NEAR(mean, 0.0, 1e-10);
    double jumps = 0;
    for (int k = 0; k < 600; ++k) jumps += bd.step(s).jump_rate;
    EXPECT_GT(jumps, 0.0);
    const double se = std::sqrt(0.25 * 0.75 / static_cast<double>(n));
    EXPECT_NEAR(mass_left(s.x), 0.25, 4 * se + 0.03) << kernelised;  // + KDE smoothing bias
  }
}

TEST(BirthDeath, SameNumbersForAnyThreadCount) {
  const auto t = make_target("gmm4");
  const BirthDeath bd(*t, BirthDeathConfig{0.01, 5, 0, true});
  auto go = [&](int threads) {
    set_thread_count(threads);
    SamplerState s = bd.init(draw("gauss:d=2,mean=[0,8],var=[1.2,0.01]", 500, 1));
    for (int k = 0; k < 30; ++k) bd.step(s);
    return s.x.values();
  };
  EXPECT_EQ(go(1), go(2));
}

TEST(AnnealedFk, LogZEstimateMatchesTheExactNormaliser) {
  // AIS along the geometric path from N(0, I). ULA moves add an O(h) bias; with h = 0.005
  // it is far below the Monte Carlo error of N = 4000 particles.
  for (const std::string spec :
       {"double-well", "banana:sigma=1.2", "gauss:d=3,var=[2,0.5,1],mean=1"}) {
    const auto t = make_target(spec);
    const AnnealedUla a(
        *t,
        AnnealedConfig{
            .langevin = {0.005, 6}, .total_steps = 2000, .fk_weights = true, .ess_threshold = 0.3});
    SamplerState s = a.init(draw(fmt::format("gauss:d={}", t->dim()), 4000, 3));
    run(a, s, 2000, {});
    const double log_z = s.log_normaliser + log_mean_weight(s.x.log_weights());
    // The relative error of Ẑ is about √(1/ESS − 1/N) per resampling stage; 0.15 covers
    // 4 such standard errors at the ESS levels seen here (≥ 0.3 N at every stage).
    EXPECT_NEAR(log_z, *t->log_normaliser(), 0.15) << spec;
  }
  EXPECT_THROW(
      AnnealedUla(*make_target("gmm4"), AnnealedConfig{.langevin = {0.01, 1},
                                                       .path = make_annealing_path("dilation"),
                                                       .total_steps = 10,
                                                       .fk_weights = true}),
      InvalidArgument);
}

TEST(LogZ, ImportanceSamplingFromExactSamples) {
  for (const std::string spec : {"banana", "ring", "many-well:d=4"}) {
    const auto t = make_target(spec);
    const Particles x = draw(spec, 3000, 9);
    const auto est = log_normaliser_is(x.rows(), {}, *t, 20000, 1);
    EXPECT_NEAR(est.log_z, *t->log_normaliser(), 4 * est.std_error) << spec;
    EXPECT_LT(est.std_error, 0.05) << spec;
  }
}
