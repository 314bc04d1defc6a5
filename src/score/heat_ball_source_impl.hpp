// Template definitions for heat_ball_source.hpp.
#pragma once

#include <cmath>

namespace sf {

template <class U, class F>
McEstimate heat_ball_residual(U&& u, F&& source, std::span<const double> x, double t, double r,
                              std::size_t count, std::uint64_t seed) {
  const std::size_t n = x.size();
  const double mass = kappa_mean_tau_over_r2(n) * r * r;  // E_κ[τ]
  const McEstimate mean_u = heat_ball_mean(u, x, t, r, count, seed);
  // E_σ[F]: the same block scheme as heat_ball_mean, with σ draws.
  constexpr std::size_t kBlock = 256;
  const std::size_t blocks = (count + kBlock - 1) / kBlock;
  std::vector<double> sums(blocks), sums2(blocks);
  parallel_rows(blocks, [&](std::size_t b) {
    const std::size_t first = b * kBlock, len = std::min(kBlock, count - first);
    const KappaDraws k = source_sample(n, first, len, seed + 1);
    Particles y(len, n);
    std::vector<double> s(len);
    heat_ball_points(k, x, t, r, y.rows(), s);
    double a = 0, a2 = 0;
    for (std::size_t i = 0; i < len; ++i) {
      const double v = source(y.row(i), s[i]);
      a += v, a2 += v * v;
    }
    sums[b] = a, sums2[b] = a2;
  });
  double a = 0, a2 = 0;
  for (std::size_t b = 0; b < blocks; ++b) a += sums[b], a2 += sums2[b];
  const double dc = static_cast<double>(count);
  const double mean_f = a / dc, se_f = std::sqrt(std::max(a2 / dc - mean_f * mean_f, 0.0) / dc);
  const double ux = u(x.data(), t);
  const double value = (ux - mean_u.value - mass * mean_f) / mass;
  // Independent draws for the two means: their errors add in quadrature.
  return {value, std::sqrt(mean_u.std_error * mean_u.std_error + mass * mass * se_f * se_f) / mass};
}

}  // namespace sf
