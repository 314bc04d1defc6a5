// The Malliavin and heat-ball estimators from Python: the same runs as `scoreflow estimate`,
// options from a dict, results left in a run directory that the Python side reads. Also the
// parts those estimators are built from: exact κ draws and Fokker–Planck reference solutions.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/runs/estimate_heat_ball.hpp>
#include <scoreflow/runs/estimate_malliavin.hpp>
#include <scoreflow/score/heat_ball.hpp>
#include <scoreflow/sde/fokker_planck.hpp>
#include <scoreflow/sde/forward_sde.hpp>

#include "arrays.hpp"

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

// κ draws in dimension n as a dict of arrays; with a point x, also the heat-ball points
// (y, s) of E(x, t; r) that the draws map to.
py::object kappa(std::size_t n, std::size_t count, std::uint64_t seed, std::size_t first,
                 py::handle x, double t, double r) {
  std::vector<double> at;
  if (!x.is_none()) {
    const Array a = as_array(x, "x", 1);
    at.assign(a.data(), a.data() + a.shape(0));
    sf::check_dim("kappa_draws", "point x", at.size(), n);
    sf::check_positive_finite("kappa_draws", "radius", r);
    sf::check_finite("kappa_draws", "t", t);
    // The heat-ball points (y, s) on top of what kappa_sample checks for itself.
    sf::check_memory_fits(fmt::format("kappa_draws: {} draws and points in dimension {}", count, n),
                          8.0 * static_cast<double>(count) * static_cast<double>(3 * n + 7),
                          "draw them in blocks (first = 0, k, 2k, ...)");
  }
  // Across processes each draws its shard of the stream; the root gathers them in order.
  const sf::Comm& comm = sf::Comm::world();
  const sf::Shard mine = comm.shard(count);
  sf::KappaDraws k;
  sf::Particles y;
  std::vector<double> s;
  {
    py::gil_scoped_release nogil;
    k = sf::kappa_sample(n, first + mine.first, mine.count, seed);
    if (!at.empty()) {
      y.reshape(mine.count, n);
      s.resize(mine.count);
      sf::heat_ball_points(k, at, t, r, y.rows(), s);
    }
  }
  py::dict out;
  const auto put = [&](const char* name, const std::vector<double>& local, std::size_t width) {
    std::vector<double> all;
    {
      py::gil_scoped_release nogil;
      all = comm.rows_at_root(local, count, width);
    }
    if (!comm.root()) return;
    if (width == 1)
      out[name] = to_numpy(std::move(all), {static_cast<py::ssize_t>(count)});
    else
      out[name] = to_numpy(sf::Particles(count, width, std::move(all)));
  };
  put("z", k.z.values(), n);
  put("rho", k.rho, 1);
  put("e", k.e, 1);
  if (!at.empty()) {
    put("y", y.values(), n);
    put("s", s, 1);
  }
  if (!comm.root()) return py::none();
  return out;
}

std::vector<sf::GridAxis> grid_axes(const std::vector<double>& lo, const std::vector<double>& hi,
                                    const std::vector<std::size_t>& cells) {
  std::vector<sf::GridAxis> axes;
  for (std::size_t i = 0; i < lo.size(); ++i) axes.push_back({lo[i], hi[i], cells[i]});
  return axes;
}

// Values of a solution at M points (M × d) through `at(const double* y, double* out)`, `width`
// values per point: shape (M,) for a scalar (width 0), else (M, width).
template <class At>
py::array_t<double> at_points(const sf::FokkerPlanckSolution& p, py::handle points,
                              py::ssize_t width, At&& at) {
  const Array q = as_array(points, "points", 2, p.axes().size());
  const auto m = static_cast<std::size_t>(q.shape(0)), d = static_cast<std::size_t>(q.shape(1));
  const auto per = static_cast<std::size_t>(std::max<py::ssize_t>(width, 1));
  std::vector<double> out(m * per);
  for (std::size_t i = 0; i < m; ++i) at(q.data() + i * d, out.data() + i * per);
  return width == 0 ? to_numpy(std::move(out), {q.shape(0)})
                    : to_numpy(std::move(out), {q.shape(0), width});
}

void bind_fokker_planck(py::module_& m) {
  py::class_<sf::FokkerPlanckSolution>(m, "_FokkerPlanck")
      .def_property_readonly("density",
                             [](const sf::FokkerPlanckSolution& p) {
                               std::vector<py::ssize_t> shape;
                               for (const auto& a : p.axes())
                                 shape.push_back(static_cast<py::ssize_t>(a.cells));
                               return to_numpy(std::vector<double>(p.density()), shape);
                             })
      .def_property_readonly(
          "centres",
          [](const sf::FokkerPlanckSolution& p) {
            py::list axes;
            for (const auto& a : p.axes()) {
              std::vector<double> c(a.cells);
              for (std::size_t i = 0; i < a.cells; ++i) c[i] = a.center(i);
              axes.append(to_numpy(std::move(c), {static_cast<py::ssize_t>(a.cells)}));
            }
            return axes;
          })
      .def_property_readonly("mass", &sf::FokkerPlanckSolution::mass)
      .def("score",
           [](const sf::FokkerPlanckSolution& p, py::handle points) {
             const auto d = static_cast<py::ssize_t>(p.axes().size());
             return at_points(p, points, d, [&](const double* y, double* out) {
               const auto s = p.score(y);
               std::copy(s.begin(), s.end(), out);
             });
           })
      .def("density_at", [](const sf::FokkerPlanckSolution& p, py::handle points) {
        return at_points(p, points, 0,
                         [&](const double* y, double* out) { *out = p.density_at(y); });
      });
  m.def("_fokker_planck",
        [](const std::string& sde_spec, const std::vector<double>& x0,
           const std::vector<double>& lo, const std::vector<double>& hi,
           const std::vector<std::size_t>& cells, double horizon, std::size_t steps, double t0) {
          const auto sde = sf::make_forward_sde(sde_spec);
          const sf::FokkerPlanckOptions opt{horizon, steps, t0};
          const auto axes = grid_axes(lo, hi, cells);
          py::gil_scoped_release nogil;
          return sf::solve_fokker_planck(*sde, x0, axes, opt);
        });
}

}  // namespace

void bind_estimators(py::module_& m) {
  m.def("_malliavin", [](const py::dict& d) { return json_to_python(malliavin(d)); });
  m.def("_heat_ball", [](const py::dict& d) { return json_to_python(heat_ball(d)); });
  m.def("_kappa", &kappa);
  bind_fokker_planck(m);
}

}  // namespace sfpy
