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
  const auto sigma = [](std::size_t dim, std::size_t first, std::size_t len, std::uint64_t sd,
                        KappaDraws& k) { source_sample(dim, first, len, sd, k); };
  const McEstimate mean_f = heat_ball_mean_with(sigma, source, x, t, r, count, seed + 1);
  const double ux = u(x.data(), t);
  const double value = (ux - mean_u.value - mass * mean_f.value) / mass;
  // Independent draws for the two means: their errors add in quadrature.
  return {value, std::hypot(mean_u.std_error, mass * mean_f.std_error) / mass};
}

}  // namespace sf
