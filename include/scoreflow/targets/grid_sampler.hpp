// Exact-up-to-grid sampling of a 1-D density by inverse CDF on a fine grid (for factors
// of targets that have no closed-form sampler, e.g. the double-well's x1).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace sf {

class GridInverseCdf {
 public:
  // `log_f` is an unnormalised log-density with negligible mass outside [a, b].
  template <class F>
  GridInverseCdf(F&& log_f, double a, double b, std::size_t cells = 200000)
      : a_(a), h_((b - a) / cells) {
    std::vector<double> lf(cells + 1);
    double m = -INFINITY;
    for (std::size_t i = 0; i <= cells; ++i) m = std::max(m, lf[i] = log_f(a + h_ * i));
    cdf_.assign(cells + 1, 0.0);
    for (std::size_t i = 1; i <= cells; ++i)  // trapezoid rule
      cdf_[i] = cdf_[i - 1] + 0.5 * h_ * (std::exp(lf[i - 1] - m) + std::exp(lf[i] - m));
    log_mass_ = std::log(cdf_.back()) + m;
    for (double& c : cdf_) c /= cdf_.back();
  }
  double operator()(double u) const {
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
    const std::size_t i = std::clamp<std::size_t>(it - cdf_.begin(), 1, cdf_.size() - 1);
    const double lo = cdf_[i - 1], hi = cdf_[i];
    const double frac = hi > lo ? (u - lo) / (hi - lo) : 0.5;
    return a_ + h_ * (static_cast<double>(i - 1) + frac);
  }
  // log ∫ exp(log_f) over [a, b] (trapezoid rule).
  double log_mass() const { return log_mass_; }

 private:
  double a_, h_, log_mass_ = 0;
  std::vector<double> cdf_;
};

}  // namespace sf
