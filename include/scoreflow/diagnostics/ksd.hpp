// Kernel Stein discrepancy with the IMQ kernel k(x, y) = (c² + |x − y|²)^β.
#pragma once

#include <span>

#include <scoreflow/core/particles.hpp>

namespace sf {

// KSD² from particles and the target's score at them. Unweighted: U-statistic (mean over
// i ≠ j, unbiased, may be slightly negative); weighted: V-statistic Σ w_i w_j u(x_i, x_j).
double ksd2_imq(ConstRows x, ConstRows score, std::span<const double> logw = {}, double c = 1.0,
                double beta = -0.5);

}  // namespace sf
