#include <scoreflow/targets/datasets.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>

namespace sf {
namespace {
constexpr double pi = std::numbers::pi;

// Each generator fills one point from its index and its own draws.
using PointFn = void (*)(std::size_t i, std::size_t n, Draws& rng, double* out);

void swissroll(std::size_t, std::size_t, Draws& rng, double* p) {
  const double t = 1.5 * pi * (1 + 2 * rng.uniform());
  p[0] = (t * std::cos(t) + rng.normal()) / 5;
  p[1] = (t * std::sin(t) + rng.normal()) / 5;
}

void circles(std::size_t i, std::size_t n, Draws& rng, double* p) {
  const std::size_t outer = n / 2;
  const bool is_outer = i < outer;
  const std::size_t m = is_outer ? outer : n - outer, j = is_outer ? i : i - outer;
  const double a = 2 * pi * static_cast<double>(j) / static_cast<double>(m);
  const double f = is_outer ? 1.0 : 0.5;
  p[0] = 3 * (f * std::cos(a) + 0.08 * rng.normal());
  p[1] = 3 * (f * std::sin(a) + 0.08 * rng.normal());
}

void rings(std::size_t i, std::size_t n, Draws& rng, double* p) {
  const std::size_t q = n / 4;
  const std::size_t counts[4] = {n - 3 * q, q, q, q};  // radii 0.25, 0.5, 0.75, 1
  std::size_t ring = 0, j = i;
  while (ring < 3 && j >= counts[ring]) j -= counts[ring++];
  const double r = 0.25 * static_cast<double>(ring + 1);
  const double a =
      2 * pi * static_cast<double>(j) / static_cast<double>(std::max<std::size_t>(counts[ring], 1));
  p[0] = 3 * r * std::cos(a) + 0.08 * rng.normal();
  p[1] = 3 * r * std::sin(a) + 0.08 * rng.normal();
}

void moons(std::size_t i, std::size_t n, Draws& rng, double* p) {
  const std::size_t outer = n / 2;
  const bool is_outer = i < outer;
  const std::size_t m = is_outer ? outer : n - outer, j = is_outer ? i : i - outer;
  const double a =
      pi * static_cast<double>(j) / static_cast<double>(std::max<std::size_t>(m - 1, 1));
  double x = is_outer ? std::cos(a) : 1 - std::cos(a);
  double y = is_outer ? std::sin(a) : 1 - std::sin(a) - 0.5;
  x += 0.1 * rng.normal();
  y += 0.1 * rng.normal();
  p[0] = 2 * x - 1;
  p[1] = 2 * y - 0.2;
}

// Eight equal Gaussians on a circle (the law is eight_gaussians_mixture()).
constexpr double kEightRadius = 4, kEightStd = 0.5, kEightScale = 1.414;
void eight_gaussians(std::size_t, std::size_t, Draws& rng, double* p) {
  const double a = 2 * pi * static_cast<double>(rng.below(8)) / 8;
  p[0] = (kEightRadius * std::cos(a) + kEightStd * rng.normal()) / kEightScale;
  p[1] = (kEightRadius * std::sin(a) + kEightStd * rng.normal()) / kEightScale;
}

void pinwheel(std::size_t i, std::size_t, Draws& rng, double* p) {
  const double radial = 1 + 0.3 * rng.normal(), tangential = 0.1 * rng.normal();
  const double a = 2 * pi * static_cast<double>(i % 5) / 5 + 0.25 * std::exp(radial);
  p[0] = 2 * (radial * std::cos(a) + tangential * std::sin(a));
  p[1] = 2 * (-radial * std::sin(a) + tangential * std::cos(a));
}

void two_spirals(std::size_t i, std::size_t n, Draws& rng, double* p) {
  const double t = std::sqrt(rng.uniform()) * 540 * 2 * pi / 360;
  double x = -std::cos(t) * t + 0.5 * rng.uniform();
  double y = std::sin(t) * t + 0.5 * rng.uniform();
  if (i >= n / 2) x = -x, y = -y;
  p[0] = x / 3 + 0.1 * rng.normal();
  p[1] = y / 3 + 0.1 * rng.normal();
}

void checkerboard(std::size_t, std::size_t, Draws& rng, double* p) {
  const double x1 = 4 * rng.uniform() - 2;
  const double x2 = rng.uniform() - 2.0 * static_cast<double>(rng.below(2));
  p[0] = 2 * x1;
  p[1] = 2 * (x2 + static_cast<double>(static_cast<long>(std::floor(x1)) & 1));
}

struct Generator {
  std::string name;
  PointFn fn;
};
const std::vector<Generator>& generators() {
  static const std::vector<Generator> g = {{"moons", moons},
                                           {"swissroll", swissroll},
                                           {"8gaussians", eight_gaussians},
                                           {"checkerboard", checkerboard},
                                           {"pinwheel", pinwheel},
                                           {"rings", rings},
                                           {"circles", circles},
                                           {"2spirals", two_spirals}};
  return g;
}

}  // namespace

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& g : generators()) v.push_back(g.name);
    return v;
  }();
  return names;
}

Particles sample_dataset(const std::string& name, std::size_t n, std::uint64_t seed) {
  if (n == 0)
    throw InvalidArgument(fmt::format("data set {}: n is 0, but must be at least 1", name));
  for (const auto& g : generators()) {
    if (g.name != name) continue;
    Particles out(n, 2);
    parallel_rows(n, [&](std::size_t i) {
      Draws rng(seed, Stream::data, i, 0);
      g.fn(i, n, rng, out.row(i));
    });
    return out;
  }
  throw InvalidArgument(fmt::format("unknown data set '{}'; valid data sets: {}", name,
                                    fmt::join(dataset_names(), ", ")));
}

GaussianMixture eight_gaussians_mixture() {
  std::vector<MixtureComponent> comps;
  const double sd = kEightStd / kEightScale;
  for (int k = 0; k < 8; ++k) {
    const double a = 2 * pi * k / 8;
    Eigen::VectorXd mean(2);
    mean << kEightRadius * std::cos(a) / kEightScale, kEightRadius * std::sin(a) / kEightScale;
    comps.push_back({1.0 / 8, mean, sd * sd * Eigen::MatrixXd::Identity(2, 2)});
  }
  return GaussianMixture("8gaussians", comps);
}

}  // namespace sf
