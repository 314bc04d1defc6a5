// Feynman–Kac correctors for annealing a diffusion (Skreta et al. 2025), MATH.md §4: to
// sample p ∝ q_0^β from a diffusion whose marginals q_t are known, run in reverse time τ
// (t = T − τ)
//   dx = (−f + β g² ∇log q_t) dτ + g dW̄,   d log w = [(β − 1)∇·f + ½ g² β(β − 1)|∇log q_t|²] dτ.
// Here the forward process is VP, f = −½β(t)x, g = √β(t), and the data law is a Gaussian
// mixture, so q_t (a mixture with means α_t μ_k and covariances α_t²Σ_k + (1 − α_t²)I) and
// its score are exact; the diffusion models of the neural issue plug in a learned score.
// The start N(0, I) is corrected to q_T^β by exact importance weights.
#pragma once

#include <string>

#include <scoreflow/samplers/resampling.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/sde/noise_schedule.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>

namespace sf {

// The law of α_t X_0 + √(1 − α_t²) ξ for X_0 ~ data.
GaussianMixture diffuse(const GaussianMixture& data, const NoiseSchedule& vp, double t);

struct FkCorrectorConfig {
  double beta = 2;           // the exponent: samples p ∝ q_0^β
  std::size_t steps = 1000;  // reverse Euler–Maruyama steps over [0, T]
  std::uint64_t seed = 0;
  NoiseSchedule schedule = NoiseSchedule::vp();
  Resampler resampler{};
  double ess_threshold = 0.5;
};

class FkCorrector : public Sampler {
 public:
  FkCorrector(const GaussianMixture& data, FkCorrectorConfig cfg);
  std::string name() const override { return "fk-corrector"; }
  nlohmann::json config() const override;
  // x must be N(0, I) draws: the initial weights are β log q_T(x) − log N(x; 0, I).
  SamplerState init(Particles x, std::size_t step = 0) const override;
  StepInfo step(SamplerState& s) const override;

 private:
  double time_at(std::size_t step) const;  // forward time t at reverse step `step`
  // s.grad ← β∇log q_0 at s.x: the score of the law the run samples, which the trace's KSD
  // needs (the move itself uses ∇log q_t at the time of the step).
  void target_score(SamplerState& s) const;
  const GaussianMixture& data_;
  FkCorrectorConfig cfg_;
  ResampleFn resample_;
};

}  // namespace sf
