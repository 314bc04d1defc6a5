// The source term of the heat-ball mean-value formula (MATH.md §7). For F = u_t − Δu,
//   u(x, t) = E_κ[u(y, s)] + r^{−n} ∬_E F(y, s) [X − 1 − log X] dy ds,  X = rⁿΦ(x − y, t − s) ≥ 1,
// and the measure σ(dy ds) ∝ r^{−n}[X − 1 − log X] dy ds has total mass E_κ[τ]. In the
// coordinates (z, E) with y = x + √τ z, E = log X, ρ = 2(E + |z|²/4)/n, τ = (r²/4π)e^{−ρ}, it
// factorises (derived here):
//   z ~ N(0, 2n/(n + 2) I),   E ∝ (e^E − 1 − E) e^{−aE} on E ≥ 0 with a = 1 + 2/n,
// and since e^E − 1 − E = Σ_{k≥2} E^k/k!, E is a Gamma(k + 1, rate a) mixture with
// weights ∝ a^{−k}: k = 2 + Geometric(1 − 1/a). So, with unit weights in any dimension,
//   r^{−n}∬_E F [X − 1 − log X] = E_κ[τ] · E_σ[F(y, s)].
#pragma once

#include <span>

#include <scoreflow/score/heat_ball.hpp>

namespace sf {

// count σ draws in dimension n, as KappaDraws (z, ρ and E = log X), keyed by (seed, index).
KappaDraws source_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed);
// The same draws into `out`, reusing its memory.
void source_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed,
                   KappaDraws& out);

// The normalised heat-ball residual of u against a source F at (x, t):
//   (u(x, t) − E_κ[u] − E_κ[τ]·E_σ[F]) / E_κ[τ],
// which is 0 at every r when u_t − Δu = F and tends to u_t − Δu − F as r → 0.
// u and F are called as f(const double* y, double s).
template <class U, class F>
McEstimate heat_ball_residual(U&& u, F&& source, std::span<const double> x, double t, double r,
                              std::size_t count, std::uint64_t seed);

}  // namespace sf

#include <scoreflow/score/heat_ball_source_impl.hpp>
