// `scoreflow malliavin-diffusion`: the paper's Algorithm 6 end to end on a data set — Malliavin
// weights along forward paths from the training points, regression into a time-conditioned
// score network, reverse-SDE generation, energy distance and MMD² to held-out data, plot.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include <scoreflow/neural/malliavin_regression_options.hpp>

namespace sf {

struct MalliavinDiffusionOptions {
  std::string data = "checkerboard";
  std::string sde = "nonlinear";
  std::size_t n_train = 8000, n_generate = 2000;
  MalliavinRegressionOptions regression;
  std::filesystem::path out = "runs/malliavin-diffusion";
  bool force = false;
};

// Runs and returns summary.json's contents (also written to the output directory).
nlohmann::json run_malliavin_diffusion(const MalliavinDiffusionOptions& o, bool verbose = true);

}  // namespace sf
