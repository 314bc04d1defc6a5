#include "arrays.hpp"

#include <fmt/format.h>

namespace sfpy {

namespace {

std::string shape_text(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string expected_text(int ndim, std::size_t d) {
  if (ndim == 1) return "a 1-D array (N,)";
  return d ? fmt::format("a 2-D array (N, {})", d) : "a 2-D array (N, d)";
}

}  // namespace

Array as_array(py::handle obj, const char* name, int ndim, std::size_t d) {
  py::array any;
  try {
    any = py::array::ensure(obj);
  } catch (const py::error_already_set&) {
  }
  if (!any)
    throw py::type_error(
        fmt::format("{}: expected {} of float64, got {}", name, expected_text(ndim, d),
                    py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>()));
  const char kind = any.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
    throw py::type_error(fmt::format("{}: expected {} of float64, got dtype {} with shape {}", name,
                                     expected_text(ndim, d),
                                     py::str(any.dtype()).cast<std::string>(), shape_text(any)));
  if (any.ndim() != ndim || (ndim == 2 && d && static_cast<std::size_t>(any.shape(1)) != d) ||
      (ndim == 2 && any.shape(1) == 0))
    throw py::value_error(fmt::format("{}: expected {}, got shape {} (dtype {})", name,
                                      expected_text(ndim, d), shape_text(any),
                                      py::str(any.dtype()).cast<std::string>()));
  return Array::ensure(any);  // no copy for float64 C-contiguous input
}

sf::Particles particles_of(py::handle obj, const char* name, std::size_t d) {
  const Array a = as_array(obj, name, 2, d);
  const auto n = static_cast<std::size_t>(a.shape(0)), cols = static_cast<std::size_t>(a.shape(1));
  return sf::Particles(n, cols, std::vector<double>(a.data(), a.data() + n * cols));
}

py::array_t<double> to_numpy(std::vector<double>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<double>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<double>*>(p); });
  return py::array_t<double>(shape, owned->data(), free_when_done);
}

py::array_t<double> to_numpy(sf::Particles&& x) {
  const auto n = static_cast<py::ssize_t>(x.n()), d = static_cast<py::ssize_t>(x.d());
  return to_numpy(std::move(x.values()), {n, d});
}

}  // namespace sfpy
