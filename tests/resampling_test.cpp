#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include <scoreflow/core/error.hpp>
#include <scoreflow/samplers/resampling.hpp>

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
