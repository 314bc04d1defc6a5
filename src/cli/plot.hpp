// PNG plots through gnuplot (pngcairo), drawn from what a run directory holds, so
// `scoreflow plot DIR` redraws them at any time.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace sf {

// particles.png (snapshots over the target density, or a histogram in 1-D) and
// metrics.png (trace curves). Returns the files written.
std::vector<std::filesystem::path> plot_run(const std::filesystem::path& dir);

// Final particles of several runs side by side over the target density.
void plot_comparison(const std::vector<std::filesystem::path>& runs,
                     const std::vector<std::string>& titles, const std::filesystem::path& png);

}  // namespace sf
