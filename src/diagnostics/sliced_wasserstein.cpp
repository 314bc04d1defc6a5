#include <scoreflow/diagnostics/sliced_wasserstein.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>

namespace sf {
namespace {

// Sorted values with their weights.
void sort_weighted(std::span<const double> v, std::span<const double> w, std::vector<double>& sv,
                   std::vector<double>& sw) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  sv.resize(v.size());
  sw.resize(v.size());
  for (std::size_t i = 0; i < idx.size(); ++i) sv[i] = v[idx[i]], sw[i] = w[idx[i]];
}

}  // namespace

double wasserstein2_squared_1d(std::span<const double> a, std::span<const double> wa,
                               std::span<const double> b, std::span<const double> wb) {
  std::vector<double> sa, swa, sb, swb;
  sort_weighted(a, wa, sa, swa);
  sort_weighted(b, wb, sb, swb);
  // Walk the two quantile functions together; each segment of common mass m is matched.
  std::size_t i = 0, j = 0;
  double ra = swa[0], rb = swb[0], total = 0;
  while (i < sa.size() && j < sb.size()) {
    const double m = std::min(ra, rb);
    total += m * (sa[i] - sb[j]) * (sa[i] - sb[j]);
    ra -= m;
    rb -= m;
    if (ra <= rb) {
      if (++i < sa.size()) ra += swa[i];
    } else {
      if (++j < sb.size()) rb += swb[j];
    }
  }
  return total;
}

double sliced_wasserstein2(ConstRows x, ConstRows y, std::size_t projections, std::uint64_t seed,
                           std::span<const double> logwx, std::span<const double> logwy) {
  check_positive("sliced_wasserstein2", "number of projections", projections);
  check_positive("sliced_wasserstein2", "first sample size", x.n);
  check_positive("sliced_wasserstein2", "second sample size", y.n);
  if (x.d != y.d)
    throw InvalidArgument("sliced_wasserstein2: the two samples have different dimensions");
  const auto wx = normalised_weights(logwx, x.n), wy = normalised_weights(logwy, y.n);
  std::vector<double> px(x.n), py(y.n), theta(x.d);
  double total = 0;
  for (std::size_t l = 0; l < projections; ++l) {
    Draws rng(seed, Stream::projections, l, 0);
    double norm = 0;
    for (double& t : theta) {
      t = rng.normal();
      norm += t * t;
    }
    norm = std::sqrt(norm);
    for (std::size_t i = 0; i < x.n; ++i) {
      px[i] = 0;
      for (std::size_t k = 0; k < x.d; ++k) px[i] += theta[k] / norm * x.row(i)[k];
    }
    for (std::size_t i = 0; i < y.n; ++i) {
      py[i] = 0;
      for (std::size_t k = 0; k < y.d; ++k) py[i] += theta[k] / norm * y.row(i)[k];
    }
    total += wasserstein2_squared_1d(px, wx, py, wy);
  }
  return std::sqrt(total / static_cast<double>(projections));
}

}  // namespace sf
