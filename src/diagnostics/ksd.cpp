#include <scoreflow/diagnostics/ksd.hpp>

#include <cmath>
#include <vector>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>

namespace sf {

double ksd2_imq(ConstRows x, ConstRows s, std::span<const double> logw, double c, double beta) {
  check_positive("ksd2_imq", "number of particles", x.n);
  check_positive_finite("ksd2_imq", "c", c);
  if (!(beta < 0 && beta > -1)) throw InvalidArgument("ksd2_imq: beta must lie in (-1, 0)");
  if (s.n != x.n || s.d != x.d)
    throw InvalidArgument("ksd2_imq: scores must have the particles' shape");
  const bool weighted = !logw.empty();
  const auto w = normalised_weights(logw, x.n);
  const double d = static_cast<double>(x.d);
  std::vector<double> row(x.n);
  parallel_rows(x.n, [&](std::size_t i) {
    double acc = 0;
    for (std::size_t j = 0; j < x.n; ++j) {
      if (!weighted && j == i) continue;
      double r2 = 0, sxsy = 0, sx_r = 0, sy_r = 0;
      for (std::size_t k = 0; k < x.d; ++k) {
        const double r = x.row(i)[k] - x.row(j)[k];
        r2 += r * r;
        sxsy += s.row(i)[k] * s.row(j)[k];
        sx_r += s.row(i)[k] * r;
        sy_r += s.row(j)[k] * r;
      }
      const double q = c * c + r2;
      // q^{β−1}; the default β = −½ needs no pow (this pair loop is O(N²)).
      const double qb1 = beta == -0.5 ? 1 / (q * std::sqrt(q)) : std::pow(q, beta - 1);
      // u = sxᵀsy k + sxᵀ∇_y k + syᵀ∇_x k + tr ∇_x∇_y k for k = q^β.
      const double u = sxsy * qb1 * q + 2 * beta * qb1 * (sy_r - sx_r) - 2 * beta * d * qb1 -
                       4 * beta * (beta - 1) * qb1 / q * r2;
      acc += weighted ? w[j] * u : u;
    }
    row[i] = weighted ? w[i] * acc : acc;
  });
  double total = 0;
  for (double v : row) total += v;
  if (weighted) return total;
  const double n = static_cast<double>(x.n);
  return x.n > 1 ? total / (n * (n - 1)) : 0.0;
}

}  // namespace sf
