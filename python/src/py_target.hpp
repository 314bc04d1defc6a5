// A target given as a Python callable f(x) -> (logp, score) over the whole batch. The engine
// calls it from one thread holding the GIL; everything else in a step runs on all cores with
// the GIL released. Samplers often ask for log π and ∇log π at the same points one after the
// other: the last call's results are kept so f runs once per evaluation.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/targets/target.hpp>

namespace sfpy {

namespace py = pybind11;

// What a callable did wrong (raised, wrong shape, NaN); the binding adds the step.
struct CallableError : sf::Error {
  using sf::Error::Error;
  std::string python_type = "RuntimeError";  // the Python exception to raise
};

class PyCallableTarget final : public sf::Target {
 public:
  PyCallableTarget(py::function f, std::size_t dim, std::string name);
  ~PyCallableTarget() override;
  std::string spec() const override { return name_; }
  std::size_t dim() const override { return dim_; }
  void log_density(sf::ConstRows x, std::span<double> out) const override;
  void score(sf::ConstRows x, sf::Rows out) const override;

 private:
  // Calls f at x unless x is the batch of the last call.
  void evaluate(sf::ConstRows x) const;

  py::function f_;
  std::size_t dim_;
  std::string name_;
  mutable std::mutex mutex_;
  mutable std::vector<double> last_x_, last_logp_, last_score_;
};

}  // namespace sfpy
