// The scoreflow Python module's compiled core (_scoreflow). The public, documented API is the
// pure-Python package around it (python/scoreflow/__init__.py); this file only binds the
// library's public headers: targets, samplers and their states, run_sample, estimators and
// diagnostics, and maps the library's exceptions to Python's.
#include <csignal>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <scoreflow/core/allocator.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/neural/torchscript_target.hpp>
#include <scoreflow/runs/torch_parts.hpp>
#include <scoreflow/targets/registry.hpp>

#include "arrays.hpp"
#include "bindings.hpp"
#include "py_target.hpp"

namespace py = pybind11;

namespace sfpy {

py::object json_to_python(const nlohmann::json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

namespace {

void raise_as(const std::string& type, const std::string& message) {
  PyObject* kind = PyExc_RuntimeError;
  if (type == "TypeError") kind = PyExc_TypeError;
  if (type == "ValueError") kind = PyExc_ValueError;
  PyErr_SetString(kind, message.c_str());
}

void translate_errors(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const CallableError& e) {
    raise_as(e.python_type, e.what());
  } catch (const sf::Interrupted& e) {
    PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
  } catch (const sf::IoError& e) {
    PyErr_SetString(PyExc_OSError, e.what());
  } catch (const sf::InvalidArgument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const sf::FormatError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const sf::Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
}

void bind_targets(py::module_& m) {
  py::class_<sf::Target, std::shared_ptr<sf::Target>>(m, "_Target")
      .def_property_readonly("dim", &sf::Target::dim)
      .def_property_readonly("spec", &sf::Target::spec)
      .def_property_readonly("can_sample", &sf::Target::can_sample)
      .def_property_readonly("log_normaliser", &sf::Target::log_normaliser)
      .def_property_readonly("modes", &sf::Target::modes)
      .def("log_density",
           [](const sf::Target& t, py::handle x) {
             const Array a = as_array(x, "x", 2, t.dim());
             std::vector<double> out(static_cast<std::size_t>(a.shape(0)));
             {
               py::gil_scoped_release nogil;
               t.log_density(rows_of(a), out);
             }
             return to_numpy(std::move(out), {a.shape(0)});
           })
      .def("score",
           [](const sf::Target& t, py::handle x) {
             const Array a = as_array(x, "x", 2, t.dim());
             sf::Particles out(static_cast<std::size_t>(a.shape(0)), t.dim());
             {
               py::gil_scoped_release nogil;
               t.score(rows_of(a), out.rows());
             }
             return to_numpy(std::move(out));
           })
      .def("sample", [](const sf::Target& t, std::size_t n, std::uint64_t seed) {
        if (!t.can_sample())
          throw sf::InvalidArgument(
              fmt::format("target {} has no exact sampler", t.spec().substr(0, 60)));
        sf::Particles out(n, t.dim());
        {
          py::gil_scoped_release nogil;
          t.sample(seed, out.rows());
        }
        return to_numpy(std::move(out));
      });

  // LibTorch refuses to run autograd (the TorchScript probe) while the GIL is held.
  m.def(
      "_target_spec",
      [](const std::string& spec) -> std::shared_ptr<sf::Target> { return sf::make_target(spec); },
      py::call_guard<py::gil_scoped_release>());
  py::class_<PyCallableTarget, sf::Target, std::shared_ptr<PyCallableTarget>>(m, "_CallableTarget")
      .def_property_readonly("timings", [](const PyCallableTarget& t) {
        const auto c = t.timings();
        py::dict d;
        d["calls"] = c.calls;
        d["seconds"] = c.seconds;
        d["seconds_in_callable"] = c.seconds_in_callable;
        return d;
      });
  m.def("_process", [] {
    const sf::Comm& c = sf::Comm::world();
    return py::make_tuple(c.rank(), c.size());
  });
  m.def("_target_callable",
        [](py::function f, std::size_t dim,
           const std::string& name) -> std::shared_ptr<PyCallableTarget> {
          return std::make_shared<PyCallableTarget>(std::move(f), dim, name);
        });
  m.def(
      "_target_torchscript",
      [](const std::string& path, std::size_t dim) -> std::shared_ptr<sf::Target> {
        return sf::load_torchscript_target(path, dim);
      },
      py::call_guard<py::gil_scoped_release>());
  m.def("_target_names", [] { return sf::target_registry().names(); });
}

}  // namespace

}  // namespace sfpy

PYBIND11_MODULE(_scoreflow, m) {
  m.doc() = "scoreflow's compiled core; use the scoreflow package";
  sf::register_torch_parts();
  sf::tune_allocator();
  py::register_exception_translator(&sfpy::translate_errors);
  m.def("set_threads", &sf::set_thread_count, py::arg("n"));
  m.def("thread_count", &sf::thread_count);
  sfpy::bind_targets(m);
  sfpy::bind_samplers(m);
  sfpy::bind_diagnostics(m);
  sfpy::bind_estimators(m);
  sfpy::bind_neural(m);
}
