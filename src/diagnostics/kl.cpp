#include "diagnostics/kl.hpp"

#include <fmt/format.h>
#include <Eigen/Cholesky>

#include "core/check.hpp"
#include "score/kernel_score.hpp"

namespace sf {

double kl_gaussian(const Eigen::VectorXd& m1, const Eigen::MatrixXd& s1, const Eigen::VectorXd& m2,
                   const Eigen::MatrixXd& s2) {
  const auto d = m1.size();
  if (m2.size() != d || s1.rows() != d || s2.rows() != d)
    throw InvalidArgument("kl_gaussian: means and covariances must share one dimension");
  Eigen::LLT<Eigen::MatrixXd> l1(s1), l2(s2);
  if (l1.info() != Eigen::Success || l2.info() != Eigen::Success)
    throw InvalidArgument("kl_gaussian: a covariance is not positive definite");
  const Eigen::MatrixXd l1m = l1.matrixL(), l2m = l2.matrixL();
  const double logdet1 = 2 * l1m.diagonal().array().log().sum();
  const double logdet2 = 2 * l2m.diagonal().array().log().sum();
  const Eigen::VectorXd dm = m2 - m1;
  return 0.5 * ((l2.solve(s1)).trace() + dm.dot(l2.solve(dm)) - static_cast<double>(d) + logdet2 -
                logdet1);
}

double kl_kde(ConstRows x, const Target& target, std::span<const double> logw, double bandwidth) {
  check_dim("kl_kde", "particles", x.d, target.dim());
  const auto logz = target.log_normaliser();
  if (!logz)
    throw InvalidArgument(
        fmt::format("kl_kde: target {} has no known normalising constant", target.spec()));
  if (x.n < 2) throw InvalidArgument("kl_kde: needs at least 2 particles");
  const double h = bandwidth > 0 ? bandwidth : silverman_bandwidth(x, logw);
  const KernelDensity kde(x, h, logw);
  std::vector<double> lp(x.n), lpi(x.n);
  if (logw.empty())
    kde.log_density_loo(lp);
  else
    kde.log_density(x, lp);
  target.log_density(x, lpi);
  const auto w = normalised_weights(logw, x.n);
  double s = 0;
  for (std::size_t i = 0; i < x.n; ++i) s += w[i] * (lp[i] - lpi[i]);
  return s + *logz;
}

}  // namespace sf
