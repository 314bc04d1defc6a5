// Feynman–Kac correctors for annealing and combining diffusions (Skreta et al. 2025),
// MATH.md §4. Given data laws whose diffused marginals q_t^(k) under one linear forward SDE
// dX = a(t)X dt + g(t) dW are known through their scores (exactly for Gaussian mixtures, or
// from trained score models), sample the weighted product
//   Π_t = Π_k (q_t^(k))^{β_k}
// at t = t_end: temperature (one factor, β ≠ 1) and products of models (several factors).
// In reverse time τ with S = Σ β_k ∇log q^(k) and B = Σ β_k, the move and weights are
//   dx = (−a x + g² S) dτ + g dW̄,  d log w = [(B − 1) a d + ½ g² (|S|² − Σ β_k |∇log q^(k)|²)] dτ,
// which for one factor is the paper's (β − 1)∇·f + ½g²β(β − 1)|∇log q|², and for two factors
// with β = 1 its ∇·f + g²⟨∇log q¹, ∇log q²⟩. The start N(0, prior_std² I) is weighted to Π_1;
// the weights then estimate log ∫ Π_{t_end}.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include <scoreflow/samplers/resampling.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/sde/linear_sde.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>

namespace sf {

// The law of m(t) X_0 + s(t) ξ for X_0 ~ data: a mixture with means m μ_k and covariances
// m² Σ_k + s² I.
GaussianMixture diffuse(const GaussianMixture& data, const LinearSde& sde, double t);

// One factor (q_t)^β of the product.
struct DiffusedFactor {
  std::string name;
  double beta = 1;
  // ∇log q_t at the rows of x, written to out (same shape).
  std::function<void(double t, ConstRows x, Rows out)> score;
  // log q_1 at the start; empty: the SDE's prior N(0, prior_std² I), which q_1 approaches as
  // the SDE forgets its data (VP: m(1) = 0.0066).
  std::function<void(ConstRows x, std::span<double> out)> log_density_at_start;
};

// A Gaussian mixture's factor, exact at every t.
DiffusedFactor mixture_factor(const GaussianMixture& data, const LinearSde& sde, double beta);

struct FkCorrectorConfig {
  std::size_t steps = 1000;  // reverse Euler–Maruyama steps from t = 1 to t_end
  std::uint64_t seed = 0;
  LinearSde sde = LinearSde::by_name("vp");
  double t_end = 0;  // trained models: the SDE's t_min, below which they were not trained
  Resampler resampler{};
  double ess_threshold = 0.5;
  // Keep the final law's score S(t_end) in the state's grad (the trace's KSD reads it). Off
  // when nobody reads it: it costs one more evaluation of every factor per step, and grad
  // is then left empty.
  bool target_score_in_state = true;
};

class FkCorrector : public Sampler {
 public:
  FkCorrector(std::vector<DiffusedFactor> factors, std::size_t dim, FkCorrectorConfig cfg);
  std::string name() const override { return "fk-corrector"; }
  // Each particle moves by the exact scores at its own row; weights and resampling are global.
  bool runs_sharded() const override { return true; }
  nlohmann::json config() const override;
  // x must be draws of N(0, prior_std² I); step 0 weights them to Π_1.
  SamplerState init(Particles x, std::size_t step = 0) const override;
  StepInfo step(SamplerState& s) const override;
  double time_at(std::size_t step) const;  // forward time t at reverse step `step`

 private:
  // s.grad ← S at t_end, the score of the law the run samples, which the trace's KSD needs
  // (the move itself uses the scores at the time of the step).
  void target_score(SamplerState& s) const;
  // total ← S = Σ β_k ∇log q_t^(k) at x; with own_sq, also Σ β_k |∇log q_t^(k)|² per row.
  void weighted_scores(double t, ConstRows x, Particles& total, std::vector<double>* own_sq) const;
  std::vector<DiffusedFactor> factors_;
  std::size_t dim_;
  FkCorrectorConfig cfg_;
  ResampleFn resample_;
};

}  // namespace sf
