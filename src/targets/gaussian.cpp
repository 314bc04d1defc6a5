#include <scoreflow/targets/gaussian.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/rng.hpp>
#include <scoreflow/targets/spec.hpp>

namespace sf {

Gaussian::Gaussian(Eigen::VectorXd mean, Eigen::MatrixXd cov)
    : mean_(std::move(mean)), cov_(std::move(cov)) {
  const auto d = mean_.size();
  if (d == 0) throw InvalidArgument("gauss: dimension d is 0, but must be at least 1");
  if (cov_.rows() != d || cov_.cols() != d)
    throw InvalidArgument(fmt::format("gauss: covariance is {}x{}, but the mean has dimension {}",
                                      cov_.rows(), cov_.cols(), d));
  if (!cov_.isApprox(cov_.transpose(), 1e-12))
    throw InvalidArgument("gauss: covariance is not symmetric");
  Eigen::LLT<Eigen::MatrixXd> llt(cov_);
  if (llt.info() != Eigen::Success)
    throw InvalidArgument("gauss: covariance is not positive definite");
  chol_ = llt.matrixL();
  precision_ = llt.solve(Eigen::MatrixXd::Identity(d, d));
  log_norm_ = -0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi) -
              chol_.diagonal().array().log().sum();
}

std::string Gaussian::spec() const {
  std::vector<double> m(mean_.data(), mean_.data() + mean_.size());
  std::vector<double> c(cov_.data(), cov_.data() + cov_.size());
  return fmt::format("gauss:d={},mean={},cov={}", dim(), format_list(m), format_list(c));
}

namespace {

// Row i of P(x − μ). Runs once per coordinate per particle per step: plain loops, since
// Eigen's dynamic-size temporaries cost a heap allocation each (in 2-D that was most of a
// ULA step). P is symmetric, so row i is read as column i, which is contiguous.
double precision_residual(const Eigen::MatrixXd& precision, const Eigen::VectorXd& mean,
                          const double* x, Eigen::Index i) {
  double pr = 0;
  for (Eigen::Index j = 0; j < mean.size(); ++j) pr += precision(j, i) * (x[j] - mean(j));
  return pr;
}

}  // namespace

double Gaussian::log_density_row(const double* x) const {
  double q = 0;
  for (Eigen::Index i = 0; i < mean_.size(); ++i)
    q += (x[i] - mean_(i)) * precision_residual(precision_, mean_, x, i);
  return log_norm_ - 0.5 * q;
}

void Gaussian::score_row(const double* x, double* g) const {
  for (Eigen::Index i = 0; i < mean_.size(); ++i)
    g[i] = -precision_residual(precision_, mean_, x, i);
}

void Gaussian::sample(std::uint64_t seed, Rows out) const {
  parallel_rows(out.n, [&](std::size_t i) {
    Draws rng(seed, Stream::reference, i, 0);
    Eigen::VectorXd z(mean_.size());
    rng.normals(z.data(), out.d);
    Eigen::Map<Eigen::VectorXd>(out.row(i), mean_.size()) = mean_ + chol_ * z;
  });
}

std::vector<std::vector<double>> Gaussian::modes() const {
  return {std::vector<double>(mean_.data(), mean_.data() + mean_.size())};
}

std::array<double, 4> Gaussian::plot_box() const {
  const double sx = 4 * std::sqrt(cov_(0, 0));
  const double sy = mean_.size() > 1 ? 4 * std::sqrt(cov_(1, 1)) : sx;
  const double my = mean_.size() > 1 ? mean_(1) : 0;
  return {mean_(0) - sx, mean_(0) + sx, my - sy, my + sy};
}

}  // namespace sf
