#include <scoreflow/malliavin/conditional_score.hpp>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <Eigen/Dense>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>

namespace sf {
namespace {

void check_inputs(ConstRows x, ConstRows delta, ConstRows at, double bandwidth) {
  check_positive_finite("malliavin score", "bandwidth", bandwidth);
  check_positive("malliavin score", "paths", x.n);
  if (x.n != delta.n || x.d != delta.d)
    throw InvalidArgument(fmt::format("malliavin score: {} × {} positions but {} × {} weights", x.n,
                                      x.d, delta.n, delta.d));
  if (at.d != x.d)
    throw InvalidArgument(
        fmt::format("malliavin score: query points have dimension {}, the paths {}", at.d, x.d));
}

// Kernel weights of all paths at y, scaled so the largest is 1.
void kernel_weights(ConstRows x, const double* y, double bandwidth, std::vector<double>& w) {
  const double inv = 0.5 / (bandwidth * bandwidth);
  w.resize(x.n);
  double top = -INFINITY;
  for (std::size_t p = 0; p < x.n; ++p) {
    double r2 = 0;
    for (std::size_t i = 0; i < x.d; ++i) r2 += (x.row(p)[i] - y[i]) * (x.row(p)[i] - y[i]);
    w[p] = -r2 * inv;
    top = std::max(top, w[p]);
  }
  for (auto& v : w) v = std::exp(v - top);
}

}  // namespace

KernelRegression kernel_regression_by_name(const std::string& name) {
  if (name == "local-linear") return KernelRegression::local_linear;
  if (name == "nadaraya-watson") return KernelRegression::nadaraya_watson;
  throw InvalidArgument(
      fmt::format("unknown kernel regression '{}'; valid: local-linear, nadaraya-watson", name));
}

ConditionalScore kernel_conditional_score(ConstRows x, ConstRows delta, ConstRows at,
                                          double bandwidth, KernelRegression method) {
  check_inputs(x, delta, at, bandwidth);
  const std::size_t d = x.d;
  const auto k = static_cast<Eigen::Index>(method == KernelRegression::local_linear ? d + 1 : 1);
  ConditionalScore out{Particles(at.n, d), Particles(at.n, d), std::vector<double>(at.n)};
  parallel_rows(at.n, [&](std::size_t q) {
    const double* y = at.row(q);
    std::vector<double> w;
    kernel_weights(x, y, bandwidth, w);
    // Normal equations A β = Σ w z δᵀ with regressors z = (1, X − y); the intercept row of
    // A⁻¹ then gives each path's influence on the estimate, hence the sandwich error.
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(k, k), rhs = Eigen::MatrixXd::Zero(k, d);
    Eigen::VectorXd z(k);
    double sw = 0, sw2 = 0;
    for (std::size_t p = 0; p < x.n; ++p) {
      if (w[p] < 1e-12) continue;
      z(0) = 1;
      for (Eigen::Index i = 1; i < k; ++i) z(i) = x.row(p)[i - 1] - y[i - 1];
      a.noalias() += w[p] * z * z.transpose();
      for (std::size_t i = 0; i < d; ++i) rhs.col(i) += w[p] * delta.row(p)[i] * z;
      sw += w[p];
      sw2 += w[p] * w[p];
    }
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(a);
    const Eigen::MatrixXd beta = ldlt.solve(rhs);
    const Eigen::VectorXd e0 = ldlt.solve(Eigen::VectorXd::Unit(k, 0));  // intercept row of A⁻¹
    std::vector<double> var(d, 0.0);
    for (std::size_t p = 0; p < x.n; ++p) {
      if (w[p] < 1e-12) continue;
      z(0) = 1;
      for (Eigen::Index i = 1; i < k; ++i) z(i) = x.row(p)[i - 1] - y[i - 1];
      const double influence = w[p] * e0.dot(z);
      for (std::size_t i = 0; i < d; ++i) {
        const double r = delta.row(p)[i] - z.dot(beta.col(static_cast<Eigen::Index>(i)));
        var[i] += influence * influence * r * r;
      }
    }
    for (std::size_t i = 0; i < d; ++i) {
      out.score(q, i) = -beta(0, static_cast<Eigen::Index>(i));
      out.standard_error(q, i) = std::sqrt(var[i]);
    }
    out.effective_paths[q] = sw * sw / sw2;
  });
  return out;
}

double default_conditional_bandwidth(ConstRows x) {
  check_positive("malliavin score", "paths", x.n);
  double spread = 0;
  for (std::size_t i = 0; i < x.d; ++i) {
    double m = 0, m2 = 0;
    for (std::size_t p = 0; p < x.n; ++p) m += x.row(p)[i];
    m /= static_cast<double>(x.n);
    for (std::size_t p = 0; p < x.n; ++p) m2 += (x.row(p)[i] - m) * (x.row(p)[i] - m);
    spread += std::sqrt(m2 / static_cast<double>(x.n));
  }
  spread /= static_cast<double>(x.d);
  return spread * std::pow(static_cast<double>(x.n), -1.0 / (static_cast<double>(x.d) + 4));
}

}  // namespace sf
