// Template definitions for heat_ball.hpp.
#pragma once

#include <cmath>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>

namespace sf {

template <class Draw, class U>
McEstimate heat_ball_mean_with(Draw&& draw, U&& u, std::span<const double> x, double t, double r,
                               std::size_t count, std::uint64_t seed) {
  check_positive("heat_ball_mean", "sample count", count);
  check_positive_finite("heat_ball_mean", "radius r", r);
  constexpr std::size_t kBlock = 256;
  const std::size_t n = x.size(), blocks = (count + kBlock - 1) / kBlock;
  std::vector<double> sums(blocks), sums2(blocks);
  parallel_rows(blocks, [&](std::size_t b) {
    const std::size_t first = b * kBlock, len = std::min(kBlock, count - first);
    thread_local KappaDraws k;
    thread_local Particles y;
    thread_local std::vector<double> s;
    draw(n, first, len, seed, k);
    y.reshape(len, n);
    s.resize(len);
    heat_ball_points(k, x, t, r, y.rows(), s);
    double a = 0, a2 = 0;
    for (std::size_t i = 0; i < len; ++i) {
      const double v = u(y.row(i), s[i]);
      a += v;
      a2 += v * v;
    }
    sums[b] = a, sums2[b] = a2;
  });
  double a = 0, a2 = 0;
  for (std::size_t b = 0; b < blocks; ++b) a += sums[b], a2 += sums2[b];
  const double m = a / static_cast<double>(count);
  const double var = std::max(a2 / static_cast<double>(count) - m * m, 0.0);
  return {m, std::sqrt(var / static_cast<double>(count))};
}

template <class U>
McEstimate heat_ball_mean(U&& u, std::span<const double> x, double t, double r, std::size_t count,
                          std::uint64_t seed) {
  const auto kappa = [](std::size_t n, std::size_t first, std::size_t len, std::uint64_t sd,
                        KappaDraws& k) { kappa_sample(n, first, len, sd, k); };
  return heat_ball_mean_with(kappa, u, x, t, r, count, seed);
}

}  // namespace sf
