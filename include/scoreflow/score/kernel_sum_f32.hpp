// Gaussian kernel sums S(x) = Σ_j w_j exp(−|x − y_j|²/2h²) in any dimension with float32
// kernels and float64 accumulation, and a bound on each query's error: the exact path of
// kernel_score.hpp at about twice its pair throughput where the tolerance allows it.
//
// Points are centred at the data's mean and scaled by 1/(h√2) (z̃), then rounded to float32;
// the exponent e = lw_j − |q̃ − z̃_j|² is formed in float32 and exponentiated by fast_expf, and
// the terms are summed in float64. With u = 2⁻²⁴ and E = −e ≥ 0, the exponent's rounding
// (inputs, differences, squares and their sum, the log-weight) is at most
//   ΔE ≤ u·[(d + 3)·E + 2·A·√E],  A = |q̃| + max_j |z̃_j| over the tile of 256 points
// (2·A·√E from the inputs' rounding, 2u·Σ_k |D_k|(|q̃_k| + |z̃_jk|)), so each term is within
// b = 1.01·(ΔE + ε_exp) of its exact value, relative. Summing t·b over the terms needs Σt,
// Σt·E and (for the score) Σt·E² per tile, accumulated alongside, with Cauchy–Schwarz per
// tile for Σt·√E; with the terms fast_expf drops (exponents below −86: at most N·e⁻⁸⁶ in
// all) that bounds |Ŝ − S| per query, and the score's numerator Σ_j t_j (z̃_j − q̃) through
// |z̃_j − q̃| = √E. The numerator's partial sums Σ t̂·z̃ run in float32 over 8 terms a lane
// where plan() finds that within the tolerance (adding (8 + 1.01)·u·Σ t̂·|z̃| to the bound),
// else in float64. A query whose density bound exceeds the tolerance, or whose score bound
// exceeds tol·max(|ψ̂|, 1/h), is summed exactly (KernelDensity).
//
// The bound grows with the dimension and the data's spread in bandwidths (A), and float32
// rounds at 6·10⁻⁸: at d = 5 it is a few 10⁻⁶, so the default tolerance of 10⁻⁶ rarely
// admits it and 10⁻⁵ to 10⁻⁴ does. Results do not depend on the thread count, nor on which
// other queries are asked with a query (so not on how queries are split over processes).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {

class Float32KernelSum {
 public:
  static constexpr std::size_t kTile = 256;
  // `logw` empty: equal weights.
  Float32KernelSum(ConstRows data, double h, std::span<const double> logw = {});

  // Log-density (as KernelDensity::log_density) and, with `want_score`, the score at the
  // queries, each within `tol` as above or summed exactly; bounds as BoundedKde states them.
  BoundedKde kde(ConstRows queries, double tol, bool want_score) const;

  // Whether to take this path for `queries` queries at `tol`: enough queries to pay for the
  // float32 copy, and at least 7 in 8 of a pilot (the first 64 data points as queries) within
  // the tolerance. Chooses the score's lanes, float32 where the pilot allows it, else
  // float64. Depends on the data, tol and `queries` alone, so every process of a run decides
  // alike when `queries` is the global count.
  bool plan(double tol, bool want_score, std::size_t queries);
  bool score_in_float32() const { return score_lanes_ == ScoreLanes::float32; }

  static constexpr std::size_t kMinQueries = 1024;

 private:
  struct Sums;
  void sum_block(ConstRows q, std::size_t first, std::size_t count, bool want_score,
                 Sums* out) const;
  // The float32 answers at the queries, into r; within[i] = 0 where a bound exceeds tol.
  std::vector<char> approximate(ConstRows queries, double tol, bool want_score,
                                BoundedKde& r) const;
  static void add_tile(double s0, double s1, double s2, double tile_norm, Sums& s);
  // Writes query i's answer and bounds from its sums; false if a bound exceeds tol.
  bool finish(const Sums& s, const double* q, double tol, bool want_score, std::size_t i,
              BoundedKde& r) const;

  std::size_t n_, d_, tiles_;
  double h_, scale_;               // scale_ = 1/(h√2)
  std::vector<double> center_;     // the data's mean
  std::vector<float> z_;           // per tile: d × kTile scaled coordinates (float32)
  std::vector<double> zd_;         // the same in float64, for the score's float64 lanes
  std::vector<float> lw_;          // per tile: kTile log-weights relative to the largest
  std::vector<double> tile_norm_;  // per tile: its largest |z̃_j| (tiles sorted by |z̃|)
  double max_norm_ = 0;            // max_j |z̃_j|
  double log_norm_ = 0;            // −log Σ w_j − (d/2)·log(2πh²)
  enum class ScoreLanes { float32, float64 };
  ScoreLanes score_lanes_ = ScoreLanes::float64;  // the score's partial sums Σ t̂·z̃
  KernelDensity exact_;
  Particles pilot_;  // the first data points, the queries of plan()
};

}  // namespace sf
