// Neural score models (LibTorch, float32): a residual MLP for points and a small U-Net for
// 16×16 images, optionally conditioned on time through sinusoidal or random Fourier
// features. With `sde` set, the model is noise-conditional and returns
// s(x, t) = net(x, t) / std(t) (the ε-parametrisation), so its DSM loss with λ = std² is
// |net + ξ|², well scaled at every t. With `base = "gaussian"` the network learns only what a
// Gaussian fitted to the data does not explain: s = s_G + body/std, where s_G is the exact
// score of N(μ, Σ) diffused to time t, −(m²Σ + s²I)⁻¹(x − mμ).
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
  std::string base = "none";                  // none | gaussian (noise-conditional only)

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

// m(t) and std(t) of a noise-conditional model's SDE at each time, as [B, 1] columns; when `t`
// requires grad they are differentiable in t, exact in value and first derivative.
struct SdeColumns {
  torch::Tensor m, s;
};

// Shared interface of every trainable score network.
class ScoreNetImpl : public torch::nn::Module {
 public:
  explicit ScoreNetImpl(NetConfig cfg);
  // The network output, std(t)·score when noise-conditional; `t` is [B] (ignored when
  // unconditioned). With a Gaussian base: body + std·s_G.
  torch::Tensor net(const torch::Tensor& x, const torch::Tensor& t);
  // The score: net / std(t) when noise-conditional, else net.
  torch::Tensor score(const torch::Tensor& x, const torch::Tensor& t);
  const NetConfig& config() const { return cfg_; }
  SdeColumns sde_columns(const torch::Tensor& t, torch::ScalarType dtype) const;

  // Gaussian base: N(mean, covariance) of `data` as the loss sees it (dequantised if the
  // training dequantises).
  void fit_gaussian_base(const torch::Tensor& data);
  bool has_base() const { return base_vals_.defined(); }
  // std·s_G at (x, t) and its divergence in x, −std·Σᵢ 1/(m²λᵢ + s²), as [B].
  std::pair<torch::Tensor, torch::Tensor> scaled_base(const torch::Tensor& x,
                                                      const SdeColumns& c) const;
  const torch::Tensor& base_mean() const { return base_mean_; }
  const torch::Tensor& base_vecs() const { return base_vecs_; }
  const torch::Tensor& base_vals() const { return base_vals_; }
  // Zero the last layer, so that a network with a base starts as the base alone.
  virtual void zero_output() = 0;

 protected:
  // What the architecture computes, before any base is added.
  virtual torch::Tensor body(const torch::Tensor& x, const torch::Tensor& t) = 0;
  NetConfig cfg_;

 private:
  torch::Tensor base_mean_, base_vecs_, base_vals_;  // buffers: μ, eigenvectors and values of Σ
};

// h₁ = act(W₁[x; e] + b₁); h_{k+1} = h_k + act(W_{k+1}h_k + b_{k+1} + P_k e) (residual
// when widths agree); out = W_o h_L + b_o.
class ResMlpImpl : public ScoreNetImpl {
 public:
  explicit ResMlpImpl(NetConfig cfg);
  void zero_output() override;
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

 protected:
  torch::Tensor body(const torch::Tensor& x, const torch::Tensor& t) override;

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
  void zero_output() override;

 protected:
  torch::Tensor body(const torch::Tensor& x, const torch::Tensor& t) override;

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
