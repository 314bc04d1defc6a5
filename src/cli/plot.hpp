// PNG plots through gnuplot (pngcairo), drawn from what a run directory holds, so
// `scoreflow plot DIR` redraws them at any time.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "targets/target.hpp"

namespace sf {

// particles.png (snapshots over the target density, or a histogram in 1-D) and
// metrics.png (trace curves). Returns the files written.
std::vector<std::filesystem::path> plot_run(const std::filesystem::path& dir);

// Final particles of several runs side by side over the target density.
void plot_comparison(const std::vector<std::filesystem::path>& runs,
                     const std::vector<std::string>& titles, const std::filesystem::path& png);

struct ParticlePanel {
  std::string title;
  std::filesystem::path samples;  // N × d .npy
  std::filesystem::path weights;  // optional N .npy of normalised weights: point size ∝ √(N w)
};
// Particle sets side by side over a 2-D target's density.
void plot_particle_panels(const Target& target, const std::vector<ParticlePanel>& panels,
                          const std::filesystem::path& png);

// Runs a gnuplot script; warns (does not fail) when gnuplot is missing or fails.
void run_gnuplot(const std::filesystem::path& script);

}  // namespace sf
