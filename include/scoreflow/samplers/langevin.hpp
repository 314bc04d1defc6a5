// Langevin samplers (MATH.md §2): ULA, MALA, annealed ULA. They share one move,
//   x' = x + h ∇log π(x) + √(2h) ξ.
#pragma once

#include <memory>

#include <scoreflow/samplers/annealing.hpp>
#include <scoreflow/samplers/resampling.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct LangevinConfig {
  double step_size = 0.01;
  std::uint64_t seed = 0;
};

// out_i = x_i + h g_i + √(2h) ξ_i, ξ keyed by (seed, first + i, step): `first` is the global
// index of row 0 (a process's shard starts there). `out` may alias `x`.
void langevin_move(ConstRows x, ConstRows grad, double h, std::uint64_t seed, std::size_t step,
                   std::size_t first, Rows out);

// Metropolis–Hastings for Langevin proposals y = x + h g_x + √(2h) ξ towards a density p
// (lp = log p, g = ∇log p at x and y): row i is accepted when log u < log p(y) − log p(x)
// + (|y − x − h g_x|² − |x − y − h g_y|²)/(4h), u keyed by (seed, first + i, step).
std::vector<char> mala_accept(ConstRows x, ConstRows gx, std::span<const double> lpx, ConstRows y,
                              ConstRows gy, std::span<const double> lpy, double h,
                              std::uint64_t seed, std::size_t step, std::size_t first);

class Ula : public Sampler {
 public:
  Ula(const Target& target, LangevinConfig cfg);
  std::string name() const override { return "ula"; }
  bool runs_sharded() const override { return true; }
  nlohmann::json config() const override;
  SamplerState init(Particles x, std::size_t step = 0) const override;
  StepInfo step(SamplerState& s) const override;

 private:
  const Target& target_;
  LangevinConfig cfg_;
};

class Mala : public Sampler {
 public:
  Mala(const Target& target, LangevinConfig cfg);
  std::string name() const override { return "mala"; }
  bool runs_sharded() const override { return true; }
  nlohmann::json config() const override;
  SamplerState init(Particles x, std::size_t step = 0) const override;
  StepInfo step(SamplerState& s) const override;

 private:
  const Target& target_;
  LangevinConfig cfg_;
};

struct AnnealedConfig {
  LangevinConfig langevin;
  std::shared_ptr<const AnnealingPath> path = std::make_shared<GeometricPath>();
  LinearSchedule schedule{};
  std::size_t total_steps = 1000;
  // Feynman–Kac (AIS/Jarzynski) weights for the path: d log w = λ'(t) ∂_λ log π_λ(X) dt,
  // so weighted particles follow π_λ and the weights estimate log Z. Geometric path only
  // (it starts at the normalised N(0, I)); with ULA moves the estimate keeps ULA's O(h) bias.
  bool fk_weights = false;
  // Annealed importance sampling (Neal 2001): each move is a MALA step that leaves π_λ
  // invariant, so the FK weights estimate Z without the time-step bias (needs fk_weights).
  bool metropolis = false;
  Resampler resampler{};
  double ess_threshold = 0.5;
};

// ULA on ∇log π_λ with λ = schedule(step): from N(0, I) towards the target; with
// `metropolis`, MALA moves on π_λ ("ais"), and the state caches the target's log π and score.
class AnnealedUla : public Sampler {
 public:
  bool grad_is_target_score() const override { return cfg_.metropolis; }
  AnnealedUla(const Target& target, AnnealedConfig cfg);
  std::string name() const override { return cfg_.metropolis ? "ais" : "annealed-ula"; }
  bool runs_sharded() const override { return true; }
  nlohmann::json config() const override;
  SamplerState init(Particles x, std::size_t step = 0) const override;
  StepInfo step(SamplerState& s) const override;

 private:
  double lambda_at(std::size_t step) const { return cfg_.schedule.lambda(step, cfg_.total_steps); }
  // Adds Δλ (log π − log π_0) at the current positions to the log-weights (logp = log π).
  void reweight(SamplerState& s, double dlambda, std::span<const double> logp) const;
  // One MALA move of every particle on π_λ of the geometric path.
  double metropolis_move(SamplerState& s, double lambda) const;

  const Target& target_;
  AnnealedConfig cfg_;
  std::shared_ptr<const AnnealingPath> path_;
  ResampleFn resample_ = nullptr;
};

}  // namespace sf
