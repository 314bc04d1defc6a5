#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numbers>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/targets/registry.hpp>

using namespace sf;

namespace {

const std::vector<std::string> kSpecs = {"gauss:d=3,mean=[1,2,3],var=[1,2,0.5]",
                                         "gauss:d=4,rho=0.3",
                                         "gauss:d=2,cov=[2,0.5,0.5,1]",
                                         "gmm-grid16",
                                         "gmm-grid16-far",
                                         "mix1d-near",
                                         "mix1d-far",
                                         "gmm4",
                                         "double-well",
                                         "many-well:d=6",
                                         "banana",
                                         "banana:sigma=0.8",
                                         "funnel",
                                         "funnel:d=4,scale=1.5",
                                         "ring",
                                         "ring:cx=0,cy=1,radius=2,noise=0.5"};

std::string error_of(const std::string& spec) {
  try {
    make_target(spec);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

// Σ over a 2-D grid of exp(log π) · cell area.
double log_mass_2d(const Target& t, double x0, double x1, double y0, double y1, std::size_t m) {
  Particles g(m * m, 2);
  const double hx = (x1 - x0) / static_cast<double>(m), hy = (y1 - y0) / static_cast<double>(m);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < m; ++j) {
      g(i * m + j, 0) = x0 + hx * (static_cast<double>(j) + 0.5);
      g(i * m + j, 1) = y0 + hy * (static_cast<double>(i) + 0.5);
    }
  std::vector<double> lp(g.n());
  t.log_density(g.rows(), lp);
  double s = 0;
  for (double v : lp) s += std::exp(v);
  return std::log(s * hx * hy);
}

}  // namespace

class EveryTarget : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryTarget, ScoreMatchesCentralFiniteDifferences) {
  const auto t = make_target(GetParam());
  const std::size_t n = 40, d = t->dim();
  Particles x(n, d);
  t->sample(5, x.rows());
  // Also points away from the mass, where tails and mixtures' responsibilities matter.
  for (std::size_t i = n / 2; i < n; ++i) {
    Draws r(9, Stream::init, i, 0);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = 2.5 * r.normal() + x(i, k) * 0.5;
  }
  Particles g(n, d);
  t->score(x.rows(), g.rows());
  const double eps = 1e-5;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < d; ++k) {
      Particles p(2, d);
      for (std::size_t j = 0; j < d; ++j) p(0, j) = p(1, j) = x(i, j);
      p(0, k) += eps;
      p(1, k) -= eps;
      std::vector<double> lp(2);
      t->log_density(p.rows(), lp);
      const double fd = (lp[0] - lp[1]) / (2 * eps);
      ASSERT_NEAR(g(i, k), fd, 1e-5 * (1 + std::abs(fd)) + 1e-6 * std::abs(lp[0]))
          << GetParam() << " row " << i << " coordinate " << k;
    }
}

TEST_P(EveryTarget, SpecRoundTripsThroughTheRegistry) {
  const auto t = make_target(GetParam());
  const auto u = make_target(t->spec());
  EXPECT_EQ(u->spec(), t->spec());
  EXPECT_EQ(u->dim(), t->dim());
}

TEST_P(EveryTarget, WrongDimensionIsRejected) {
  const auto t = make_target(GetParam());
  Particles x(3, t->dim() + 1);
  std::vector<double> lp(3);
  EXPECT_THROW(t->log_density(x.rows(), lp), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Targets, EveryTarget, ::testing::ValuesIn(kSpecs),
                         [](const auto& param_info) {
                           std::string s = param_info.param;
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST(Targets, DoubleWellNormaliserMatchesReference) {
  const auto t = make_target("double-well");
  EXPECT_NEAR(*t->log_normaliser(), std::log(11784.50927) + 0.5 * std::log(2 * std::numbers::pi),
              1e-6);
  const auto m = make_target("many-well:d=8");
  EXPECT_NEAR(*m->log_normaliser(), 4 * *t->log_normaliser(), 1e-9);
  EXPECT_EQ(m->modes().size(), 16u);
}

TEST(Targets, TwoDimensionalNormalisersAgreeWithQuadrature) {
  struct Case {
    std::string spec;
    std::array<double, 4> box;
  };
  for (const Case& c : {Case{"banana", {-8, 10, -20, 90}}, Case{"ring", {2.0, 6.0, -2.0, 2.0}},
                        Case{"double-well", {-4, 4, -8, 8}}, Case{"gmm4", {-5, 5, -2, 12}},
                        Case{"gauss:d=2,cov=[2,0.5,0.5,1]", {-10, 10, -10, 10}}}) {
    const auto t = make_target(c.spec);
    EXPECT_NEAR(log_mass_2d(*t, c.box[0], c.box[1], c.box[2], c.box[3], 1500), *t->log_normaliser(),
                2e-3)
        << c.spec;
  }
}

TEST(Targets, ExactSamplersHaveTheRightMoments) {
  const std::size_t n = 100000;
  struct Case {
    std::string spec;
    std::size_t coord;
    double mean, var;
  };
  for (const Case& c :
       {Case{"gauss:d=2,mean=[1,-2],var=[4,0.25]", 1, -2, 0.25}, Case{"banana", 0, 1, 2},
        Case{"banana", 1, 3, 0.5 + 2 * 4 + 4 * 2}, Case{"funnel", 0, 0, 9},
        Case{"double-well", 1, 0, 1}, Case{"ring", 1, 0, NAN},
        Case{"mix1d-far", 0, 0.25 * -4 + 0.75 * 4, 1 + 16 - 4}}) {
    // banana x2 = x1² + e/σ: Var = Var(x1²) + 1/σ² with x1 ~ N(1, 2): Var(x1²) = 4μ²s² + 2s⁴ = 8
    // + 8.
    const auto t = make_target(c.spec);
    Particles x(n, t->dim());
    t->sample(11, x.rows());
    double s = 0, s2 = 0;
    for (std::size_t i = 0; i < n; ++i) s += x(i, c.coord), s2 += x(i, c.coord) * x(i, c.coord);
    const double m = s / static_cast<double>(n), v = s2 / static_cast<double>(n) - m * m;
    EXPECT_NEAR(m, c.mean, 4 * std::sqrt(v / static_cast<double>(n))) << c.spec;
    if (!std::isnan(c.var)) {
      EXPECT_NEAR(v, c.var, 0.05 * c.var) << c.spec;  // variance checked to 5%
    }
  }
}

TEST(Targets, MixtureFromJsonFile) {
  const auto dir = std::filesystem::temp_directory_path() / "sf_gmm_json";
  std::filesystem::create_directories(dir);
  write_file_atomic(
      dir / "m.json",
      R"({"weights": [1, 3], "means": [[0, 0], [3, 1]], "covariances": [[[1, 0.3], [0.3, 0.5]], [[2, 0], [0, 1]]]})");
  const auto t = make_target("gmm-file:path=" + (dir / "m.json").string());
  EXPECT_EQ(t->dim(), 2u);
  EXPECT_NEAR(log_mass_2d(*t, -10, 12, -10, 10, 1200), 0.0, 1e-3);
  write_file_atomic(dir / "bad.json", R"({"means": [[0, 0]], "covariances": [[[1, 0]]]})");
  EXPECT_THROW(make_target("gmm-file:path=" + (dir / "bad.json").string()), FormatError);
  write_file_atomic(dir / "bad2.json", R"({"weights": [1]})");
  EXPECT_THROW(make_target("gmm-file:path=" + (dir / "bad2.json").string()), FormatError);
  EXPECT_THROW(make_target("gmm-file:path=" + (dir / "missing.json").string()), IoError);
  std::filesystem::remove_all(dir);
}

TEST(Targets, BadSpecsGiveClearErrors) {
  EXPECT_NE(error_of("gaus").find("unknown target 'gaus'; valid targets: gauss"),
            std::string::npos);
  EXPECT_NE(error_of("gauss:dd=3").find("unknown parameter 'dd'"), std::string::npos);
  EXPECT_NE(error_of("gauss:d=x").find("d='x' is not a finite number"), std::string::npos);
  EXPECT_NE(error_of("gauss:d=0").find("positive whole number"), std::string::npos);
  EXPECT_NE(error_of("gauss:d=3,mean=[1,2]").find("mean has 2 values, but d = 3"),
            std::string::npos);
  EXPECT_NE(error_of("gauss:d=2,cov=[1,2,2,1]").find("not positive definite"), std::string::npos);
  EXPECT_NE(error_of("many-well:d=3").find("positive even number"), std::string::npos);
  EXPECT_NE(error_of("banana:sigma=-1").find("sigma is -1, but must be positive"),
            std::string::npos);
  EXPECT_NE(error_of("gmm4:d=2").find("valid parameters: none"), std::string::npos);
  EXPECT_NE(error_of("gauss:d=[1").find("unbalanced"), std::string::npos);
}
