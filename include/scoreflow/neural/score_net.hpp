// Neural score models (LibTorch, float32): a residual MLP for points and a small U-Net for
// 16×16 images, optionally conditioned on time through sinusoidal or random Fourier
// features. With `sde` set, the model is noise-conditional and returns
// s(x, t) = net(x, t) / std(t) (the ε-parametrisation), so its DSM loss with λ = std² is
// |net + ξ|², well scaled at every t.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <scoreflow/neural/fused_mlp.hpp>
#include <scoreflow/sde/linear_sde.hpp>

namespace sf {

struct NetConfig {
  std::string arch = "mlp";                            // mlp | unet
  std::int64_t dim = 2;                                // data dimension (unet: 256)
  std::vector<std::int64_t> hidden = {128, 128, 128};  // mlp widths; unet: base channels first
  std::string activation = "silu";                     // silu | softsign
  std::string cond = "none";                           // none | sinusoidal | fourier
  std::int64_t cond_features = 32;                     // embedding width
  double fourier_scale = 16;                           // std of the random Fourier frequencies
  std::optional<std::string> sde;             // noise-conditional on this SDE (ve | vp | subvp)
  double sigma_max = LinearSde::kVeSigmaMax;  // VE only

  nlohmann::json to_json() const;
  static NetConfig from_json(const nlohmann::json& j);
  void validate() const;
  bool conditioned() const { return cond != "none"; }
  // The SDE of a noise-conditional model (call only when `sde` is set).
  LinearSde linear_sde() const { return LinearSde::by_name(*sde, sigma_max); }
};

// f(t_i) for each time of a batch, as a [B, 1] column of type `dtype`: per-sample SDE
// coefficients such as std(t).
template <class F>
torch::Tensor time_column(const torch::Tensor& t, F f, torch::ScalarType dtype) {
  const auto tc = t.detach().to(torch::kFloat64).contiguous();
  auto out = torch::empty_like(tc);
  const double* tp = tc.data_ptr<double>();
  double* op = out.data_ptr<double>();
  for (std::int64_t i = 0; i < tc.numel(); ++i) op[i] = f(tp[i]);
  return out.to(dtype).reshape({-1, 1});
}

// Elementwise activation and its derivative (the derivative drives the forward-mode
// tangents of the fused ISM loss).
torch::Tensor activate(const std::string& name, const torch::Tensor& z);
torch::Tensor activate_derivative(const std::string& name, const torch::Tensor& z);

// Time features: [B] -> [B, cond_features].
class TimeEmbeddingImpl : public torch::nn::Module {
 public:
  explicit TimeEmbeddingImpl(const NetConfig& cfg);
  torch::Tensor forward(const torch::Tensor& t);

 private:
  bool fourier_;
  torch::Tensor freqs_;  // buffer
};
TORCH_MODULE(TimeEmbedding);

// Shared interface of every trainable score network.
class ScoreNetImpl : public torch::nn::Module {
 public:
  explicit ScoreNetImpl(NetConfig cfg) : cfg_(std::move(cfg)) {}
  // Raw network output; `t` is [B] (ignored when unconditioned).
  virtual torch::Tensor net(const torch::Tensor& x, const torch::Tensor& t) = 0;
  // The score: net / std(t) when noise-conditional, else net.
  torch::Tensor score(const torch::Tensor& x, const torch::Tensor& t);
  const NetConfig& config() const { return cfg_; }

 protected:
  NetConfig cfg_;
};

// h₁ = act(W₁[x; e] + b₁); h_{k+1} = h_k + act(W_{k+1}h_k + b_{k+1} + P_k e) (residual
// when widths agree); out = W_o h_L + b_o.
class ResMlpImpl : public ScoreNetImpl {
 public:
  explicit ResMlpImpl(NetConfig cfg);
  torch::Tensor net(const torch::Tensor& x, const torch::Tensor& t) override;
  // The network output and the trace of ∂out/∂x, by forward-mode tangents through the
  // layers: one graph and one backward for ISM instead of d double-backward passes.
  std::pair<torch::Tensor, torch::Tensor> net_and_divergence(const torch::Tensor& x,
                                                             const torch::Tensor& t);

  // Views of the parameters for the fused trainer (unconditioned nets only).
  MlpParams fused_view();
  // Parameters by layer, for export.
  const std::vector<torch::nn::Linear>& layers() const { return layers_; }
  const std::vector<torch::nn::Linear>& cond_proj() const { return cond_proj_; }
  torch::nn::Linear output() const { return out_; }

 private:
  std::vector<torch::nn::Linear> layers_, cond_proj_;
  torch::nn::Linear out_{nullptr};
  TimeEmbedding embed_{nullptr};
};

// Two-level U-Net for 1×16×16 images: 16→8→4 and back with skip connections, GroupNorm,
// SiLU and the time embedding added in every block.
class UNet16Impl : public ScoreNetImpl {
 public:
  explicit UNet16Impl(NetConfig cfg);
  torch::Tensor net(const torch::Tensor& x, const torch::Tensor& t) override;

 private:
  struct Block {
    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
    torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
    torch::nn::Linear temb{nullptr};
  };
  Block make_block(const std::string& name, std::int64_t in, std::int64_t out);
  torch::Tensor run_block(Block& b, const torch::Tensor& h, const torch::Tensor& e);

  TimeEmbedding embed_{nullptr};
  torch::nn::Linear embed_mlp_{nullptr};
  torch::nn::Conv2d in_{nullptr}, down1_{nullptr}, down2_{nullptr}, out_{nullptr};
  torch::nn::ConvTranspose2d up1_{nullptr}, up2_{nullptr};
  Block enc0_, enc1_, mid_, dec1_, dec0_;
  torch::nn::GroupNorm out_norm_{nullptr};
};

// A network with its weights drawn from `seed` alone (no global RNG state): Linear and
// convolution layers as LibTorch's own default initialisation draws them, in the order the
// layers were created, so a seed gives the same network as torch::manual_seed(seed) followed
// by construction did.
std::shared_ptr<ScoreNetImpl> make_score_net(const NetConfig& cfg, std::uint64_t seed);
void init_parameters(torch::nn::Module& net, std::uint64_t seed);

// Exponential moving average of a model's parameters (evaluation uses the average).
class Ema {
 public:
  Ema(torch::nn::Module& model, double decay);
  void update(torch::nn::Module& model);
  // Swap the averaged and the live parameters (call twice to swap back).
  void swap_into(torch::nn::Module& model);
  std::vector<torch::Tensor>& shadow() { return shadow_; }
  std::int64_t& updates() { return updates_; }

 private:
  double decay_;
  std::int64_t updates_ = 0;
  std::vector<torch::Tensor> shadow_;
};

}  // namespace sf
