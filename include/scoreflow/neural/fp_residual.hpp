// Fokker–Planck residuals of a time-conditioned score model s(x, t) over a linear forward SDE
// dX = a(t)X dt + g(t) dW (VP, VE), as training penalties (MATH.md §7).
//
// In the time θ = ½∫g², w = log p solves w_θ − Δw = |∇w|² − (2/g²)(∇·f + f·∇w), f = a x, so
// the score s = ∇w solves (derived here; n·2a/g² is constant in x and drops)
//   s_θ − Δs = G(s) := ∇ₓ(|s|² + c(t) x·s),   c(t) = −2a(t)/g²(t)   (VP: c = 1; VE: c = 0),
// one heat equation with a source per coordinate. Two residuals of a model:
//   pointwise:  s_θ − Δs − G(s) at (x, t), by autograd: ∂s/∂t as one Jacobian–vector product,
//               Δs exactly (d² backward passes) or by Hutchinson, vᵀ(∇²sᵢ)v with one
//               Rademacher probe v per anchor (two Jacobian–vector products, any d);
//   heat ball:  (s(x,t) − E_κ[s(y,s')] − E_κ[τ]·E_σ[G(y',s'')]) / E_κ[τ] over a ball of radius
//               R (θ units), with K exact κ and K source-measure draws per anchor; it tends to
//               the pointwise residual as R → 0 and vanishes at every R for the true score.
// Both are returned per anchor and coordinate, [B, d]; penalties are std(t)⁶-weighted means of
// their squares (std³·R is dimensionless, so every time counts alike).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include <scoreflow/neural/score_net.hpp>
#include <scoreflow/sde/linear_sde.hpp>

namespace sf {

// s(x, t) for a batch x [B, d] and times t [B] (a model, or an exact score in tests).
using BatchScoreFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

struct PointwiseResidualOptions {
  // exact | hutchinson | auto (exact for d ≤ 10, like ISM). Hutchinson's squared residual is
  // biased up by the probe variance, Σ_{j≠k} (∂ⱼ∂ₖsᵢ)²: a smoothness penalty on top.
  std::string laplacian = "auto";
  std::uint64_t seed = 1;
  std::uint64_t step = 0;  // probes are keyed by (seed, step)
  static std::string valid_laplacians() { return "auto, exact, hutchinson"; }
  void validate() const;
};
torch::Tensor pointwise_fp_residual(const BatchScoreFn& score, const LinearSde& sde,
                                    const torch::Tensor& x, const torch::Tensor& t,
                                    const PointwiseResidualOptions& opt = {});

struct HeatBallResidualOptions {
  double radius = 0.5;     // R in θ units; shrunk per anchor so the ball starts after t_min
  std::int64_t draws = 8;  // κ and source draws per anchor, in antithetic pairs (rounded up)
  std::uint64_t seed = 1;
  std::uint64_t step = 0;  // draws are keyed by (seed, step, anchor, k)
  void validate() const;
};
torch::Tensor heat_ball_fp_residual(const BatchScoreFn& score, const LinearSde& sde,
                                    const torch::Tensor& x, const torch::Tensor& t,
                                    const HeatBallResidualOptions& opt);

// "none", "fp" (pointwise) or "heatball": the penalty added to nc-dsm while training.
struct ResidualPenalty {
  std::string kind = "none";
  double weight = 0;          // λ
  std::int64_t anchors = 64;  // the first rows of each batch carry the penalty (cost control)
  HeatBallResidualOptions ball;
  PointwiseResidualOptions pointwise;
  static std::string valid_kinds() { return "none, fp, heatball"; }
  void validate() const;
  // λ · mean std(t)⁶ |residual|² at anchors (x_t, t); draws keyed by the training (seed, step).
  torch::Tensor operator()(ScoreNetImpl& net, const torch::Tensor& xt, const torch::Tensor& t,
                           std::uint64_t seed, std::uint64_t step) const;
};

}  // namespace sf
