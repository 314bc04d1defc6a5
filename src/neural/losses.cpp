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

// Every loss and its command-line name, in the order they are listed to the user.
constexpr std::pair<LossKind, std::string_view> kLossNames[] = {
    {LossKind::esm, "esm"},
    {LossKind::ism, "ism"},
    {LossKind::ism_hutchinson, "ism-hutchinson"},
    {LossKind::ssm, "ssm"},
    {LossKind::dsm, "dsm"},
    {LossKind::nc_dsm, "nc-dsm"},
    {LossKind::nc_ism, "nc-ism"},
    {LossKind::nc_ssm, "nc-ssm"},
};
}  // namespace

LossKind loss_by_name(const std::string& name) {
  for (const auto& [kind, n] : kLossNames)
    if (n == name) return kind;
  throw InvalidArgument(fmt::format("unknown loss '{}'; valid: {}", name, valid_loss_names()));
}

std::string loss_name(LossKind kind) {
  for (const auto& [k, n] : kLossNames)
    if (k == kind) return std::string(n);
  return "?";
}

std::string valid_loss_names() {
  std::string names;
  for (const auto& [kind, n] : kLossNames) names += (names.empty() ? "" : ", ") + std::string(n);
  return names;
}

bool noise_conditional(LossKind kind) {
  return kind == LossKind::nc_dsm || kind == LossKind::nc_ism || kind == LossKind::nc_ssm;
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
