#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/targets/analytic.hpp>

namespace sf {

Banana::Banana(double sigma) : s2_(sigma * sigma) {
  check_positive_finite("banana", "sigma", sigma);
}

std::string Banana::spec() const {
  return fmt::format("banana:sigma={}", std::sqrt(s2_));
}

double Banana::log_density_row(const double* x) const {
  const double u = x[1] - x[0] * x[0], v = 1 - x[0];
  return -0.5 * s2_ * u * u - 0.5 * v * v / s2_;
}

void Banana::score_row(const double* x, double* g) const {
  const double u = x[1] - x[0] * x[0];
  g[0] = 2 * s2_ * u * x[0] + (1 - x[0]) / s2_;
  g[1] = -s2_ * u;
}

void Banana::sample(std::uint64_t seed, Rows out) const {
  const double s = std::sqrt(s2_);
  parallel_rows(out.n, [&](std::size_t i) {
    Draws rng(seed, Stream::reference, i, 0);
    const double a = 1 + s * rng.normal();
    out.row(i)[0] = a;
    out.row(i)[1] = a * a + rng.normal() / s;
  });
}

// ∫∫ = (√(2π) σ)(√(2π)/σ) = 2π.
std::optional<double> Banana::log_normaliser() const {
  return std::log(2 * std::numbers::pi);
}

}  // namespace sf
