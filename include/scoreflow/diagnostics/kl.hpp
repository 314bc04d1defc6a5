// Kullback–Leibler divergence KL(p ‖ π): exact between Gaussians, KDE-based otherwise.
#pragma once

#include <span>

#include <Eigen/Core>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

double kl_gaussian(const Eigen::VectorXd& m1, const Eigen::MatrixXd& s1, const Eigen::VectorXd& m2,
                   const Eigen::MatrixXd& s2);

// KL(p̂ ‖ π) ≈ E_p[log p̂(X) − log π(X)] + log Z with p̂ a (leave-one-out when unweighted)
// Gaussian KDE of the particles. Needs the target's log Z; bandwidth 0 = Silverman.
double kl_kde(ConstRows x, const Target& target, std::span<const double> logw = {},
              double bandwidth = 0);

// 1-D: KL(p̂ ‖ π) = ∫ p̂ log(p̂/π) of the Gaussian KDE p̂ by quadrature on a grid spanning
// the particles ± 6 bandwidths (and the target's bulk). Never negative, unlike the
// leave-one-out estimate; biased upwards by the smoothing at small n.
double kl_kde_quadrature_1d(ConstRows x, const Target& target, double bandwidth = 0);

// The SBTM authors' estimator (their sbtm/stats.py), for comparing with their tables:
// mean_i log(p̂(x_i)/π(x_i)) over the particles themselves, the self-term included, with p̂
// the Gaussian KDE of kernel covariance n^(−2/(d+4))·Σ̂ (Scott's rule, Σ̂ the sample covariance
// with n − 1) as scipy's gaussian_kde builds it; clipped at 0 as they do unless `clip` is false.
// Biased both ways: the self-term raises p̂ at every particle, the smoothing (Scott's rule
// oversmooths multimodal laws) lowers it at the modes, so π's own draws often score below 0.
double kl_kde_resubstitution(ConstRows x, const Target& target, bool clip = true);

}  // namespace sf
