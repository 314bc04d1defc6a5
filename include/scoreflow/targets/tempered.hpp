// π^β for a base target π: log-density β log π, score β ∇log π (no sampler, no log Z).
#pragma once

#include <fmt/format.h>

#include <scoreflow/targets/target.hpp>

namespace sf {

class Tempered : public Target {
 public:
  Tempered(const Target& base, double beta) : base_(base), beta_(beta) {}
  std::string spec() const override { return fmt::format("({})^{}", base_.spec(), beta_); }
  std::size_t dim() const override { return base_.dim(); }
  void log_density(ConstRows x, std::span<double> out) const override {
    base_.log_density(x, out);
    for (double& v : out) v *= beta_;
  }
  void score(ConstRows x, Rows out) const override {
    base_.score(x, out);
    for (double& v : out.span()) v *= beta_;
  }
  std::array<double, 4> plot_box() const override { return base_.plot_box(); }

 private:
  const Target& base_;
  double beta_;
};

}  // namespace sf
