// Draws of X_s for a forward SDE dX = b(X, t) dt + σ(t) dW at any time s, and the
// cumulative-variance time change θ(s) = ½∫_0^s σ² of MATH.md §7, for any ForwardSde.
// Heat-ball estimators need one independent draw of X_s per Monte Carlo sample, each at its
// own time s; draw j is a pure function of (seed, j), so results do not depend on threads.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/sde/forward_sde.hpp>

namespace sf {

// θ(s) = ½∫_0^s σ(u)² du tabulated on [0, horizon] (Simpson per cell) and its inverse; both
// interpolate linearly between the 2^14 nodes.
class TimeChange {
 public:
  TimeChange(const ForwardSde& sde, double horizon);
  double theta(double s) const;
  double inverse(double theta) const;  // the s with θ(s) = theta, for theta in [0, θ(horizon)]
  double horizon() const { return horizon_; }

 private:
  double horizon_, h_;
  std::vector<double> theta_;
};

// Where paths start: rows of a set (draw j uses row j mod N), each optionally moved by
// N(0, jitter² I); a single row with jitter s₀ is the Gaussian start N(x₀, s₀² I).
struct StartLaw {
  Particles rows;
  double jitter = 0;
  std::size_t dim() const { return rows.d(); }
};

class ForwardSampler {
 public:
  virtual ~ForwardSampler() = default;
  // One draw of X_s (s ≤ the horizon given at construction) into out[0..d), taking its
  // normals from `draws` (one Draws per Monte Carlo sample).
  virtual void sample(std::size_t j, double s, Draws& draws, double* out) const = 0;
};

// Exact for drifts affine in x (ou, vp, ve: ForwardSde::linear()): X_s = Ψ(s)X₀ + c(s) +
// chol(Σ(s)) ξ with Ψ′ = AΨ, c′ = Ac + b(0, t), Σ′ = AΣ + ΣAᵀ + σ²I (A = ∇b), integrated by
// RK4 on a fine grid. Otherwise Euler–Maruyama with steps of at most horizon/steps.
std::unique_ptr<ForwardSampler> make_forward_sampler(const ForwardSde& sde, StartLaw start,
                                                     double horizon, std::size_t euler_steps);

// Mean Ψ(s)x₀ + c(s) and covariance Σ(s) + s₀²ΨΨᵀ of X_s for an affine drift started at
// N(x₀, s₀²I): the exact law used as the reference in tests and in `estimate heatball`.
struct GaussianLaw {
  std::vector<double> mean, cov;  // cov is d × d row-major
  double log_density(const double* y) const;
  std::vector<double> score(const double* y) const;
};
GaussianLaw linear_sde_law(const ForwardSde& sde, const std::vector<double>& x0, double s0,
                           double s);

}  // namespace sf
