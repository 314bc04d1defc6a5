// Birth–death accelerated Langevin (Lu, Lu & Nolen 2019), MATH.md §4: ULA moves, then each
// particle i is killed (β̄_i > 0, prob. 1 − e^{−β̄_i h}, replaced by a copy of another) or
// duplicated (β̄_i < 0, prob. 1 − e^{β̄_i h}, replacing another), with
//   kl:            β_i = log (K_b * ρ)(X_i) − log π(X_i);
//   kernelised-kl: β_i += (1/N) Σ_j K_b(X_i − X_j) / (K_b * ρ)(X_j), the first variation of
//                  ∫ρ log(K_b*ρ/π);
// β̄ = β − mean(β). Particles stay unweighted.
#pragma once

#include <string>

#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct BirthDeathConfig {
  double step_size = 0.01;
  std::uint64_t seed = 0;
  double bandwidth = 0;             // 0: Silverman's rule each step
  bool kernelised = false;          // the kernelised-KL rate
  double kde_tol = kDefaultKdeTol;  // relative error of the kernel sums (kde.hpp; 0: exact)
};

class BirthDeath : public Sampler {
 public:
  BirthDeath(const Target& target, BirthDeathConfig cfg);
  std::string name() const override { return cfg_.kernelised ? "birth-death-kl" : "birth-death"; }
  bool runs_sharded() const override { return true; }
  std::size_t min_particles() const override { return 2; }
  nlohmann::json config() const override;
  SamplerState init(Particles x, std::size_t step = 0) const override;
  StepInfo step(SamplerState& s) const override;

  // The centred rates β̄ at the current particles (exposed for tests).
  std::vector<double> rates(const SamplerState& s) const;

 private:
  // The centred rates of all particles (every process's, in global order) from all positions
  // `x`; a step gathers the positions once for the rates and the jumps.
  std::vector<double> all_rates(const SamplerState& s, ConstRows x) const;

  const Target& target_;
  BirthDeathConfig cfg_;
};

}  // namespace sf
