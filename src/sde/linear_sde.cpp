#include <scoreflow/sde/linear_sde.hpp>

#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>

namespace sf {

LinearSde LinearSde::by_name(const std::string& name, double sigma_max) {
  if (name == "ve") {
    check_positive_finite("sde ve", "sigma-max", sigma_max);
    return {Kind::ve, NoiseSchedule::ve(0.01, sigma_max, 1)};
  }
  if (name == "vp") return {Kind::vp, NoiseSchedule::vp(0.1, 20, 1)};
  if (name == "subvp") return {Kind::subvp, NoiseSchedule::vp(0.1, 20, 1)};
  throw InvalidArgument(fmt::format("unknown SDE '{}'; valid: {}", name, valid_names()));
}

std::string LinearSde::name() const {
  switch (kind_) {
    case Kind::ve:
      return "ve";
    case Kind::vp:
      return "vp";
    case Kind::subvp:
      return "subvp";
  }
  return "?";
}

double LinearSde::drift_coef(double t) const {
  return kind_ == Kind::ve ? 0.0 : -0.5 * schedule_.g2(t);
}

double LinearSde::g2(double t) const {
  const double beta_or_dsigma2 = schedule_.g2(t);
  if (kind_ != Kind::subvp) return beta_or_dsigma2;
  return beta_or_dsigma2 * -std::expm1(-4 * schedule_.theta(t));
}

double LinearSde::mean_coef(double t) const {
  return kind_ == Kind::ve ? 1.0 : schedule_.alpha(t);
}

double LinearSde::std_rate(double t) const {
  const double s = std(t);
  return (2 * drift_coef(t) * s * s + g2(t)) / (2 * s);
}

double LinearSde::std(double t) const {
  const double theta = schedule_.theta(t);
  switch (kind_) {
    case Kind::ve:
      return schedule_.lo * std::pow(schedule_.hi / schedule_.lo, t);
    case Kind::vp:
      return std::sqrt(-std::expm1(-2 * theta));
    case Kind::subvp:
      return -std::expm1(-2 * theta);
  }
  return 0;
}

double LinearSde::prior_std() const {
  return kind_ == Kind::ve ? schedule_.hi : 1.0;
}

double LinearSde::log_noise_ratio(double t) const {
  return 2 * (std::log(std(t)) - std::log(mean_coef(t)));
}

double LinearSde::time_of_log_noise_ratio(double log_r) const {
  double lo = t_min(), hi = 1.0;
  if (log_r <= log_noise_ratio(lo)) return lo;
  if (log_r >= log_noise_ratio(hi)) return hi;
  for (int k = 0; k < 100 && hi - lo > 1e-15; ++k) {
    const double mid = 0.5 * (lo + hi);
    (log_noise_ratio(mid) < log_r ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double LinearSde::time_of_sigma(double sigma) const {
  if (kind_ != Kind::ve) throw InvalidArgument("noise levels σ are defined on the VE SDE only");
  return std::log(sigma / schedule_.lo) / std::log(schedule_.hi / schedule_.lo);
}

}  // namespace sf
