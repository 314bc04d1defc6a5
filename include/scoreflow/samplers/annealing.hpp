// Annealing paths π_λ from π_0 = N(0, I) (λ = 0) to π (λ = 1), MATH.md §2, and schedules λ(t).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <scoreflow/core/registry.hpp>
#include <scoreflow/targets/spec.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

class AnnealingPath {
 public:
  virtual ~AnnealingPath() = default;
  virtual std::string name() const = 0;
  // out = ∇log π_λ(x).
  virtual void score(const Target& target, double lambda, ConstRows x, Rows out) const = 0;
  // log π_λ(x) up to a constant (for Metropolis corrections and diagnostics).
  virtual void log_density(const Target& target, double lambda, ConstRows x,
                           std::span<double> out) const = 0;
};

// ∇log π_λ = λ∇log π + (1 − λ)∇log π_0.
class GeometricPath : public AnnealingPath {
 public:
  std::string name() const override { return "geometric"; }
  void score(const Target& target, double lambda, ConstRows x, Rows out) const override;
  void log_density(const Target& target, double lambda, ConstRows x,
                   std::span<double> out) const override;
};

// π_λ(x) ∝ π(x/λ): ∇log π_λ(x) = (1/λ)∇log π(x/λ), λ clipped to ≥ min_lambda.
class DilationPath : public AnnealingPath {
 public:
  explicit DilationPath(double min_lambda = 0.2) : min_lambda_(min_lambda) {}
  std::string name() const override { return "dilation"; }
  void score(const Target& target, double lambda, ConstRows x, Rows out) const override;
  void log_density(const Target& target, double lambda, ConstRows x,
                   std::span<double> out) const override;

 private:
  double min_lambda_;
};

// Paths by spec ("geometric", "dilation:min_lambda=0.2"), and any a user adds.
using AnnealingPathFactory = std::function<std::shared_ptr<const AnnealingPath>(const Spec&)>;
using AnnealingPathRegistry = Registry<AnnealingPathFactory>;
AnnealingPathRegistry& annealing_path_registry();
std::shared_ptr<const AnnealingPath> make_annealing_path(const std::string& spec);

// λ after `step` of `total` steps: linear over the first `fraction` of the run, then 1; or,
// with knots, piecewise linear through (fraction of the run, λ) points.
struct LinearSchedule {
  double fraction = 1.0;
  std::vector<std::pair<double, double>> knots;  // custom: starts at fraction 0, ends at λ = 1
  double lambda(std::size_t step, std::size_t total) const;
  // "0:0,0.2:0.5,0.6:1": fractions strictly increasing from 0, λ in [0, 1] ending at 1.
  static LinearSchedule from_knots(const std::string& spec);
};

}  // namespace sf
