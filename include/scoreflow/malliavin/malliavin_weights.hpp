// Malliavin weights of a nonlinear diffusion (MATH.md §6, Mirafzali et al. 2025).
//
// Along each Euler path of dX = b dt + σ dW the engine carries X, the first variation Y,
// the second variation Z and running integrals, and returns at chosen times t the
// Skorokhod weight δ_t with E[∇φ(X_t)] = E[φ(X_t) δ_t], so ∇ log p_t(y) = −E[δ_t | X_t = y].
//
// Discretisation: the Malliavin derivative of step k's noise is taken through Y_{k+1} =
// (I + h∇b(X_k))Y_k, the exact derivative of the Euler chain. With that choice the weight is
// exactly Uᵀξ − div_ξ U of the discrete chain (MATH.md §6, last paragraph): the continuous
// formula and the discrete integration by parts coincide path by path, which the tests check.
//
// The correction term needs ∫∫ over s < v, which the engine folds into three running d×d×d
// integrals (T, V, W below), so one forward pass suffices and memory does not grow with the
// number of steps. Per path and step: O(d⁴) flops; state 4d³ + 2d² + 2d doubles.
#pragma once

#include <cstdint>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/sde/forward_sde.hpp>

namespace sf {

struct MalliavinOptions {
  double horizon = 1;         // T
  std::size_t steps = 250;    // Euler steps on [0, T]
  std::size_t snapshots = 1;  // weights at t = T·m/snapshots, m = 1 … snapshots
  bool correction = true;     // false: Itô part only (biased for nonlinear b; for comparison)
  std::uint64_t seed = 0;
  // Global index of x0's row 0: the Brownian increments of path p are keyed by
  // (seed, first_path + p, step), so a process's shard of the paths draws what the whole would.
  std::size_t first_path = 0;
};

struct MalliavinPaths {
  std::vector<double> times;     // snapshot times
  std::vector<Particles> x;      // X_t at each snapshot, n × d
  std::vector<Particles> delta;  // δ_t at each snapshot, n × d
};

// Paths start at the rows of x0 (one path per row; repeat a row for a fixed start).
MalliavinPaths malliavin_weights(const ForwardSde& sde, ConstRows x0, const MalliavinOptions& opt);

// Bytes malliavin_weights will hold for n paths in d dimensions.
double malliavin_memory_bytes(std::size_t n, std::size_t d, std::size_t snapshots);

}  // namespace sf
