#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/targets/datasets.hpp>

using namespace sf;

class EveryDataset : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryDataset, FiniteBoundedAndReproducible) {
  const Particles a = sample_dataset(GetParam(), 5000, 3);
  const Particles b = sample_dataset(GetParam(), 5000, 3);
  const Particles c = sample_dataset(GetParam(), 5000, 4);
  EXPECT_EQ(a.values(), b.values());
  EXPECT_NE(a.values(), c.values());
  for (double v : a.values()) {
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_LT(std::abs(v), 12.0) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(Datasets, EveryDataset, ::testing::ValuesIn(dataset_names()));

TEST(Datasets, EightGaussiansCentresAndSpread) {
  const std::size_t n = 200000;
  const Particles p = sample_dataset("8gaussians", n, 1);
  // |x|² = |c + ε|² with |c| = 4/1.414 and ε ~ N(0, s²I), s = 0.5/1.414: mean |c|² + 2s².
  const double c2 = 16 / (1.414 * 1.414), s2 = 0.25 / (1.414 * 1.414);
  double m = 0, m2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r2 = p(i, 0) * p(i, 0) + p(i, 1) * p(i, 1);
    m += r2;
    m2 += r2 * r2;
  }
  m /= static_cast<double>(n);
  const double se = std::sqrt((m2 / static_cast<double>(n) - m * m) / static_cast<double>(n));
  EXPECT_NEAR(m, c2 + 2 * s2, 4 * se);
}

// The stated law is the generator's: the average log-density of generated points equals the
// law's own entropy estimate (points drawn from the law) within 4 SE, and a law with the
// centres rotated by a sixteenth of a turn is rejected.
TEST(Datasets, EightGaussiansMixtureIsTheGeneratorsLaw) {
  const std::size_t n = 100000;
  const GaussianMixture law = eight_gaussians_mixture();
  const auto mean_logp = [&](const GaussianMixture& g, const Particles& p) {
    double m = 0, m2 = 0;
    for (std::size_t i = 0; i < p.n(); ++i) {
      const double l = g.log_density_row(p.row(i));
      m += l, m2 += l * l;
    }
    m /= static_cast<double>(p.n());
    return std::pair{
        m, std::sqrt((m2 / static_cast<double>(p.n()) - m * m) / static_cast<double>(p.n()))};
  };
  Particles own(n, 2);
  law.sample(5, own.rows());
  const auto [gen, gen_se] = mean_logp(law, sample_dataset("8gaussians", n, 1));
  const auto [ref, ref_se] = mean_logp(law, own);
  EXPECT_NEAR(gen, ref, 4 * std::hypot(gen_se, ref_se));
  auto comps = law.component_list();
  for (auto& c : comps) {
    const double a = std::numbers::pi / 8, x = c.mean(0), y = c.mean(1);
    c.mean << std::cos(a) * x - std::sin(a) * y, std::sin(a) * x + std::cos(a) * y;
  }
  const auto [rot, rot_se] =
      mean_logp(GaussianMixture("rotated", comps), sample_dataset("8gaussians", n, 1));
  EXPECT_LT(rot, ref - 1.0);
}

TEST(Datasets, CheckerboardOccupiesAlternateSquares) {
  const Particles p = sample_dataset("checkerboard", 20000, 2);
  for (std::size_t i = 0; i < p.n(); ++i) {
    const long cx = static_cast<long>(std::floor(p(i, 0) / 2)),
               cy = static_cast<long>(std::floor(p(i, 1) / 2));
    ASSERT_EQ((cx + cy) & 1, 0) << p(i, 0) << "," << p(i, 1);
  }
}

TEST(Datasets, SameNumbersForAnyThreadCount) {
  set_thread_count(1);
  const Particles a = sample_dataset("swissroll", 3000, 5);
  set_thread_count(2);
  const Particles b = sample_dataset("swissroll", 3000, 5);
  EXPECT_EQ(a.values(), b.values());
}

TEST(Datasets, UnknownNameListsValidOnes) {
  try {
    sample_dataset("moon", 10, 0);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("valid data sets: moons"), std::string::npos);
  }
  EXPECT_THROW(sample_dataset("moons", 0, 0), InvalidArgument);
}
