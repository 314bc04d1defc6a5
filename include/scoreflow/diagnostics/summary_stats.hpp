// Moments, effective sample size, mode coverage and relative Fisher information.
#pragma once

#include <span>
#include <vector>

#include <Eigen/Core>

#include <scoreflow/core/particles.hpp>

namespace sf {

Eigen::VectorXd weighted_mean(ConstRows x, std::span<const double> logw = {});
Eigen::MatrixXd weighted_cov(ConstRows x, std::span<const double> logw = {});

// Normalised ESS (Σw)²/(N Σw²) in (0, 1].
double normalised_ess(std::span<const double> logw);

struct ModeCoverage {
  double entropy;         // entropy of the mode-assignment shares / log K, in [0, 1]
  std::size_t modes_hit;  // modes holding at least 1/(10K) of the mass
};
// Each particle is assigned to its nearest mode.
ModeCoverage mode_coverage(ConstRows x, const std::vector<std::vector<double>>& modes,
                           std::span<const double> logw = {});

// (weighted) mean of |s(X) − ∇log π(X)|².
double relative_fisher(ConstRows model_score, ConstRows target_score,
                       std::span<const double> logw = {});

}  // namespace sf
