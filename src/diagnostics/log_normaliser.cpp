#include <scoreflow/diagnostics/log_normaliser.hpp>

#include <algorithm>
#include <cmath>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {

LogZEstimate log_normaliser_is(ConstRows x, std::span<const double> logw, const Target& target,
                               std::size_t draws, std::uint64_t seed) {
  check_dim("log_normaliser_is", "particles", x.d, target.dim());
  check_positive("log_normaliser_is", "number of draws", draws);
  const double b = silverman_bandwidth(x, logw);
  const auto w = normalised_weights(logw, x.n);
  std::vector<double> cum(x.n);
  double c = 0;
  for (std::size_t i = 0; i < x.n; ++i) cum[i] = (c += w[i]);
  Particles y(draws, x.d);
  parallel_rows(draws, [&](std::size_t m) {
    Draws rng(seed, Stream::subsample, m, 0);
    const double u = rng.uniform() * c;
    const std::size_t j =
        std::min<std::size_t>(std::lower_bound(cum.begin(), cum.end(), u) - cum.begin(), x.n - 1);
    for (std::size_t k = 0; k < x.d; ++k) y(m, k) = x.row(j)[k] + b * rng.normal();
  });
  std::vector<double> lq(draws), lp(draws);
  KernelDensity(x, b, logw).log_density(y.rows(), lq);
  target.log_density(y.rows(), lp);
  double mx = -INFINITY;
  for (std::size_t m = 0; m < draws; ++m) mx = std::max(mx, lp[m] -= lq[m]);
  double s = 0, s2 = 0;
  for (double v : lp) {
    const double r = std::exp(v - mx);
    s += r;
    s2 += r * r;
  }
  const double n = static_cast<double>(draws);
  const double mean = s / n, var = std::max(s2 / n - mean * mean, 0.0);
  return {mx + std::log(mean), std::sqrt(var / n) / mean};
}

}  // namespace sf
