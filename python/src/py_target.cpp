#include "py_target.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <pybind11/numpy.h>

namespace sfpy {

namespace {

// One returned array, checked for shape: float64 C-contiguous arrays are kept as they are,
// anything else convertible is converted once.
py::array returned_array(py::handle obj, const std::string& what, std::vector<py::ssize_t> shape) {
  py::array a;
  try {
    a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(obj);
  } catch (const py::error_already_set&) {
  }
  std::string expected = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    expected += (i ? ", " : "") + std::to_string(shape[i]);
  expected += shape.size() == 1 ? ",)" : ")";
  if (!a) {
    CallableError e(
        fmt::format("{} is not an array of numbers (expected shape {})", what, expected));
    e.python_type = "TypeError";
    throw e;
  }
  bool same = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (std::size_t i = 0; same && i < shape.size(); ++i) same = a.shape(i) == shape[i];
  if (!same) {
    std::string got = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) got += (i ? ", " : "") + std::to_string(a.shape(i));
    got += a.ndim() == 1 ? ",)" : ")";
    CallableError e(fmt::format("{} has shape {}, expected {}", what, got, expected));
    e.python_type = "ValueError";
    throw e;
  }
  return a;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

[[noreturn]] void not_finite(const char* what, double value, std::size_t row) {
  CallableError e(fmt::format("{} holds {} at row {}", what, value, row));
  e.python_type = "ValueError";
  throw e;
}

// Copies `count` returned values into out, refusing a non-finite one (rows `width` wide):
// the check and the copy are one pass.
void copy_finite(const double* from, std::size_t count, std::size_t width, const char* what,
                 double* out) {
  for (std::size_t i = 0; i < count; ++i) {
    if (!std::isfinite(from[i])) not_finite(what, from[i], i / width);
    out[i] = from[i];
  }
}

}  // namespace

PyCallableTarget::PyCallableTarget(py::function f, std::size_t dim, std::string name)
    : f_(std::move(f)), dim_(dim), name_(std::move(name)) {
  if (dim_ == 0) throw sf::InvalidArgument("target: dim must be at least 1 for a callable");
}

PyCallableTarget::~PyCallableTarget() {
  // Released here, under the GIL: the members' own destructors run after it is dropped.
  py::gil_scoped_acquire gil;
  f_.release().dec_ref();
  last_x_.release().dec_ref();
  logp_array_.release().dec_ref();
  score_array_.release().dec_ref();
}

void PyCallableTarget::evaluate(sf::ConstRows x) const {
  if (x.d != dim_)
    throw sf::InvalidArgument(
        fmt::format("target {}: particles have dimension {}, but the "
                    "target has dimension {}",
                    name_, x.d, dim_));
  const std::size_t count = x.n * x.d;
  if (score_ && static_cast<std::size_t>(last_x_.size()) == count &&
      std::memcmp(last_x_.data(), x.data, count * sizeof(double)) == 0)
    return;
  py::gil_scoped_acquire gil;
  // A copy, not a view: f may keep its argument, and the engine moves the particles next.
  py::array_t<double> arg({static_cast<py::ssize_t>(x.n), static_cast<py::ssize_t>(x.d)});
  std::memcpy(arg.mutable_data(), x.data, count * sizeof(double));
  py::object result;
  const auto called = std::chrono::steady_clock::now();
  try {
    result = f_(arg);
    timings_.seconds_in_callable += seconds_since(called);
    ++timings_.calls;
  } catch (py::error_already_set& e) {
    CallableError err(fmt::format("the target callable raised {}", e.what()));
    err.python_type = "RuntimeError";
    throw err;
  }
  if (!py::isinstance<py::tuple>(result) || py::len(result) != 2) {
    CallableError e(fmt::format(
        "the target callable returned {}, expected a tuple (logp of shape ({},), score of shape "
        "({}, {}))",
        py::str(py::type::handle_of(result).attr("__name__")).cast<std::string>(), x.n, x.n, x.d));
    e.python_type = "TypeError";
    throw e;
  }
  const auto t = result.cast<py::tuple>();
  score_ = nullptr;  // nothing is kept until both arrays pass
  auto logp = returned_array(t[0], "the callable's logp", {static_cast<py::ssize_t>(x.n)});
  auto score = returned_array(t[1], "the callable's score",
                              {static_cast<py::ssize_t>(x.n), static_cast<py::ssize_t>(x.d)});
  // log π is refused here even where only the score is used: a NaN there means f is wrong.
  const auto* lp = static_cast<const double*>(logp.data());
  for (std::size_t i = 0; i < x.n; ++i)
    if (!std::isfinite(lp[i])) not_finite("the callable's logp", lp[i], i);
  last_x_ = std::move(arg);
  logp_ = lp;
  score_ = static_cast<const double*>(score.data());
  logp_array_ = std::move(logp);
  score_array_ = std::move(score);
}

void PyCallableTarget::log_density(sf::ConstRows x, std::span<double> out) const {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  evaluate(x);
  std::copy(logp_, logp_ + x.n, out.begin());
  timings_.seconds += seconds_since(start);
}

void PyCallableTarget::score(sf::ConstRows x, sf::Rows out) const {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  evaluate(x);
  copy_finite(score_, x.n * x.d, x.d, "the callable's score", out.data);
  timings_.seconds += seconds_since(start);
}

PyCallableTarget::Timings PyCallableTarget::timings() const {
  std::lock_guard lock(mutex_);
  return timings_;
}

}  // namespace sfpy
