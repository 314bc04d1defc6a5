// `scoreflow estimate heatball`: local mean-value (heat-ball) estimates of the density, score,
// log-density and entropy density of a forward SDE at query points, from draws of the process
// alone, with standard errors; an exact (linear SDE) or Fokker–Planck (d ≤ 2) reference; plots.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace sf {

struct HeatBallEstimateOptions {
  std::string sde = "ou:theta=1,sigma=1.4142135623730951";
  std::string x0 = "0.8";  // start point, comma-separated
  double x0_std = 0.5;     // X₀ ~ N(x0, x0_std² I); 0: the fixed point x0
  std::string start;       // or an N × d .npy of start points (draw j uses row j mod N)
  double time = 1;         // t of the estimate
  double radius = 2.5;     // heat-ball radius R in θ units
  std::size_t samples = 400000;
  double tip = 1e-3, score_tip = 0.05;
  bool source = true;
  std::size_t steps = 1000;  // Euler steps on [0, t] for nonlinear drifts
  std::uint64_t seed = 1;
  std::string at;           // M × d .npy query points (default: quantile grid of X_t)
  std::size_t points = 41;  // default grid points per axis (2-D: at most 15)
  bool reference = true;
  std::filesystem::path out = "runs/heatball";
  bool force = false;
  bool verbose = true;  // print a one-line report and what was written
};

// Runs and returns summary.json's contents (also written to the output directory).
nlohmann::json run_estimate_heat_ball(const HeatBallEstimateOptions& o);

}  // namespace sf
