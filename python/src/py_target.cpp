#include "py_target.hpp"

#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <pybind11/numpy.h>

namespace sfpy {

namespace {

// The values of one returned array, checked for shape and finiteness.
std::vector<double> returned_values(py::handle obj, const std::string& what,
                                    std::vector<py::ssize_t> shape) {
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
  const auto* p = static_cast<const double*>(a.data());
  std::vector<double> v(p, p + a.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) {
      const std::size_t row = shape.size() == 2 ? i / static_cast<std::size_t>(shape[1]) : i;
      CallableError e(fmt::format("{} holds {} at row {}", what, v[i], row));
      e.python_type = "ValueError";
      throw e;
    }
  return v;
}

}  // namespace

PyCallableTarget::PyCallableTarget(py::function f, std::size_t dim, std::string name)
    : f_(std::move(f)), dim_(dim), name_(std::move(name)) {
  if (dim_ == 0) throw sf::InvalidArgument("target: dim must be at least 1 for a callable");
}

PyCallableTarget::~PyCallableTarget() {
  py::gil_scoped_acquire gil;  // the function object is released under the GIL
  f_ = py::function();
}

void PyCallableTarget::evaluate(sf::ConstRows x) const {
  if (x.d != dim_)
    throw sf::InvalidArgument(
        fmt::format("target {}: particles have dimension {}, but the "
                    "target has dimension {}",
                    name_, x.d, dim_));
  const std::size_t count = x.n * x.d;
  if (last_x_.size() == count && std::memcmp(last_x_.data(), x.data, count * sizeof(double)) == 0)
    return;
  py::gil_scoped_acquire gil;
  py::array_t<double> arg({static_cast<py::ssize_t>(x.n), static_cast<py::ssize_t>(x.d)});
  std::memcpy(arg.mutable_data(), x.data, count * sizeof(double));
  py::object result;
  try {
    result = f_(arg);
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
  auto logp = returned_values(t[0], "the callable's logp", {static_cast<py::ssize_t>(x.n)});
  auto score = returned_values(t[1], "the callable's score",
                               {static_cast<py::ssize_t>(x.n), static_cast<py::ssize_t>(x.d)});
  last_x_.assign(x.data, x.data + count);
  last_logp_ = std::move(logp);
  last_score_ = std::move(score);
}

void PyCallableTarget::log_density(sf::ConstRows x, std::span<double> out) const {
  std::lock_guard lock(mutex_);
  evaluate(x);
  std::copy(last_logp_.begin(), last_logp_.end(), out.begin());
}

void PyCallableTarget::score(sf::ConstRows x, sf::Rows out) const {
  std::lock_guard lock(mutex_);
  evaluate(x);
  std::copy(last_score_.begin(), last_score_.end(), out.data);
}

}  // namespace sfpy
