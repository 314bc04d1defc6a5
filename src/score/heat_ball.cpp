#include <scoreflow/score/heat_ball.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>

namespace sf {

double heat_kernel_log(std::span<const double> dx, double tau) {
  double r2 = 0;
  for (double v : dx) r2 += v * v;
  return -0.5 * static_cast<double>(dx.size()) * std::log(4 * std::numbers::pi * tau) -
         r2 / (4 * tau);
}

KappaDraws kappa_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed) {
  KappaDraws k;
  kappa_sample(n, first, count, seed, k);
  return k;
}

void kappa_sample(std::size_t n, std::size_t first, std::size_t count, std::uint64_t seed,
                  KappaDraws& k) {
  check_positive("kappa_sample", "dimension n", n);
  // z, ρ, E and the n + 4 normals of each draw.
  check_memory_fits(fmt::format("kappa_sample: {} draws in dimension {}", count, n),
                    8.0 * static_cast<double>(count) * static_cast<double>(2 * n + 6),
                    "draw them in blocks (first = 0, k, 2k, ...)");
  k.n = n;
  k.z.reshape(count, n);
  k.rho.resize(count);
  k.e.resize(count);
  // n + 2 normals (ξ, η) and one more pair for E, per draw.
  const std::size_t width = n + 4;
  thread_local std::vector<double> g;
  g.resize(count * width);
  fill_normals(seed, Stream::kappa, 0, first, count, width, g.data());
  const double dn = static_cast<double>(n);
  for (std::size_t i = 0; i < count; ++i) {
    const double* xi = &g[i * width];
    double xi2 = 0;
    for (std::size_t j = 0; j < n; ++j) xi2 += xi[j] * xi[j];
    const double eta2 = xi[n] * xi[n] + xi[n + 1] * xi[n + 1];
    // |z|² = 2(|ξ|² + |η|²); direction ξ/|ξ|.
    const double z2 = 2 * (xi2 + eta2);
    const double scale = std::sqrt(z2 / xi2);
    double* z = k.z.row(i);
    for (std::size_t j = 0; j < n; ++j) z[j] = scale * xi[j];
    // Exp(1) from the last pair: ½(g₁² + g₂²) ~ Exp(1) for two independent normals.
    const double e = 0.5 * (xi[n + 2] * xi[n + 2] + xi[n + 3] * xi[n + 3]);
    k.e[i] = e;
    k.rho[i] = z2 / (2 * dn) + 2 * e / dn;
  }
}

double kappa_mean_tau_over_r2(std::size_t n) {
  const double dn = static_cast<double>(n);
  return std::pow(1 + 2 / dn, -(dn / 2 + 2)) / (4 * std::numbers::pi);
}

double kappa_sd_rho(std::size_t n) {
  const double dn = static_cast<double>(n);
  return std::sqrt(2 * dn + 8) / dn;
}

void heat_ball_points(const KappaDraws& k, std::span<const double> x, double t, double r, Rows y,
                      std::span<double> s) {
  check_dim("heat_ball_points", "point x", x.size(), k.n);
  const double c = r * r / (4 * std::numbers::pi);
  for (std::size_t i = 0; i < k.rho.size(); ++i) {
    const double tau = c * std::exp(-k.rho[i]);
    const double st = std::sqrt(tau);
    s[i] = t - tau;
    for (std::size_t j = 0; j < k.n; ++j) y.row(i)[j] = x[j] + st * k.z(i, j);
  }
}

}  // namespace sf
