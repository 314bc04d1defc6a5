#include <scoreflow/sde/noise_schedule.hpp>

#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {

NoiseSchedule NoiseSchedule::by_name(const std::string& name) {
  if (name == "vp") return vp();
  if (name == "ve") return ve();
  if (name == "nonlinear") return vp(1, 25, 1);
  throw InvalidArgument(fmt::format("unknown noise schedule '{}'; valid: vp, ve, nonlinear", name));
}

double NoiseSchedule::g2(double t) const {
  const double u = t / horizon;
  if (kind == Kind::ve) {
    const double sigma = lo * std::pow(hi / lo, u);
    return 2 * sigma * sigma * std::log(hi / lo) / horizon;
  }
  return lo + u * (hi - lo);
}

double NoiseSchedule::theta(double t) const {
  if (kind == Kind::ve)  // ½(σ(t)² − σ_min²) without cancellation near t = 0
    return 0.5 * lo * lo * std::expm1(2 * (t / horizon) * std::log(hi / lo));
  return 0.5 * (lo * t + 0.5 * (hi - lo) * t * t / horizon);
}

double NoiseSchedule::time_of_theta(double th) const {
  if (kind == Kind::ve) return horizon * std::log1p(2 * th / (lo * lo)) / (2 * std::log(hi / lo));
  // a t² + b t = θ with a = (β_max − β_min)/4T, b = β_min/2; the root without cancellation.
  const double a = 0.25 * (hi - lo) / horizon, b = 0.5 * lo;
  return 2 * th / (b + std::sqrt(b * b + 4 * a * th));
}

double NoiseSchedule::alpha(double t) const {
  return std::exp(-theta(t));
}

}  // namespace sf
