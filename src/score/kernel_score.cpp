#include <scoreflow/score/kernel_score.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/fastmath.hpp>
#include <scoreflow/core/parallel.hpp>

namespace sf {
namespace {

constexpr std::size_t kTile = StreamedKernelDensity::kTile;
// Below this the unshifted sum may have lost precision to underflow: redo it shifted.
constexpr double kUnderflow = 1e-280;

// One tile of the sum at query q: e[t] = exp(lw[t] − shift − c·Σ_k (q_k − x_k[t])²) for
// t < len, x_k[t] = xt[k·stride + t], with e[skip] = 0; returns Σ_t e[t]. The whole-data and
// the streamed estimates both sum through it, so they agree bit for bit.
inline double tile_exp_sum(const double* q, std::size_t d, const double* lw, const double* xt,
                           std::size_t stride, std::size_t len, double shift, double c,
                           std::size_t skip, double* e) {
  for (std::size_t t = 0; t < len; ++t) e[t] = lw[t] - shift;
  for (std::size_t k = 0; k < d; ++k) {
    const double* xk = xt + k * stride;
    const double qk = q[k];
#pragma omp simd
    for (std::size_t t = 0; t < len; ++t) e[t] -= c * (qk - xk[t]) * (qk - xk[t]);
  }
  if (skip < len) e[skip] = -1e300;
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t t = 0; t < len; ++t) {
    e[t] = fast_exp(e[t]);
    s += e[t];
  }
  return s;
}

// lw − c·|q − x|² for the data point x_k = xt[k·stride]: the exponent whose largest shifts
// an underflowed sum.
inline double exponent(const double* q, std::size_t d, double lw, const double* xt,
                       std::size_t stride, double c) {
  double s = 0;
  for (std::size_t k = 0; k < d; ++k) s += (q[k] - xt[k * stride]) * (q[k] - xt[k * stride]);
  return lw - c * s;
}

}  // namespace

double gaussian_log_norm(std::size_t d, double h) {
  return -0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi * h * h);
}

double silverman_bandwidth(ConstRows x, std::span<const double> logw) {
  check_positive("silverman_bandwidth", "number of points", x.n);
  // The streamed rule over one block: whole and streamed data share every operation.
  const std::vector<double> equal(logw.empty() ? x.n : 0, 0.0);
  const std::span<const double> lw = logw.empty() ? std::span<const double>(equal) : logw;
  StreamedSilverman rule(x.d, *std::max_element(lw.begin(), lw.end()));
  do {
    rule.add(x, lw);
  } while (rule.next_pass());
  return rule.bandwidth();
}

StreamedSilverman::StreamedSilverman(std::size_t d, double log_weight_max)
    : d_(d), log_weight_max_(log_weight_max), mean_(d, 0.0), var_(d, 0.0) {
  if (!std::isfinite(log_weight_max))
    throw NumericalError("StreamedSilverman: the largest log-weight is not finite");
}

void StreamedSilverman::add(ConstRows x, std::span<const double> logw) {
  check_dim("StreamedSilverman", "block", x.d, d_);
  // Each sum runs in data order, as silverman_bandwidth's loops do.
  if (pass_ == 0) {
    for (std::size_t i = 0; i < x.n; ++i) wsum_ += std::exp(logw[i] - log_weight_max_);
    return;
  }
  w_.resize(x.n);
  for (std::size_t i = 0; i < x.n; ++i) w_[i] = std::exp(logw[i] - log_weight_max_) / wsum_;
  for (std::size_t k = 0; k < d_; ++k)
    for (std::size_t i = 0; i < x.n; ++i) {
      if (pass_ == 1)
        mean_[k] += w_[i] * x.row(i)[k];
      else
        var_[k] += w_[i] * (x.row(i)[k] - mean_[k]) * (x.row(i)[k] - mean_[k]);
    }
  if (pass_ == 1)
    for (const double w : w_) w2sum_ += w * w;
}

bool StreamedSilverman::next_pass() {
  return ++pass_ < 3;
}

double StreamedSilverman::bandwidth() const {
  double mean_sd = 0;
  for (std::size_t k = 0; k < d_; ++k) mean_sd += std::sqrt(var_[k]) / static_cast<double>(d_);
  const double ess = 1 / w2sum_;
  const double d = static_cast<double>(d_);
  const double h = mean_sd * std::pow(4 / ((d + 2) * ess), 1 / (d + 4));
  return h > 0 ? h : 1.0;
}

double median_bandwidth(ConstRows x) {
  const std::size_t m = std::min(x.n, kMedianBandwidthPoints);
  std::vector<double> dist;
  dist.reserve(m * (m - 1) / 2);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = i + 1; j < m; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < x.d; ++k)
        s += (x.row(i)[k] - x.row(j)[k]) * (x.row(i)[k] - x.row(j)[k]);
      dist.push_back(std::sqrt(s));
    }
  if (dist.empty()) return 1.0;
  std::nth_element(dist.begin(), dist.begin() + dist.size() / 2, dist.end());
  const double med = dist[dist.size() / 2];
  return med > 0 ? med / std::sqrt(2 * std::log(static_cast<double>(m) + 1)) : 1.0;
}

KernelDensity::KernelDensity(ConstRows data, double bandwidth, std::span<const double> logw)
    : n_(data.n), d_(data.d), h_(bandwidth), xt_(by_columns(data)), lw_(data.n, 0.0) {
  check_positive("KernelDensity", "number of data points", n_);
  check_positive_finite("KernelDensity", "bandwidth", bandwidth);
  if (!logw.empty() && logw.size() != n_)
    throw InvalidArgument(
        fmt::format("KernelDensity: {} log-weights for {} points", logw.size(), n_));
  if (!logw.empty()) {
    const double m = *std::max_element(logw.begin(), logw.end());
    if (!std::isfinite(m))
      throw NumericalError("KernelDensity: the largest log-weight is not finite");
    double s = 0;
    for (std::size_t i = 0; i < n_; ++i) s += std::exp(lw_[i] = logw[i] - m);
    log_wsum_ = std::log(s);
  } else {
    log_wsum_ = std::log(static_cast<double>(n_));
  }
}

double KernelDensity::log_norm() const {
  return -log_wsum_ + gaussian_log_norm(d_, h_);
}

void KernelDensity::query(const double* q, std::size_t skip, bool want_mean, double& log_total,
                          double* mean) const {
  const double c = 1 / (2 * h_ * h_);
  alignas(64) double e[kTile];
  // Two passes at most: first unshifted (the common case), then shifted by the largest
  // exponent if the sum underflowed (query far from all data).
  for (int pass = 0; pass < 2; ++pass) {
    double shift = 0;
    if (pass == 1) {
      shift = -INFINITY;
      for (std::size_t j = 0; j < n_; ++j)
        if (j != skip) shift = std::max(shift, exponent(q, d_, lw_[j], &xt_[j], n_, c));
    }
    double total = 0;
    if (want_mean) std::fill(mean, mean + d_, 0.0);
    for (std::size_t j0 = 0; j0 < n_; j0 += kTile) {
      const std::size_t len = std::min(kTile, n_ - j0);
      total += tile_exp_sum(q, d_, &lw_[j0], &xt_[j0], n_, len, shift, c,
                            skip >= j0 ? skip - j0 : kTile, e);
      if (!want_mean) continue;
      for (std::size_t k = 0; k < d_; ++k) {
        const double* xk = &xt_[k * n_ + j0];
        double a = 0;
#pragma omp simd reduction(+ : a)
        for (std::size_t t = 0; t < len; ++t) a += e[t] * xk[t];
        mean[k] += a;
      }
    }
    if (total > kUnderflow || pass == 1) {
      log_total = std::log(total) + shift;
      if (want_mean)
        for (std::size_t k = 0; k < d_; ++k) mean[k] /= total;
      return;
    }
  }
}

void KernelDensity::log_density(ConstRows q, std::span<double> out) const {
  check_dim("KernelDensity::log_density", "query", q.d, d_);
  const double ln = log_norm();
  parallel_rows(q.n, [&](std::size_t i) {
    query(q.row(i), n_, false, out[i], nullptr);
    out[i] += ln;
  });
}

void KernelDensity::score(ConstRows q, Rows out) const {
  check_dim("KernelDensity::score", "query", q.d, d_);
  const double inv_h2 = 1 / (h_ * h_);
  parallel_rows(q.n, [&](std::size_t i) {
    double lt;
    query(q.row(i), n_, true, lt, out.row(i));
    for (std::size_t k = 0; k < d_; ++k) out.row(i)[k] = (out.row(i)[k] - q.row(i)[k]) * inv_h2;
  });
}

void KernelDensity::log_density_and_score(ConstRows q, std::span<double> logp, Rows out) const {
  check_dim("KernelDensity::log_density_and_score", "query", q.d, d_);
  const double ln = log_norm(), inv_h2 = 1 / (h_ * h_);
  parallel_rows(q.n, [&](std::size_t i) {
    query(q.row(i), n_, true, logp[i], out.row(i));
    logp[i] += ln;
    for (std::size_t k = 0; k < d_; ++k) out.row(i)[k] = (out.row(i)[k] - q.row(i)[k]) * inv_h2;
  });
}

void KernelDensity::log_density_loo(std::span<double> out) const {
  if (n_ < 2) throw InvalidArgument("KernelDensity: leave-one-out needs at least 2 points");
  // Renormalise without the left-out point's weight.
  parallel_rows(n_, [&](std::size_t i) {
    std::vector<double> q(d_);
    for (std::size_t k = 0; k < d_; ++k) q[k] = xt_[k * n_ + i];
    double lt;
    query(q.data(), i, false, lt, nullptr);
    const double rest = std::log(std::max(std::exp(log_wsum_) - std::exp(lw_[i]), 1e-300));
    out[i] = lt - rest - 0.5 * static_cast<double>(d_) * std::log(2 * std::numbers::pi * h_ * h_);
  });
}

void sum_exactly(const KernelDensity& exact, ConstRows queries,
                 const std::vector<std::size_t>& which, BoundedKde& r) {
  const std::size_t d = queries.d;
  const bool want_score = !r.score_bound.empty();
  std::vector<double> rows;
  for (const std::size_t i : which) rows.insert(rows.end(), queries.row(i), queries.row(i) + d);
  const ConstRows q{rows.data(), which.size(), d};
  std::vector<double> lp(which.size());
  Particles psi(which.size(), d);
  if (want_score)
    exact.log_density_and_score(q, lp, psi.rows());
  else
    exact.log_density(q, lp);
  for (std::size_t k = 0; k < which.size(); ++k) {
    const std::size_t i = which[k];
    r.log_density[i] = lp[k], r.bound[i] = 0;
    if (want_score) std::copy_n(psi.row(k), d, r.score.row(i)), r.score_bound[i] = 0;
  }
  r.exact = which.size();
}

StreamedKernelDensity::StreamedKernelDensity(ConstRows q, double bandwidth, double log_weight_max)
    : q_(q), h_(bandwidth), log_weight_max_(log_weight_max), total_(q.n, 0.0), shift_(q.n, 0.0) {
  check_positive_finite("StreamedKernelDensity", "bandwidth", bandwidth);
  if (!std::isfinite(log_weight_max))
    throw NumericalError("StreamedKernelDensity: the largest log-weight is not finite");
}

void StreamedKernelDensity::check_block(std::size_t first, ConstRows x,
                                        std::span<const double> logw) const {
  if (first != next_ || first % kTile != 0 || x.d != q_.d || logw.size() != x.n)
    throw Error(fmt::format(
        "StreamedKernelDensity: block at row {} of {} rows (d = {}, {} log-weights) out of "
        "order or misshapen; expected row {}, a multiple of {}, d = {}",
        first, x.n, x.d, logw.size(), next_, kTile, q_.d));
}

void StreamedKernelDensity::transpose(ConstRows x, std::span<const double> logw) {
  xt_.resize(x.n * x.d);
  lw_.resize(x.n);
  for (std::size_t i = 0; i < x.n; ++i)
    for (std::size_t k = 0; k < x.d; ++k) xt_[k * x.n + i] = x.row(i)[k];
  for (std::size_t i = 0; i < x.n; ++i) lw_[i] = logw[i] - log_weight_max_;
}

void StreamedKernelDensity::add(std::size_t first, ConstRows x, std::span<const double> logw) {
  check_block(first, x, logw);
  transpose(x, logw);
  if (pass_ == Pass::sums)
    for (const double v : lw_) wsum_ += std::exp(v);
  const double c = 1 / (2 * h_ * h_);
  parallel_rows(q_.n, [&](std::size_t i) {
    if (pass_ != Pass::sums && !redo_[i]) return;
    if (pass_ == Pass::shifts) {
      for (std::size_t j = 0; j < x.n; ++j)
        shift_[i] = std::max(shift_[i], exponent(q_.row(i), x.d, lw_[j], &xt_[j], x.n, c));
      return;
    }
    alignas(64) double e[kTile];
    for (std::size_t j0 = 0; j0 < x.n; j0 += kTile)
      total_[i] += tile_exp_sum(q_.row(i), x.d, &lw_[j0], &xt_[j0], x.n, std::min(kTile, x.n - j0),
                                shift_[i], c, kTile, e);
  });
  next_ = first + x.n;
}

bool StreamedKernelDensity::underflowed() const {
  return std::any_of(total_.begin(), total_.end(), [](double t) { return !(t > kUnderflow); });
}

void StreamedKernelDensity::next_pass() {
  next_ = 0;
  if (pass_ == Pass::sums) {
    pass_ = Pass::shifts;
    redo_.assign(q_.n, 0);
    for (std::size_t i = 0; i < q_.n; ++i)
      if (!(total_[i] > kUnderflow)) redo_[i] = 1, shift_[i] = -INFINITY;
  } else if (pass_ == Pass::shifts) {
    pass_ = Pass::shifted_sums;
    for (std::size_t i = 0; i < q_.n; ++i)
      if (redo_[i]) total_[i] = 0;
  } else {
    throw Error("StreamedKernelDensity: three passes at most");
  }
}

std::vector<double> StreamedKernelDensity::log_density() const {
  const double ln = -std::log(wsum_) + gaussian_log_norm(q_.d, h_);
  std::vector<double> out(q_.n);
  for (std::size_t i = 0; i < q_.n; ++i) out[i] = std::log(total_[i]) + shift_[i] + ln;
  return out;
}

}  // namespace sf
