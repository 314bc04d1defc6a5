// A user's target as TorchScript against the same density written in C++: equal scores and
// log-density differences, every sampler family runs on it, clear errors for bad modules, and
// results that do not depend on the thread count. The modules come from
// make_torchscript_targets.py (a CTest fixture) in SCOREFLOW_TS_DIR.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/neural/torchscript_target.hpp>
#include <scoreflow/runs/torch_parts.hpp>
#include <scoreflow/samplers/birth_death.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/sbtm.hpp>
#include <scoreflow/samplers/wfr.hpp>
#include <scoreflow/targets/registry.hpp>

namespace sf {
namespace {

std::string ts(const std::string& name) {
  return std::string(SCOREFLOW_TS_DIR) + "/" + name;
}

Particles points(std::size_t n, std::size_t d, double scale, std::uint64_t seed) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    for (std::size_t j = 0; j < d; ++j) x(i, j) = scale * r.normal();
  }
  return x;
}

// The logistic-regression posterior of make_torchscript_targets.py written in C++.
class Logistic : public RowwiseTarget<Logistic> {
 public:
  Logistic() {
    const NpyArray in = read_npy(ts("logistic_inputs.npy"));
    labels_ = read_npy(ts("logistic_labels.npy")).values;
    n_ = in.shape[0];
    p_ = in.shape[1] + 1;
    features_.assign(n_ * p_, 1.0);
    for (std::size_t k = 0; k < n_; ++k)
      for (std::size_t j = 1; j < p_; ++j) features_[k * p_ + j] = in.values[k * (p_ - 1) + j - 1];
  }
  std::string spec() const override { return "logistic (test)"; }
  std::size_t dim() const override { return p_; }
  double log_density_row(const double* w) const {
    double lp = 0;
    for (std::size_t j = 0; j < p_; ++j) lp -= 0.5 * w[j] * w[j];
    for (std::size_t k = 0; k < n_; ++k) {
      const double eta = linear(w, k);
      lp += labels_[k] * eta - softplus(eta);
    }
    return lp;
  }
  void score_row(const double* w, double* g) const {
    for (std::size_t j = 0; j < p_; ++j) g[j] = -w[j];
    for (std::size_t k = 0; k < n_; ++k) {
      const double r = labels_[k] - 1 / (1 + std::exp(-linear(w, k)));
      for (std::size_t j = 0; j < p_; ++j) g[j] += r * features_[k * p_ + j];
    }
  }

 private:
  double linear(const double* w, std::size_t k) const {
    double eta = 0;
    for (std::size_t j = 0; j < p_; ++j) eta += w[j] * features_[k * p_ + j];
    return eta;
  }
  static double softplus(double t) {
    return t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
  }
  std::vector<double> features_, labels_;
  std::size_t n_ = 0, p_ = 0;
};

// Scores equal to 1e-10 and log-densities equal up to one constant (log Z is not fixed).
void expect_same_density(const Target& a, const Target& b, const Particles& x) {
  ASSERT_EQ(a.dim(), b.dim());
  Particles ga(x.n(), x.d()), gb(x.n(), x.d());
  a.score(x.rows(), ga.rows());
  b.score(x.rows(), gb.rows());
  std::vector<double> la(x.n()), lb(x.n());
  a.log_density(x.rows(), la);
  b.log_density(x.rows(), lb);
  double worst_score = 0, worst_logp = 0;
  for (std::size_t i = 0; i < x.n(); ++i) {
    for (std::size_t j = 0; j < x.d(); ++j)
      worst_score = std::max(worst_score, std::abs(ga(i, j) - gb(i, j)) / (1 + std::abs(ga(i, j))));
    worst_logp = std::max(
        worst_logp, std::abs((la[i] - la[0]) - (lb[i] - lb[0])) / (1 + std::abs(la[i] - la[0])));
  }
  EXPECT_LT(worst_score, 1e-10);
  EXPECT_LT(worst_logp, 1e-10);
}

TEST(TorchScriptTarget, CorrelatedGaussianEqualsTheBuiltIn) {
  register_torch_parts();
  const auto builtin =
      make_target("gauss:d=3,mean=[1,-0.5,0.25],cov=[2,0.9,0.3,0.9,1,-0.4,0.3,-0.4,1.5]");
  const auto script = make_target("torchscript:path=" + ts("gauss.pt"));  // dim from the module
  EXPECT_EQ(script->dim(), 3u);
  expect_same_density(*builtin, *script, points(3000, 3, 2.0, 1));
}

TEST(TorchScriptTarget, BananaWithItsOwnScoreMethodEqualsTheBuiltIn) {
  const auto builtin = make_target("banana:sigma=1.3");
  const auto script = load_torchscript_target(ts("banana.pt"));
  expect_same_density(*builtin, *script, points(3000, 2, 1.5, 2));
}

TEST(TorchScriptTarget, LogisticRegressionPosteriorEqualsCpp) {
  const Logistic cpp;
  const auto script = load_torchscript_target(ts("logistic.pt"), 5);
  expect_same_density(cpp, *script, points(2500, 5, 1.0, 3));
}

TEST(TorchScriptTarget, SameScoresForAnyThreadCount) {
  const auto script = load_torchscript_target(ts("logistic.pt"), 5);
  const Particles x = points(5000, 5, 1.0, 4);
  Particles one(x.n(), x.d()), two(x.n(), x.d());
  const int before = thread_count();
  set_thread_count(1);
  script->score(x.rows(), one.rows());
  set_thread_count(2);
  script->score(x.rows(), two.rows());
  set_thread_count(before);
  for (std::size_t k = 0; k < x.n() * x.d(); ++k) ASSERT_EQ(one.data()[k], two.data()[k]) << k;
}

// Every sampler family gives the same particles on both targets: their scores agree to
// rounding, so only rounding separates the runs.
TEST(TorchScriptTarget, EverySamplerRunsOnIt) {
  const auto builtin = make_target("banana:sigma=1.3");
  const auto script = load_torchscript_target(ts("banana.pt"));
  const LangevinConfig lc{0.01, 5};
  using Make = std::function<std::unique_ptr<Sampler>(const Target&)>;
  const std::vector<std::pair<std::string, Make>> samplers = {
      {"ula", [&](const Target& t) { return std::make_unique<Ula>(t, lc); }},
      {"mala", [&](const Target& t) { return std::make_unique<Mala>(t, lc); }},
      {"annealed-ula+fk",
       [&](const Target& t) {
         return std::make_unique<AnnealedUla>(
             t, AnnealedConfig{.langevin = lc, .total_steps = 40, .fk_weights = true});
       }},
      {"wfr ula-kernel",
       [&](const Target& t) {
         return std::make_unique<Wfr>(t, WfrConfig{0.01, 5, "ula-kernel"});
       }},
      {"wfr kde",
       [&](const Target& t) {
         return std::make_unique<Wfr>(t, WfrConfig{0.01, 5, "kde"});
       }},
      {"birth-death",
       [&](const Target& t) {
         return std::make_unique<BirthDeath>(t, BirthDeathConfig{0.01, 5});
       }},
      {"sbtm",
       [&](const Target& t) {
         SbtmConfig c;
         c.step_size = 0.01;
         c.seed = 5;
         c.hidden = {16, 16};
         c.train_steps = 2;
         c.batch = 50;
         return std::make_unique<Sbtm>(t, std::move(c));
       }},
  };
  for (const auto& [name, make] : samplers) {
    SCOPED_TRACE(name);
    const Particles x0 = points(300, 2, 1.0, 6);
    const auto a = make(*builtin), b = make(*script);
    SamplerState sa = a->init(x0), sb = b->init(x0);
    run(*a, sa, 40, {});
    run(*b, sb, 40, {});
    double worst = 0;
    for (std::size_t k = 0; k < x0.n() * x0.d(); ++k)
      worst = std::max(worst, std::abs(sa.x.data()[k] - sb.x.data()[k]));
    EXPECT_LT(worst, name == "sbtm" ? 1e-4 : 1e-8);
  }
}

// MALA on the script target reaches the exact mean of the Gaussian within 4 standard errors.
TEST(TorchScriptTarget, MalaSamplesTheScriptGaussian) {
  const auto script = load_torchscript_target(ts("gauss.pt"));
  const Mala mala(*script, {0.4, 9});
  SamplerState s = mala.init(points(4000, 3, 1.0, 8));
  run(mala, s, 400, {});
  const Eigen::VectorXd mean = weighted_mean(s.x.rows());
  const double exact[3] = {1.0, -0.5, 0.25}, var[3] = {2.0, 1.0, 1.5};
  // Independent chains: the SE of a mean is sqrt(var / N).
  for (int j = 0; j < 3; ++j)
    EXPECT_NEAR(mean(j), exact[j], 4 * std::sqrt(var[j] / 4000.0)) << "coordinate " << j;
}

void expect_refused(const std::string& spec, const std::string& words) {
  try {
    const auto t = make_target(spec);
    Particles x = points(8, t->dim(), 0.5, 1);
    x(5, 0) = 4.0;  // nan_row.pt is log(3 - x0): NaN here
    std::vector<double> lp(x.n());
    t->log_density(x.rows(), lp);
    FAIL() << spec << " was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(TorchScriptTarget, BadModulesAreRefusedByName) {
  register_torch_parts();
  expect_refused("torchscript:path=" + ts("nosuch.pt") + ",d=2", "does not exist");
  expect_refused("torchscript:path=" + ts("not_a_module.pt") + ",d=2", "not a TorchScript module");
  expect_refused("torchscript:path=" + ts("wrong_shape.pt") + ",d=2", "expected Tensor[2] float64");
  expect_refused("torchscript:path=" + ts("float32.pt") + ",d=2", "Float");
  expect_refused("torchscript:path=" + ts("no_grad.pt") + ",d=2", "define score(x)");
  expect_refused("torchscript:path=" + ts("nan_row.pt") + ",d=2", "at row 5");
  expect_refused("torchscript:path=" + ts("logistic.pt"), "dimension is unknown");
  expect_refused("torchscript:path=" + ts("gauss.pt") + ",d=2", "dim attribute is 3");
  expect_refused("torchscript:d=2", "torchscript:path=FILE.pt");
  expect_refused("torchscript:path=x.pt,dim=2", "d");
}

}  // namespace
}  // namespace sf
