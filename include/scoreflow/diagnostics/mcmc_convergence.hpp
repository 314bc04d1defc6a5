// Convergence diagnostics of multi-chain MCMC output for one scalar quantity (Vehtari,
// Gelman, Simpson, Carpenter, Bürkner 2021, "Rank-normalization, folding, and localization:
// an improved R̂", as Stan and ArviZ compute them):
//   split:    each chain's first and second halves become two chains (an odd middle draw
//             is dropped);
//   rank-normalise: z = Φ⁻¹((r − 3/8)/(S + 1/4)) with r the average rank among all S draws;
//   R̂:       sqrt(((n − 1)/n · W + B/n) / W), W the mean within-chain variance, B/n the
//             variance of the chain means;
//   ESS:      M·n / τ̂ with τ̂ = −1 + 2 Σ ρ̂_t over Geyer's initial positive, monotone sequence
//             of the combined autocorrelations ρ̂_t = 1 − (W − mean_j s²_j ρ̂_{j,t}) / var⁺.
#pragma once

#include <cstddef>
#include <span>

namespace sf {

// Draws of one quantity: `chains` chains of `draws` draws each, chain-major
// (values[c * draws + i]).
struct Chains {
  std::span<const double> values;
  std::size_t chains = 0, draws = 0;
};

// R̂ of the given chains as they are (no splitting, no ranks): the classic potential scale
// reduction factor.
double rhat_basic(const Chains& x);
// Rank-normalised split-R̂: the larger of the bulk R̂ (ranks of the draws) and the tail
// R̂ (ranks of |draw − median|). Draws are folded about the median of all of them before
// splitting, as R's posterior package does (ArviZ folds after splitting; the two differ only
// when the draw count is odd).
double rhat_rank(const Chains& x);
// ESS of the given chains as they are (no splitting, no ranks).
double ess_basic(const Chains& x);
// Bulk ESS: ESS of the rank-normalised split chains.
double ess_bulk(const Chains& x);
// Tail ESS: the smaller ESS of the split chains of the indicators I(θ ≤ q₀.₀₅) and
// I(θ ≤ q₀.₉₅).
double ess_tail(const Chains& x);

}  // namespace sf
