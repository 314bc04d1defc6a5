// Local mean-value Monte Carlo estimators of the density p(x, t), the score ∇log p, the
// log-density and the entropy density −p log p of a forward SDE dX = b dt + σ(t) dW, from
// draws of the process alone (MATH.md §7, "(b) of the unknown density p itself").
//
// In the time θ = ½∫σ², p solves p_θ − Δp = F with F = −(2/σ²)∇·(b p). Averaging the
// heat-ball formula of MATH.md §7 over radii r ∈ (0, R] with weight n r^{n−1}/Rⁿ (derived
// here) gives kernels that vanish on the boundary of the ball E = E(x, θ_t; R):
//   p(x,t) = (1/4Rⁿ)∬_E p |x−y|²/τ² ψ dy dτ + R^{−n}∬_E F (X − 1 − ψ − ψ²/2) dy dτ,
// with X = RⁿΦ(x − y, τ), ψ = log X ≥ 0 in E. The source term is integrated by parts in y
// (its weight vanishes to third order on ∂E, so no boundary term):
//   R^{−n}∬_E p (2/σ²) b·(x − y)(X − 1 − ψ)/(2τ) dy dτ.
// Both are integrals of p against kernels k(x − y, τ) that vanish on ∂E, so ∇p(x) is the same
// integral of ∇ₓk — the moving boundary contributes nothing. Each Monte Carlo draw picks τ
// from a proposal q, a path value y ~ p(·, s(τ)), and scores τ k/q.
//
// The tip τ → 0 of the ball is a kernel estimate of vanishing bandwidth: its variance
// diverges (logarithmically for the density, like τ^{1−n/2} for the score when n ≤ 2). Draws
// keep τ ≥ tip·R²/4π; the removed part is (mass m of the ψ-weighted κ measure there) × p(x,t)
// up to O(tip·R²), so dividing by 1 − m restores it. m = P(Gamma(n/2 + 3, rate n/2) > log(1/tip))
// is exact. The proposal for ρ = log(R²/4πτ) mixes that Gamma law with uniforms on the
// density's and the score's regions.
// The score, a ratio, needs no renormalisation, but its kernel ∇k ~ τ^{−3/2} makes the tip far
// noisier, so it cuts higher (score_tip): a bias of order score_tip·R²/4π times the
// smoothness of p, traded for variance. On OU (tests, E5) 0.05 balances the two for R ≤ 3.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <scoreflow/sde/forward_sampler.hpp>
#include <scoreflow/sde/forward_sde.hpp>

namespace sf {

class Comm;

struct HeatBallEstimatorOptions {
  double radius = 0.5;           // R, in the time-changed units (τ_max = R²/4π ≤ θ(t))
  std::size_t samples = 100000;  // Monte Carlo draws per query point
  double tip = 1e-3;             // the density keeps τ ≥ tip·R²/4π
  double score_tip = 0.05;       // the score keeps τ ≥ score_tip·R²/4π
  bool source = true;            // include the source term F (false: the heat equation only)
  std::uint64_t seed = 0;
  // Processes that share the draws (null: this one alone): each runs its share of the fixed
  // blocks of draws, and the block sums are added in block order, so the estimate is the same
  // on every process and for any number of them.
  const Comm* comm = nullptr;
};

struct HeatBallEstimate {
  double density = 0, density_se = 0;
  std::vector<double> score, score_se;  // ∇log p and its delta-method standard errors
  double log_density = 0, log_density_se = 0;
  double entropy = 0, entropy_se = 0;  // −p log p
  double inside = 0;                   // fraction of draws whose y fell in the heat ball
};

// The estimate at (x, t) from draws of `sampler` (built on [0, ≥ t]) and the drift of `sde`.
HeatBallEstimate heat_ball_estimate(const ForwardSde& sde, const ForwardSampler& sampler,
                                    const TimeChange& clock, std::span<const double> x, double t,
                                    const HeatBallEstimatorOptions& opt, std::uint64_t query = 0);

// Throws InvalidArgument naming the bad option (radius too large for t, t outside the clock,
// tips out of order); heat_ball_estimate calls it, commands call it before writing anything.
void check_heat_ball_options(const HeatBallEstimatorOptions& opt, const TimeChange& clock,
                             double t);

// The largest radius whose ball fits after time 0: √(4π θ(t)).
double heat_ball_max_radius(const TimeChange& clock, double t);

// P(Gamma(shape, rate) ≤ x): one minus the ψ-weighted κ mass of the removed tip.
double gamma_cdf(double shape, double rate, double x);

}  // namespace sf
