// Score-matching losses of MATH.md §1, each ½-scaled so that ESM, ISM and SSM differ only
// by θ-independent constants and DSM with λ = σ² reads ½E|σ s + ξ|². Random inputs (noise,
// probes, times) are passed in, so the trainer draws them reproducibly.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>

#include <scoreflow/core/registry.hpp>
#include <scoreflow/core/rng.hpp>

#include <scoreflow/neural/score_net.hpp>

namespace sf {

// Normals, uniforms and Rademacher signs as float32 tensors, keyed like every other draw.
torch::Tensor philox_normals(std::uint64_t seed, Stream stream, std::uint64_t step,
                             std::int64_t rows, std::int64_t cols);
torch::Tensor philox_uniforms(std::uint64_t seed, Stream stream, std::uint64_t step,
                              std::int64_t rows);
torch::Tensor philox_signs(std::uint64_t seed, Stream stream, std::uint64_t step, std::int64_t rows,
                           std::int64_t cols);

// One minibatch as a loss sees it; its random inputs are drawn from (seed, step), so a loss
// is reproducible and a resumed training continues bit-identically.
struct LossBatch {
  ScoreNetImpl* net = nullptr;
  torch::Tensor x;  // [B, d] float32
  std::uint64_t seed = 0, step = 0;
  double sigma = 0.1;             // dsm's noise level
  bool gaussian_probes = false;   // else Rademacher
  bool likelihood_times = false;  // times uniform in log(std²/m²) rather than in t
  // ESM: the known score at x ([B, d] -> [B, d]).
  std::function<torch::Tensor(const torch::Tensor&)> target_score;
  // nc-dsm on training steps: a penalty on the perturbed points x_t at times t.
  std::function<torch::Tensor(const torch::Tensor& xt, const torch::Tensor& t)> penalty;

  torch::Tensor noise() const;                                      // ξ ~ N(0, I), [B, d]
  torch::Tensor probes(Stream stream = Stream::train_noise) const;  // v, [B, d]
  // t on [t_min, 1] of the net's SDE, [B]: uniform, or uniform in log(std²/m²).
  torch::Tensor times() const;
};

// A loss by name: its value on a batch and what it needs of the model and data.
struct Loss {
  std::function<torch::Tensor(const LossBatch&)> value;
  bool noise_conditional = false;   // trains a time-conditioned s(x, t) over the net's SDE
  bool needs_target_score = false;  // ESM: a known score of the data
  explicit operator bool() const { return static_cast<bool>(value); }
};

// esm, ism, ism-hutchinson, ssm, dsm, nc-dsm, nc-ism, nc-ssm, and any a user adds; the
// trainer (`train --loss`, SBTM) takes any of them by name.
using LossRegistry = Registry<Loss>;
LossRegistry& loss_registry();

// Exact ∇·s at x for any score function of x alone, by d backward passes (create_graph so
// the result can be trained through). x must require grad.
torch::Tensor divergence_autograd(const torch::Tensor& s, const torch::Tensor& x);

// ½ mean |s(x) − ψ(x)|², ψ a known (analytic or kernel) score at the batch.
torch::Tensor esm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& target);
// mean[½|s|² + ∇·s], exact divergence; `fused` uses the MLP's forward-mode tangents.
torch::Tensor ism_loss(ScoreNetImpl& net, const torch::Tensor& x, bool fused = true);
// mean[½|s|² + vᵀ(∂s/∂x)v] with probes v ([B, d], Rademacher or Gaussian).
torch::Tensor ism_hutchinson_loss(ScoreNetImpl& net, const torch::Tensor& x,
                                  const torch::Tensor& v);
// Sliced: mean[vᵀ(∂s/∂x)v + ½(vᵀs)²].
torch::Tensor ssm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& v);
// One noise level: ½ mean |σ s(x + σξ) + ξ|².
torch::Tensor dsm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                       double sigma);
// Noise-conditional over the net's SDE, λ(t) = std(t)²: x_t = m(t)x + std(t)ξ,
// ½ mean |std(t) s(x_t, t) + ξ|².
torch::Tensor nc_dsm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                          const torch::Tensor& t);
// x_t = m(t)x + std(t)ξ for the net's SDE, and std(t) as a [B, 1] column.
std::pair<torch::Tensor, torch::Tensor> perturb(ScoreNetImpl& net, const torch::Tensor& x,
                                                const torch::Tensor& xi, const torch::Tensor& t);
// ISM and sliced SM of p_t at x_t, same λ(t) = std(t)² and time draws as nc-dsm (Song &
// Ermon 2019 train NCSN either way). `v` undefined: exact divergence (d backward passes).
torch::Tensor nc_ism_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                          const torch::Tensor& t, const torch::Tensor& v = {});
torch::Tensor nc_ssm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                          const torch::Tensor& t, const torch::Tensor& v);

}  // namespace sf
