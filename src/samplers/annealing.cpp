#include "samplers/annealing.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.hpp"

namespace sf {

void GeometricPath::score(const Target& target, double lambda, ConstRows x, Rows out) const {
  target.score(x, out);
  parallel_rows(x.n, [&](std::size_t i) {
    for (std::size_t k = 0; k < x.d; ++k)
      out.row(i)[k] = lambda * out.row(i)[k] - (1 - lambda) * x.row(i)[k];
  });
}

void GeometricPath::log_density(const Target& target, double lambda, ConstRows x,
                                std::span<double> out) const {
  target.log_density(x, out);
  parallel_rows(x.n, [&](std::size_t i) {
    double r2 = 0;
    for (std::size_t k = 0; k < x.d; ++k) r2 += x.row(i)[k] * x.row(i)[k];
    out[i] = lambda * out[i] - (1 - lambda) * 0.5 * r2;
  });
}

namespace {
Particles scaled(ConstRows x, double factor) {
  Particles y(x.n, x.d);
  for (std::size_t i = 0; i < x.n * x.d; ++i) y.data()[i] = x.data[i] * factor;
  return y;
}
}  // namespace

void DilationPath::score(const Target& target, double lambda, ConstRows x, Rows out) const {
  const double l = std::max(lambda, min_lambda_);
  target.score(scaled(x, 1 / l).rows(), out);
  for (std::size_t i = 0; i < x.n * x.d; ++i) out.data[i] /= l;
}

void DilationPath::log_density(const Target& target, double lambda, ConstRows x,
                               std::span<double> out) const {
  const double l = std::max(lambda, min_lambda_);
  target.log_density(scaled(x, 1 / l).rows(), out);
}

std::unique_ptr<AnnealingPath> make_annealing_path(const std::string& name) {
  if (name == "geometric") return std::make_unique<GeometricPath>();
  if (name == "dilation") return std::make_unique<DilationPath>();
  throw InvalidArgument(
      fmt::format("unknown annealing path '{}'; valid paths: geometric, dilation", name));
}

double LinearSchedule::lambda(std::size_t step, std::size_t total) const {
  const double t = static_cast<double>(step) / (fraction * static_cast<double>(total));
  return std::clamp(t, 0.0, 1.0);
}

}  // namespace sf
