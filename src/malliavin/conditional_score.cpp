#include "malliavin/conditional_score.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"

namespace sf {

ConditionalScore kernel_conditional_score(ConstRows x, ConstRows delta, ConstRows at,
                                          double bandwidth) {
  check_positive_finite("malliavin score", "bandwidth", bandwidth);
  if (x.n != delta.n || x.d != delta.d)
    throw InvalidArgument(fmt::format("malliavin score: {} × {} positions but {} × {} weights", x.n,
                                      x.d, delta.n, delta.d));
  if (at.d != x.d)
    throw InvalidArgument(
        fmt::format("malliavin score: query points have dimension {}, the "
                    "paths {}",
                    at.d, x.d));
  const std::size_t d = x.d;
  ConditionalScore out{Particles(at.n, d), Particles(at.n, d), std::vector<double>(at.n)};
  const double inv = 0.5 / (bandwidth * bandwidth);
  parallel_rows(at.n, [&](std::size_t q) {
    const double* y = at.row(q);
    std::vector<double> w(x.n);
    double wmax = -INFINITY;
    for (std::size_t p = 0; p < x.n; ++p) {
      double r2 = 0;
      for (std::size_t i = 0; i < d; ++i) r2 += (x.row(p)[i] - y[i]) * (x.row(p)[i] - y[i]);
      w[p] = -r2 * inv;
      wmax = std::max(wmax, w[p]);
    }
    double sw = 0, sw2 = 0;
    std::vector<double> mean(d, 0.0), var(d, 0.0);
    for (std::size_t p = 0; p < x.n; ++p) {
      w[p] = std::exp(w[p] - wmax);
      sw += w[p];
      sw2 += w[p] * w[p];
      for (std::size_t i = 0; i < d; ++i) mean[i] += w[p] * delta.row(p)[i];
    }
    for (std::size_t i = 0; i < d; ++i) mean[i] /= sw;
    for (std::size_t p = 0; p < x.n; ++p)
      for (std::size_t i = 0; i < d; ++i) {
        const double e = delta.row(p)[i] - mean[i];
        var[i] += w[p] * w[p] * e * e;
      }
    for (std::size_t i = 0; i < d; ++i) {
      out.score(q, i) = -mean[i];
      out.standard_error(q, i) = std::sqrt(var[i]) / sw;
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
  return 0.5 * spread * std::pow(static_cast<double>(x.n), -1.0 / (static_cast<double>(x.d) + 4));
}

}  // namespace sf
