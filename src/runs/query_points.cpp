#include <scoreflow/runs/query_points.hpp>

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/npy.hpp>

namespace sf {

std::vector<double> parse_point(const std::string& text, const std::string& option) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw InvalidArgument(fmt::format("{} '{}': '{}' is not a number; write e.g. 1.5 or 1,-0.5",
                                        option, text, item));
    }
  }
  if (v.empty()) throw InvalidArgument(option + " is empty; write e.g. 1.5 or 1,-0.5");
  return v;
}

// Quantile grid of the end points: `m` points over the central 96 % of each coordinate
// (a product grid in 2-D).
Particles quantile_grid(const Particles& x, std::size_t m) {
  if (m < 2)
    throw InvalidArgument(fmt::format(
        "--points is {}, but must be at least 2 (the grid spans the central 96 % of the paths)",
        m));
  const std::size_t d = x.d();
  std::vector<std::pair<double, double>> range(d);
  for (std::size_t i = 0; i < d; ++i) {
    std::vector<double> c(x.n());
    for (std::size_t p = 0; p < x.n(); ++p) c[p] = x(p, i);
    std::sort(c.begin(), c.end());
    range[i] = {c[c.size() / 50], c[c.size() * 49 / 50]};
  }
  const auto coord = [&](std::size_t i, std::size_t k) {
    return range[i].first +
           (range[i].second - range[i].first) * static_cast<double>(k) / static_cast<double>(m - 1);
  };
  Particles q(d == 1 ? m : m * m, d);
  for (std::size_t k = 0; k < q.n(); ++k) {
    q(k, 0) = coord(0, d == 1 ? k : k / m);
    if (d == 2) q(k, 1) = coord(1, k % m);
  }
  return q;
}

Particles read_queries(const std::string& file, std::size_t d) {
  const NpyArray a = read_npy(file);
  if (a.shape.size() != 2 || a.shape[1] != d || a.shape[0] == 0)
    throw InvalidArgument(fmt::format("--at {}: expected a non-empty M x {} array, got shape ({})",
                                      file, d, fmt::join(a.shape, ", ")));
  Particles q(a.shape[0], d, a.values);
  check_all_finite(q.rows(), "--at " + file);
  return q;
}

// The box the Fokker–Planck grid covers: the start ± 6 end-point spreads, at least ±3.
std::vector<GridAxis> reference_grid(const Particles& x, const std::vector<double>& x0) {
  std::vector<GridAxis> axes;
  for (std::size_t i = 0; i < x.d(); ++i) {
    double lo = x0[i], hi = x0[i];
    for (std::size_t p = 0; p < x.n(); ++p) lo = std::min(lo, x(p, i)), hi = std::max(hi, x(p, i));
    const double pad = std::max(1.0, 0.5 * (hi - lo));
    axes.push_back({lo - pad, hi + pad, x.d() == 1 ? std::size_t{2000} : std::size_t{300}});
  }
  return axes;
}

}  // namespace sf
