// Wasserstein–Fisher–Rao flow of KL as a weighted SDE (MATH.md §4): Langevin moves, and
// Feynman–Kac log-weights d log w = −(log ρ̂ − log π) dt, with ρ̂ the current weighted law
// estimated by
//   kde:        a weighted Gaussian KDE of the particles (bandwidth fixed, Silverman or median);
//   ula-kernel: the weighted mixture of the ULA transition kernels from the previous
//               positions, Σ_j w̄_j N(x; X_j' + h∇log π(X_j'), 2hI), with the exact
//               Fisher–Rao factor 1 − e^{−h} in place of h (SMC-WFR).
// Resampling when the normalised ESS drops below a threshold.
#pragma once

#include <string>

#include <scoreflow/samplers/resampling.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct WfrConfig {
  double step_size = 0.01;
  std::uint64_t seed = 0;
  std::string density = "ula-kernel";  // ula-kernel | kde
  double bandwidth = 0;                // kde: fixed bandwidth; 0 = automatic by `bandwidth_rule`
  std::string bandwidth_rule = "silverman";  // silverman | median
  Resampler resampler{};
  double ess_threshold = 0.5;  // resample when ESS/N falls below; ≥ 1: every step
  // How the density estimate reaches all particles across processes: "gather" copies all of
  // them to every process; "blocks" sweeps over them a block of `exchange_block` rows at a
  // time (a multiple of 256), so no process holds more than its shard and a block; "auto"
  // takes blocks once all particles with their weights pass 1 GiB. Same numbers either way.
  std::string exchange = "auto";
  std::size_t exchange_block = 65536;
  // Relative error allowed in the density estimate's kernel sums: they go through the lattice
  // of grid_gauss.hpp where it pays (d ≤ 3), else through float32 kernels
  // (kernel_sum_f32.hpp) where their bound allows, every particle within this of the exact
  // sum; 0: always the exact sum. Blocks (above) always sum exactly.
  double kde_tol = kDefaultKdeTol;
};

class Wfr : public Sampler {
 public:
  Wfr(const Target& target, WfrConfig cfg);
  std::string name() const override { return "wfr-" + cfg_.density; }
  bool runs_sharded() const override { return true; }
  nlohmann::json config() const override;
  SamplerState init(Particles x, std::size_t step = 0) const override;
  StepInfo step(SamplerState& s) const override;

 private:
  // log ρ̂ at the new positions (`centres`: the previous positions' ULA drift targets).
  std::vector<double> log_density_estimate(const SamplerState& s, const Particles& centres) const;
  std::vector<double> log_density_in_blocks(const SamplerState& s, const Particles& centres) const;
  bool in_blocks(const SamplerState& s) const;

  const Target& target_;
  WfrConfig cfg_;
  ResampleFn resample_;
};

}  // namespace sf
