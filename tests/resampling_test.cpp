#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include <scoreflow/core/error.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/samplers/resampling.hpp>
#include <scoreflow/samplers/weighted.hpp>

using namespace sf;

namespace {

struct CountStats {
  std::vector<double> mean, var;
};

CountStats offspring(ResampleFn f, const std::vector<double>& w, std::size_t count,
                     std::size_t draws) {
  CountStats st{std::vector<double>(w.size()), std::vector<double>(w.size())};
  std::vector<double> s2(w.size());
  for (std::size_t r = 0; r < draws; ++r) {
    Draws rng(7, Stream::resample, 0, r);
    std::vector<double> c(w.size());
    for (std::size_t i : f(w, count, rng)) {
      EXPECT_LT(i, w.size());
      c[i] += 1;
    }
    for (std::size_t i = 0; i < w.size(); ++i) st.mean[i] += c[i], s2[i] += c[i] * c[i];
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    st.mean[i] /= static_cast<double>(draws);
    st.var[i] = s2[i] / static_cast<double>(draws) - st.mean[i] * st.mean[i];
  }
  return st;
}

const std::vector<double> kWeights = {0.05, 0.3, 0.0, 0.15, 0.02, 0.28, 0.2};

}  // namespace

class EveryResampler : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryResampler, ExpectedOffspringCountsAreNTimesTheWeights) {
  const std::size_t n = 20, draws = 20000;
  const auto st = offspring(resampler_by_name(GetParam()).fn, kWeights, n, draws);
  for (std::size_t i = 0; i < kWeights.size(); ++i) {
    // Multinomial variance N w (1 − w) bounds every scheme's; 4 standard errors.
    const double se = std::sqrt(n * kWeights[i] * (1 - kWeights[i]) / draws);
    EXPECT_NEAR(st.mean[i], n * kWeights[i], 4 * se + 1e-12) << GetParam() << " index " << i;
  }
  EXPECT_EQ(st.mean[2], 0.0);  // zero weight: never an ancestor
}

TEST_P(EveryResampler, OutputIsSortedAndHandlesShortSums) {
  const auto f = resampler_by_name(GetParam()).fn;
  // float32-style weights summing to a little less than 1, and a single non-zero weight.
  const std::vector<double> shortfall = {0.3333333, 0.3333333, 0.3333333};
  const std::vector<double> single = {0, 0, 1, 0};
  for (std::size_t r = 0; r < 200; ++r) {
    Draws rng(1, Stream::resample, 0, r);
    const auto a = f(shortfall, 9, rng);
    EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
    for (auto i : a) ASSERT_LT(i, 3u);
    for (auto i : f(single, 5, rng)) ASSERT_EQ(i, 2u);
  }
}

INSTANTIATE_TEST_SUITE_P(Resamplers, EveryResampler,
                         ::testing::Values("systematic", "stratified", "residual", "multinomial"));

TEST(Resampling, LowVarianceSchemesBeatMultinomial) {
  const std::size_t n = 20, draws = 20000;
  auto total_var = [&](const char* name) {
    const auto st = offspring(resampler_by_name(name).fn, kWeights, n, draws);
    return std::accumulate(st.var.begin(), st.var.end(), 0.0);
  };
  const double multi = total_var("multinomial");
  // Multinomial: Σ N w (1 − w) exactly in expectation.
  double exact = 0;
  for (double w : kWeights) exact += n * w * (1 - w);
  EXPECT_NEAR(multi, exact, 0.05 * exact);
  for (const char* name : {"systematic", "stratified", "residual"})
    EXPECT_LT(total_var(name), 0.5 * multi) << name;
}

TEST(Resampling, BadInputIsRejected) {
  Draws rng(1, Stream::resample, 0, 0);
  EXPECT_THROW(systematic_resample(std::vector<double>{0, 0}, 3, rng), InvalidArgument);
  EXPECT_THROW(systematic_resample(std::vector<double>{1, NAN}, 3, rng), InvalidArgument);
  EXPECT_THROW(systematic_resample(std::vector<double>{1, -1}, 3, rng), InvalidArgument);
  EXPECT_THROW(systematic_resample(std::vector<double>{1}, 0, rng), InvalidArgument);
  EXPECT_THROW(resampler_by_name("bootstrap"), InvalidArgument);
}

namespace {

// n particles whose rows name them: x = (i, −i), score 10i, log π i; log-weights spread over
// e^±6, one of them −inf.
SamplerState named_particles(std::size_t n, std::size_t step) {
  SamplerState s;
  s.x = Particles(n, 2);
  s.grad = Particles(n, 2);
  s.logp.resize(n);
  auto& lw = s.x.log_weights();
  lw.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    s.x(i, 0) = static_cast<double>(i), s.x(i, 1) = -static_cast<double>(i);
    s.grad(i, 0) = s.grad(i, 1) = 10.0 * static_cast<double>(i);
    s.logp[i] = static_cast<double>(i);
    lw[i] = 6 * std::sin(1.7 * static_cast<double>(i * (step + 1)));
  }
  lw[n / 2] = -INFINITY;
  s.step = step;
  return s;
}

std::vector<std::size_t> ancestors(const SamplerState& s) {
  std::vector<std::size_t> a(s.x.n());
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<std::size_t>(s.x(i, 0));
    // Score and log π travel with their particle.
    EXPECT_EQ(s.x(i, 1), -s.x(i, 0));
    EXPECT_EQ(s.grad(i, 0), 10 * s.x(i, 0));
    EXPECT_EQ(s.logp[i], s.x(i, 0));
  }
  return a;
}

}  // namespace

// Systematic by prefix sums against the scheme on the whole weight array.
TEST(Resampling, ASamplerResamplesSystematicallyAsTheSchemeDoes) {
  for (std::size_t step : {0u, 1u, 17u}) {
    SamplerState s = named_particles(300, step);
    const std::vector<double> lw = s.x.log_weights();
    StepInfo info;
    maybe_resample(s, systematic_resample, 1.0, 5, info);
    EXPECT_TRUE(info.resampled);
    Draws rng(5, Stream::resample, 0, step);
    EXPECT_EQ(ancestors(s), systematic_resample(normalised_weights(lw, 300), 300, rng))
        << "step " << step;
    EXPECT_NEAR(info.ess, normalised_ess(lw), 1e-14);
    EXPECT_NEAR(s.log_normaliser, log_mean_weight(lw), 1e-14);
    EXPECT_EQ(s.x.log_weights(), std::vector<double>(300, 0.0));
  }
}

// The other schemes by prefix sums draw from streams keyed by position (so they give other
// ancestors than the functions on the whole array, which draw in sequence): unbiased, with
// each scheme's own bound on the offspring counts and multinomial's variance N·w(1 − w).
class ASamplerResamples : public ::testing::TestWithParam<std::string> {};

TEST_P(ASamplerResamples, WithoutBiasAndWithinTheSchemesBounds) {
  const std::size_t n = 40, draws = 4000;
  const ResampleFn scheme = resampler_by_name(GetParam()).fn;
  std::vector<double> mean(n), square(n), w;
  for (std::size_t r = 0; r < draws; ++r) {
    SamplerState s = named_particles(n, 3);
    s.step = r;  // same weights, fresh uniforms
    w = normalised_weights(s.x.log_weights(), n);
    StepInfo info;
    maybe_resample(s, scheme, 1.0, 9, info);
    EXPECT_NEAR(s.log_normaliser, log_mean_weight(named_particles(n, 3).x.log_weights()), 1e-14);
    std::vector<double> count(n);
    const auto a = ancestors(s);
    ASSERT_EQ(a.size(), n);
    ASSERT_TRUE(std::is_sorted(a.begin(), a.end()));
    for (std::size_t i : a) count[i] += 1;
    for (std::size_t i = 0; i < n; ++i) {
      if (GetParam() == "stratified") {
        ASSERT_LT(std::abs(count[i] - n * w[i]), 2.0) << i;
      }
      if (GetParam() == "residual") {
        ASSERT_GE(count[i], std::floor(n * w[i] - 1e-9)) << i;
      }
      mean[i] += count[i] / draws;
      square[i] += count[i] * count[i] / draws;
    }
  }
  double variance = 0, multinomial = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double se = std::sqrt(n * w[i] * (1 - w[i]) / draws);  // multinomial bounds it
    EXPECT_NEAR(mean[i], n * w[i], 4 * se + 1e-12) << i;
    variance += square[i] - mean[i] * mean[i];
    multinomial += n * w[i] * (1 - w[i]);
  }
  EXPECT_EQ(mean[n / 2], 0.0);
  // The summed variance's relative standard error is below √(2/draws) ≈ 2.2 %: 10 % is > 4 SE.
  if (GetParam() == "multinomial")
    EXPECT_NEAR(variance, multinomial, 0.1 * multinomial);
  else
    EXPECT_LT(variance, 0.5 * multinomial);
}

INSTANTIATE_TEST_SUITE_P(PrefixSums, ASamplerResamples,
                         ::testing::Values("stratified", "residual", "multinomial"));

TEST(Resampling, ESSAboveTheThresholdKeepsTheParticles) {
  SamplerState s = named_particles(50, 0);
  s.x.log_weights().assign(50, -3.0);  // equal weights, not yet shifted to max 0
  StepInfo info;
  maybe_resample(s, systematic_resample, 0.5, 1, info);
  EXPECT_FALSE(info.resampled);
  EXPECT_DOUBLE_EQ(info.ess, 1.0);
  EXPECT_EQ(s.log_normaliser, 0.0);
  s.x.log_weights()[7] = NAN;
  EXPECT_THROW(maybe_resample(s, systematic_resample, 0.5, 1, info), NumericalError);
  s.x.log_weights().assign(50, -INFINITY);
  EXPECT_THROW(maybe_resample(s, systematic_resample, 0.5, 1, info), NumericalError);
}
