#include <scoreflow/neural/torchscript.hpp>

#include <sstream>

#include <torch/script.h>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

namespace sf {
namespace {

std::string act_code(const std::string& act, const std::string& z) {
  return act == "silu" ? fmt::format("{0} * torch.sigmoid({0})", z)
                       : fmt::format("{0} / (1.0 + torch.abs({0}))", z);
}

// θ(t) = ½∫β of the VP and sub-VP schedules as TorchScript.
std::string theta_code(const LinearSde& sde) {
  const auto& s = sde.schedule();
  return fmt::format("0.5 * ({:.17g} * t + 0.5 * {:.17g} * t * t)", s.lo, s.hi - s.lo);
}

// std(t) of the SDE as TorchScript, mirroring LinearSde::std.
std::string std_code(const LinearSde& sde) {
  const auto& s = sde.schedule();
  if (sde.kind() == LinearSde::Kind::ve)
    return fmt::format("{:.17g} * torch.pow(torch.full_like(t, {:.17g}), t)", s.lo, s.hi / s.lo);
  if (sde.kind() == LinearSde::Kind::vp)
    return fmt::format("torch.sqrt(-torch.expm1(-2.0 * ({})))", theta_code(sde));
  return fmt::format("-torch.expm1(-2.0 * ({}))", theta_code(sde));
}

// m(t), mirroring LinearSde::mean_coef.
std::string mean_code(const LinearSde& sde) {
  if (sde.kind() == LinearSde::Kind::ve) return "torch.ones_like(t)";
  return fmt::format("torch.exp(-({}))", theta_code(sde));
}

// The exact diffused score of the Gaussian base, as ScoreNetImpl::scaled_base computes it
// (divided by std: the script returns the score).
std::string gaussian_base_code(const ScoreNetImpl& net, torch::jit::Module& m) {
  m.register_buffer("base_mean", net.base_mean().clone());
  m.register_buffer("base_vecs", net.base_vecs().clone());
  m.register_buffer("base_vals", net.base_vals().clone());
  const auto sde = net.config().linear_sde();
  return fmt::format(
      "    mt = ({}).reshape(-1, 1)\n"
      "    inv = 1.0 / (mt * mt * self.base_vals.reshape(1, -1) + sd * sd)\n"
      "    z = torch.mm(x - mt * self.base_mean, self.base_vecs)\n"
      "    score = score - torch.mm(z * inv, self.base_vecs.t())\n",
      mean_code(sde));
}

}  // namespace

void export_torchscript(ResMlpImpl& net, const std::string& path) {
  const auto& cfg = net.config();
  torch::jit::Module m("ScoreflowResMlp");
  torch::NoGradGuard ng;
  std::string body = "  def forward(self, x: Tensor, t: Tensor) -> Tensor:\n";
  std::string h = "x";
  if (cfg.conditioned()) {
    const auto named = net.named_buffers();
    m.register_buffer("freqs", named["embed.freqs"].clone());
    body += "    arg = 6.283185307179586 * t.reshape(-1, 1) * self.freqs\n";
    body += "    e = torch.cat([torch.sin(arg), torch.cos(arg)], 1)\n";
    body += "    h = torch.cat([x, e], 1)\n";
    h = "h";
  }
  std::int64_t width = -1;
  for (std::size_t k = 0; k < net.layers().size(); ++k) {
    const auto& layer = net.layers()[k];
    m.register_parameter(fmt::format("w{}", k), layer->weight.detach().clone(), false);
    m.register_parameter(fmt::format("b{}", k), layer->bias.detach().clone(), false);
    body += fmt::format("    z = torch.linear({}, self.w{}, self.b{})\n", h, k, k);
    if (cfg.conditioned() && k > 0) {
      const auto& p = net.cond_proj()[k - 1];
      m.register_parameter(fmt::format("pw{}", k), p->weight.detach().clone(), false);
      m.register_parameter(fmt::format("pb{}", k), p->bias.detach().clone(), false);
      body += fmt::format("    z = z + torch.linear(e, self.pw{}, self.pb{})\n", k, k);
    }
    const bool residual = k > 0 && width == layer->weight.size(0);
    body += fmt::format("    h = {}{}\n", residual ? "h + " : "", act_code(cfg.activation, "z"));
    h = "h";
    width = layer->weight.size(0);
  }
  m.register_parameter("wo", net.output()->weight.detach().clone(), false);
  m.register_parameter("bo", net.output()->bias.detach().clone(), false);
  body += "    out = torch.linear(h, self.wo, self.bo)\n";
  if (!cfg.sde) {
    body += "    return out\n";
  } else {
    body += fmt::format("    sd = ({}).reshape(-1, 1)\n", std_code(cfg.linear_sde()));
    body += "    score = out / sd\n";
    if (net.has_base()) body += gaussian_base_code(net, m);
    body += "    return score\n";
  }
  m.define(body);
  std::ostringstream bytes;
  m.save(bytes);
  write_file_atomic(path, bytes.str());
}

TimeScoreFn load_torchscript_score(const std::string& path, std::int64_t dim) {
  auto module = std::make_shared<torch::jit::Module>();
  try {
    *module = torch::jit::load(path);
  } catch (const c10::Error& e) {
    throw FormatError(
        fmt::format("'{}' is not a TorchScript module: {}", path, e.what_without_backtrace()));
  }
  module->eval();
  auto fn = [module](const torch::Tensor& x, double t) {
    const auto tt = torch::full({x.size(0)}, t, x.options());
    return module->forward({x, tt}).toTensor();
  };
  try {
    torch::NoGradGuard ng;
    const auto out = fn(torch::zeros({3, dim}), 0.5);
    if (out.dim() != 2 || out.size(0) != 3 || out.size(1) != dim)
      throw FormatError(
          fmt::format("TorchScript module '{}' returned shape {} for a 3×{} batch; expected 3×{}",
                      path, fmt::join(out.sizes(), "×"), dim, dim));
  } catch (const c10::Error& e) {
    throw FormatError(
        fmt::format("TorchScript module '{}' does not take forward(x[B, {}], t[B]): {}", path, dim,
                    e.what_without_backtrace()));
  }
  return fn;
}

}  // namespace sf
