// Score-matching losses of MATH.md §1, each ½-scaled so that ESM, ISM and SSM differ only
// by θ-independent constants and DSM with λ = σ² reads ½E|σ s + ξ|². Random inputs (noise,
// probes, times) are passed in, so the trainer draws them reproducibly.
#pragma once

#include <torch/torch.h>

#include <string>

#include <scoreflow/neural/score_net.hpp>

namespace sf {

enum class LossKind { esm, ism, ism_hutchinson, ssm, dsm, nc_dsm, nc_ism, nc_ssm };
LossKind loss_by_name(const std::string& name);
std::string loss_name(LossKind kind);
std::string valid_loss_names();
// Losses of a time-conditional s(x, t) over the net's SDE (the ones that train a generator).
bool noise_conditional(LossKind kind);

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
