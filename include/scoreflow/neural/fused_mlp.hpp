// A fused training step for small residual MLPs (the ResMlp of score_net.hpp without time
// features): forward, forward-mode tangents for the exact divergence, backward and Adam in
// Eigen float32 on the network's own parameter memory. LibTorch spends a small MLP's step
// in per-operation overhead (about 100 dispatched operations for ISM); here one step is a
// few GEMMs per layer. Primal and tangent columns are stacked, [h | ∂h/∂x₁ | … | ∂h/∂x_d],
// so each layer is one GEMM forward and two backward.
// The batch is cut into a fixed number of chunks summed in a fixed order, so the numbers
// do not depend on the thread count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace sf {

// Views of the parameters, PyTorch layout (weight row-major [out, in]); not owned.
struct MlpParams {
  std::int64_t dim = 0;
  std::vector<std::int64_t> widths;
  std::string activation = "silu";
  std::vector<float*> weight, bias;  // hidden layers
  float* out_weight = nullptr;       // [dim, last width]
  float* out_bias = nullptr;
};

struct AdamSettings {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW
};

class FusedMlpTrainer {
 public:
  explicit FusedMlpTrainer(MlpParams params);
  ~FusedMlpTrainer();

  // One optimiser step on a batch x [B, dim] (row-major). DSM: the loss ½ mean|σ s(x+σξ) + ξ|²
  // with ξ [B, dim]; ISM: mean[½|s|² + ∇·s]. Returns the batch loss before the step.
  double dsm_step(const float* x, const float* xi, std::int64_t batch, double sigma,
                  const AdamSettings& adam);
  double ism_step(const float* x, std::int64_t batch, const AdamSettings& adam);

  // Loss and gradients only (no update), flattened in parameter order: per hidden layer
  // weight then bias, then the output weight and bias. For tests against autograd.
  double dsm_gradient(const float* x, const float* xi, std::int64_t batch, double sigma,
                      std::vector<float>& grad);
  double ism_gradient(const float* x, std::int64_t batch, std::vector<float>& grad);
  // One Adam step with a gradient from outside (data-parallel training: the sum of blocks'
  // gradients), in the same flattened order.
  void apply_adam(const std::vector<float>& grad, const AdamSettings& adam);

  // The network output at n points (row-major [n, dim] in and out), in fixed chunks of rows
  // spread over the cores. The points are rows [first, first + n) of a larger set: each
  // point's result depends neither on the thread count nor on where the set was cut.
  // Reuses per-thread buffers: one call at a time per object.
  void forward(const float* x, std::int64_t n, float* out, std::int64_t first = 0) const;

  // Adam's moments and step count, for checkpoints.
  std::vector<float>& first_moment() { return m_; }
  std::vector<float>& second_moment() { return v_; }
  std::int64_t& adam_step() { return t_; }
  std::size_t parameter_count() const { return total_; }

 private:
  struct Work;  // one chunk's activations, tangents and gradient, kept between steps
  struct AdamStep;
  AdamStep next_adam_step(const AdamSettings& adam);
  // Parameter block b: its gradient, the sum of `sources` arrays, into g_, then applied by the
  // Adam step unless that is null. `omp for` loops without a barrier: call from inside a
  // parallel region.
  void adam_block(std::size_t b, const float* const* grads, std::int64_t sources,
                  const AdamStep* adam);
  // The batch gradient, then either copied to `grad` or applied by Adam; one parallel
  // region per step (chunks, then the elementwise reduction and update).
  double run(const float* x, const float* xi, std::int64_t batch, double sigma, bool ism,
             const AdamSettings* adam, std::vector<float>* grad);
  void chunk_gradient(Work& w, const float* x, const float* xi, std::int64_t c0, std::int64_t nb,
                      std::int64_t batch, double sigma, bool ism) const;
  std::vector<std::pair<float*, std::size_t>> blocks() const;

  MlpParams p_;
  std::size_t total_ = 0;
  std::vector<std::pair<float*, std::size_t>> blocks_;  // the parameters, as blocks()
  std::vector<std::size_t> offsets_;                    // block b's start in the flat order
  std::vector<std::unique_ptr<Work>> work_;
  mutable std::vector<std::pair<Eigen::MatrixXf, Eigen::MatrixXf>> forward_work_;  // per thread
  std::vector<float> m_, v_;
  std::vector<float> g_;  // the last step's gradient
  std::int64_t t_ = 0;
};

}  // namespace sf
