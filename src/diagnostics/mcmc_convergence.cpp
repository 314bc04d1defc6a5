#include <scoreflow/diagnostics/mcmc_convergence.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {

namespace {

// Owned chains, chain-major.
struct Table {
  std::vector<double> v;
  std::size_t m = 0, n = 0;
  const double* chain(std::size_t c) const { return v.data() + c * n; }
  Chains view() const { return {v, m, n}; }
};

void check(const Chains& x, std::size_t min_draws) {
  if (x.chains == 0 || x.draws < min_draws || x.values.size() != x.chains * x.draws)
    throw InvalidArgument(fmt::format(
        "MCMC diagnostics: {} values for {} chains of {} draws; need chains ≥ 1 and at least {} "
        "draws per chain",
        x.values.size(), x.chains, x.draws, min_draws));
  for (const double v : x.values)
    if (!std::isfinite(v)) throw InvalidArgument(fmt::format("MCMC diagnostics: a draw is {}", v));
}

Table copy(const Chains& x) {
  return {{x.values.begin(), x.values.end()}, x.chains, x.draws};
}

Table split(const Chains& x) {
  const std::size_t half = x.draws / 2;
  Table t{std::vector<double>(2 * x.chains * half), 2 * x.chains, half};
  for (std::size_t c = 0; c < x.chains; ++c) {
    const double* in = x.values.data() + c * x.draws;
    std::copy(in, in + half, t.v.begin() + static_cast<std::ptrdiff_t>(2 * c * half));
    std::copy(in + x.draws - half, in + x.draws,
              t.v.begin() + static_cast<std::ptrdiff_t>((2 * c + 1) * half));
  }
  return t;
}

// Φ⁻¹ by Acklam's rational approximation refined with one Halley step (error ~1e-15).
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// Average ranks (1-based, ties share their mean rank) mapped to normal scores.
Table rank_normalise(Table t) {
  const std::size_t s = t.v.size();
  std::vector<std::size_t> order(s);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return t.v[i] < t.v[j]; });
  std::vector<double> z(s);
  for (std::size_t i = 0; i < s;) {
    std::size_t j = i;
    while (j + 1 < s && t.v[order[j + 1]] == t.v[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j) + 1;
    const double score = normal_quantile((rank - 0.375) / (static_cast<double>(s) + 0.25));
    for (std::size_t k = i; k <= j; ++k) z[order[k]] = score;
    i = j + 1;
  }
  t.v = std::move(z);
  return t;
}

Table folded(const Chains& x) {
  std::vector<double> sorted(x.values.begin(), x.values.end());
  std::sort(sorted.begin(), sorted.end());
  const std::size_t s = sorted.size();
  const double median = s % 2 ? sorted[s / 2] : 0.5 * (sorted[s / 2 - 1] + sorted[s / 2]);
  Table t = copy(x);
  for (double& v : t.v) v = std::abs(v - median);
  return t;
}

// Linear-interpolation quantile of all draws (NumPy's default).
double quantile(std::span<const double> values, double q) {
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double mean_of(const double* x, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += x[i];
  return s / static_cast<double>(n);
}

double var_of(const std::vector<double>& x) {  // ddof = 1
  const double m = mean_of(x.data(), x.size());
  double s = 0;
  for (const double v : x) s += (v - m) * (v - m);
  return s / static_cast<double>(x.size() - 1);
}

double rhat_of(const Table& t) {
  const double n = static_cast<double>(t.n);
  std::vector<double> means(t.m), vars(t.m);
  for (std::size_t c = 0; c < t.m; ++c) {
    means[c] = mean_of(t.chain(c), t.n);
    vars[c] = var_of({t.chain(c), t.chain(c) + t.n});
  }
  const double between = t.m > 1 ? n * var_of(means) : 0.0;
  const double within = mean_of(vars.data(), t.m);
  if (!(within > 0)) return NAN;  // constant chains: R̂ is undefined
  return std::sqrt((between / within + n - 1) / n);
}

double ess_of(const Table& table) {
  const std::size_t m = table.m, n = table.n;
  std::vector<double> means(m);
  for (std::size_t c = 0; c < m; ++c) means[c] = mean_of(table.chain(c), n);
  // Mean over chains of the biased (1/n) autocovariance at `lag`.
  const auto acov = [&](std::size_t lag) {
    double total = 0;
    for (std::size_t c = 0; c < m; ++c) {
      const double* x = table.chain(c);
      double s = 0;
      for (std::size_t i = 0; i + lag < n; ++i) s += (x[i] - means[c]) * (x[i + lag] - means[c]);
      total += s / static_cast<double>(n);
    }
    return total / static_cast<double>(m);
  };
  const double nd = static_cast<double>(n);
  const double mean_var = acov(0) * nd / (nd - 1);
  double var_plus = mean_var * (nd - 1) / nd;
  if (m > 1) var_plus += var_of(means);
  if (!(var_plus > 0)) return NAN;
  const auto rho = [&](std::size_t lag) { return 1 - (mean_var - acov(lag)) / var_plus; };

  // Signed lags: with very short chains the positive sequence is empty (max_t = −1).
  using Lag = std::ptrdiff_t;
  const Lag len = static_cast<Lag>(n);
  const auto at = [](Lag k) { return static_cast<std::size_t>(k); };
  std::vector<double> r(n + 1, 0.0);
  r[0] = 1;
  double even = 1, odd = rho(1);
  r[1] = odd;
  Lag t = 1;
  while (t < len - 3 && even + odd > 0) {  // Geyer's initial positive sequence
    even = rho(at(t + 1));
    odd = rho(at(t + 2));
    if (even + odd >= 0) {
      r[at(t + 1)] = even;
      r[at(t + 2)] = odd;
    }
    t += 2;
  }
  const Lag max_t = t - 2;
  if (even > 0) r[at(max_t + 1)] = even;   // the last positive even lag
  for (Lag k = 1; k <= max_t - 2; k += 2)  // Geyer's initial monotone sequence
    if (r[at(k + 1)] + r[at(k + 2)] > r[at(k - 1)] + r[at(k)]) {
      r[at(k + 1)] = (r[at(k - 1)] + r[at(k)]) / 2;
      r[at(k + 2)] = r[at(k + 1)];
    }
  const double total = static_cast<double>(m * n);
  double tau = -1;
  for (Lag k = 0; k <= max_t; ++k) tau += 2 * r[at(k)];
  if (max_t + 1 < len) tau += r[at(max_t + 1)];
  tau = std::max(tau, 1 / std::log10(total));
  return total / tau;
}

}  // namespace

double rhat_basic(const Chains& x) {
  check(x, 2);
  return rhat_of(copy(x));
}

double rhat_rank(const Chains& x) {
  check(x, 4);
  const double bulk = rhat_of(rank_normalise(split(x)));
  const Table f = folded(x);
  const double tail = rhat_of(rank_normalise(split(f.view())));
  return std::max(bulk, tail);
}

double ess_basic(const Chains& x) {
  check(x, 4);
  return ess_of(copy(x));
}

double ess_bulk(const Chains& x) {
  check(x, 8);
  return ess_of(rank_normalise(split(x)));
}

double ess_tail(const Chains& x) {
  check(x, 8);
  double smallest = INFINITY;
  for (const double q : {0.05, 0.95}) {
    const double cut = quantile(x.values, q);
    Table ind = copy(x);
    for (double& v : ind.v) v = v <= cut ? 1.0 : 0.0;
    smallest = std::min(smallest, ess_of(split(ind.view())));
  }
  return smallest;
}

}  // namespace sf
