#include "py_target.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
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

// Refuses a non-finite value among `count` returned ones (rows `width` wide), naming the first.
void check_finite(const double* v, std::size_t count, std::size_t width, const char* what) {
  if (sf::largest_magnitude({v, count}) < INFINITY) return;
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(v[i])) not_finite(what, v[i], i / width);
}

// Copies `count` values into out and tells whether all were finite, in one vectorised pass
// (the integer max of largest_magnitude): the score is read once on its way to the engine.
bool copy_all_finite(const double* from, std::size_t count, double* out) {
  std::uint64_t m = 0;
  for (std::size_t i = 0; i < count; ++i) {
    out[i] = from[i];
    m = std::max(m, sf::magnitude_bits(from[i]));
  }
  return m < sf::kInfinityBits;
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
  // The last call's array is refilled when nothing but this target holds it (f kept no
  // reference): its pages are mapped already, where a fresh array page-faults on every call.
  py::array_t<double> arg;
  if (last_x_ && static_cast<std::size_t>(last_x_.size()) == count && last_x_.ref_count() == 1 &&
      last_x_.ndim() == 2 && last_x_.writeable())
    arg = std::move(last_x_);  // leaves last_x_ empty until this call succeeds
  else
    arg = py::array_t<double>({static_cast<py::ssize_t>(x.n), static_cast<py::ssize_t>(x.d)});
  score_ = nullptr;  // no cached result until this call succeeds
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
  auto logp = returned_array(t[0], "the callable's logp", {static_cast<py::ssize_t>(x.n)});
  auto score = returned_array(t[1], "the callable's score",
                              {static_cast<py::ssize_t>(x.n), static_cast<py::ssize_t>(x.d)});
  // log π is refused here even where only the score is used: a NaN there means f is wrong.
  const auto* lp = static_cast<const double*>(logp.data());
  check_finite(lp, x.n, 1, "the callable's logp");
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
  if (!copy_all_finite(score_, x.n * x.d, out.data)) {
    const double* bad = score_;
    score_ = nullptr;  // not a valid cached result
    check_finite(bad, x.n * x.d, x.d, "the callable's score");
  }
  timings_.seconds += seconds_since(start);
}

PyCallableTarget::Timings PyCallableTarget::timings() const {
  std::lock_guard lock(mutex_);
  return timings_;
}

}  // namespace sfpy
