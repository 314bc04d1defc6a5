#include <scoreflow/score/heat_ball_source.hpp>

#include <cmath>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>

namespace sf {

KappaDraws source_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed) {
  KappaDraws k;
  source_sample(n, first, count, seed, k);
  return k;
}

void source_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed,
                   KappaDraws& k) {
  check_positive("source_sample", "dimension n", n);
  const double dn = static_cast<double>(n), a = 1 + 2 / dn;
  const double zsd = std::sqrt(2 * dn / (dn + 2));
  k.n = n;
  k.z.reshape(count, n);
  k.rho.resize(count);
  k.e.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Draws rng(seed, Stream::source, first + i, 0);
    double z2 = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const double z = zsd * rng.normal();
      k.z(i, j) = z;
      z2 += z * z;
    }
    // k = 2 + Geometric(1 − 1/a) failures, then E ~ Gamma(k + 1, rate a) as a sum of exponentials.
    std::size_t shape = 3;
    const double stay = 1 / a;
    while (rng.uniform() < stay) ++shape;
    double e = 0;
    for (std::size_t m = 0; m < shape; ++m) e -= std::log(rng.uniform());
    e /= a;
    k.e[i] = e;
    k.rho[i] = 2 * (e + z2 / 4) / dn;
  }
}

}  // namespace sf
