#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/targets/analytic.hpp>

namespace sf {

Ring::Ring(double cx, double cy, double radius, double noise)
    : cx_(cx),
      cy_(cy),
      r_(radius),
      s_(noise),
      // Radial law in polar coordinates: ∝ r exp(−(r − R)²/2s²) on r > 0.
      radius_(
          [=](double r) { return std::log(r) - (r - radius) * (r - radius) / (2 * noise * noise); },
          1e-12, radius + 12 * noise) {
  check_positive_finite("ring", "radius", radius);
  check_positive_finite("ring", "noise", noise);
  check_finite("ring", "cx", cx);
  check_finite("ring", "cy", cy);
}

std::string Ring::spec() const {
  return fmt::format("ring:cx={},cy={},radius={},noise={}", cx_, cy_, r_, s_);
}

double Ring::log_density_row(const double* x) const {
  const double r = std::hypot(x[0] - cx_, x[1] - cy_);
  return -(r - r_) * (r - r_) / (2 * s_ * s_);
}

void Ring::score_row(const double* x, double* g) const {
  const double dx = x[0] - cx_, dy = x[1] - cy_;
  const double r = std::hypot(dx, dy);
  // At the centre the density has a cone tip; its one-sided derivatives cancel by symmetry.
  const double f = r > 0 ? -(r - r_) / (s_ * s_ * r) : 0.0;
  g[0] = f * dx;
  g[1] = f * dy;
}

void Ring::sample(std::uint64_t seed, Rows out) const {
  parallel_rows(out.n, [&](std::size_t i) {
    Draws rng(seed, Stream::reference, i, 0);
    const double a = 2 * std::numbers::pi * rng.uniform();
    const double r = radius_(rng.uniform());
    out.row(i)[0] = cx_ + r * std::cos(a);
    out.row(i)[1] = cy_ + r * std::sin(a);
  });
}

std::optional<double> Ring::log_normaliser() const {
  return std::log(2 * std::numbers::pi) + radius_.log_mass();
}

std::array<double, 4> Ring::plot_box() const {
  const double e = r_ + 5 * s_;
  return {cx_ - e, cx_ + e, cy_ - e, cy_ + e};
}

}  // namespace sf
