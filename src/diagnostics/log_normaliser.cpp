#include <scoreflow/diagnostics/log_normaliser.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <Eigen/Cholesky>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {

namespace {

// log Ẑ = log mean(π/q) over draws from q, its delta-method SE and the weights' ESS.
LogZEstimate importance_estimate(std::span<const double> lp, std::span<const double> lq) {
  std::vector<double> lw(lp.size());
  double mx = -INFINITY;
  for (std::size_t m = 0; m < lp.size(); ++m) {
    lw[m] = lp[m] - lq[m];
    if (std::isnan(lw[m]))
      throw NumericalError(
          fmt::format("log-normaliser estimate: log π − log q is NaN at draw {} "
                      "(log π = {})",
                      m, lp[m]));
    mx = std::max(mx, lw[m]);
  }
  if (!std::isfinite(mx))
    throw NumericalError(
        fmt::format("log-normaliser estimate: the largest log importance weight "
                    "is {}; the target's log-density is not finite at the draws",
                    mx));
  double s = 0, s2 = 0;
  for (double v : lw) {
    const double r = std::exp(v - mx);
    s += r;
    s2 += r * r;
  }
  const double n = static_cast<double>(lp.size());
  const double mean = s / n, var = std::max(s2 / n - mean * mean, 0.0);
  return {mx + std::log(mean), std::sqrt(var / n) / mean, s * s / s2 / n};
}

}  // namespace

LogZEstimate log_normaliser_is(ConstRows x, std::span<const double> logw, const Target& target,
                               std::size_t draws, std::uint64_t seed) {
  check_dim("log_normaliser_is", "particles", x.d, target.dim());
  check_positive("log_normaliser_is", "number of draws", draws);
  const double b = silverman_bandwidth(x, logw);
  const auto w = normalised_weights(logw, x.n);
  std::vector<double> cum(x.n);
  double c = 0;
  for (std::size_t i = 0; i < x.n; ++i) cum[i] = (c += w[i]);
  Particles y(draws, x.d);
  parallel_rows(draws, [&](std::size_t m) {
    Draws rng(seed, Stream::subsample, m, 0);
    const double u = rng.uniform() * c;
    const std::size_t j =
        std::min<std::size_t>(std::lower_bound(cum.begin(), cum.end(), u) - cum.begin(), x.n - 1);
    for (std::size_t k = 0; k < x.d; ++k) y(m, k) = x.row(j)[k] + b * rng.normal();
  });
  std::vector<double> lq(draws), lp(draws);
  KernelDensity(x, b, logw).log_density(y.rows(), lq);
  target.log_density(y.rows(), lp);
  return importance_estimate(lp, lq);
}

LogZEstimate log_normaliser_is_gaussian(ConstRows x, std::span<const double> logw,
                                        const Target& target, std::size_t draws, std::uint64_t seed,
                                        double inflate) {
  check_dim("log_normaliser_is_gaussian", "particles", x.d, target.dim());
  check_positive("log_normaliser_is_gaussian", "number of draws", draws);
  check_positive_finite("log_normaliser_is_gaussian", "inflate", inflate);
  if (x.n < 2) throw InvalidArgument("log_normaliser_is_gaussian: needs at least 2 particles");
  const auto d = static_cast<Eigen::Index>(x.d);
  const Eigen::VectorXd mean = weighted_mean(x, logw);
  Eigen::MatrixXd cov = weighted_cov(x, logw);
  const double n_eff =
      logw.empty() ? static_cast<double>(x.n) : normalised_ess(logw) * static_cast<double>(x.n);
  const double a = static_cast<double>(x.d) / (static_cast<double>(x.d) + n_eff);
  const Eigen::VectorXd diag = cov.diagonal();
  cov *= (1 - a) * inflate * inflate;
  cov.diagonal() += a * inflate * inflate * diag;
  Eigen::LLT<Eigen::MatrixXd> llt(cov);
  if (llt.info() != Eigen::Success || !(diag.minCoeff() > 0))
    throw NumericalError(fmt::format(
        "log_normaliser_is_gaussian: the particles' covariance is singular (smallest variance "
        "{}); the particles have collapsed",
        diag.minCoeff()));
  const Eigen::MatrixXd L = llt.matrixL();
  const double log_det_half = L.diagonal().array().log().sum();
  Particles y(draws, x.d);
  std::vector<double> lq(draws), lp(draws);
  parallel_rows(draws, [&](std::size_t m) {
    Draws rng(seed, Stream::subsample, m, 0);
    Eigen::VectorXd xi(d);
    for (Eigen::Index k = 0; k < d; ++k) xi[k] = rng.normal();
    Eigen::Map<Eigen::VectorXd>(y.rows().row(m), d) = mean + L * xi;
    lq[m] = -0.5 * xi.squaredNorm() - log_det_half -
            0.5 * static_cast<double>(x.d) * std::log(2 * std::numbers::pi);
  });
  target.log_density(y.rows(), lp);
  return importance_estimate(lp, lq);
}

}  // namespace sf
