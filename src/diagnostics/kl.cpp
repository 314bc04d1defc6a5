#include <scoreflow/diagnostics/kl.hpp>

#include <fmt/format.h>
#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <scoreflow/core/check.hpp>
#include <scoreflow/score/kernel_score.hpp>

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

double kl_kde_quadrature_1d(ConstRows x, const Target& target, double bandwidth) {
  if (x.d != 1 || target.dim() != 1)
    throw InvalidArgument("kl_kde_quadrature_1d: one dimension only");
  const auto logz = target.log_normaliser();
  if (!logz)
    throw InvalidArgument(fmt::format(
        "kl_kde_quadrature_1d: target {} has no known normalising constant", target.spec()));
  if (x.n < 2) throw InvalidArgument("kl_kde_quadrature_1d: needs at least 2 particles");
  const double h = bandwidth > 0 ? bandwidth : silverman_bandwidth(x);
  const auto [lo_it, hi_it] = std::minmax_element(x.data, x.data + x.n);
  const double lo = *lo_it - 6 * h, hi = *hi_it + 6 * h;
  constexpr std::size_t m = 4000;
  Particles grid(m, 1);
  for (std::size_t i = 0; i < m; ++i)
    grid(i, 0) = lo + (hi - lo) * (static_cast<double>(i) + 0.5) / m;
  std::vector<double> lp(m), lpi(m);
  KernelDensity(x, h).log_density(grid.rows(), lp);
  target.log_density(grid.rows(), lpi);
  double s = 0;
  for (std::size_t i = 0; i < m; ++i) s += std::exp(lp[i]) * (lp[i] - lpi[i] + *logz);
  return std::max(0.0, s * (hi - lo) / m);
}

double kl_kde_resubstitution(ConstRows x, const Target& target, bool clip) {
  check_dim("kl_kde_resubstitution", "particles", x.d, target.dim());
  const auto logz = target.log_normaliser();
  if (!logz)
    throw InvalidArgument(fmt::format(
        "kl_kde_resubstitution: target {} has no known normalising constant", target.spec()));
  if (x.n <= x.d)
    throw InvalidArgument(fmt::format(
        "kl_kde_resubstitution: needs more particles than dimensions for a sample covariance "
        "(got {} particles in d = {})",
        x.n, x.d));
  using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const RowMat> xm(x.data, static_cast<Eigen::Index>(x.n),
                                    static_cast<Eigen::Index>(x.d));
  const RowMat centred = xm.rowwise() - xm.colwise().mean();
  const Eigen::MatrixXd cov = centred.transpose() * centred / static_cast<double>(x.n - 1);
  const Eigen::LLT<Eigen::MatrixXd> llt(cov);
  if (llt.info() != Eigen::Success)
    throw InvalidArgument(
        "kl_kde_resubstitution: the particles' sample covariance is singular (collapsed "
        "particles)");
  // A kernel of covariance h²Σ̂ is an isotropic one of width h on L⁻¹x (Σ̂ = LLᵀ), its density
  // divided by det L.
  const Eigen::MatrixXd l = llt.matrixL();
  Particles white(x.n, x.d);
  Eigen::Map<RowMat>(white.data(), static_cast<Eigen::Index>(x.n), static_cast<Eigen::Index>(x.d)) =
      llt.matrixL().solve(xm.transpose()).transpose();
  double log_det_l = 0;
  for (Eigen::Index k = 0; k < l.rows(); ++k) log_det_l += std::log(l(k, k));
  const double scott = std::pow(static_cast<double>(x.n), -1.0 / (static_cast<double>(x.d) + 4));
  std::vector<double> lp(x.n), lpi(x.n);
  KernelDensity(white.rows(), scott).log_density(white.rows(), lp);
  target.log_density(x, lpi);
  double s = 0;
  for (std::size_t i = 0; i < x.n; ++i) s += lp[i] - log_det_l - lpi[i] + *logz;
  const double kl = s / static_cast<double>(x.n);
  return clip ? std::max(0.0, kl) : kl;
}

}  // namespace sf
