// The Malliavin and heat-ball estimators from Python: the same runs as `scoreflow estimate`,
// options from a dict, results left in a run directory that the Python side reads.
#include <string>

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/runs/estimate_heat_ball.hpp>
#include <scoreflow/runs/estimate_malliavin.hpp>

#include "bindings.hpp"
#include "fields.hpp"

namespace sfpy {

namespace py = pybind11;

namespace {

nlohmann::json malliavin(const py::dict& d) {
  sf::MalliavinEstimateOptions o;
  std::string out;
  Fields(d)
      .set("sde", o.sde)
      .set("x0", o.x0)
      .set("start", o.start)
      .set("paths", o.paths)
      .set("steps", o.steps)
      .set("t", o.horizon)
      .set("seed", o.seed)
      .set("no_correction", o.no_correction)
      .set("at", o.at)
      .set("points", o.points)
      .set("bandwidth", o.bandwidth)
      .set("regression", o.regression)
      .set("reference", o.reference)
      .set("out", out)
      .set("force", o.force)
      .done("malliavin_score");
  o.out = out;
  o.verbose = false;
  py::gil_scoped_release nogil;
  return sf::run_estimate_malliavin(o);
}

nlohmann::json heat_ball(const py::dict& d) {
  sf::HeatBallEstimateOptions o;
  std::string out;
  Fields(d)
      .set("sde", o.sde)
      .set("x0", o.x0)
      .set("x0_std", o.x0_std)
      .set("start", o.start)
      .set("t", o.time)
      .set("radius", o.radius)
      .set("samples", o.samples)
      .set("tip", o.tip)
      .set("score_tip", o.score_tip)
      .set("source", o.source)
      .set("steps", o.steps)
      .set("seed", o.seed)
      .set("at", o.at)
      .set("points", o.points)
      .set("reference", o.reference)
      .set("out", out)
      .set("force", o.force)
      .done("heat_ball");
  o.out = out;
  o.verbose = false;
  py::gil_scoped_release nogil;
  return sf::run_estimate_heat_ball(o);
}

}  // namespace

void bind_estimators(py::module_& m) {
  m.def("_malliavin", [](const py::dict& d) { return json_to_python(malliavin(d)); });
  m.def("_heat_ball", [](const py::dict& d) { return json_to_python(heat_ball(d)); });
}

}  // namespace sfpy
