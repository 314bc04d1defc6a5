#include <scoreflow/neural/torch_drift.hpp>

#include <torch/script.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/targets/spec.hpp>

namespace sf {
namespace {

class ScriptSde final : public ForwardSde {
 public:
  ScriptSde(std::string spec, const std::string& path, double sigma)
      : spec_(std::move(spec)), sigma_(sigma) {
    if (!std::filesystem::exists(path))
      throw InvalidArgument(fmt::format("script drift: file '{}' does not exist", path));
    try {
      if (path.ends_with(".pt")) {
        module_ = std::make_shared<torch::jit::Module>(torch::jit::load(path));
      } else {
        unit_ = torch::jit::compile(read_file(path));
        if (!unit_->find_function("drift"))
          throw InvalidArgument(fmt::format(
              "script drift {}: no function named drift; define def drift(x: Tensor, t: float) "
              "-> Tensor",
              path));
        has_sigma_ = unit_->find_function("sigma") != nullptr;
      }
    } catch (const c10::Error& e) {
      throw InvalidArgument(fmt::format("script drift {}: TorchScript could not load it: {}", path,
                                        e.what_without_backtrace()));
    }
  }

  std::string name() const override { return spec_; }
  bool thread_safe() const override { return false; }

  double sigma(double t) const override {
    if (!has_sigma_) return sigma_;
    return unit_->get_function("sigma")({t}).toDouble();
  }

  void drift(const double* x, std::size_t n, std::size_t d, double t, double* b, double* jac,
             double* hess) const override {
    const auto n64 = static_cast<std::int64_t>(n), d64 = static_cast<std::int64_t>(d);
    auto xt = torch::from_blob(const_cast<double*>(x), {n64, d64}, torch::kFloat64)
                  .clone()
                  .requires_grad_(true);
    const torch::Tensor bt = call(xt, t);
    if (bt.sizes() != xt.sizes() || bt.scalar_type() != torch::kFloat64) {
      std::ostringstream got;
      got << bt.sizes() << " of type " << bt.scalar_type();
      throw InvalidArgument(
          fmt::format("script drift {}: returned {}, but must return float64 "
                      "[{}, {}] like its input",
                      spec_, got.str(), n, d));
    }
    std::memcpy(b, bt.detach().contiguous().data_ptr<double>(), n * d * sizeof(double));
    // Rows of ∇b: the gradient of Σ_p b_i(x_p) gives ∂_j b_i at every path at once, since
    // paths do not interact. Rows of ∇²b likewise from those gradients.
    if (!jac) return;
    for (std::size_t i = 0; i < d; ++i) {
      const auto gi = gradient(bt.select(1, static_cast<std::int64_t>(i)), xt, hess != nullptr);
      scatter(gi, n, d, d * d, i * d, jac);
      if (!hess) continue;
      for (std::size_t j = 0; j < d; ++j) {
        const auto gij = gi.requires_grad()
                             ? gradient(gi.select(1, static_cast<std::int64_t>(j)), xt, false)
                             : torch::zeros_like(gi);
        scatter(gij, n, d, d * d * d, (i * d + j) * d, hess);
      }
    }
  }

 private:
  torch::Tensor call(const torch::Tensor& x, double t) const {
    try {
      return module_ ? module_->forward({x, t}).toTensor()
                     : unit_->get_function("drift")({x, t}).toTensor();
    } catch (const c10::Error& e) {
      throw InvalidArgument(
          fmt::format("script drift {} failed: {}", spec_, e.what_without_backtrace()));
    }
  }

  static torch::Tensor gradient(const torch::Tensor& y, const torch::Tensor& x, bool graph) {
    if (!y.requires_grad()) return torch::zeros_like(x);
    auto g = torch::autograd::grad({y.sum()}, {x}, {}, /*retain_graph=*/true,
                                   /*create_graph=*/graph, /*allow_unused=*/true)[0];
    return g.defined() ? g : torch::zeros_like(x);
  }

  // out[p·stride + offset + l] = g[p][l]
  static void scatter(const torch::Tensor& g, std::size_t n, std::size_t d, std::size_t stride,
                      std::size_t offset, double* out) {
    const auto gc = g.detach().contiguous();
    const double* gp = gc.data_ptr<double>();
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t l = 0; l < d; ++l) out[p * stride + offset + l] = gp[p * d + l];
  }

  std::string spec_;
  double sigma_;
  bool has_sigma_ = false;
  std::shared_ptr<torch::jit::Module> module_;
  std::shared_ptr<torch::jit::CompilationUnit> unit_;
};

}  // namespace

std::unique_ptr<ForwardSde> make_script_sde(const std::string& text) {
  const Spec s = Spec::parse(text);
  s.allow_only({"path", "sigma"});
  if (!s.has("path"))
    throw InvalidArgument(
        fmt::format("'{}': give the drift file, e.g. script:path=drift.py", text));
  const double sigma = s.number("sigma", 1);
  check_positive_finite("script drift", "sigma", sigma);
  return std::make_unique<ScriptSde>(text, s.string("path", ""), sigma);
}

void register_script_sde() {
  if (sde_registry().contains("script")) return;
  sde_registry().add({"script", "path=FILE.py|FILE.pt, sigma=1",
                      "TorchScript drift def drift(x, t); its derivatives by autograd",
                      [](const Spec& s) { return make_script_sde(s.text()); }});
}

}  // namespace sf
