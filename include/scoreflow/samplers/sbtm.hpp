// Score-based transport (SBTM, MATH.md §3): the deterministic probability flow of the
// Langevin Fokker–Planck equation, dX/dt = ∇log π_λ(X) − s_θ(X), with s_θ ≈ ∇log f_t
// retrained on the current particles at every step (ISM with exact divergence by default,
// the fused MLP step; Hutchinson or denoising on request). The optimiser state is kept
// across steps. Before the first step s_θ is fitted to the known initial score by ESM.
// Needs LibTorch; registered as `--sampler sbtm`.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <scoreflow/samplers/annealing.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

// The time stepping of dx/dt = ∇log π − s_θ: one score per step, or Heun's two.
enum class SbtmIntegrator { euler, heun };
SbtmIntegrator sbtm_integrator_by_name(const std::string& name);
std::string name_of(SbtmIntegrator integrator);

struct SbtmConfig {
  double step_size = 0.01;
  std::uint64_t seed = 0;
  std::vector<std::int64_t> hidden;  // empty: [128, 128] for d = 1, else 4×128
  std::string activation = "softsign";
  std::string loss;  // ism | ism-hutchinson | dsm; empty: ism for d ≤ 10
  double dsm_sigma = 0.05;
  std::size_t train_steps = 10;
  std::size_t batch = 100;
  double lr = 5e-4, weight_decay = 1e-4;
  double loss_tol = 0;  // > 0: stop a step's training once |Δloss| < tol
  SbtmIntegrator integrator = SbtmIntegrator::euler;
  std::shared_ptr<const AnnealingPath> path;  // null: no annealing
  LinearSchedule schedule{};
  std::size_t total_steps = 1000;  // for the annealing schedule
  // The initial distribution's score for the ESM pre-fit; null: pre-fit by ISM instead.
  std::shared_ptr<const Target> initial;
  double init_tol = 1e-4;  // ESM loss to reach before the first step
  std::size_t init_max_steps = 4000;
  // > 1: every training step's gradient (and the pre-fit's) in this many fixed blocks, split
  // over the processes and summed in block order: data-parallel training. 1: every process
  // trains the same network on all particles by itself.
  std::size_t grad_blocks = 1;

  void validate(std::size_t dim) const;
};

class Sbtm : public Sampler {
 public:
  Sbtm(const Target& target, SbtmConfig cfg);
  ~Sbtm() override;
  std::string name() const override { return "sbtm"; }
  nlohmann::json config() const override;
  SamplerState init(Particles x, std::size_t step = 0) const override;
  // The network is pre-fitted and trained on all particles (gathered from every process);
  // each process moves its own shard.
  SamplerState init_shard(Particles x, std::size_t step, const Placement& where) const override;
  bool runs_sharded() const override { return true; }
  StepInfo step(SamplerState& s) const override;
  std::string divergence_hint() const override {
    return "try a smaller --step-size, more --train-steps, or --integrator heun";
  }
  void save_extra(const std::string& dir) const override;
  void load_extra(const std::string& dir) const override;

  // s_θ at x (float64), x being rows [first, first + n) of all particles: the fused forward,
  // and LibTorch's for comparison in tests.
  void model_score(ConstRows x, Rows out, std::size_t first = 0) const;
  void model_score_torch(ConstRows x, Rows out) const;

 private:
  struct Model;  // network and trainer; mutable state behind the const Sampler interface
  double train_on(const SamplerState& s) const;
  // v = ∇log π_λ(x) − s_θ(x) at fresh points.
  void velocity(ConstRows x, double lambda, Rows v, std::size_t first) const;

  const Target& target_;
  SbtmConfig cfg_;
  std::shared_ptr<const AnnealingPath> path_;
  std::unique_ptr<Model> model_;
};

// Enters `sbtm` in the sampler registry (called by register_torch_parts).
void register_sbtm_sampler();

}  // namespace sf
