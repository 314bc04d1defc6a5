#include <scoreflow/neural/fused_mlp.hpp>

#include <omp.h>

#include <Eigen/Dense>
#include <cmath>
#include <type_traits>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {
namespace {

using Mat = Eigen::MatrixXf;
using RowMap = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using ConstColMap = Eigen::Map<const Mat>;

// The batch is always cut into this many chunks (one for tiny batches), whatever the
// thread count, so every sum happens in the same order.
constexpr std::int64_t kChunks = 2;

// φ, φ' and (for tangents) φ'' elementwise on the primal pre-activations.
void activations(const std::string& act, const Eigen::Ref<const Mat>& z, Mat& a, Mat& d1, Mat* d2) {
  if (act == "silu") {
    const Mat s = (1.0f + (-z.array()).exp()).inverse().matrix();
    a = (z.array() * s.array()).matrix();
    d1 = (s.array() * (1.0f + z.array() * (1.0f - s.array()))).matrix();
    if (d2)
      *d2 = (s.array() * (1.0f - s.array()) * (2.0f + z.array() * (1.0f - 2.0f * s.array())))
                .matrix();
  } else {  // softsign
    const Mat inv = (1.0f + z.array().abs()).inverse().matrix();
    a = (z.array() * inv.array()).matrix();
    d1 = inv.array().square().matrix();
    if (d2) *d2 = (-2.0f * z.array().sign() * inv.array().cube()).matrix();
  }
}

// φ in place, for inference (no derivatives); the same arithmetic as `activations`.
void activate(const std::string& act, Mat& z) {
  if (act == "silu")
    z.array() *= (1.0f + (-z.array()).exp()).inverse();
  else
    z.array() *= (1.0f + z.array().abs()).inverse();
}

}  // namespace

struct FusedMlpTrainer::Work {
  Mat xin, a, o, go, gs, gz, gprev;
  std::vector<Mat> z, s, d1, d2;  // per layer: pre-activations, stacked outputs, φ', φ''
  // Gradient blocks in parameter order, each in its own aligned allocation: Eigen's
  // reductions peel by address, so an unaligned destination would change the rounding.
  // A weight's block is dWᵀ (in × out, column-major), i.e. PyTorch's row-major dW.
  std::vector<Mat> grad;
  double loss = 0;
};

FusedMlpTrainer::FusedMlpTrainer(MlpParams params) : p_(std::move(params)) {
  if (p_.dim < 1 || p_.widths.empty() || p_.weight.size() != p_.widths.size() ||
      p_.bias.size() != p_.widths.size())
    throw InvalidArgument("fused MLP: inconsistent parameter views");
  blocks_ = blocks();
  for (const auto& [ptr, n] : blocks_) offsets_.push_back(total_), total_ += n;
  m_.assign(total_, 0.0f);
  v_.assign(total_, 0.0f);
  g_.assign(total_, 0.0f);
  for (std::int64_t c = 0; c < kChunks; ++c) {
    auto w = std::make_unique<Work>();
    std::int64_t in = p_.dim;
    for (std::size_t k = 0; k <= p_.widths.size(); ++k) {
      const std::int64_t out = k < p_.widths.size() ? p_.widths[k] : p_.dim;
      w->grad.emplace_back(Mat::Zero(in, out));
      w->grad.emplace_back(Mat::Zero(out, 1));
      in = out;
    }
    work_.push_back(std::move(w));
  }
}

FusedMlpTrainer::~FusedMlpTrainer() = default;

std::vector<std::pair<float*, std::size_t>> FusedMlpTrainer::blocks() const {
  std::vector<std::pair<float*, std::size_t>> b;
  std::int64_t in = p_.dim;
  for (std::size_t k = 0; k < p_.widths.size(); ++k) {
    b.emplace_back(p_.weight[k], static_cast<std::size_t>(p_.widths[k] * in));
    b.emplace_back(p_.bias[k], static_cast<std::size_t>(p_.widths[k]));
    in = p_.widths[k];
  }
  b.emplace_back(p_.out_weight, static_cast<std::size_t>(p_.dim * in));
  b.emplace_back(p_.out_bias, static_cast<std::size_t>(p_.dim));
  return b;
}

void FusedMlpTrainer::chunk_gradient(Work& w, const float* x, const float* xi, std::int64_t c0,
                                     std::int64_t nb, std::int64_t batch, double sigma,
                                     bool ism) const {
  const std::int64_t d = p_.dim;
  const auto layers = p_.widths.size();
  const std::int64_t nt = ism ? d : 0, cols = nb * (1 + nt);
  const float inv_b = 1.0f / static_cast<float>(batch), sig = static_cast<float>(sigma);
  const auto block = [&](Mat& m, std::int64_t i) { return m.middleCols(nb * (1 + i), nb); };
  w.z.resize(layers), w.s.resize(layers), w.d1.resize(layers), w.d2.resize(layers);

  // Forward: column block 0 holds h, block 1 + i holds ∂h/∂x_i. DSM perturbs x by σξ.
  w.xin = ConstColMap(x + c0 * d, d, nb);
  if (!ism) w.xin += sig * ConstColMap(xi + c0 * d, d, nb);
  std::int64_t in = d;
  for (std::size_t k = 0; k < layers; ++k) {
    const auto h = p_.widths[k];
    const RowMap wk(p_.weight[k], h, in);
    Mat &z = w.z[k], &s = w.s[k];
    z.resize(h, cols);
    if (k == 0) {
      z.leftCols(nb).noalias() = wk * w.xin;
      for (std::int64_t i = 0; i < nt; ++i) block(z, i) = wk.col(i).replicate(1, nb);
    } else {
      z.noalias() = wk * w.s[k - 1];
    }
    z.leftCols(nb).colwise() += Eigen::Map<const Eigen::VectorXf>(p_.bias[k], h);
    activations(p_.activation, z.leftCols(nb), w.a, w.d1[k], ism ? &w.d2[k] : nullptr);
    s.resize(h, cols);
    s.leftCols(nb) = w.a;
    for (std::int64_t i = 0; i < nt; ++i) block(s, i) = w.d1[k].cwiseProduct(block(z, i));
    if (k > 0 && h == in) s += w.s[k - 1];
    in = h;
  }
  const RowMap wo(p_.out_weight, d, in);
  w.o.resize(d, cols);
  w.o.noalias() = wo * w.s.back();
  w.o.leftCols(nb).colwise() += Eigen::Map<const Eigen::VectorXf>(p_.out_bias, d);

  // The loss and its gradient with respect to the stacked outputs.
  w.go.resize(d, cols);
  if (ism) {
    w.loss = 0.5 * static_cast<double>(w.o.leftCols(nb).squaredNorm());
    w.go.leftCols(nb) = w.o.leftCols(nb) * inv_b;
    for (std::int64_t i = 0; i < nt; ++i) {
      w.loss += static_cast<double>(block(w.o, i).row(i).sum());
      block(w.go, i).setZero();
      block(w.go, i).row(i).setConstant(inv_b);
    }
  } else {
    w.go = sig * w.o + ConstColMap(xi + c0 * d, d, nb);  // the residual σs + ξ
    w.loss = 0.5 * static_cast<double>(w.go.squaredNorm());
    w.go *= sig * inv_b;
  }

  // Backward, from the output layer down.
  const std::size_t out_blk = 2 * layers;
  w.grad[out_blk].noalias() = w.s.back() * w.go.transpose();
  w.grad[out_blk + 1] = w.go.leftCols(nb).rowwise().sum();
  w.gs.resize(in, cols);
  w.gs.noalias() = wo.transpose() * w.go;
  for (std::size_t k = layers; k-- > 0;) {
    const auto h = p_.widths[k];
    const std::int64_t prev = k == 0 ? d : p_.widths[k - 1];
    w.gz.resize(h, cols);
    w.gz.leftCols(nb) = w.gs.leftCols(nb).cwiseProduct(w.d1[k]);
    for (std::int64_t i = 0; i < nt; ++i) {  // tangents T_a = φ'(z)T_z also depend on z
      w.gz.leftCols(nb) += block(w.gs, i).cwiseProduct(w.d2[k]).cwiseProduct(block(w.z[k], i));
      block(w.gz, i) = block(w.gs, i).cwiseProduct(w.d1[k]);
    }
    w.grad[2 * k + 1] = w.gz.leftCols(nb).rowwise().sum();
    if (k == 0) {  // the input's tangents are the constant unit vectors
      Mat& dwt = w.grad[0];
      dwt.noalias() = w.xin * w.gz.leftCols(nb).transpose();
      for (std::int64_t i = 0; i < nt; ++i)
        dwt.row(i) += block(w.gz, i).rowwise().sum().transpose();
    } else {
      w.grad[2 * k].noalias() = w.s[k - 1] * w.gz.transpose();
      w.gprev.resize(prev, cols);
      w.gprev.noalias() = RowMap(p_.weight[k], h, prev).transpose() * w.gz;
      if (h == prev) w.gprev += w.gs;
      std::swap(w.gs, w.gprev);
    }
  }
}

// Adam's constants for one step (its count advanced once, before the parallel update).
struct FusedMlpTrainer::AdamStep {
  float b1 = 0, b2 = 0, eps = 0, step = 0, inv_sqrt_bc2 = 0, wd = 0, decay = 1;
  bool decoupled = false;
};

FusedMlpTrainer::AdamStep FusedMlpTrainer::next_adam_step(const AdamSettings& adam) {
  ++t_;
  const double t = static_cast<double>(t_);
  const double bc1 = 1 - std::pow(adam.beta1, t), bc2 = 1 - std::pow(adam.beta2, t);
  AdamStep a;
  a.b1 = static_cast<float>(adam.beta1), a.b2 = static_cast<float>(adam.beta2);
  a.eps = static_cast<float>(adam.eps), a.step = static_cast<float>(adam.lr / bc1);
  a.inv_sqrt_bc2 = static_cast<float>(1 / std::sqrt(bc2));
  a.wd = static_cast<float>(adam.weight_decay);
  a.decay = static_cast<float>(1 - adam.lr * adam.weight_decay);
  a.decoupled = adam.decoupled;
  return a;
}

void FusedMlpTrainer::adam_block(std::size_t b, const float* const* grads, std::int64_t sources,
                                 const AdamStep* adam) {
  const auto n = static_cast<std::int64_t>(blocks_[b].second);
  const std::size_t offset = offsets_[b];
  float* __restrict g = &g_[offset];
#pragma omp for schedule(static) nowait
  for (std::int64_t j = 0; j < n; ++j) {
    float sum = 0;
    for (std::int64_t c = 0; c < sources; ++c) sum += grads[c][j];
    g[j] = sum;
  }
  if (!adam) return;
  float* __restrict p = blocks_[b].first;
  float* __restrict m = &m_[offset];
  float* __restrict v = &v_[offset];
  const AdamStep a = *adam;  // a local copy: no aliasing with p, m, v
  // Branch-free loops, so that they vectorise; the same static schedule as the sum above, so
  // each thread reads the sums it wrote.
  const auto update = [&](auto decoupled) {
#pragma omp for schedule(static) nowait
    for (std::int64_t j = 0; j < n; ++j) {
      float gj = g[j];
      if constexpr (decltype(decoupled)::value)
        p[j] *= a.decay;
      else
        gj += a.wd * p[j];
      m[j] = a.b1 * m[j] + (1 - a.b1) * gj;
      v[j] = a.b2 * v[j] + (1 - a.b2) * gj * gj;
      p[j] -= a.step * m[j] / (std::sqrt(v[j]) * a.inv_sqrt_bc2 + a.eps);
    }
  };
  if (a.decoupled)
    update(std::true_type{});
  else
    update(std::false_type{});
}

double FusedMlpTrainer::run(const float* x, const float* xi, std::int64_t batch, double sigma,
                            bool ism, const AdamSettings* adam, std::vector<float>* grad) {
  const std::int64_t chunks = batch >= 32 ? kChunks : 1;
  const AdamStep a = adam ? next_adam_step(*adam) : AdamStep{};
  const int threads = static_cast<int>(std::min<std::int64_t>(chunks, omp_get_num_procs()));
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static, 1)
    for (std::int64_t c = 0; c < chunks; ++c) {
      const std::int64_t c0 = batch * c / chunks, c1 = batch * (c + 1) / chunks;
      chunk_gradient(*work_[static_cast<std::size_t>(c)], x, xi, c0, c1 - c0, batch, sigma, ism);
    }
    // The chunks' gradients summed and applied block by block (blocks touch disjoint memory).
    for (std::size_t b = 0; b < blocks_.size(); ++b) {
      const float* grads[kChunks];
      for (std::int64_t c = 0; c < chunks; ++c)
        grads[c] = work_[static_cast<std::size_t>(c)]->grad[b].data();
      adam_block(b, grads, chunks, adam ? &a : nullptr);
    }
  }
  if (grad) *grad = g_;
  double loss = 0;
  for (std::int64_t c = 0; c < chunks; ++c) loss += work_[static_cast<std::size_t>(c)]->loss;
  return loss / static_cast<double>(batch);
}

void FusedMlpTrainer::apply_adam(const std::vector<float>& grad, const AdamSettings& adam) {
  if (grad.size() != total_)
    throw InvalidArgument(fmt::format("FusedMlpTrainer::apply_adam: {} gradients for {} parameters",
                                      grad.size(), total_));
  const AdamStep a = next_adam_step(adam);
#pragma omp parallel  // every thread walks the blocks; adam_block's loops share each out
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    const float* source = grad.data() + offsets_[b];
    adam_block(b, &source, 1, &a);
  }
}

void FusedMlpTrainer::forward(const float* x, std::int64_t n, float* out,
                              std::int64_t first) const {
  // A point's column in Eigen's GEMM rounds alike only in a full panel at the same place
  // within it: chunks start at global indices ≡ 0 (mod kAlign), and padding columns make each
  // chunk a whole number of panels. So a shard of the points gets the bits of the whole.
  constexpr std::int64_t kRows = 512, kAlign = 16;
  static_assert(kRows % kAlign == 0);
  const std::int64_t d = p_.dim, lead = first % kAlign, span = lead + n;
  const std::int64_t chunks = (span + kRows - 1) / kRows;
  const int threads = omp_get_num_procs();
  // Buffers kept per thread between calls: at n = 20,000 fresh ones meant a page fault per
  // touched page on every SBTM step.
  if (forward_work_.size() < static_cast<std::size_t>(threads))
    forward_work_.resize(static_cast<std::size_t>(threads));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t c = 0; c < chunks; ++c) {
    auto& [h, z] = forward_work_[static_cast<std::size_t>(omp_get_thread_num())];
    // Columns [c0, c1) of the chunk hold points [c0 − lead, c1 − lead); the others are padding.
    const std::int64_t v0 = c * kRows, v1 = std::min(span, v0 + kRows);
    const std::int64_t c0 = std::max(v0, lead), cols = (v1 - v0 + kAlign - 1) / kAlign * kAlign;
    h.setZero(d, cols);
    h.middleCols(c0 - v0, v1 - c0) = ConstColMap(x + (c0 - lead) * d, d, v1 - c0);
    std::int64_t in = d;
    for (std::size_t k = 0; k < p_.widths.size(); ++k) {
      const auto width = p_.widths[k];
      z.resize(width, cols);
      z.noalias() = RowMap(p_.weight[k], width, in) * h;
      z.colwise() += Eigen::Map<const Eigen::VectorXf>(p_.bias[k], width);
      activate(p_.activation, z);
      if (k > 0 && width == in)
        h += z;
      else
        h.swap(z);
      in = width;
    }
    z.resize(d, cols);
    z.noalias() = RowMap(p_.out_weight, d, in) * h;
    z.colwise() += Eigen::Map<const Eigen::VectorXf>(p_.out_bias, d);
    Eigen::Map<Mat>(out + (c0 - lead) * d, d, v1 - c0) = z.middleCols(c0 - v0, v1 - c0);
  }
}

double FusedMlpTrainer::dsm_gradient(const float* x, const float* xi, std::int64_t batch,
                                     double sigma, std::vector<float>& grad) {
  return run(x, xi, batch, sigma, false, nullptr, &grad);
}

double FusedMlpTrainer::ism_gradient(const float* x, std::int64_t batch, std::vector<float>& grad) {
  return run(x, nullptr, batch, 0, true, nullptr, &grad);
}

double FusedMlpTrainer::dsm_step(const float* x, const float* xi, std::int64_t batch, double sigma,
                                 const AdamSettings& adam) {
  return run(x, xi, batch, sigma, false, &adam, nullptr);
}

double FusedMlpTrainer::ism_step(const float* x, std::int64_t batch, const AdamSettings& adam) {
  return run(x, nullptr, batch, 0, true, &adam, nullptr);
}

}  // namespace sf
