// The Malliavin score at query points: ∇ log p_T(y) = −E[δ | X_T = y], the conditional
// expectation estimated by Gaussian-kernel (Nadaraya–Watson) regression over paths.
#pragma once

#include <vector>

#include "core/particles.hpp"

namespace sf {

struct ConditionalScore {
  Particles score;                      // M × d
  Particles standard_error;             // M × d, delta-method error of the kernel ratio
  std::vector<double> effective_paths;  // (Σw)²/Σw² per query point
};

// −Σ w_p δ_p / Σ w_p, w_p = exp(−|X_p − y|²/(2 bandwidth²)). The error treats the kernel
// weights as fixed (variance of a ratio estimate); the smoothing bias, O(bandwidth²), is not
// in it, so choose the bandwidth small against the scale on which the score bends.
ConditionalScore kernel_conditional_score(ConstRows x, ConstRows delta, ConstRows at,
                                          double bandwidth);

// Scott's rule per coordinate (mean spread × n^(−1/(d+4))), halved: the conditional mean
// is a regression, whose bias shows before the density estimate's would.
double default_conditional_bandwidth(ConstRows x);

}  // namespace sf
