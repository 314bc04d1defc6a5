// N x d row-major particle arrays with optional log-weights, and light views into them.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include <scoreflow/core/error.hpp>

namespace sf {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A read-only view of n rows of d doubles, contiguous and row-major.
struct ConstRows {
  const double* data = nullptr;
  std::size_t n = 0;
  std::size_t d = 0;
  const double* row(std::size_t i) const { return data + i * d; }
  std::span<const double> span() const { return {data, n * d}; }
  Eigen::Map<const RowMatrix> eigen() const {
    return {data, static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(d)};
  }
  ConstRows slice(std::size_t first, std::size_t count) const { return {row(first), count, d}; }
};

struct Rows {
  double* data = nullptr;
  std::size_t n = 0;
  std::size_t d = 0;
  double* row(std::size_t i) const { return data + i * d; }
  std::span<double> span() const { return {data, n * d}; }
  Eigen::Map<RowMatrix> eigen() const {
    return {data, static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(d)};
  }
  operator ConstRows() const { return {data, n, d}; }
};

// Owning particle array. log_weights is empty for unweighted particles.
class Particles {
 public:
  Particles() = default;
  Particles(std::size_t n, std::size_t d, double fill = 0.0) : n_(n), d_(d), x_(n * d, fill) {}
  Particles(std::size_t n, std::size_t d, std::vector<double> values)
      : n_(n), d_(d), x_(std::move(values)) {
    if (x_.size() != n * d) throw InvalidArgument("Particles: value count does not equal n*d");
  }

  std::size_t n() const { return n_; }
  std::size_t d() const { return d_; }
  double* data() { return x_.data(); }
  const double* data() const { return x_.data(); }
  double* row(std::size_t i) { return x_.data() + i * d_; }
  const double* row(std::size_t i) const { return x_.data() + i * d_; }
  double& operator()(std::size_t i, std::size_t k) { return x_[i * d_ + k]; }
  double operator()(std::size_t i, std::size_t k) const { return x_[i * d_ + k]; }
  // New shape; keeps the allocation when it is large enough (values are not preserved).
  void reshape(std::size_t n, std::size_t d) {
    n_ = n, d_ = d;
    x_.resize(n * d);
    logw_.clear();
  }
  std::vector<double>& values() { return x_; }
  const std::vector<double>& values() const { return x_; }

  Rows rows() { return {x_.data(), n_, d_}; }
  ConstRows rows() const { return {x_.data(), n_, d_}; }
  operator ConstRows() const { return rows(); }

  bool weighted() const { return !logw_.empty(); }
  std::vector<double>& log_weights() { return logw_; }
  const std::vector<double>& log_weights() const { return logw_; }

 private:
  std::size_t n_ = 0, d_ = 0;
  std::vector<double> x_;
  std::vector<double> logw_;
};

// Normalised weights (sum 1) from log-weights by log-sum-exp; uniform when none given.
inline std::vector<double> normalised_weights(std::span<const double> logw, std::size_t n) {
  std::vector<double> w(n, 1.0 / static_cast<double>(n));
  if (logw.empty()) return w;
  double m = -INFINITY;
  for (double v : logw) m = std::max(m, v);
  if (!std::isfinite(m))
    throw NumericalError("normalised_weights: every log-weight is -inf or NaN");
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += (w[i] = std::exp(logw[i] - m));
  for (double& v : w) v /= s;
  return w;
}

// The rows' coordinates column by column (coordinate k of row j at k·n + j): pair loops over
// the rows then run down a column in SIMD lanes.
inline std::vector<double> by_columns(ConstRows x) {
  std::vector<double> t(x.n * x.d);
  for (std::size_t j = 0; j < x.n; ++j)
    for (std::size_t k = 0; k < x.d; ++k) t[k * x.n + j] = x.row(j)[k];
  return t;
}

// m evenly strided rows (unweighted). Some data generators lay points out by index (one
// class after another), so a prefix would not be a sample of the whole set.
inline Particles strided_rows(const Particles& p, std::size_t m) {
  Particles out(m, p.d());
  for (std::size_t i = 0; i < m; ++i)
    std::copy(p.row(i * p.n() / m), p.row(i * p.n() / m) + p.d(), out.row(i));
  return out;
}

// |x| as its IEEE bit pattern, the sign cleared. These order like the magnitudes they encode
// (Inf above every finite value, NaN above Inf), so a max over them is an integer max: it
// vectorises, unlike a loop of std::isfinite, and is exact in any order.
inline std::uint64_t magnitude_bits(double x) {
  return std::bit_cast<std::uint64_t>(x) & 0x7fff'ffff'ffff'ffffULL;
}
inline constexpr std::uint64_t kInfinityBits = 0x7ff0'0000'0000'0000ULL;

// The largest |value| in v, or +Inf when any value is NaN or infinite (after every step).
inline double largest_magnitude(std::span<const double> v) {
  std::uint64_t m = 0;
  for (const double x : v) m = std::max(m, magnitude_bits(x));
  return m >= kInfinityBits ? std::numeric_limits<double>::infinity() : std::bit_cast<double>(m);
}

// Row of the first non-finite entry, or n when all are finite.
inline std::size_t first_non_finite(ConstRows x) {
  if (largest_magnitude({x.data, x.n * x.d}) < std::numeric_limits<double>::infinity()) return x.n;
  for (std::size_t i = 0; i < x.n * x.d; ++i)
    if (!std::isfinite(x.data[i])) return i / x.d;
  return x.n;
}

// Throws InvalidArgument naming `what` and the first row with a NaN or infinity.
inline void check_all_finite(ConstRows x, const std::string& what) {
  const std::size_t bad = first_non_finite(x);
  if (bad < x.n)
    throw InvalidArgument(what + ": row " + std::to_string(bad) +
                          " has a NaN or infinite value; every entry must be finite");
}

}  // namespace sf
