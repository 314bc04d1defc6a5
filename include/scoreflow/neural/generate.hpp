// Generation with a time-dependent score s(x, t) over a linear forward SDE (MATH.md §5):
// reverse-SDE Euler–Maruyama, the probability-flow ODE (Heun or RK4), predictor–corrector
// with a Langevin corrector (Song et al. 2021), and NCSN annealed Langevin dynamics; and
// the log-likelihood by the probability-flow ODE with an exact or Hutchinson trace.
// Random draws are Philox keyed by (seed, particle, step), so results do not depend on the
// batch split or the thread count.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>

#include <scoreflow/core/rng.hpp>
#include <scoreflow/sde/linear_sde.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>

namespace sf {

// s(x, t) for a batch x [B, d] at one time t.
using TimeScoreFn = std::function<torch::Tensor(const torch::Tensor& x, double t)>;

struct GenerateOptions {
  std::string sampler = "pc";  // euler | ode-heun | ode-rk4 | pc | ncsn
  std::size_t steps = 500;     // time steps (ncsn: noise levels)
  double snr = 0.16;           // pc corrector signal-to-noise ratio
  std::size_t corrector_steps = 1;
  std::size_t ncsn_steps = 10;  // Langevin steps per NCSN level
  double ncsn_eps = 2e-5;       // NCSN step scale ε: α_i = ε σ_i² / σ_L²
  bool denoise = true;          // last reverse step without noise (Tweedie mean)
  std::uint64_t seed = 1;

  void validate(const LinearSde& sde) const;
  // fk (the Feynman–Kac corrector of samplers/fk_corrector.hpp) runs through run_generate.
  static std::string valid_samplers() { return "euler, ode-heun, ode-rk4, pc, ncsn, fk"; }
};

// n samples in float32; `progress` is called with the fraction done.
torch::Tensor generate(const LinearSde& sde, const TimeScoreFn& score, std::int64_t n,
                       std::int64_t d, const GenerateOptions& opts,
                       const std::function<void(double)>& progress = {});

struct LikelihoodOptions {
  std::size_t steps = 200;   // RK4 steps of the probability-flow ODE on [t_min, 1]
  bool exact_trace = false;  // d backward passes instead of a Gaussian Hutchinson probe
  std::uint64_t seed = 1;
  // log p_1 at the end of the flow; default: the SDE's prior N(0, prior_std² I), which
  // differs from the true p_1 by the SDE's (small) prior mismatch.
  std::function<torch::Tensor(const torch::Tensor&)> log_prior;
};

// log p_{t_min}(x) in nats per row (float64 [B]).
// Uniform dequantisation of 8-bit pixels on [−1, 1]: each value to its bin (width 2/256)
// plus a uniform draw keyed by (seed, stream, step), so a density's likelihood is one of
// discrete images.
torch::Tensor dequantise_8bit(const torch::Tensor& x, std::uint64_t seed, std::uint64_t step = 1,
                              Stream stream = Stream::probes);
// Bits per dimension of dequantised 8-bit data on [−1, 1] from a mean NLL in nats:
// NLL/(d log 2) + log2(128), the bins being 2/256 wide.
double bits_per_dim(double nll_nats, std::size_t dim);

torch::Tensor log_likelihood(const LinearSde& sde, const TimeScoreFn& score, const torch::Tensor& x,
                             const LikelihoodOptions& opts);

// A Gaussian mixture pushed through the SDE, known exactly:
// p_t = Σ w_k N(m(t) μ_k, m(t)² Σ_k + s(t)² I). Float64 inside; outputs in x's dtype.
class DiffusedMixture {
 public:
  DiffusedMixture(const GaussianMixture& mixture, const LinearSde& sde);
  torch::Tensor score(const torch::Tensor& x, double t) const;
  torch::Tensor log_density(const torch::Tensor& x, double t) const;  // [B], float64

 private:
  // Per-component log weight + log N(x), and precision × residual.
  std::pair<torch::Tensor, torch::Tensor> terms(const torch::Tensor& x, double t) const;
  LinearSde sde_;
  torch::Tensor logw_, means_, covs_;
};

TimeScoreFn diffused_mixture_score(const GaussianMixture& mixture, const LinearSde& sde);

}  // namespace sf
