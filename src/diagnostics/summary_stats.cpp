#include <scoreflow/diagnostics/summary_stats.hpp>

#include <cmath>

#include <scoreflow/core/check.hpp>

namespace sf {

Eigen::VectorXd weighted_mean(ConstRows x, std::span<const double> logw) {
  check_positive("weighted_mean", "number of particles", x.n);
  const auto w = normalised_weights(logw, x.n);
  Eigen::VectorXd m = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(x.d));
  for (std::size_t i = 0; i < x.n; ++i)
    for (std::size_t k = 0; k < x.d; ++k) m(static_cast<Eigen::Index>(k)) += w[i] * x.row(i)[k];
  return m;
}

Eigen::MatrixXd weighted_cov(ConstRows x, std::span<const double> logw) {
  const auto w = normalised_weights(logw, x.n);
  const Eigen::VectorXd m = weighted_mean(x, logw);
  const auto d = static_cast<Eigen::Index>(x.d);
  Eigen::MatrixXd c = Eigen::MatrixXd::Zero(d, d);
  for (std::size_t i = 0; i < x.n; ++i) {
    const Eigen::VectorXd r = Eigen::Map<const Eigen::VectorXd>(x.row(i), d) - m;
    c.noalias() += w[i] * r * r.transpose();
  }
  // Unbiased for equal weights: N/(N − 1); in general 1/(1 − Σw²).
  double w2 = 0;
  for (double v : w) w2 += v * v;
  return w2 < 1 ? (c / (1 - w2)).eval() : c;
}

double normalised_ess(std::span<const double> logw) {
  check_positive("normalised_ess", "number of weights", logw.size());
  const auto w = normalised_weights(logw, logw.size());
  double s2 = 0;
  for (double v : w) s2 += v * v;
  return 1 / (s2 * static_cast<double>(w.size()));
}

ModeCoverage mode_coverage(ConstRows x, const std::vector<std::vector<double>>& modes,
                           std::span<const double> logw) {
  check_positive("mode_coverage", "number of modes", modes.size());
  const auto w = normalised_weights(logw, x.n);
  std::vector<double> share(modes.size(), 0.0);
  for (std::size_t i = 0; i < x.n; ++i) {
    std::size_t best = 0;
    double best_d = INFINITY;
    for (std::size_t m = 0; m < modes.size(); ++m) {
      check_dim("mode_coverage", "mode", modes[m].size(), x.d);
      double s = 0;
      for (std::size_t k = 0; k < x.d; ++k)
        s += (x.row(i)[k] - modes[m][k]) * (x.row(i)[k] - modes[m][k]);
      if (s < best_d) best_d = s, best = m;
    }
    share[best] += w[i];
  }
  const double k = static_cast<double>(modes.size());
  double h = 0;
  std::size_t hit = 0;
  for (double p : share) {
    if (p > 0) h -= p * std::log(p);
    if (p >= 0.1 / k) ++hit;
  }
  return {modes.size() > 1 ? h / std::log(k) : 1.0, hit};
}

double relative_fisher(ConstRows a, ConstRows b, std::span<const double> logw) {
  if (a.n != b.n || a.d != b.d)
    throw InvalidArgument("relative_fisher: the two score arrays differ in shape");
  const auto w = normalised_weights(logw, a.n);
  double s = 0;
  for (std::size_t i = 0; i < a.n; ++i) {
    double r = 0;
    for (std::size_t k = 0; k < a.d; ++k)
      r += (a.row(i)[k] - b.row(i)[k]) * (a.row(i)[k] - b.row(i)[k]);
    s += w[i] * r;
  }
  return s;
}

}  // namespace sf
