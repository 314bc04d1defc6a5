// A target given as a Python callable f(x) -> (logp, score) over the whole batch. The engine
// calls it from one thread holding the GIL; everything else in a step runs on all cores with
// the GIL released. Samplers often ask for log π and ∇log π at the same points one after the
// other: the last call's results are kept so f runs once per evaluation. The arrays f returns
// are held as they are (float64, C order) and copied once, into the engine's buffer, with
// the finiteness check in the same pass.
#pragma once

#include <mutex>
#include <string>

#include <pybind11/numpy.h>
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

  // Where the time went, so a user (and the benchmark) can tell their function's cost from
  // the engine's: calls of f, seconds in log_density/score in all, and inside f.
  struct Timings {
    std::size_t calls = 0;
    double seconds = 0, seconds_in_callable = 0;
  };
  Timings timings() const;

 private:
  // Calls f at x unless x is the batch of the last call.
  void evaluate(sf::ConstRows x) const;

  py::function f_;
  std::size_t dim_;
  std::string name_;
  mutable std::mutex mutex_;
  // The argument of the last call (a copy of the particles: it doubles as the cache key) and
  // the arrays f returned, held, not copied; all released under the GIL.
  mutable py::array_t<double> last_x_;
  mutable py::object logp_array_, score_array_;
  mutable const double* logp_ = nullptr;
  mutable const double* score_ = nullptr;
  mutable Timings timings_;
};

}  // namespace sfpy
