// Heat balls and the κ-measure (MATH.md §7). For u_t = Δu in ℝⁿ, the heat kernel is
// Φ(x, t) = (4πt)^{−n/2} e^{−|x|²/4t} and the heat ball E(x, t; r) = {(y, s): s ≤ t,
// Φ(x − y, t − s) ≥ r^{−n}}. With τ = t − s, y = x + √τ z and ρ = log(r²/(4πτ)), the mean-value
// weight (1/4rⁿ)|x − y|²/(t − s)² becomes the probability measure
//   κ(dz, dρ) = ¼(4π)^{−n/2} |z|² e^{−nρ/2} 1{|z|² ≤ 2nρ} dz dρ,
// independent of r, with an exact sampler (unit weight per sample):
//   ξ ~ N(0, I_n), η ~ N(0, I_2): z = √2 √(|ξ|² + |η|²) ξ/|ξ|   (|z|²/2 ~ χ²_{n+2});
//   E ~ Exp(1): ρ = |z|²/(2n) + 2E/n;   τ = (r²/4π) e^{−ρ}.
// Then log(rⁿ Φ(x − y, t − s)) = E exactly, so every sample lies inside the ball.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <scoreflow/core/particles.hpp>

namespace sf {

// log Φ(dx, τ) in dimension dx.size().
double heat_kernel_log(std::span<const double> dx, double tau);

// κ draws in dimension n: z (count × n), ρ and E (count each). Draw i depends only on
// (seed, first + i), so blocks can be drawn in parallel and any split agrees.
struct KappaDraws {
  std::size_t n = 0;
  Particles z;
  std::vector<double> rho, e;
};
KappaDraws kappa_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed);
// The same draws into `out`, reusing its memory (for loops over many blocks).
void kappa_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed,
                  KappaDraws& out);

// E_κ[τ]/r² = (1/4π)(1 + 2/n)^{−(n/2 + 2)}, and sd(ρ) = √(2n + 8)/n.
double kappa_mean_tau_over_r2(std::size_t n);
double kappa_sd_rho(std::size_t n);

// The points (y_i, s_i) of the heat ball E(x, t; r) for the draws.
void heat_ball_points(const KappaDraws& k, std::span<const double> x, double t, double r, Rows y,
                      std::span<double> s);

struct McEstimate {
  double value;
  double std_error;
};
// E_κ[u(y, s)] over `count` κ samples in blocks, with its standard error; u(y, s) is called
// as u(const double* y, double s) and must be thread-safe.
template <class U>
McEstimate heat_ball_mean(U&& u, std::span<const double> x, double t, double r, std::size_t count,
                          std::uint64_t seed);

// The same mean under any measure on the heat ball given by its draws:
// draw(n, first, count, seed, KappaDraws& out) fills z, ρ, E as kappa_sample does.
template <class Draw, class U>
McEstimate heat_ball_mean_with(Draw&& draw, U&& u, std::span<const double> x, double t, double r,
                               std::size_t count, std::uint64_t seed);

}  // namespace sf

#include <scoreflow/score/heat_ball_impl.hpp>
