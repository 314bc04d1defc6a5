// The Malliavin score at query points: ∇ log p_T(y) = −E[δ | X_T = y], the conditional
// expectation estimated by Gaussian-kernel regression over paths.
#pragma once

#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>

namespace sf {

enum class KernelRegression {
  // Weighted least squares of δ on (1, X − y), keeping the intercept: its bias is
  // O(bandwidth²)·(curvature of the score) only, not the slope of the density as well.
  local_linear,
  // The weighted mean Σ w_p δ_p / Σ w_p.
  nadaraya_watson,
};
KernelRegression kernel_regression_by_name(const std::string& name);

struct ConditionalScore {
  Particles score;                      // M × d
  Particles standard_error;             // M × d
  std::vector<double> effective_paths;  // (Σw)²/Σw² per query point
};

// Kernel w_p = exp(−|X_p − y|²/(2 bandwidth²)). Standard errors are the sandwich (delta
// method) errors of the weighted regression with the weights held fixed; the smoothing bias
// is not in them, so keep the bandwidth small against the scale on which the score bends.
ConditionalScore kernel_conditional_score(ConstRows x, ConstRows delta, ConstRows at,
                                          double bandwidth,
                                          KernelRegression method = KernelRegression::local_linear);

// Scott's rule: mean coordinate spread × n^(−1/(d+4)).
double default_conditional_bandwidth(ConstRows x);

}  // namespace sf
