// PNG plots through gnuplot (pngcairo), drawn from what a run directory holds, so
// `scoreflow plot DIR` redraws them at any time.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <scoreflow/targets/target.hpp>

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

// loss.png from a loss.csv with columns step, train_loss, heldout_loss (log scale when
// positive).
void plot_loss_curve(const std::filesystem::path& csv, const std::filesystem::path& png);

// Generated 2-D points next to data points (two panels on a common box).
void plot_points_over_data(const std::filesystem::path& generated,
                           const std::filesystem::path& data, const std::string& title,
                           const std::filesystem::path& png);

// The first rows² images (side × side pixels in [−1, 1]) of an .npy as a grey grid.
void plot_image_grid(const std::filesystem::path& images, std::size_t side, std::size_t rows,
                     const std::string& title, const std::filesystem::path& png);

// Particle paths from trajectory.npy (frames × m × d; `dt` time between frames): position
// against time in 1-D, curves in the plane in 2-D (the first two coordinates otherwise).
void plot_paths(const std::filesystem::path& trajectory, double dt, const std::string& title,
                const std::filesystem::path& png);

// score.png from an `estimate` command's CSV (columns y0[, y1], score<i>, se<i>[, reference<i>]):
// in 1-D the estimate with a ±2 standard error band and the reference; in 2-D arrows of both
// on the query grid. The labels name the method and the reference.
struct ScorePlotLabels {
  std::string method = "Malliavin estimate";
  std::string reference = "Fokker-Planck (finite volumes)";
};
void plot_score_estimate(const std::filesystem::path& csv, std::size_t d,
                         const std::filesystem::path& png, const ScorePlotLabels& labels = {});

// estimate.png from `estimate heatball`'s 1-D CSV: density, score and log-density panels, each
// with its ±2 standard error band and, when present, the reference (columns ref_density,
// reference0, ref_log_density).
void plot_heat_ball_estimate(const std::filesystem::path& csv, const std::filesystem::path& png,
                             const std::string& reference);

// Writes the gnuplot script `text` to `script` (creating its directory; kept next to the plot
// so it can be edited and rerun) and runs it; warns (does not fail) when gnuplot is missing
// or fails.
void run_gnuplot(const std::filesystem::path& script, const std::string& text);

}  // namespace sf
