// The Feynman–Kac corrector on trained score models (`generate --sampler fk`): the product of
// two models trained on overlapping 2-D mixtures, and one model to the power 2, against the
// closed forms (a product of mixtures is a mixture).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <Eigen/Core>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>
#include "cli_helpers.hpp"

using namespace sf;
using sf::test::Cli;
using sf::test::scoreflow;
namespace fs = std::filesystem;

namespace {

constexpr const char* kDataA =
    R"({"weights": [0.3, 0.7], "means": [[-1.5, 0], [1.5, 0]], "variances": [[0.64, 0.64], [0.64, 0.64]]})";
constexpr const char* kDataB =
    R"({"weights": [0.5, 0.5], "means": [[0, -1.5], [1.2, 1.5]], "variances": [[0.81, 0.81], [0.81, 0.81]]})";

Eigen::Vector2d mixture_mean(const GaussianMixture& g) {
  Eigen::Vector2d m = Eigen::Vector2d::Zero();
  for (const auto& c : g.component_list()) m += c.weight * c.mean;
  return m;
}

// Mean of a run's weighted particles, or of its equally weighted samples.
Eigen::Vector2d run_mean(const fs::path& run, bool weighted) {
  const NpyArray x = read_npy(run / (weighted ? "particles.npy" : "samples.npy"));
  const std::size_t n = x.shape[0];
  std::vector<double> w(n, 1.0);
  if (weighted) {
    const NpyArray lw = read_npy(run / "log_weights.npy");
    for (std::size_t i = 0; i < n; ++i) w[i] = std::exp(lw.values[i]);
  }
  Eigen::Vector2d m = Eigen::Vector2d::Zero();
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    m += w[i] * Eigen::Vector2d(x.values[2 * i], x.values[2 * i + 1]);
    total += w[i];
  }
  return m / total;
}

struct Estimate {
  Eigen::Vector2d mean, se;
};

Estimate across_runs(const std::vector<Eigen::Vector2d>& v) {
  Estimate e{Eigen::Vector2d::Zero(), Eigen::Vector2d::Zero()};
  for (const auto& m : v) e.mean += m / static_cast<double>(v.size());
  for (const auto& m : v) e.se += (m - e.mean).cwiseAbs2() / static_cast<double>(v.size() - 1);
  e.se = (e.se / static_cast<double>(v.size())).cwiseSqrt();
  return e;
}

}  // namespace

class FkTrained : public Cli {
 protected:
  // Trains a model on the mixture in `json`; returns its plain generation's largest mean error
  // against the exact mixture, with 4 standard errors of that generation added: what the
  // model's own inaccuracy contributes to any answer built from it.
  double train(const std::string& name, const char* json) {
    write_file_atomic(dir / (name + ".json"), json);
    const auto data = "gmm-file:path=" + (dir / (name + ".json")).string();
    const auto r = scoreflow(
        fmt::format("train --data {} --loss nc-dsm --steps 6000 --lr 2e-3 {}", data, out(name)));
    EXPECT_EQ(r.code, 0) << r.output;
    const auto g =
        scoreflow(fmt::format("generate --model {} --sampler euler --n 20000 --steps 300 {}",
                              (dir / name).string(), out(name + "-plain")));
    EXPECT_EQ(g.code, 0) << g.output;
    const auto exact = GaussianMixture::from_json(dir / (name + ".json"));
    const Eigen::Vector2d err = run_mean(dir / (name + "-plain"), false) - mixture_mean(exact);
    double sd = 0;  // the largest coordinate standard deviation of the mixture
    const Eigen::Vector2d mu = mixture_mean(exact);
    for (int k = 0; k < 2; ++k) {
      double v = 0;
      for (const auto& c : exact.component_list())
        v += c.weight * (c.cov(k, k) + (c.mean(k) - mu(k)) * (c.mean(k) - mu(k)));
      sd = std::max(sd, std::sqrt(v));
    }
    return err.cwiseAbs().maxCoeff() + 4 * sd / std::sqrt(20000.0);
  }

  // Four independent fk runs of `args`; the weighted means across them.
  Estimate fk_runs(const std::string& args, const std::string& tag) {
    std::vector<Eigen::Vector2d> means;
    for (int seed = 1; seed <= 4; ++seed) {
      const std::string run = fmt::format("{}-{}", tag, seed);
      const auto r = scoreflow(fmt::format(
          "generate --sampler fk --n 2000 --steps 500 --seed {} {} {}", seed, args, out(run)));
      EXPECT_EQ(r.code, 0) << r.output;
      means.push_back(run_mean(dir / run, true));
    }
    return across_runs(means);
  }
};

TEST_F(FkTrained, ProductAndTemperatureOfTrainedModelsMatchTheClosedForms) {
  const double model_err = std::max(train("a", kDataA), train("b", kDataB));
  const auto a = GaussianMixture::from_json(dir / "a.json");
  const auto b = GaussianMixture::from_json(dir / "b.json");
  const std::string ma = (dir / "a").string(), mb = (dir / "b").string();
  const struct {
    std::string name, args;
    GaussianMixture exact;
  } cases[] = {{"product", fmt::format("--model {} --product {}", ma, mb), mixture_product(a, b)},
               {"square", fmt::format("--model {} --beta 2", ma), mixture_product(a, a)}};
  for (const auto& c : cases) {
    const Estimate e = fk_runs(c.args, c.name);
    const Eigen::Vector2d exact = mixture_mean(c.exact);
    for (int k = 0; k < 2; ++k) {
      std::printf("%s: E[x%d] %.4f +- %.4f, exact %.4f (model error allowance %.4f)\n",
                  c.name.c_str(), k, e.mean(k), e.se(k), exact(k), model_err);
      // The product's mean moves by about as much as each model errs in its own mean. This
      // catches a factor or exponent left out (the square's E[x0] would be 0.60, the
      // product's 0.60 and 0), not the weights' finer work: the product's estimator is heavy
      // tailed (FkCorrector.ProductOfTwoMixturesMatchesTheClosedForm resolves that exactly).
      EXPECT_NEAR(e.mean(k), exact(k), 4 * e.se(k) + 2 * model_err) << c.name << " x" << k;
    }
  }
}
