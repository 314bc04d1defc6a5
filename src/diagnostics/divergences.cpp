#include <scoreflow/diagnostics/divergences.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {
namespace {

// Σ_i wa_i Σ_j wb_j k(a_i, b_j) with the RBF kernel, from the tiled KDE sums.
double kernel_mean(ConstRows a, std::span<const double> wa, ConstRows b,
                   std::span<const double> logwb, double ell) {
  const KernelDensity kde(b, ell, logwb);
  std::vector<double> lp(a.n);
  kde.log_density(a, lp);
  const double back = 0.5 * static_cast<double>(a.d) * std::log(2 * std::numbers::pi * ell * ell);
  double s = 0;
  for (std::size_t i = 0; i < a.n; ++i) s += wa[i] * std::exp(lp[i] + back);
  return s;
}

// Σ_i wa_i Σ_j wb_j |a_i − b_j|, rows summed in parallel then added in a fixed order.
double distance_mean(ConstRows a, std::span<const double> wa, ConstRows b,
                     std::span<const double> wb) {
  const std::vector<double> bt = by_columns(b);
  std::vector<double> row(a.n);
  parallel_rows(a.n, [&](std::size_t i) {
    thread_local std::vector<double> r2;
    r2.assign(b.n, 0.0);
    for (std::size_t k = 0; k < a.d; ++k) {
      const double ak = a.row(i)[k];
      const double* bk = &bt[k * b.n];
#pragma omp simd
      for (std::size_t j = 0; j < b.n; ++j) r2[j] += (ak - bk[j]) * (ak - bk[j]);
    }
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (std::size_t j = 0; j < b.n; ++j) s += wb[j] * std::sqrt(r2[j]);
    row[i] = wa[i] * s;
  });
  double s = 0;
  for (double v : row) s += v;
  return s;
}

void check_pair(const char* who, ConstRows x, ConstRows y) {
  check_positive(who, "first sample size", x.n);
  check_positive(who, "second sample size", y.n);
  if (x.d != y.d)
    throw InvalidArgument(std::string(who) + ": the two samples have dimensions " +
                          std::to_string(x.d) + " and " + std::to_string(y.d));
}

}  // namespace

double median_distance(ConstRows x, ConstRows y) {
  const std::size_t mx = std::min<std::size_t>(x.n, 1000), my = std::min<std::size_t>(y.n, 1000);
  Particles pooled(mx + my, x.d);
  std::copy(x.data, x.data + mx * x.d, pooled.data());
  std::copy(y.data, y.data + my * y.d, pooled.data() + mx * x.d);
  std::vector<double> dist;
  for (std::size_t i = 0; i < pooled.n(); ++i)
    for (std::size_t j = i + 1; j < pooled.n(); ++j) {
      double s = 0;
      for (std::size_t k = 0; k < x.d; ++k)
        s += (pooled(i, k) - pooled(j, k)) * (pooled(i, k) - pooled(j, k));
      dist.push_back(std::sqrt(s));
    }
  if (dist.empty()) return 1.0;
  std::nth_element(dist.begin(), dist.begin() + dist.size() / 2, dist.end());
  return dist[dist.size() / 2] > 0 ? dist[dist.size() / 2] : 1.0;
}

double mmd2(ConstRows x, ConstRows y, double ell, std::span<const double> logwx,
            std::span<const double> logwy, bool unbiased) {
  check_pair("mmd2", x, y);
  check_positive_finite("mmd2", "kernel bandwidth", ell);
  if (unbiased && (!logwx.empty() || !logwy.empty()))
    throw InvalidArgument("mmd2: the unbiased estimate is only defined for unweighted samples");
  const auto wx = normalised_weights(logwx, x.n), wy = normalised_weights(logwy, y.n);
  double kxx = kernel_mean(x, wx, x, logwx, ell);
  double kyy = kernel_mean(y, wy, y, logwy, ell);
  const double kxy = kernel_mean(x, wx, y, logwy, ell);
  if (unbiased) {
    // Drop the diagonal k(x, x) = 1: mean over i ≠ j.
    const double n = static_cast<double>(x.n), m = static_cast<double>(y.n);
    kxx = (n * n * kxx - n) / (n * (n - 1));
    kyy = (m * m * kyy - m) / (m * (m - 1));
  }
  return kxx + kyy - 2 * kxy;
}

double energy_distance(ConstRows x, ConstRows y, std::span<const double> logwx,
                       std::span<const double> logwy) {
  check_pair("energy_distance", x, y);
  const auto wx = normalised_weights(logwx, x.n), wy = normalised_weights(logwy, y.n);
  return 2 * distance_mean(x, wx, y, wy) - distance_mean(x, wx, x, wx) -
         distance_mean(y, wy, y, wy);
}

ReferenceSample::ReferenceSample(Particles y, double ell) : y_(std::move(y)), ell_(ell) {
  check_positive("ReferenceSample", "sample size", y_.n());
  check_positive_finite("ReferenceSample", "kernel bandwidth", ell_);
  wy_ = normalised_weights({}, y_.n());
  kyy_ = kernel_mean(y_.rows(), wy_, y_.rows(), {}, ell_);
  dyy_ = distance_mean(y_.rows(), wy_, y_.rows(), wy_);
}

double ReferenceSample::mmd2(ConstRows x, std::span<const double> logwx) const {
  check_pair("mmd2", x, y_.rows());
  const auto wx = normalised_weights(logwx, x.n);
  const double kxx = kernel_mean(x, wx, x, logwx, ell_);
  const double kxy = kernel_mean(x, wx, y_.rows(), {}, ell_);
  return kxx + kyy_ - 2 * kxy;
}

double ReferenceSample::energy_distance(ConstRows x, std::span<const double> logwx) const {
  check_pair("energy_distance", x, y_.rows());
  const auto wx = normalised_weights(logwx, x.n);
  return 2 * distance_mean(x, wx, y_.rows(), wy_) - distance_mean(x, wx, x, wx) - dyy_;
}

}  // namespace sf
