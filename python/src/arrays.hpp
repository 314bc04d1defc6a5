// NumPy arrays at the boundary: float64 C-contiguous N×d arrays are read in place; anything
// else that NumPy can turn into numbers (float32, Fortran order, nested lists) is converted
// once; the rest is refused naming the argument, the shape and dtype given and expected.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <scoreflow/core/particles.hpp>

namespace sfpy {

namespace py = pybind11;
using Array = py::array_t<double, py::array::c_style>;

// `obj` as a float64 C-contiguous array of `ndim` dimensions (a copy only when needed).
// `d` > 0 also fixes the number of columns of a 2-D array.
Array as_array(py::handle obj, const char* name, int ndim, std::size_t d = 0);

// A view of a 2-D array's rows (the array must outlive it).
inline sf::ConstRows rows_of(const Array& a) {
  return {a.data(), static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1))};
}
inline std::span<const double> values_of(const Array& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}

// Particles owning a copy of a 2-D array's rows.
sf::Particles particles_of(py::handle obj, const char* name, std::size_t d = 0);

// NumPy arrays that take over a vector's storage (no copy).
py::array_t<double> to_numpy(std::vector<double>&& v, std::vector<py::ssize_t> shape);
py::array_t<double> to_numpy(sf::Particles&& x);

}  // namespace sfpy
