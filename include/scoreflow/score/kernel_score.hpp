// Parzen (Gaussian KDE) log-density and score, MATH.md §1:
//   p̂(x) = Σ_j w̄_j N(x; x_j, h²I),   ψ̂(x) = Σ_j r_j(x)(x_j − x)/h²,  r_j ∝ w̄_j N(x; x_j, h²I).
// Sums are tiled over the data (no N×N matrix), vectorised, and split over threads by
// query, so results are identical for any thread count. This is the hot loop of the
// WFR sampler and of kernel-score estimation.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <scoreflow/core/particles.hpp>

namespace sf {

enum class Bandwidth { silverman, median };

// log of the Gaussian kernel's normalisation, −(d/2)·log(2πh²).
double gaussian_log_norm(std::size_t d, double h);

// Silverman's rule with the mean per-coordinate (weighted) standard deviation.
double silverman_bandwidth(ConstRows x, std::span<const double> logw = {});
// Median heuristic: median pairwise distance / sqrt(2 log(n + 1)), on up to 2000 points.
double median_bandwidth(ConstRows x);
inline constexpr std::size_t kMedianBandwidthPoints = 2000;

// Silverman's rule over weighted data that arrive in blocks, in order, over three sweeps
// (the weights' sum, the means, the variances): the same bandwidth, to the bit, as
// silverman_bandwidth on all of it. `log_weight_max`: the largest log-weight of all.
class StreamedSilverman {
 public:
  StreamedSilverman(std::size_t d, double log_weight_max);
  void add(ConstRows x, std::span<const double> logw);
  // Starts the next sweep; false once the three are done.
  bool next_pass();
  double bandwidth() const;

 private:
  std::size_t d_;
  double log_weight_max_;
  int pass_ = 0;
  double wsum_ = 0, w2sum_ = 0;
  std::vector<double> mean_, var_;
  std::vector<double> w_;  // the current block's normalised weights
};

class KernelDensity {
 public:
  // `logw` empty: equal weights. Keeps a transposed copy of the data (d × N): O(N·d).
  KernelDensity(ConstRows data, double bandwidth, std::span<const double> logw = {});

  std::size_t dim() const { return d_; }
  std::size_t size() const { return n_; }
  double bandwidth() const { return h_; }

  void log_density(ConstRows q, std::span<double> out) const;
  void score(ConstRows q, Rows out) const;
  // Both from one pass over the data.
  void log_density_and_score(ConstRows q, std::span<double> logp, Rows score) const;
  // Leave-one-out log-density at the data points themselves (for KL estimates).
  void log_density_loo(std::span<double> out) const;

 private:
  // For one query: log_total = log Σ_j w_j exp(−|q − x_j|²/2h²) (w relative to the largest)
  // and, if wanted, mean = Σ_j r_j x_j. `skip` excludes one data index (n_: none).
  void query(const double* q, std::size_t skip, bool want_mean, double& log_total,
             double* mean) const;
  double log_norm() const;

  std::size_t n_, d_;
  double h_;
  std::vector<double> xt_;  // d × n, coordinate-major
  std::vector<double> lw_;  // log-weights minus their max
  double log_wsum_ = 0;     // log Σ exp(lw_)
};

// Kernel sums from an approximation with a bound on each query's error (grid_gauss.hpp,
// kernel_sum_f32.hpp); the queries whose bound exceeded the tolerance were summed exactly.
struct BoundedKde {
  std::vector<double> log_density;  // log p̂ at each query, as KernelDensity::log_density
  std::vector<double> bound;        // each query's bound on |p̂/p − 1| (0: summed exactly)
  Particles score;                  // ∇ log p̂ (when asked for)
  std::vector<double> score_bound;  // each query's bound on |ψ̂ − ψ| (0: summed exactly)
  std::size_t exact = 0;            // queries summed exactly because a bound exceeded tol
};

// The exact sums at queries `which`, written over their approximate answers in `r` (whose
// score_bound is empty when no score was asked for); counts them in r.exact.
void sum_exactly(const KernelDensity& exact, ConstRows queries,
                 const std::vector<std::size_t>& which, BoundedKde& r);

// The same log-density at query points q when the data arrive in blocks, so that no process
// need hold all of them (WFR across processes with large N). Blocks come in order, each
// starting at a multiple of kTile rows, with their log-weights; `log_weight_max` is the
// largest log-weight of all the data. The sums run tile by tile exactly as KernelDensity's,
// so the result is the same to the bit. A sweep over all blocks is one pass; when
// underflowed() (a query far from all data) the caller runs next_pass() and two more sweeps.
class StreamedKernelDensity {
 public:
  static constexpr std::size_t kTile = 256;
  StreamedKernelDensity(ConstRows q, double bandwidth, double log_weight_max);
  void add(std::size_t first, ConstRows x, std::span<const double> logw);
  bool underflowed() const;
  void next_pass();
  std::vector<double> log_density() const;

 private:
  enum class Pass { sums, shifts, shifted_sums };
  void check_block(std::size_t first, ConstRows x, std::span<const double> logw) const;
  void transpose(ConstRows x, std::span<const double> logw);

  ConstRows q_;
  double h_, log_weight_max_;
  Pass pass_ = Pass::sums;
  std::size_t next_ = 0;               // the row the next block must start at
  std::vector<double> total_, shift_;  // per query
  std::vector<char> redo_;             // per query: underflowed in the first pass
  double wsum_ = 0;                    // Σ exp(lw − max) in data order
  std::vector<double> xt_, lw_;        // the current block, coordinate-major
};

}  // namespace sf
