#include "neural/fused_mlp.hpp"

#include <omp.h>

#include <Eigen/Dense>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"

namespace sf {
namespace {

using Mat = Eigen::MatrixXf;
using RowMap = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using ConstColMap = Eigen::Map<const Mat>;

// The batch is always cut into this many chunks (fewer for tiny batches), whatever the
// thread count, so sums happen in the same order.
constexpr std::int64_t kChunks = 2;

bool is_silu(const std::string& a) {
  return a == "silu";
}

// φ, φ' and φ'' elementwise on the primal pre-activations.
void activations(const std::string& act, const Eigen::Ref<const Mat>& z, Mat& a, Mat& d1, Mat* d2) {
  if (is_silu(act)) {
    const Mat s = (1.0f + (-z.array()).exp()).inverse().matrix();
    a = (z.array() * s.array()).matrix();
    d1 = (s.array() * (1.0f + z.array() * (1.0f - s.array()))).matrix();
    if (d2)
      *d2 = (s.array() * (1.0f - s.array()) * (2.0f + z.array() * (1.0f - 2.0f * s.array())))
                .matrix();
  } else {
    const Mat inv = (1.0f + z.array().abs()).inverse().matrix();
    a = (z.array() * inv.array()).matrix();
    d1 = inv.array().square().matrix();
    if (d2) *d2 = (-2.0f * z.array().sign() * inv.array().cube()).matrix();
  }
}

}  // namespace

FusedMlpTrainer::FusedMlpTrainer(MlpParams params) : p_(std::move(params)) {
  if (p_.dim < 1 || p_.widths.empty() || p_.weight.size() != p_.widths.size() ||
      p_.bias.size() != p_.widths.size())
    throw InvalidArgument("fused MLP: inconsistent parameter views");
  for (const auto& [ptr, n] : blocks()) total_ += n;
  m_.assign(total_, 0.0f);
  v_.assign(total_, 0.0f);
}

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

double FusedMlpTrainer::gradient(const float* x, const float* xi, std::int64_t batch, double sigma,
                                 bool ism, std::vector<float>& grad) {
  const std::int64_t d = p_.dim, layers = static_cast<std::int64_t>(p_.widths.size());
  const std::int64_t chunks = batch >= 32 ? kChunks : 1;
  const float inv_b = 1.0f / static_cast<float>(batch), sig = static_cast<float>(sigma);
  std::vector<std::vector<float>> part(static_cast<std::size_t>(chunks),
                                       std::vector<float>(total_));
  std::vector<double> loss(static_cast<std::size_t>(chunks), 0.0);

#pragma omp parallel for schedule(static, 1) \
    num_threads(static_cast <int>(std::min <std::int64_t>(chunks, omp_get_num_procs())))
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t c0 = batch * c / chunks, nb = batch * (c + 1) / chunks - c0;
    const std::int64_t nt = ism ? d : 0, cols = nb * (1 + nt);
    const auto block = [&](Mat& m, std::int64_t i) { return m.middleCols(nb * (1 + i), nb); };
    // Input columns (d × nb); DSM perturbs them by σξ.
    Mat xin = ConstColMap(x + c0 * d, d, nb);
    if (!ism) xin += sig * ConstColMap(xi + c0 * d, d, nb);

    std::vector<Mat> z(static_cast<std::size_t>(layers)), s(z.size()), d1(z.size()), d2(z.size());
    std::int64_t in = d;
    for (std::int64_t k = 0; k < layers; ++k) {
      const auto h = p_.widths[static_cast<std::size_t>(k)];
      const RowMap w(p_.weight[static_cast<std::size_t>(k)], h, in);
      const Eigen::Map<const Eigen::VectorXf> b(p_.bias[static_cast<std::size_t>(k)], h);
      Mat& zk = z[static_cast<std::size_t>(k)];
      if (k == 0) {
        zk.resize(h, cols);
        zk.leftCols(nb).noalias() = w * xin;
        for (std::int64_t i = 0; i < nt; ++i) block(zk, i) = w.col(i).replicate(1, nb);
      } else {
        zk.noalias() = w * s[static_cast<std::size_t>(k - 1)];
      }
      zk.leftCols(nb).colwise() += b;
      Mat a;
      activations(p_.activation, zk.leftCols(nb), a, d1[static_cast<std::size_t>(k)],
                  ism ? &d2[static_cast<std::size_t>(k)] : nullptr);
      Mat& sk = s[static_cast<std::size_t>(k)];
      sk.resize(h, cols);
      sk.leftCols(nb) = a;
      for (std::int64_t i = 0; i < nt; ++i)
        block(sk, i) = d1[static_cast<std::size_t>(k)].cwiseProduct(block(zk, i));
      if (k > 0 && h == in) sk += s[static_cast<std::size_t>(k - 1)];
      in = h;
    }
    const RowMap wo(p_.out_weight, d, in);
    const Eigen::Map<const Eigen::VectorXf> bo(p_.out_bias, d);
    Mat o = wo * s.back();
    o.leftCols(nb).colwise() += bo;

    // Loss and its gradient with respect to the stacked outputs.
    Mat go(d, cols);
    double l = 0;
    if (ism) {
      l = 0.5 * static_cast<double>(o.leftCols(nb).squaredNorm());
      go.leftCols(nb) = o.leftCols(nb) * inv_b;
      for (std::int64_t i = 0; i < nt; ++i) {
        l += static_cast<double>(block(o, i).row(i).sum());
        block(go, i).setZero();
        block(go, i).row(i).setConstant(inv_b);
      }
    } else {
      const Mat r = sig * o + ConstColMap(xi + c0 * d, d, nb);
      l = 0.5 * static_cast<double>(r.squaredNorm());
      go = (sig * inv_b) * r;
    }
    loss[static_cast<std::size_t>(c)] = l;

    // Backward, writing gradients in parameter order (computed from the last layer back).
    std::vector<float>& g = part[static_cast<std::size_t>(c)];
    std::vector<std::size_t> offset;
    std::size_t off = 0;
    for (const auto& [ptr, n] : blocks()) offset.push_back(off), off += n;
    const auto wgrad = [&](std::size_t blk, std::int64_t rows, std::int64_t colsw) {
      return RowMap(g.data() + offset[blk], rows, colsw);
    };
    const auto bgrad = [&](std::size_t blk, std::int64_t n) {
      return Eigen::Map<Eigen::VectorXf>(g.data() + offset[blk], n);
    };
    const std::size_t out_blk = 2 * static_cast<std::size_t>(layers);
    wgrad(out_blk, d, in).noalias() = go * s.back().transpose();
    bgrad(out_blk + 1, d) = go.leftCols(nb).rowwise().sum();
    Mat gs = wo.transpose() * go;
    for (std::int64_t k = layers - 1; k >= 0; --k) {
      const auto ku = static_cast<std::size_t>(k);
      const auto h = p_.widths[ku];
      const std::int64_t prev = k == 0 ? d : p_.widths[ku - 1];
      Mat gz(h, cols);
      gz.leftCols(nb) = gs.leftCols(nb).cwiseProduct(d1[ku]);
      for (std::int64_t i = 0; i < nt; ++i) {
        gz.leftCols(nb) += block(gs, i).cwiseProduct(d2[ku]).cwiseProduct(block(z[ku], i));
        block(gz, i) = block(gs, i).cwiseProduct(d1[ku]);
      }
      bgrad(2 * ku + 1, h) = gz.leftCols(nb).rowwise().sum();
      const RowMap w(p_.weight[ku], h, prev);
      if (k == 0) {
        auto dw = wgrad(0, h, d);
        dw.noalias() = gz.leftCols(nb) * xin.transpose();
        for (std::int64_t i = 0; i < nt; ++i) dw.col(i) += block(gz, i).rowwise().sum();
      } else {
        wgrad(2 * ku, h, prev).noalias() = gz * s[ku - 1].transpose();
        Mat gprev = w.transpose() * gz;
        if (h == prev) gprev += gs;
        gs = std::move(gprev);
      }
    }
  }
  grad.assign(total_, 0.0f);
  double total_loss = 0;
  for (std::int64_t c = 0; c < chunks; ++c) {
    const auto& g = part[static_cast<std::size_t>(c)];
    for (std::size_t i = 0; i < total_; ++i) grad[i] += g[i];
    total_loss += loss[static_cast<std::size_t>(c)];
  }
  return total_loss / static_cast<double>(batch);
}

void FusedMlpTrainer::adam_update(const std::vector<float>& grad, const AdamSettings& a) {
  ++t_;
  const double bc1 = 1 - std::pow(a.beta1, static_cast<double>(t_)),
               bc2 = 1 - std::pow(a.beta2, static_cast<double>(t_));
  const float b1 = static_cast<float>(a.beta1), b2 = static_cast<float>(a.beta2),
              eps = static_cast<float>(a.eps);
  const float step = static_cast<float>(a.lr / bc1),
              inv_sqrt_bc2 = static_cast<float>(1 / std::sqrt(bc2));
  const float wd = static_cast<float>(a.weight_decay),
              decay = static_cast<float>(1 - a.lr * a.weight_decay);
  std::size_t i = 0;
  for (const auto& [ptr, n] : blocks()) {
    for (std::size_t j = 0; j < n; ++j, ++i) {
      float gi = grad[i];
      if (a.decoupled)
        ptr[j] *= decay;
      else
        gi += wd * ptr[j];
      m_[i] = b1 * m_[i] + (1 - b1) * gi;
      v_[i] = b2 * v_[i] + (1 - b2) * gi * gi;
      ptr[j] -= step * m_[i] / (std::sqrt(v_[i]) * inv_sqrt_bc2 + eps);
    }
  }
}

double FusedMlpTrainer::dsm_gradient(const float* x, const float* xi, std::int64_t batch,
                                     double sigma, std::vector<float>& grad) {
  return gradient(x, xi, batch, sigma, false, grad);
}

double FusedMlpTrainer::ism_gradient(const float* x, std::int64_t batch, std::vector<float>& grad) {
  return gradient(x, nullptr, batch, 0, true, grad);
}

double FusedMlpTrainer::dsm_step(const float* x, const float* xi, std::int64_t batch, double sigma,
                                 const AdamSettings& adam) {
  const double l = gradient(x, xi, batch, sigma, false, grad_);
  adam_update(grad_, adam);
  return l;
}

double FusedMlpTrainer::ism_step(const float* x, std::int64_t batch, const AdamSettings& adam) {
  const double l = gradient(x, nullptr, batch, 0, true, grad_);
  adam_update(grad_, adam);
  return l;
}

}  // namespace sf
