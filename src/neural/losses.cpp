#include <scoreflow/neural/losses.hpp>

#include <string_view>
#include <utility>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {
namespace {

torch::Tensor half_sq(const torch::Tensor& v) {
  return 0.5 * v.pow(2).sum(1);
}

torch::Tensor no_time(const torch::Tensor& x) {
  return torch::zeros({x.size(0)}, x.options());
}

// vᵀ(∂s/∂x)v for each row, by one backward pass of (vᵀs) (create_graph for training).
torch::Tensor probe_quadratic(const torch::Tensor& s, const torch::Tensor& x,
                              const torch::Tensor& v) {
  const auto g = torch::autograd::grad({(s * v).sum()}, {x}, {}, true, true)[0];
  return (g * v).sum(1);
}

torch::Tensor with_grad(const torch::Tensor& x) {
  return x.detach().requires_grad_(true);
}

}  // namespace

torch::Tensor LossBatch::noise() const {
  return philox_normals(seed, Stream::train_noise, step, x.size(0), x.size(1));
}

torch::Tensor LossBatch::probes(Stream stream) const {
  return gaussian_probes ? philox_normals(seed, stream, step, x.size(0), x.size(1))
                         : philox_signs(seed, stream, step, x.size(0), x.size(1));
}

torch::Tensor LossBatch::times() const {
  const auto sde = net->config().linear_sde();
  const double t0 = sde.t_min();
  const auto u = philox_uniforms(seed, Stream::train_time, step, x.size(0));
  if (!likelihood_times) return t0 + (1 - t0) * u;
  const double lo = sde.log_noise_ratio(t0), hi = sde.log_noise_ratio(1.0);
  const auto u64 = u.to(torch::kFloat64);
  auto t = torch::empty_like(u64);
  const auto ua = u64.accessor<double, 1>();
  auto ta = t.accessor<double, 1>();
  for (std::int64_t i = 0; i < u.size(0); ++i)
    ta[i] = sde.time_of_log_noise_ratio(lo + (hi - lo) * ua[i]);
  return t.to(u.scalar_type());
}

namespace {

// The noise-conditional losses share their times and noise; probes come from their own
// counter block so they never reuse ξ.
Loss noise_conditional_loss(const std::string& which) {
  return {[which](const LossBatch& b) -> torch::Tensor {
            const auto t = b.times();
            const auto xi = b.noise();
            if (which == "nc-dsm") {
              const auto loss = nc_dsm_loss(*b.net, b.x, xi, t);
              if (!b.penalty) return loss;
              return loss + b.penalty(perturb(*b.net, b.x, xi, t).first, t);
            }
            const auto v = b.probes(Stream::probes);
            if (which == "nc-ssm") return nc_ssm_loss(*b.net, b.x, xi, t, v);
            return nc_ism_loss(*b.net, b.x, xi, t, b.x.size(1) <= 10 ? torch::Tensor() : v);
          },
          true, false};
}

void add_builtins(LossRegistry& r) {
  r.add({"esm",
         "",
         "explicit score matching against a known score of the data",
         {[](const LossBatch& b) { return esm_loss(*b.net, b.x, b.target_score(b.x)); }, false,
          true}});
  r.add(
      {"ism", "", "implicit (Hyvarinen) score matching, exact divergence", {[](const LossBatch& b) {
         return ism_loss(*b.net, b.x);
       }}});
  r.add({"ism-hutchinson",
         "",
         "implicit score matching, Hutchinson divergence",
         {[](const LossBatch& b) { return ism_hutchinson_loss(*b.net, b.x, b.probes()); }}});
  r.add({"ssm", "", "sliced score matching", {[](const LossBatch& b) {
           return ssm_loss(*b.net, b.x, b.probes());
         }}});
  r.add(
      {"dsm", "", "denoising score matching at one noise level (--sigma)", {[](const LossBatch& b) {
         return dsm_loss(*b.net, b.x, b.noise(), b.sigma);
       }}});
  r.add({"nc-dsm", "", "noise-conditional DSM over the model's SDE",
         noise_conditional_loss("nc-dsm")});
  r.add({"nc-ism", "", "noise-conditional implicit score matching",
         noise_conditional_loss("nc-ism")});
  r.add(
      {"nc-ssm", "", "noise-conditional sliced score matching", noise_conditional_loss("nc-ssm")});
}

}  // namespace

LossRegistry& loss_registry() {
  static LossRegistry r("loss", add_builtins);
  return r;
}

torch::Tensor divergence_autograd(const torch::Tensor& s, const torch::Tensor& x) {
  auto div = torch::zeros({x.size(0)}, x.options());
  for (std::int64_t i = 0; i < x.size(1); ++i) {
    const auto g = torch::autograd::grad({s.select(1, i).sum()}, {x}, {}, true, true)[0];
    div = div + g.select(1, i);
  }
  return div;
}

torch::Tensor esm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& target) {
  return half_sq(net.score(x, no_time(x)) - target).mean();
}

torch::Tensor ism_loss(ScoreNetImpl& net, const torch::Tensor& x, bool fused) {
  if (auto* mlp = dynamic_cast<ResMlpImpl*>(&net); fused && mlp && !net.config().conditioned()) {
    auto [s, div] = mlp->net_and_divergence(x, no_time(x));
    return (half_sq(s) + div).mean();
  }
  const auto xg = with_grad(x);
  const auto s = net.score(xg, no_time(x));
  return (half_sq(s) + divergence_autograd(s, xg)).mean();
}

torch::Tensor ism_hutchinson_loss(ScoreNetImpl& net, const torch::Tensor& x,
                                  const torch::Tensor& v) {
  const auto xg = with_grad(x);
  const auto s = net.score(xg, no_time(x));
  return (half_sq(s) + probe_quadratic(s, xg, v)).mean();
}

torch::Tensor ssm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& v) {
  const auto xg = with_grad(x);
  const auto s = net.score(xg, no_time(x));
  return (probe_quadratic(s, xg, v) + 0.5 * (s * v).sum(1).pow(2)).mean();
}

torch::Tensor dsm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                       double sigma) {
  const auto s = net.score(x + sigma * xi, no_time(x));
  return half_sq(sigma * s + xi).mean();
}

std::pair<torch::Tensor, torch::Tensor> perturb(ScoreNetImpl& net, const torch::Tensor& x,
                                                const torch::Tensor& xi, const torch::Tensor& t) {
  const auto& cfg = net.config();
  if (!cfg.sde)
    throw InvalidArgument("noise-conditional losses need a model with an SDE (set --sde)");
  const auto sde = cfg.linear_sde();
  const auto m = time_column(
      t, [&](double ti) { return sde.mean_coef(ti); }, x.scalar_type());
  const auto sd = time_column(
      t, [&](double ti) { return sde.std(ti); }, x.scalar_type());
  return {m * x + sd * xi, sd};
}

torch::Tensor nc_dsm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                          const torch::Tensor& t) {
  const auto [xt, sd] = perturb(net, x, xi, t);
  return half_sq(net.net(xt, t) + xi).mean();  // std·s = net by construction
}

// With s = net/std and λ = std²: λ(½|s|² + ∇·s) = ½|net|² + std ∇·net.
torch::Tensor nc_ism_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                          const torch::Tensor& t, const torch::Tensor& v) {
  const auto [xt, sd] = perturb(net, x, xi, t);
  if (auto* mlp = dynamic_cast<ResMlpImpl*>(&net); mlp && !v.defined()) {
    const auto [out, div] = mlp->net_and_divergence(xt, t);
    return (half_sq(out) + sd.squeeze(1) * div).mean();
  }
  const auto xg = with_grad(xt);
  const auto out = net.net(xg, t);
  const auto div = v.defined() ? probe_quadratic(out, xg, v) : divergence_autograd(out, xg);
  return (half_sq(out) + sd.squeeze(1) * div).mean();
}

// λ(vᵀ∂s v + ½(vᵀs)²) = std vᵀ∂net v + ½(vᵀnet)².
torch::Tensor nc_ssm_loss(ScoreNetImpl& net, const torch::Tensor& x, const torch::Tensor& xi,
                          const torch::Tensor& t, const torch::Tensor& v) {
  const auto [xt, sd] = perturb(net, x, xi, t);
  const auto xg = with_grad(xt);
  const auto out = net.net(xg, t);
  return (sd.squeeze(1) * probe_quadratic(out, xg, v) + 0.5 * (out * v).sum(1).pow(2)).mean();
}

}  // namespace sf
