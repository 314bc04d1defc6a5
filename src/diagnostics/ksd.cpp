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
  // Coordinates and scores by column, so the pair loop over j runs in SIMD lanes.
  const std::vector<double> xt = by_columns(x), st = by_columns(s);
  std::vector<double> row(x.n);
  parallel_rows(x.n, [&](std::size_t i) {
    thread_local std::vector<double> r2, sxsy, sx_r, sy_r;
    for (auto* v : {&r2, &sxsy, &sx_r, &sy_r}) v->assign(x.n, 0.0);
    for (std::size_t k = 0; k < x.d; ++k) {
      const double xi = x.row(i)[k], si = s.row(i)[k];
      const double *xk = &xt[k * x.n], *sk = &st[k * x.n];
#pragma omp simd
      for (std::size_t j = 0; j < x.n; ++j) {
        const double r = xi - xk[j];
        r2[j] += r * r;
        sxsy[j] += si * sk[j];
        sx_r[j] += si * r;
        sy_r[j] += sk[j] * r;
      }
    }
    // Loop invariants and plain pointers: captured references inside the loop keep GCC
    // from vectorising it.
    const std::size_t n = x.n, self = i;
    const double c2 = c * c, b1 = 2 * beta, b2 = 2 * beta * d, b3 = 4 * beta * (beta - 1);
    const double *pr2 = r2.data(), *pss = sxsy.data(), *psx = sx_r.data(), *psy = sy_r.data();
    const double* pw = w.data();
    const bool unweighted = !weighted;
    // u = sxᵀsy k + sxᵀ∇_y k + syᵀ∇_x k + tr ∇_x∇_y k for k = q^β, from qb1 = q^{β−1}; the
    // unweighted (U-statistic) sum leaves out the diagonal.
    const auto term = [=](std::size_t j, double q, double qb1) {
      const double u =
          pss[j] * qb1 * q + b1 * qb1 * (psy[j] - psx[j]) - b2 * qb1 - b3 * qb1 / q * pr2[j];
      return unweighted ? (j == self ? 0.0 : u) : pw[j] * u;
    };
    double acc = 0;
    if (beta == -0.5) {  // the default: no pow, so the loop runs in SIMD lanes
#pragma omp simd reduction(+ : acc)
      for (std::size_t j = 0; j < n; ++j) {
        const double q = c2 + pr2[j];
        acc += term(j, q, 1 / (q * std::sqrt(q)));
      }
    } else {
      for (std::size_t j = 0; j < n; ++j) {
        const double q = c2 + pr2[j];
        acc += term(j, q, std::pow(q, beta - 1));
      }
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
