#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/targets/analytic.hpp>

namespace sf {
namespace {
double well_energy(double a) {
  return a * a * a * a - 6 * a * a - 0.5 * a;
}
constexpr std::size_t kMaxModeDim = 16;  // 2^(d/2) modes are listed up to d = 16
}  // namespace

ManyWell::ManyWell(std::size_t d)
    : d_(d), x1_([](double a) { return -well_energy(a); }, -5.0, 5.0) {
  if (d == 0 || d % 2 != 0)
    throw InvalidArgument(fmt::format("many-well: d is {}, but must be a positive even number", d));
}

std::string ManyWell::spec() const {
  return d_ == 2 ? "double-well" : fmt::format("many-well:d={}", d_);
}

double ManyWell::log_density_row(const double* x) const {
  double e = 0;
  for (std::size_t j = 0; j < d_; j += 2) e += well_energy(x[j]) + 0.5 * x[j + 1] * x[j + 1];
  return -e;
}

void ManyWell::score_row(const double* x, double* g) const {
  for (std::size_t j = 0; j < d_; j += 2) {
    const double a = x[j];
    g[j] = -(4 * a * a * a - 12 * a - 0.5);
    g[j + 1] = -x[j + 1];
  }
}

void ManyWell::sample(std::uint64_t seed, Rows out) const {
  parallel_rows(out.n, [&](std::size_t i) {
    Draws rng(seed, Stream::reference, i, 0);
    for (std::size_t j = 0; j < d_; j += 2) {
      out.row(i)[j] = x1_(rng.uniform());
      out.row(i)[j + 1] = rng.normal();
    }
  });
}

std::optional<double> ManyWell::log_normaliser() const {
  // Per pair: the x₁ factor's log Z (quadrature; 11784.50927 in EXPERIMENTS.md) + ½ log 2π.
  return static_cast<double>(d_ / 2) * (x1_.log_mass() + 0.5 * std::log(2 * std::numbers::pi));
}

std::vector<std::vector<double>> ManyWell::modes() const {
  if (d_ > kMaxModeDim) return {};
  // The two minima of the x₁ energy, by Newton's method on E'(a) = 4a³ − 12a − 0.5.
  double wells[2] = {-1.7, 1.7};
  for (double& a : wells)
    for (int it = 0; it < 50; ++it) a -= (4 * a * a * a - 12 * a - 0.5) / (12 * a * a - 12);
  const std::size_t pairs = d_ / 2;
  std::vector<std::vector<double>> m;
  for (std::size_t mask = 0; mask < (std::size_t{1} << pairs); ++mask) {
    std::vector<double> v(d_, 0.0);
    for (std::size_t p = 0; p < pairs; ++p) v[2 * p] = wells[(mask >> p) & 1];
    m.push_back(std::move(v));
  }
  return m;
}

}  // namespace sf
