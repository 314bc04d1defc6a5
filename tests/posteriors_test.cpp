// The real posteriors of E7 (logistic regression, log-Gaussian Cox process) against exact
// answers: finite differences, quadrature of log Z, hand-computed bin counts and normaliser;
// and AIS and the Gaussian-proposal importance sampler against known log Z.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <numeric>

#include <Eigen/Eigenvalues>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/log_normaliser.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/targets/cox_process.hpp>
#include <scoreflow/targets/logistic_regression.hpp>
#include <scoreflow/targets/registry.hpp>

using namespace sf;
namespace fs = std::filesystem;

namespace {

// A small data set with one input: log Z can be found by quadrature over (intercept, slope).
std::string tiny_csv() {
  const fs::path p = fs::temp_directory_path() / "scoreflow_tiny_logreg.csv";
  write_file_atomic(p, "x,label\n-1.5,0\n-0.3,1\n0.2,0\n0.8,1\n1.9,1\n");
  return p.string();
}

Particles random_points(std::size_t n, std::size_t d, double centre, double scale,
                        std::uint64_t seed) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = centre + scale * r.normal();
  }
  return x;
}

void expect_score_matches_differences(const Target& t, const Particles& x, double rel) {
  const std::size_t d = t.dim();
  Particles g(x.n(), d);
  t.score(x.rows(), g.rows());
  const double eps = 1e-5;
  for (std::size_t i = 0; i < x.n(); ++i)
    for (std::size_t k = 0; k < d; k += std::max<std::size_t>(1, d / 37)) {
      Particles p(2, d);
      for (std::size_t j = 0; j < d; ++j) p(0, j) = p(1, j) = x(i, j);
      p(0, k) += eps;
      p(1, k) -= eps;
      std::vector<double> lp(2);
      t.log_density(p.rows(), lp);
      const double fd = (lp[0] - lp[1]) / (2 * eps);
      ASSERT_NEAR(g(i, k), fd, rel * (1 + std::abs(fd)) + 1e-9 * std::abs(lp[0]))
          << t.spec() << " row " << i << " coordinate " << k;
    }
}

// log π and ∇log π at 1 and at 2 threads, bit for bit.
void expect_thread_count_invariant(const Target& t, const Particles& x) {
  std::vector<double> lp1(x.n()), lp2(x.n());
  Particles g1(x.n(), x.d()), g2(x.n(), x.d());
  const int before = thread_count();
  set_thread_count(1);
  t.log_density(x.rows(), lp1);
  t.score(x.rows(), g1.rows());
  set_thread_count(2);
  t.log_density(x.rows(), lp2);
  t.score(x.rows(), g2.rows());
  set_thread_count(before);
  EXPECT_EQ(lp1, lp2);
  EXPECT_TRUE(std::equal(g1.data(), g1.data() + g1.values().size(), g2.data()));
}

double log_quadrature_2d(const Target& t, double half_width, std::size_t m) {
  Particles g(m * m, 2);
  const double h = 2 * half_width / static_cast<double>(m);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < m; ++j) {
      g(i * m + j, 0) = -half_width + h * (static_cast<double>(i) + 0.5);
      g(i * m + j, 1) = -half_width + h * (static_cast<double>(j) + 0.5);
    }
  std::vector<double> lp(g.n());
  t.log_density(g.rows(), lp);
  const double mx = *std::max_element(lp.begin(), lp.end());
  double s = 0;
  for (double v : lp) s += std::exp(v - mx);
  return mx + std::log(s * h * h);
}

}  // namespace

TEST(LogisticRegression, LogDensityIsTheBernoulliLikelihoodTimesTheStandardNormalPrior) {
  const auto t = make_target("logreg:path=" + tiny_csv());
  ASSERT_EQ(t->dim(), 2u);
  // Standardised input by hand: mean 0.22, population sd.
  const std::vector<double> x = {-1.5, -0.3, 0.2, 0.8, 1.9}, y = {0, 1, 0, 1, 1};
  const double mean = 0.22;
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean) / 5;
  Particles w(1, 2);
  w(0, 0) = 0.3, w(0, 1) = -0.7;
  double expected = -0.5 * (0.09 + 0.49) - std::log(2 * std::numbers::pi);
  for (std::size_t i = 0; i < 5; ++i) {
    const double z = 0.3 - 0.7 * (x[i] - mean) / std::sqrt(var);
    const double p = 1 / (1 + std::exp(-z));
    expected += y[i] * std::log(p) + (1 - y[i]) * std::log(1 - p);
  }
  std::vector<double> lp(1);
  t->log_density(w.rows(), lp);
  EXPECT_NEAR(lp[0], expected, 1e-12);
}

TEST(LogisticRegression, ScoreMatchesFiniteDifferencesOnEveryDataSet) {
  for (const auto& name : logistic_regression_datasets()) {
    const auto t = make_target("logreg:data=" + name);
    expect_score_matches_differences(*t, random_points(6, t->dim(), 0, 0.5, 3), 1e-6);
  }
}

TEST(LogisticRegression, DataSetsHaveTheirPublishedShapes) {
  const std::vector<std::pair<std::string, std::size_t>> shapes = {
      {"breast-cancer", 31}, {"sonar", 61}, {"ionosphere", 34}};
  for (const auto& [name, d] : shapes) {
    const auto t = make_target("logreg:data=" + name);
    EXPECT_EQ(t->dim(), d) << name;
  }
  const auto bc = load_logistic_regression_dataset("breast-cancer");
  EXPECT_EQ(bc.inputs.rows(), 569);
  EXPECT_EQ(std::accumulate(bc.labels.begin(), bc.labels.end(), 0.0), 212);  // malignant
  EXPECT_EQ(load_logistic_regression_dataset("sonar").inputs.rows(), 208);
  EXPECT_EQ(load_logistic_regression_dataset("ionosphere").inputs.rows(), 351);
}

TEST(LogisticRegression, SameNumbersAtAnyThreadCount) {
  const auto t = make_target("logreg:data=sonar");
  expect_thread_count_invariant(*t, random_points(37, t->dim(), 0, 0.5, 4));
}

TEST(LogisticRegression, BadDataIsRefusedWithItsRowAndValue) {
  const fs::path p = fs::temp_directory_path() / "scoreflow_bad_logreg.csv";
  write_file_atomic(p, "x,label\n1,0\n2,2\n");
  try {
    make_target("logreg:path=" + p.string());
    FAIL() << "a label of 2 was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("row 2: label 'label' is 2, but must be 0 or 1"),
              std::string::npos)
        << e.what();
  }
  write_file_atomic(p, "x,label\n1,0\n1,1\n");
  EXPECT_THROW(make_target("logreg:path=" + p.string()), InvalidArgument);  // constant column
  EXPECT_THROW(make_target("logreg:data=german"), InvalidArgument);
  EXPECT_THROW(make_target("logreg"), InvalidArgument);
}

TEST(CoxProcess, BinCountsAndNormaliserAreRight) {
  const auto t = make_target("lgcp:grid=8");
  const auto& cox = dynamic_cast<const CoxProcess&>(*t);
  ASSERT_EQ(t->dim(), 64u);
  EXPECT_EQ(std::accumulate(cox.counts().begin(), cox.counts().end(), 0.0), 126);
  // The first pine (-1.993875, 0.9297642) lies in cell (row ⌊3.006·0.8⌋, column ⌊8.93·0.8⌋).
  const auto pines = load_finpines();
  ASSERT_EQ(pines.points.size(), 126u);
  EXPECT_NEAR(pines.points[0][0], -1.993875, 1e-12);
  EXPECT_GE(cox.counts()[2 * 8 + 7], 1);
  EXPECT_NEAR(cox.prior_mean(), std::log(126.0) - 1.91 / 2, 1e-15);
  // At x = μ: log π = Σ y μ − a Σ e^μ − ½ log det(2πΣ), log det from the eigenvalues.
  Particles x(1, 64);
  std::fill(x.data(), x.data() + 64, cox.prior_mean());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(Eigen::MatrixXd(cox.covariance()));
  double log_det = 0;
  for (double v : eig.eigenvalues()) log_det += std::log(v);
  const double expected = 126 * cox.prior_mean() - std::exp(cox.prior_mean()) -
                          0.5 * (64 * std::log(2 * std::numbers::pi) + log_det);
  std::vector<double> lp(1);
  t->log_density(x.rows(), lp);
  EXPECT_NEAR(lp[0], expected, 1e-9 * std::abs(expected));
  // Σ(c, c') = σ² exp(−|g_c − g_c'|/(nβ)) between cells (0,0) and (1,2).
  EXPECT_NEAR(cox.covariance()(0, 10), 1.91 * std::exp(-std::sqrt(5.0) * 33 / 8), 1e-15);
}

TEST(CoxProcess, ScoreMatchesFiniteDifferences) {
  const auto t = make_target("lgcp:grid=10");
  const auto& cox = dynamic_cast<const CoxProcess&>(*t);
  expect_score_matches_differences(*t, random_points(4, t->dim(), cox.prior_mean(), 1.0, 5), 1e-5);
}

TEST(CoxProcess, SameNumbersAtAnyThreadCount) {
  const auto t = make_target("lgcp:grid=12");
  expect_thread_count_invariant(*t, random_points(21, t->dim(), 4, 1, 6));
}

TEST(CoxProcess, BadSettingsAreRefused) {
  EXPECT_THROW(make_target("lgcp:grid=0"), InvalidArgument);
  EXPECT_THROW(make_target("lgcp:sigma2=-1"), InvalidArgument);
  EXPECT_THROW(make_target("lgcp:path=/nonexistent.csv"), InvalidArgument);  // no window
  const fs::path p = fs::temp_directory_path() / "scoreflow_points.csv";
  write_file_atomic(p, "x,y\n0.5,0.5\n2,0.5\n");
  try {
    make_target("lgcp:grid=4,path=" + p.string() + ",window=[0,1,0,1]");
    FAIL() << "a point outside the window was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("point 2 (2, 0.5) lies outside"), std::string::npos)
        << e.what();
  }
}

// AIS (MALA moves, FK weights) is unbiased in Z: the mean of Ẑ/Z over independent runs is 1.
TEST(Ais, LogZOfATinyLogisticRegressionMatchesQuadrature) {
  const auto t = make_target("logreg:path=" + tiny_csv());
  const double exact = log_quadrature_2d(*t, 9, 900);
  const std::size_t runs = 12, n = 300, steps = 60;
  std::vector<double> ratio;
  for (std::uint64_t r = 0; r < runs; ++r) {
    const auto ais = make_sampler("ais:step_size=0.3", *t, {r, steps, "", false});
    Particles x0(n, 2);
    for (std::size_t i = 0; i < n; ++i) {
      Draws rng(100 + r, Stream::init, i, 0);
      x0(i, 0) = rng.normal(), x0(i, 1) = rng.normal();
    }
    SamplerState s = ais->init(std::move(x0));
    double acc = 0;
    for (std::size_t k = 0; k < steps; ++k) acc += ais->step(s).acceptance / steps;
    EXPECT_GT(acc, 0.3);
    const double log_z = s.log_normaliser + log_mean_weight(s.x.log_weights());
    ratio.push_back(std::exp(log_z - exact));
  }
  const double mean = std::accumulate(ratio.begin(), ratio.end(), 0.0) / runs;
  double var = 0;
  for (double v : ratio) var += (v - mean) * (v - mean) / (runs - 1);
  const double se = std::sqrt(var / runs);
  std::printf("AIS: exact log Z %.5f, mean Z-hat/Z %.5f (SE %.5f)\n", exact, mean, se);
  EXPECT_NEAR(mean, 1.0, 4 * se + 1e-3);
  EXPECT_LT(se, 0.02);  // the test has power: a 10 % bias would fail it
}

TEST(GaussianProposalIs, UnbiasedForAGaussianTargetFromItsOwnDraws) {
  // A normalised target: log Z = 0; particles from the target itself; N < d exercises shrinkage.
  for (std::size_t n : {300, 20}) {
    const auto t = make_target("gauss:d=30,rho=0.4");
    Particles x(n, 30);
    t->sample(8, x.rows());
    const auto est = log_normaliser_is_gaussian(x.rows(), {}, *t, 4000, 9);
    EXPECT_NEAR(est.log_z, 0.0, 4 * est.std_error) << "N = " << n;
    EXPECT_GT(est.ess, 0.0);
    EXPECT_LE(est.ess, 1.0);
  }
}

TEST(CoxProcess, WhitenedDensityIsTheNaturalOneTimesTheJacobian) {
  const auto nat = make_target("lgcp:grid=6");
  const auto white = make_target("lgcp:grid=6,whiten=true");
  const auto& cox = dynamic_cast<const CoxProcess&>(*nat);
  const Particles z = random_points(5, 36, 0, 1, 7);
  Particles x(5, 36);
  x.rows().eigen() = z.rows().eigen() * cox.cholesky().transpose();
  x.rows().eigen().array() += cox.prior_mean();
  std::vector<double> lz(5), lx(5);
  white->log_density(z.rows(), lz);
  nat->log_density(x.rows(), lx);
  // π_z(z) = π_x(μ + Lz) |det L|: the same normaliser Z.
  double log_det_l = 0;
  for (std::size_t k = 0; k < 36; ++k) log_det_l += std::log(cox.cholesky()(k, k));
  for (std::size_t i = 0; i < 5; ++i) EXPECT_NEAR(lz[i], lx[i] + log_det_l, 1e-9) << i;
  expect_score_matches_differences(*white, z, 1e-6);
  expect_thread_count_invariant(*white, random_points(19, 36, 0, 1, 8));
}
