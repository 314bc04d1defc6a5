#include <scoreflow/neural/torchscript_target.hpp>

#include <torch/script.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/neural/single_threaded_blas.hpp>
#include <scoreflow/targets/registry.hpp>

namespace sf {
namespace {

// Rows per module call: fixed, so each row's result never depends on how many threads ran.
constexpr std::size_t kBlock = 1024;

std::string describe(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes() << " " << t.scalar_type();
  return s.str();
}

class TorchScriptTarget final : public Target {
 public:
  TorchScriptTarget(std::string path, std::size_t dim) : path_(std::move(path)) {
    if (!std::filesystem::exists(path_))
      throw InvalidArgument(fmt::format("torchscript target: file '{}' does not exist", path_));
    try {
      module_ = torch::jit::load(path_);
    } catch (const c10::Error& e) {
      throw InvalidArgument(fmt::format("torchscript target {}: not a TorchScript module ({})",
                                        path_, e.what_without_backtrace()));
    }
    module_.eval();
    if (!module_.find_method("forward"))
      throw InvalidArgument(fmt::format(
          "torchscript target {}: no forward method; it must define forward(x: Tensor[N, d] "
          "float64) -> Tensor[N], the log-density",
          path_));
    has_score_ = module_.find_method("score").has_value();
    dim_ = resolve_dim(dim);
    probe();
  }

  std::string spec() const override { return fmt::format("torchscript:path={},d={}", path_, dim_); }
  std::size_t dim() const override { return dim_; }

  void log_density(ConstRows x, std::span<double> out) const override {
    check_rows(x, out.size());
    const SingleThreadedBlas blas;
    parallel_blocks(x.n, kBlock, [&](std::size_t first, std::size_t count) {
      torch::NoGradGuard no_grad;
      const auto lp = call_log_density(block(x, first, count), first);
      std::memcpy(out.data() + first, lp.data_ptr<double>(), count * sizeof(double));
    });
  }

  void score(ConstRows x, Rows out) const override {
    check_rows(x, out.n);
    const SingleThreadedBlas blas;
    parallel_blocks(x.n, kBlock, [&](std::size_t first, std::size_t count) {
      const auto g = has_score_ ? call_score(block(x, first, count), first)
                                : autograd_score(block(x, first, count), first);
      std::memcpy(out.row(first), g.data_ptr<double>(), count * dim_ * sizeof(double));
    });
  }

 private:
  std::size_t resolve_dim(std::size_t given) const {
    std::size_t attr = 0;
    if (module_.hasattr("dim")) {
      const auto v = module_.attr("dim");
      if (!v.isInt() || v.toInt() < 1)
        throw InvalidArgument(
            fmt::format("torchscript target {}: attribute dim must be a positive int", path_));
      attr = static_cast<std::size_t>(v.toInt());
    }
    if (given && attr && given != attr)
      throw InvalidArgument(
          fmt::format("torchscript target {}: d={} was given, but the module's dim attribute is {}",
                      path_, given, attr));
    if (!given && !attr)
      throw InvalidArgument(fmt::format(
          "torchscript target {}: the dimension is unknown; pass torchscript:path={},d=D or give "
          "the module an int attribute `dim`",
          path_, path_));
    return given ? given : attr;
  }

  // One call on a few points, so a wrong signature fails at load with a clear message.
  void probe() const {
    torch::Tensor x = torch::zeros({2, static_cast<std::int64_t>(dim_)}, torch::kFloat64);
    {
      torch::NoGradGuard no_grad;
      call_log_density(x, 0, /*check_finite=*/false);
    }
    if (has_score_)
      call_score(x, 0, false);
    else
      autograd_score(x, 0, false);
  }

  void check_rows(ConstRows x, std::size_t out_rows) const {
    if (x.d != dim_)
      throw InvalidArgument(
          fmt::format("target {}: particles have dimension {}, but the target "
                      "has dimension {}",
                      spec(), x.d, dim_));
    if (out_rows != x.n) throw InvalidArgument("target: output rows do not match input rows");
  }

  torch::Tensor block(ConstRows x, std::size_t first, std::size_t count) const {
    return torch::from_blob(const_cast<double*>(x.row(first)),
                            {static_cast<std::int64_t>(count), static_cast<std::int64_t>(dim_)},
                            torch::kFloat64);
  }

  torch::IValue run(const char* method, const torch::Tensor& x) const {
    try {
      auto& m = const_cast<torch::jit::Module&>(module_);
      return m.get_method(method)({x});
    } catch (const c10::Error& e) {
      throw InvalidArgument(fmt::format("torchscript target {}: {}(x) failed: {}", path_, method,
                                        e.what_without_backtrace()));
    }
  }

  // The result of method(x) if it is a float64 tensor of `shape`, still attached to autograd.
  torch::Tensor shaped(const torch::IValue& v, const char* method,
                       std::vector<std::int64_t> shape) const {
    const std::string want = shape.size() == 1
                                 ? fmt::format("Tensor[{}] float64", shape[0])
                                 : fmt::format("Tensor[{}, {}] float64", shape[0], shape[1]);
    if (!v.isTensor())
      throw InvalidArgument(fmt::format("torchscript target {}: {}(x) returned {}, expected {}",
                                        path_, method, v.tagKind(), want));
    const torch::Tensor t = v.toTensor();
    if (t.sizes() != torch::IntArrayRef(shape) || t.scalar_type() != torch::kFloat64)
      throw InvalidArgument(
          fmt::format("torchscript target {}: {}(x) returned {} for x of {} rows, expected {}",
                      path_, method, describe(t), shape[0], want));
    return t;
  }

  // A contiguous detached copy, refused with the first non-finite row named.
  torch::Tensor finite(const torch::Tensor& t, const char* method, std::size_t first,
                       bool check) const {
    torch::Tensor c = t.detach().contiguous();
    if (!check) return c;
    const double* p = c.data_ptr<double>();
    const std::size_t row_len = c.dim() == 1 ? 1 : static_cast<std::size_t>(c.size(1));
    for (std::size_t k = 0; k < static_cast<std::size_t>(c.numel()); ++k)
      if (!std::isfinite(p[k]))
        throw NumericalError(fmt::format(
            "torchscript target {}: {} is {} at row {}; the target must be finite where the "
            "particles are",
            path_, method, p[k], first + k / row_len));
    return c;
  }

  torch::Tensor call_log_density(const torch::Tensor& x, std::size_t first,
                                 bool check_finite = true) const {
    return finite(shaped(run("forward", x), "forward", {x.size(0)}), "forward(x)", first,
                  check_finite);
  }

  torch::Tensor call_score(const torch::Tensor& x, std::size_t first,
                           bool check_finite = true) const {
    torch::NoGradGuard no_grad;
    return finite(shaped(run("score", x), "score", {x.size(0), x.size(1)}), "score(x)", first,
                  check_finite);
  }

  torch::Tensor autograd_score(const torch::Tensor& x, std::size_t first,
                               bool check_finite = true) const {
    const torch::Tensor xg = x.detach().clone().requires_grad_(true);
    const torch::Tensor lp = shaped(run("forward", xg), "forward", {x.size(0)});
    if (!lp.requires_grad())
      throw InvalidArgument(fmt::format(
          "torchscript target {}: forward(x) does not depend on x through differentiable "
          "operations, so its score cannot come from autograd; define score(x) instead",
          path_));
    // Rows do not interact, so the gradient of the sum is every row's score at once.
    const torch::Tensor g = torch::autograd::grad({lp.sum()}, {xg})[0];
    return finite(g, "the gradient of forward(x)", first, check_finite);
  }

  std::string path_;
  torch::jit::Module module_;
  std::size_t dim_ = 0;
  bool has_score_ = false;
};

}  // namespace

std::unique_ptr<Target> load_torchscript_target(const std::string& path, std::size_t dim) {
  return std::make_unique<TorchScriptTarget>(path, dim);
}

void register_torchscript_target() {
  if (target_registry().contains("torchscript")) return;
  target_registry().add(
      {"torchscript", "path=FILE.pt, d=(the module's dim attribute)",
       "a TorchScript module: forward(x[N, d] float64) -> log pi [N]; score by autograd or its "
       "score(x) method",
       [](const Spec& s) -> std::unique_ptr<Target> {
         s.allow_only({"path", "d"});
         if (!s.has("path"))
           throw InvalidArgument(
               "torchscript: give the module file as torchscript:path=FILE.pt[,d=D]");
         return load_torchscript_target(s.string("path", ""), s.has("d") ? s.count("d", 0) : 0);
       }});
}

}  // namespace sf
