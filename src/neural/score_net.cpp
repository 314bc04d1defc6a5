#include <scoreflow/neural/score_net.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/neural/single_threaded_blas.hpp>

namespace sf {

nlohmann::json NetConfig::to_json() const {
  nlohmann::json j = {{"arch", arch},
                      {"dim", dim},
                      {"hidden", hidden},
                      {"activation", activation},
                      {"cond", cond},
                      {"cond_features", cond_features},
                      {"fourier_scale", fourier_scale},
                      {"sigma_max", sigma_max},
                      {"base", base}};
  j["sde"] = sde ? nlohmann::json(*sde) : nlohmann::json(nullptr);
  return j;
}

NetConfig NetConfig::from_json(const nlohmann::json& j) {
  NetConfig c;
  try {
    c.arch = j.at("arch").get<std::string>();
    c.dim = j.at("dim").get<std::int64_t>();
    c.hidden = j.at("hidden").get<std::vector<std::int64_t>>();
    c.activation = j.at("activation").get<std::string>();
    c.cond = j.at("cond").get<std::string>();
    c.cond_features = j.at("cond_features").get<std::int64_t>();
    c.fourier_scale = j.at("fourier_scale").get<double>();
    c.sigma_max = j.at("sigma_max").get<double>();
    if (!j.at("sde").is_null()) c.sde = j.at("sde").get<std::string>();
    c.base = j.value("base", "none");  // models written before bases existed have none
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(
        fmt::format("model config: not written by scoreflow train ({}); retrain or point at the "
                    "model directory",
                    json_error_text(e)));
  }
  c.validate();
  return c;
}

void NetConfig::validate() const {
  if (arch != "mlp" && arch != "unet")
    throw InvalidArgument(fmt::format("unknown architecture '{}'; valid: mlp, unet", arch));
  if (activation != "silu" && activation != "softsign")
    throw InvalidArgument(
        fmt::format("unknown activation '{}'; valid: silu, softsign", activation));
  if (cond != "none" && cond != "sinusoidal" && cond != "fourier")
    throw InvalidArgument(
        fmt::format("unknown conditioning '{}'; valid: none, sinusoidal, fourier", cond));
  if (dim < 1)
    throw InvalidArgument(fmt::format("model dimension is {}, but must be at least 1", dim));
  if (hidden.empty() || *std::min_element(hidden.begin(), hidden.end()) < 1)
    throw InvalidArgument("hidden widths must be a non-empty list of positive integers");
  if (arch == "unet" && dim != 256)
    throw InvalidArgument(fmt::format("the U-Net takes 16×16 images (d = 256), not d = {}", dim));
  if (arch == "unet" && hidden[0] % 8 != 0)
    throw InvalidArgument(fmt::format("U-Net base channels {} must be a multiple of 8", hidden[0]));
  if (conditioned() && cond_features < 2) throw InvalidArgument("cond-features must be at least 2");
  if (sde && !conditioned())
    throw InvalidArgument("a noise-conditional model (--sde) needs --cond sinusoidal or fourier");
  if (sde) LinearSde::by_name(*sde, sigma_max);  // validates the name
  if (base != "none" && base != "gaussian")
    throw InvalidArgument(fmt::format("unknown base '{}'; valid: none, gaussian", base));
  if (base == "gaussian" && !sde)
    throw InvalidArgument(
        "a Gaussian base (--base gaussian) needs a noise-conditional model (--loss nc-*)");
}

torch::Tensor activate(const std::string& name, const torch::Tensor& z) {
  return name == "silu" ? torch::silu(z) : torch::nn::functional::softsign(z);
}

torch::Tensor activate_derivative(const std::string& name, const torch::Tensor& z) {
  if (name == "silu") {
    const auto s = torch::sigmoid(z);
    return s * (1 + z * (1 - s));
  }
  const auto a = 1 + z.abs();
  return 1 / (a * a);
}

TimeEmbeddingImpl::TimeEmbeddingImpl(const NetConfig& cfg) : fourier_(cfg.cond == "fourier") {
  const std::int64_t half = cfg.cond_features / 2;
  torch::Tensor f;
  if (fourier_) {
    // Fixed random frequencies, the same for every seed so a config fully defines the net.
    auto gen = at::detail::createCPUGenerator(20251122);
    f = torch::randn({half}, gen) * cfg.fourier_scale;
  } else {  // geometric frequencies 1 … 1000, as in transformer position encodings
    f = torch::exp(torch::linspace(0, std::log(1000.0), half));
  }
  freqs_ = register_buffer("freqs", f.to(torch::kFloat32));
}

torch::Tensor TimeEmbeddingImpl::forward(const torch::Tensor& t) {
  const auto arg = 2 * std::numbers::pi * t.reshape({-1, 1}) * freqs_;
  return torch::cat({torch::sin(arg), torch::cos(arg)}, 1);
}

ScoreNetImpl::ScoreNetImpl(NetConfig cfg) : cfg_(std::move(cfg)) {
  if (cfg_.base != "gaussian") return;
  const auto d = cfg_.dim;
  base_mean_ = register_buffer("base_mean", torch::zeros({d}));
  base_vecs_ = register_buffer("base_vecs", torch::eye(d));
  base_vals_ = register_buffer("base_vals", torch::ones({d}));
}

SdeColumns ScoreNetImpl::sde_columns(const torch::Tensor& t, torch::ScalarType dtype) const {
  const auto sde = cfg_.linear_sde();
  const auto m = time_column(
      t, [&](double ti) { return sde.mean_coef(ti); }, dtype);
  const auto s = time_column(
      t, [&](double ti) { return sde.std(ti); }, dtype);
  if (!t.requires_grad()) return {m, s};
  // Differentiable in t (the Fokker–Planck residual takes ∂s/∂t): each coefficient to first
  // order about the given times; dm/dt = f(t)·m for the linear drift f(t)·x.
  const auto dm = time_column(
      t, [&](double ti) { return sde.drift_coef(ti) * sde.mean_coef(ti); }, dtype);
  const auto ds = time_column(
      t, [&](double ti) { return sde.std_rate(ti); }, dtype);
  const auto dt = (t - t.detach()).to(dtype).reshape({-1, 1});
  return {m + dm * dt, s + ds * dt};
}

void ScoreNetImpl::fit_gaussian_base(const torch::Tensor& data) {
  if (!has_base())
    throw InvalidArgument("fit_gaussian_base: the model was configured without a base");
  if (data.dim() != 2 || data.size(1) != cfg_.dim || data.size(0) < 2)
    throw InvalidArgument(fmt::format("fit_gaussian_base: data must be N×{} with N ≥ 2", cfg_.dim));
  torch::NoGradGuard ng;
  const auto x = data.to(torch::kFloat64);
  const auto mean = x.mean(0);
  const auto centred = x - mean;
  const auto cov = centred.t().mm(centred) / static_cast<double>(x.size(0));
  const auto [vals, vecs] = torch::linalg_eigh(cov);
  base_mean_.copy_(mean);
  base_vecs_.copy_(vecs);
  // A singular covariance (pixels that never change) is harmless: m²λ + s² ≥ s(t_min)² > 0.
  base_vals_.copy_(vals.clamp_min(0));
}

std::pair<torch::Tensor, torch::Tensor> ScoreNetImpl::scaled_base(const torch::Tensor& x,
                                                                  const SdeColumns& c) const {
  const auto dtype = x.scalar_type();
  const auto vecs = base_vecs_.to(dtype), vals = base_vals_.to(dtype).reshape({1, -1});
  const auto inv = 1 / (c.m * c.m * vals + c.s * c.s);  // [B, d] in the eigenbasis
  const auto z = (x - c.m * base_mean_.to(dtype)).mm(vecs);
  return {-c.s * (z * inv).mm(vecs.t()), -c.s.reshape({-1}) * inv.sum(1)};
}

torch::Tensor ScoreNetImpl::net(const torch::Tensor& x, const torch::Tensor& t) {
  const SingleThreadedBlas blas;  // so the numbers do not depend on the thread count
  const auto out = body(x, t);
  return has_base() ? out + scaled_base(x, sde_columns(t, out.scalar_type())).first : out;
}

// As net(x, t) / std(t), with the SDE's columns computed once for the base and the division.
torch::Tensor ScoreNetImpl::score(const torch::Tensor& x, const torch::Tensor& t) {
  const SingleThreadedBlas blas;
  const auto out = body(x, t);
  if (!cfg_.sde) return out;
  const auto c = sde_columns(t, out.scalar_type());
  return (has_base() ? out + scaled_base(x, c).first : out) / c.s;
}

ResMlpImpl::ResMlpImpl(NetConfig c) : ScoreNetImpl(std::move(c)) {
  const std::int64_t e = cfg_.conditioned() ? cfg_.cond_features : 0;
  if (e) embed_ = register_module("embed", TimeEmbedding(cfg_));
  std::int64_t in = cfg_.dim + e;
  for (std::size_t k = 0; k < cfg_.hidden.size(); ++k) {
    layers_.push_back(
        register_module(fmt::format("layer{}", k), torch::nn::Linear(in, cfg_.hidden[k])));
    if (e && k > 0)
      cond_proj_.push_back(
          register_module(fmt::format("cond{}", k), torch::nn::Linear(e, cfg_.hidden[k])));
    in = cfg_.hidden[k];
  }
  out_ = register_module("out", torch::nn::Linear(in, cfg_.dim));
}

torch::Tensor ResMlpImpl::body(const torch::Tensor& x, const torch::Tensor& t) {
  torch::Tensor e, h;
  if (cfg_.conditioned()) {
    e = embed_->forward(t);
    h = torch::cat({x, e}, 1);
  } else {
    h = x;
  }
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    auto z = layers_[k]->forward(h);
    if (e.defined() && k > 0) z = z + cond_proj_[k - 1]->forward(e);
    const auto a = activate(cfg_.activation, z);
    h = (k > 0 && h.size(1) == a.size(1)) ? h + a : a;
  }
  return out_->forward(h);
}

std::pair<torch::Tensor, torch::Tensor> ResMlpImpl::net_and_divergence(const torch::Tensor& x,
                                                                       const torch::Tensor& t) {
  // J = ∂h/∂x as [B, width, d], carried through every layer next to h. The time features
  // do not depend on x, so only the first d input columns of the first layer enter J.
  const auto d = x.size(1);
  torch::Tensor e, h = x, jac;
  if (cfg_.conditioned()) {
    e = embed_->forward(t);
    h = torch::cat({x, e}, 1);
  }
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    const auto& w = layers_[k]->weight;
    auto z = layers_[k]->forward(h);
    if (e.defined() && k > 0) z = z + cond_proj_[k - 1]->forward(e);
    const auto da = activate_derivative(cfg_.activation, z).unsqueeze(2);
    const auto a = activate(cfg_.activation, z);
    const auto jz =
        k == 0 ? w.slice(1, 0, d).unsqueeze(0).expand({x.size(0), -1, -1}) : torch::matmul(w, jac);
    const auto ja = da * jz;
    const bool residual = k > 0 && h.size(1) == a.size(1);
    h = residual ? h + a : a;
    jac = residual ? jac + ja : ja;
  }
  const auto out = out_->forward(h);
  const auto jout = torch::matmul(out_->weight, jac);  // [B, d, d]
  const auto div = jout.diagonal(0, 1, 2).sum(1);
  if (!has_base()) return {out, div};
  const auto [base, base_div] = scaled_base(x, sde_columns(t, out.scalar_type()));
  return {out + base, div + base_div};
}

void ResMlpImpl::zero_output() {
  torch::NoGradGuard ng;
  out_->weight.zero_();
  out_->bias.zero_();
}

MlpParams ResMlpImpl::fused_view() {
  if (cfg_.conditioned()) throw InvalidArgument("the fused trainer takes unconditioned MLPs");
  MlpParams p;
  p.dim = cfg_.dim;
  p.widths = cfg_.hidden;
  p.activation = cfg_.activation;
  for (auto& layer : layers_) {
    p.weight.push_back(layer->weight.data_ptr<float>());
    p.bias.push_back(layer->bias.data_ptr<float>());
  }
  p.out_weight = out_->weight.data_ptr<float>();
  p.out_bias = out_->bias.data_ptr<float>();
  return p;
}

UNet16Impl::Block UNet16Impl::make_block(const std::string& name, std::int64_t in,
                                         std::int64_t out) {
  Block b;
  const std::int64_t groups = 8;
  b.norm1 = register_module(name + "_norm1", torch::nn::GroupNorm(groups, in));
  b.conv1 = register_module(name + "_conv1",
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
  b.temb = register_module(name + "_temb", torch::nn::Linear(cfg_.hidden[0] * 4, out));
  b.norm2 = register_module(name + "_norm2", torch::nn::GroupNorm(groups, out));
  b.conv2 = register_module(name + "_conv2",
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
  if (in != out)
    b.skip =
        register_module(name + "_skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
  return b;
}

torch::Tensor UNet16Impl::run_block(Block& b, const torch::Tensor& h, const torch::Tensor& e) {
  auto y = b.conv1->forward(torch::silu(b.norm1->forward(h)));
  y = y + b.temb->forward(e).unsqueeze(2).unsqueeze(3);
  y = b.conv2->forward(torch::silu(b.norm2->forward(y)));
  return (b.skip ? b.skip->forward(h) : h) + y;
}

UNet16Impl::UNet16Impl(NetConfig c) : ScoreNetImpl(std::move(c)) {
  const std::int64_t ch = cfg_.hidden[0], ch2 = 2 * ch, temb = 4 * ch;
  NetConfig ecfg = cfg_;
  if (!cfg_.conditioned()) ecfg.cond = "sinusoidal";  // a constant embedding; keeps one code path
  embed_ = register_module("embed", TimeEmbedding(ecfg));
  embed_mlp_ = register_module("embed_mlp", torch::nn::Linear(ecfg.cond_features / 2 * 2, temb));
  in_ =
      register_module("in_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, ch, 3).padding(1)));
  enc0_ = make_block("enc0", ch, ch);
  down1_ = register_module(
      "down1", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch2, 3).stride(2).padding(1)));
  enc1_ = make_block("enc1", ch2, ch2);
  down2_ = register_module(
      "down2", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch2, ch2, 3).stride(2).padding(1)));
  mid_ = make_block("mid", ch2, ch2);
  up2_ = register_module("up2",
                         torch::nn::ConvTranspose2d(
                             torch::nn::ConvTranspose2dOptions(ch2, ch2, 4).stride(2).padding(1)));
  dec1_ = make_block("dec1", 2 * ch2, ch2);
  up1_ = register_module("up1",
                         torch::nn::ConvTranspose2d(
                             torch::nn::ConvTranspose2dOptions(ch2, ch, 4).stride(2).padding(1)));
  dec0_ = make_block("dec0", 2 * ch, ch);
  out_norm_ = register_module("out_norm", torch::nn::GroupNorm(8, ch));
  out_ =
      register_module("out_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, 1, 3).padding(1)));
}

torch::Tensor UNet16Impl::body(const torch::Tensor& x, const torch::Tensor& t) {
  const auto b = x.size(0);
  const auto tt = cfg_.conditioned() ? t : torch::zeros({b}, x.options());
  const auto e = torch::silu(embed_mlp_->forward(embed_->forward(tt)));
  auto h0 = run_block(enc0_, in_->forward(x.reshape({b, 1, 16, 16})), e);
  auto h1 = run_block(enc1_, down1_->forward(h0), e);
  auto h = run_block(mid_, down2_->forward(h1), e);
  h = run_block(dec1_, torch::cat({up2_->forward(h), h1}, 1), e);
  h = run_block(dec0_, torch::cat({up1_->forward(h), h0}, 1), e);
  return out_->forward(torch::silu(out_norm_->forward(h))).reshape({b, 256});
}

void UNet16Impl::zero_output() {
  torch::NoGradGuard ng;
  out_->weight.zero_();
  out_->bias.zero_();
}

void init_parameters(torch::nn::Module& net, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (const auto& m : net.modules(/*include_self=*/false)) {
    torch::Tensor w, b;
    if (auto* l = m->as<torch::nn::Linear>()) {
      w = l->weight, b = l->bias;
    } else if (auto* c = m->as<torch::nn::Conv2d>()) {
      w = c->weight, b = c->bias;
    } else if (auto* ct = m->as<torch::nn::ConvTranspose2d>()) {
      w = ct->weight, b = ct->bias;
    } else {
      continue;  // normalisation layers start at ones and zeros, drawing nothing
    }
    // LibTorch's default: kaiming_uniform_(w, a = √5), i.e. bound √3 · gain/√fan_in with
    // gain = √(2/(1 + a²)); bias uniform in ±1/√fan_in. Same arithmetic, same bits.
    const auto fan_in = static_cast<double>(w.size(1) * (w.dim() > 2 ? w[0][0].numel() : 1));
    const double gain = std::sqrt(2.0 / (1 + 5.0));
    const double bound = std::sqrt(3.0) * (gain / std::sqrt(fan_in));
    w.uniform_(-bound, bound, gen);
    if (b.defined()) b.uniform_(-1 / std::sqrt(fan_in), 1 / std::sqrt(fan_in), gen);
  }
}

std::shared_ptr<ScoreNetImpl> make_score_net(const NetConfig& cfg, std::uint64_t seed) {
  cfg.validate();
  // LibTorch's layer constructors draw from its global generator; put that back afterwards so
  // building a network leaves the caller's random stream where it was.
  auto global = at::detail::getDefaultCPUGenerator();
  const auto saved = global.get_state();
  std::shared_ptr<ScoreNetImpl> net;
  if (cfg.arch == "unet")
    net = std::make_shared<UNet16Impl>(cfg);
  else
    net = std::make_shared<ResMlpImpl>(cfg);
  global.set_state(saved);
  init_parameters(*net, seed);
  if (net->has_base()) net->zero_output();
  return net;
}

Ema::Ema(torch::nn::Module& model, double decay) : decay_(decay) {
  torch::NoGradGuard ng;
  for (const auto& p : model.parameters()) shadow_.push_back(p.detach().clone());
}

void Ema::update(torch::nn::Module& model) {
  torch::NoGradGuard ng;
  // Warm-up: a plain average early on, so the initial weights fade out in short runs.
  ++updates_;
  const double decay = std::min(
      decay_, (1.0 + static_cast<double>(updates_)) / (10.0 + static_cast<double>(updates_)));
  auto params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) shadow_[i].lerp_(params[i].detach(), 1 - decay);
}

void Ema::swap_into(torch::nn::Module& model) {
  torch::NoGradGuard ng;
  auto params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto live = params[i].detach().clone();
    params[i].copy_(shadow_[i]);
    shadow_[i].copy_(live);
  }
}

}  // namespace sf
