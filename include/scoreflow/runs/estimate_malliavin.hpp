// `scoreflow estimate malliavin`: Malliavin weights along Euler paths of a forward SDE and
// the score −E[δ | X_T = y] at query points, with standard errors, a Fokker–Planck reference
// in d ≤ 2, and a plot.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace sf {

struct MalliavinEstimateOptions {
  std::string sde = "ou-cubic";
  std::string x0 = "1.5";  // comma-separated start point
  std::string start;       // or an N × d .npy of start points (one path per row, cycled)
  std::size_t paths = 100000, steps = 400;
  double horizon = 1;
  std::uint64_t seed = 1;
  bool no_correction = false;
  std::string at;           // M × d .npy query points (default: quantile grid of X_T)
  std::size_t points = 81;  // default query points per axis (1-D; 2-D uses 15 per axis)
  double bandwidth = 0;
  std::string regression = "local-linear";
  bool reference = true;    // Fokker–Planck reference (fixed start, d ≤ 2)
  bool save_paths = false;  // x_T.npy and delta.npy
  std::filesystem::path out = "runs/malliavin";
  bool force = false;
  bool verbose = true;  // print a one-line report and what was written
};

// Runs and returns summary.json's contents (also written to the output directory).
nlohmann::json run_estimate_malliavin(const MalliavinEstimateOptions& o);

}  // namespace sf
