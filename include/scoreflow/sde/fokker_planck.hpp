// Finite-volume Fokker–Planck solver in d = 1 and 2: the reference solution against which
// the Malliavin score is checked (MATH.md §6, EXPERIMENTS.md E4).
//
//   ∂p/∂t = −∇·(b p) + ½σ(t)² Δp,   p(0) = δ_{x0},
//
// on a box with zero-flux walls. Fluxes are centred; time steps are Crank–Nicolson, after
// four implicit-Euler steps that damp the oscillations a narrow start would excite. In 2-D
// the two directions are split (Strang: half x, full y, half x), each a tridiagonal solve.
// The start is the exact law of one Euler step of length t0, N(x0 + t0 b(x0, 0), σ(0)² t0).
#pragma once

#include <cstddef>
#include <vector>

#include <scoreflow/sde/forward_sde.hpp>

namespace sf {

struct GridAxis {
  double lo = -5, hi = 5;
  std::size_t cells = 1000;
  double width() const { return (hi - lo) / static_cast<double>(cells); }
  double center(std::size_t i) const { return lo + (static_cast<double>(i) + 0.5) * width(); }
};

struct FokkerPlanckOptions {
  double horizon = 1;
  std::size_t steps = 2000;
  double t0 = 1e-3;
};

class FokkerPlanckSolution {
 public:
  FokkerPlanckSolution(std::vector<GridAxis> axes, std::vector<double> density)
      : axes_(std::move(axes)), p_(std::move(density)) {}
  const std::vector<GridAxis>& axes() const { return axes_; }
  // Cell averages, x-major in 2-D (index i·ny + j).
  const std::vector<double>& density() const { return p_; }
  // ∇ log p at y (multilinear interpolation of centred differences of log p); y must lie at
  // least one cell inside the box.
  std::vector<double> score(const double* y) const;
  double density_at(const double* y) const;
  double mass() const;

 private:
  double log_p(std::size_t i, std::size_t j) const;
  std::vector<GridAxis> axes_;
  std::vector<double> p_;
};

FokkerPlanckSolution solve_fokker_planck(const ForwardSde& sde, const std::vector<double>& x0,
                                         const std::vector<GridAxis>& axes,
                                         const FokkerPlanckOptions& opt);

}  // namespace sf
