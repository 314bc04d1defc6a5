// The Parzen (Gaussian KDE) estimate as the samplers and applications use it: the exact tiled
// sums of kernel_score.hpp, or, for d ≤ 3 where it pays, the lattice of grid_gauss.hpp, or
// else float32 kernels (kernel_sum_f32.hpp) where their bound admits the tolerance; with
// either, every query within a relative tolerance `kde_tol` of the exact sum (0: always exact).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include <scoreflow/core/particles.hpp>

namespace sf {

// The default tolerance: weights and scores within 1e-6 (relative) of the exact sums.
inline constexpr double kDefaultKdeTol = 1e-6;

// Refuses a tolerance outside [0, 1) or not a number, naming `who`.
void check_kde_tol(const char* who, double tol);

// How many queries the lattice and the float32 kernels answered; the rest were summed exactly.
struct KdeCounts {
  std::size_t lattice_queries = 0;
  std::size_t float32_queries = 0;
};

// The log-density log Σ_j w̄_j N(x; y_j, h²I) at the queries (weights ∝ exp(logw), empty:
// equal). `all_queries` (0: queries.n) is what the choice between the sums weighs: across
// processes the global count, so that every process chooses alike. `counts`, if given, says
// which sums answered.
std::vector<double> kde_log_density(ConstRows data, std::span<const double> logw, double h,
                                    ConstRows queries, double tol, std::size_t all_queries = 0,
                                    KdeCounts* counts = nullptr);

// A Parzen estimate at query points, as `scoreflow estimate kde` and the Python package give it.
struct KdeEstimate {
  std::vector<double> log_density;  // one per query point
  Particles score;                  // query points × d
  double bandwidth = 0;             // the bandwidth used
  KdeCounts counts;                 // query points the lattice or float32 kernels answered
};

// Log-density and score of `data` (optionally weighted) at `at`; bandwidth 0 uses Silverman's
// rule; the score within tol·max(|ψ|, 1/h) of the exact one. Refuses a negative bandwidth,
// and results that are not finite (with a tiny bandwidth the kernels vanish at query points
// far from the data), naming the bandwidth to try.
KdeEstimate kde_estimate(ConstRows data, ConstRows at, double bandwidth,
                         std::span<const double> logw = {}, double tol = kDefaultKdeTol);

class Float32KernelSum;
class GridGaussSum;
class KernelDensity;

// The Parzen score of fixed data, asked at batch after batch of queries (ESM's target when the
// data's score is unknown): the lattice, or else the float32 kernels, built once where they
// apply and pay for as many queries as there are data points, every query's score within
// tol·max(|ψ|, 1/h) of the exact one; otherwise the exact sums.
class ParzenScore {
 public:
  ParzenScore(ConstRows data, double h, double tol = kDefaultKdeTol);
  ~ParzenScore();
  void score(ConstRows q, Rows out) const;
  bool uses_lattice() const { return lattice_ != nullptr; }
  bool uses_float32() const { return float32_ != nullptr; }

 private:
  double tol_;
  std::unique_ptr<GridGaussSum> lattice_;
  std::unique_ptr<Float32KernelSum> float32_;
  std::unique_ptr<KernelDensity> exact_;
};

}  // namespace sf
