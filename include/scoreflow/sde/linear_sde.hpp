// Linear forward SDEs of diffusion models (MATH.md §5, Song et al. 2021):
//   dX = a(t) X dt + g(t) dW,  X_t | X_0 ~ N(m(t) X_0, s(t)² I).
//   VE:     a = 0, σ(t) = σ_min (σ_max/σ_min)^t, g² = dσ²/dt, m = 1, s = σ(t);
//   VP:     a = −½β, g² = β, m = e^{−θ}, s² = 1 − e^{−2θ}, θ = ½∫β;
//   sub-VP: a = −½β, g² = β(1 − e^{−4θ}), m = e^{−θ}, s = 1 − e^{−2θ}.
// Time runs on [t_min, 1]; the prior at t = 1 is N(0, prior_std² I).
#pragma once

#include <string>

#include <scoreflow/sde/noise_schedule.hpp>

namespace sf {

class LinearSde {
 public:
  enum class Kind { ve, vp, subvp };

  // "ve" (σ 0.01→`sigma_max`), "vp" or "subvp" (β 0.1→20).
  // The one default σ_max of VE, for training and for forward SDEs alike.
  static constexpr double kVeSigmaMax = 50;
  static LinearSde by_name(const std::string& name, double sigma_max = kVeSigmaMax);
  static std::string valid_names() { return "ve, vp, subvp"; }

  Kind kind() const { return kind_; }
  std::string name() const;
  const NoiseSchedule& schedule() const { return schedule_; }

  double drift_coef(double t) const;  // a(t): f(x, t) = a(t) x
  double g2(double t) const;
  double mean_coef(double t) const;  // m(t)
  double std(double t) const;        // s(t)
  // ds/dt, from the variance equation d(s²)/dt = 2a s² + g² (every kind here).
  double std_rate(double t) const;
  double prior_std() const;
  double t_min() const { return kind_ == Kind::ve ? 1e-5 : 1e-3; }

  // log(s(t)²/m(t)²), the log inverse signal-to-noise ratio: increasing in t, and its
  // derivative is g²/s² for VE, VP and sub-VP alike — so times uniform in it weight an
  // ε-loss by the likelihood weighting (Song et al. 2021, Kingma et al. 2021).
  double log_noise_ratio(double t) const;
  // Its inverse on [t_min, 1] (bisection to machine precision).
  double time_of_log_noise_ratio(double log_r) const;

  // VE only: the time at which σ(t) = sigma (NCSN noise levels on the VE path).
  double time_of_sigma(double sigma) const;

 private:
  LinearSde(Kind kind, NoiseSchedule schedule) : kind_(kind), schedule_(schedule) {}
  Kind kind_;
  NoiseSchedule schedule_;
};

}  // namespace sf
