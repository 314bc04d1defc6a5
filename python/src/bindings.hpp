// The parts of the _scoreflow module, one function per file.
#pragma once

#include <pybind11/pybind11.h>
#include <nlohmann/json.hpp>

namespace sfpy {

pybind11::object json_to_python(const nlohmann::json& j);

void bind_samplers(pybind11::module_& m);
void bind_diagnostics(pybind11::module_& m);
void bind_estimators(pybind11::module_& m);
void bind_neural(pybind11::module_& m);

}  // namespace sfpy
