#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/targets/analytic.hpp>

namespace sf {

Funnel::Funnel(std::size_t d, double scale) : d_(d), scale_(scale) {
  if (d < 2) throw InvalidArgument(fmt::format("funnel: d is {}, but must be at least 2", d));
  check_positive_finite("funnel", "scale", scale);
}

std::string Funnel::spec() const {
  return fmt::format("funnel:d={},scale={}", d_, scale_);
}

double Funnel::log_density_row(const double* x) const {
  const double half_log_2pi = 0.5 * std::log(2 * std::numbers::pi);
  const double v = x[0];
  double s = 0;
  for (std::size_t j = 1; j < d_; ++j) s += x[j] * x[j];
  const double m = static_cast<double>(d_ - 1);
  return -0.5 * v * v / (scale_ * scale_) - std::log(scale_) - half_log_2pi -
         0.5 * s * std::exp(-v) - 0.5 * m * v - m * half_log_2pi;
}

void Funnel::score_row(const double* x, double* g) const {
  const double e = std::exp(-x[0]);
  double s = 0;
  for (std::size_t j = 1; j < d_; ++j) {
    s += x[j] * x[j];
    g[j] = -x[j] * e;
  }
  g[0] = -x[0] / (scale_ * scale_) + 0.5 * s * e - 0.5 * static_cast<double>(d_ - 1);
}

void Funnel::sample(std::uint64_t seed, Rows out) const {
  parallel_rows(out.n, [&](std::size_t i) {
    Draws rng(seed, Stream::reference, i, 0);
    double* x = out.row(i);
    x[0] = scale_ * rng.normal();
    const double sd = std::exp(0.5 * x[0]);
    for (std::size_t j = 1; j < d_; ++j) x[j] = sd * rng.normal();
  });
}

}  // namespace sf
