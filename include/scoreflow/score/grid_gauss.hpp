// Gaussian kernel sums in near-linear time for d ≤ 3, with a bound on each query's relative
// error: S(x) = Σ_j w_j exp(−|x − y_j|²/2h²), the sum behind the Parzen log-density of
// kernel_score.hpp (WFR weights, birth–death rates, KL estimates).
//
// Per coordinate the Gaussian of width h is split into three, h² = a² + b² + a²:
//   exp(−(x−y)²/2h²) = h/(2π a b a) ∫∫ exp(−(x−z')²/2a²) exp(−(z'−z)²/2b²) exp(−(z−y)²/2a²) dz dz'.
// Each point is spread onto a lattice of spacing Δ with the first factor, the lattice is
// convolved with the second along each axis, and each query gathers from it with the third.
// The two lattice sums are trapezoidal rules for Gaussian integrands (widths σ1, σ2), whose
// relative error is at most 2 Σ_k exp(−2π²k²σ²/Δ²) whatever the lattice's offset; every
// term is positive, so each query's sum inherits the pairs' relative error. Cutting the
// lattice sums off (each point spreads to, and each query gathers from, nodes within a few
// widths) loses less than 6·Φc(t) of any pair within D0·h of each other per coordinate;
// pairs farther apart may be lost, at most W·exp(−D0²/2) in all (W = Σ w_j). So
//   |Ŝ(x) − S(x)| ≤ ε·S(x) + W·exp(−D0²/2),
// and a query whose relative bound exceeds the tolerance is summed exactly instead.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {

// The lattice and cut-offs for bandwidth h in d ≤ 3 dimensions, over the bounding box of the
// data (and the cut-offs around it): it depends on the data alone, so every process of a run
// builds the same one, and serves queries anywhere.
struct GridGaussPlan {
  std::size_t d = 0;
  double h = 0;
  double spacing = 0;                // Δ
  double spread_width = 0;           // a (spreading and gathering)
  double convolve_width = 0;         // b
  std::size_t spread_nodes = 0;      // per axis: nodes within the spreading cut-off, at most
  std::size_t taps = 0;              // per axis: half-length of the convolution
  std::size_t nodes[3] = {1, 1, 1};  // lattice nodes per axis (unused axes: 1)
  double origin[3] = {0, 0, 0};      // the first node's coordinate per axis
  double tail = 7;                   // cut-offs at this many standard deviations
  double relative_error = 0;         // ε above
  double far_factor = 0;             // exp(−D0²/2): times W, the far pairs' bound
  double score_error = 0;            // the gradient's error per unit of S, in units of 1/h
  double far_score_factor = 0;       // times W/h: the far pairs' bound on the gradient
  std::size_t lattice_size() const { return nodes[0] * nodes[1] * nodes[2]; }
  // Work in multiply-adds: spreading, convolving, gathering.
  double cost(std::size_t data, std::size_t queries) const;
};

// The plan for queries to be answered within relative error `tol`, or d = 0 when the lattice
// does not apply (d > 3, or more than `max_nodes` nodes).
GridGaussPlan grid_gauss_plan(ConstRows data, double h, double tol = 1e-6,
                              std::size_t max_nodes = std::size_t{1} << 26);

// The lattice of `plan` spread and convolved once for the data, then asked at any queries
// (ESM asks it for every training batch). Keeps the exact sums for the queries whose bound
// exceeds the tolerance.
class GridGaussSum {
 public:
  GridGaussSum(const GridGaussPlan& plan, ConstRows data, std::span<const double> logw = {});
  // See grid_kde below.
  BoundedKde kde(ConstRows queries, double tol, bool want_score) const;

 private:
  GridGaussPlan plan_;
  KernelDensity exact_;
  double total_ = 0;             // W = Σ_j w_j, the weights relative to the largest
  std::vector<double> lattice_;  // H: the spread points convolved
};

// The Parzen log-density log Σ_j w̄_j N(x; y_j, h²I) (weights ∝ exp(logw), empty: equal) and,
// with `want_score`, its score at the queries through the lattice of `plan`. A query whose
// density bound exceeds `tol`, or whose score bound exceeds tol·max(|ψ̂|, 1/h), is summed
// exactly. Results do not depend on the thread count.
BoundedKde grid_kde(const GridGaussPlan& plan, ConstRows data, std::span<const double> logw,
                    ConstRows queries, double tol, bool want_score);

// Whether the lattice is worth it: its work well below the exact N·M pair sums.
bool grid_gauss_pays(const GridGaussPlan& plan, std::size_t data, std::size_t queries);

}  // namespace sf
