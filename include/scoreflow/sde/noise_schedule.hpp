// Noise schedules g(t) of forward SDEs dX = f dt + g(t) dW on [0, T], and the
// cumulative-variance time change θ(t) = ½∫_0^t g(s)² ds of MATH.md §7 (under which the
// density solves a heat equation with a source).
//   VE: σ(t) = σ_min (σ_max/σ_min)^{t/T}, g² = dσ²/dt, θ = ½(σ(t)² − σ_min²);
//   VP and the nonlinear SDE of MATH.md §6: g² = β(t) = β_min + (t/T)(β_max − β_min),
//       θ = ½(β_min t + (β_max − β_min) t²/(2T)); VP's signal factor α_t = e^{−θ(t)}.
#pragma once

#include <string>

namespace sf {

struct NoiseSchedule {
  enum class Kind { ve, linear_beta };
  Kind kind = Kind::linear_beta;
  double lo = 0.1, hi = 20;  // σ_min, σ_max (VE) or β_min, β_max
  double horizon = 1;

  static NoiseSchedule vp(double beta_min = 0.1, double beta_max = 20, double horizon = 1) {
    return {Kind::linear_beta, beta_min, beta_max, horizon};
  }
  static NoiseSchedule ve(double sigma_min = 0.01, double sigma_max = 50, double horizon = 1) {
    return {Kind::ve, sigma_min, sigma_max, horizon};
  }
  // "vp", "ve", or "nonlinear" (β from 1 to 25, the SDE of MATH.md §6).
  static NoiseSchedule by_name(const std::string& name);

  double g2(double t) const;                 // g(t)²
  double theta(double t) const;              // ½∫_0^t g²
  double time_of_theta(double theta) const;  // the t with θ(t) = theta (closed form)
  double alpha(double t) const;              // VP: e^{−θ(t)}, the mean factor of X_t given X_0
};

}  // namespace sf
