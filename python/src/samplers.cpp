// Samplers from Python: BlackJAX-style init/step over the library's Sampler, and run_sample
// (trace, checkpoints, resume) with a progress callback and Ctrl-C.
#include <csignal>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/runs/sample.hpp>
#include <scoreflow/samplers/registry.hpp>

#include "arrays.hpp"
#include "bindings.hpp"
#include "fields.hpp"
#include "py_target.hpp"

namespace sfpy {

namespace {

// Checks for Ctrl-C after every step (Python only runs its signal handler when asked), keeps
// the last step's info and calls an optional progress callback.
class PythonObserver : public sf::Observer {
 public:
  enum class OnSignal { raise_now, stop_after_checkpoint };
  PythonObserver(py::object progress, OnSignal mode)
      : progress_(std::move(progress)), mode_(mode) {}
  bool on_step(const sf::SamplerState& s, const sf::StepInfo& info) override {
    last = info;
    last_step = s.step;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) interrupted(py::error_already_set());
    if (!progress_.is_none()) {
      try {
        progress_(s.step);
      } catch (py::error_already_set& e) {
        // Ctrl-C may land while the callback runs: the same stop, not an error of the callback.
        if (!e.matches(PyExc_KeyboardInterrupt)) throw;
        interrupted(std::move(e));
      }
    }
    return true;
  }
  // It reads the step and its info only: a run across processes need not gather particles.
  bool needs_state(std::size_t) const override { return false; }
  sf::StepInfo last;
  std::size_t last_step = 0;

 private:
  void interrupted(py::error_already_set e) {
    if (mode_ == OnSignal::raise_now) throw std::move(e);
    // The error was fetched (and cleared) into `e`, which drops it here: run_sample saves a
    // checkpoint after this step, then raises KeyboardInterrupt with its own message.
    sf::request_stop(SIGINT);
  }
  py::object progress_;
  OnSignal mode_;
};

py::dict info_dict(const sf::StepInfo& i) {
  py::dict d;
  const auto put = [&](const char* k, double v) {
    if (!std::isnan(v)) d[k] = v;
  };
  put("acceptance", i.acceptance);
  put("lambda", i.lambda);
  put("ess", i.ess);
  put("jump_rate", i.jump_rate);
  put("fisher", i.fisher);
  put("train_loss", i.train_loss);
  d["resampled"] = i.resampled;
  return d;
}

// A sampler with the target it refers to (kept alive as long as the sampler).
struct PySampler {
  std::shared_ptr<sf::Target> target;
  std::unique_ptr<sf::Sampler> sampler;
};

// A callable target's error, with the step it happened at.
[[noreturn]] void rethrow_at_step(const CallableError& e, std::size_t step) {
  CallableError at(fmt::format("step {}: {}", step, e.what()));
  at.python_type = e.python_type;
  throw at;
}

sf::SampleOptions sample_options(const py::dict& d) {
  sf::SampleOptions o;
  std::string out;
  Fields f(d);
  f.set("target", o.target).set("sampler", o.sampler).set("init", o.init).set("n", o.n);
  f.set("steps", o.steps).set("seed", o.seed).set("trace_every", o.trace_every);
  f.set("metric_n", o.metric_n).set("trace_full_rows", o.trace_full_rows);
  f.set("snapshots", o.snapshots);
  f.set("trajectory_every", o.trajectory_every);
  f.set("checkpoint_every", o.checkpoint_every).set("threads", o.threads).set("out", out);
  f.set("force", o.force).set("resume", o.resume).set("plot", o.plot);
  f.done("run");
  o.out = out;
  o.quiet = true;  // progress is the Python side's
  return o;
}

}  // namespace

void bind_samplers(py::module_& m) {
  py::class_<sf::SamplerState, std::shared_ptr<sf::SamplerState>>(m, "_State")
      .def_property_readonly("x",
                             [](const sf::SamplerState& s) {
                               auto x = s.x;
                               return to_numpy(std::move(x));
                             })
      .def_property_readonly("log_weights",
                             [](const sf::SamplerState& s) -> py::object {
                               if (!s.x.weighted()) return py::none();
                               auto w = s.x.log_weights();
                               return to_numpy(std::move(w), {static_cast<py::ssize_t>(w.size())});
                             })
      .def_property_readonly("grad",
                             [](const sf::SamplerState& s) {
                               auto g = s.grad;
                               return to_numpy(std::move(g));
                             })
      .def_readonly("step", &sf::SamplerState::step)
      .def_readonly("log_normaliser", &sf::SamplerState::log_normaliser);

  py::class_<PySampler>(m, "_Sampler")
      .def(py::init([](std::shared_ptr<sf::Target> target, const std::string& spec,
                       std::uint64_t seed, std::size_t steps, const std::string& init) {
             sf::SamplerContext ctx;
             ctx.seed = seed;
             ctx.total_steps = steps;
             ctx.init = init;
             auto s = sf::make_sampler(spec, *target, ctx);
             return PySampler{std::move(target), std::move(s)};
           }),
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("name", [](const PySampler& p) { return p.sampler->name(); })
      .def_property_readonly("config",
                             [](const PySampler& p) { return json_to_python(p.sampler->config()); })
      .def("init",
           [](const PySampler& p, py::handle x0) {
             auto x = particles_of(x0, "x0", p.target->dim());
             py::gil_scoped_release nogil;
             try {
               return std::make_shared<sf::SamplerState>(p.sampler->init(std::move(x), 0));
             } catch (const CallableError& e) {
               rethrow_at_step(e, 0);
             }
           })
      .def("step", [](const PySampler& p, const sf::SamplerState& state, std::size_t count,
                      py::object progress) {
        auto next = std::make_shared<sf::SamplerState>(state);
        PythonObserver watch(progress, PythonObserver::OnSignal::raise_now);
        sf::Observer* observers[] = {&watch};
        {
          py::gil_scoped_release nogil;
          try {
            sf::run(*p.sampler, *next, next->step + count, observers);
          } catch (const CallableError& e) {
            rethrow_at_step(e, next->step + 1);
          }
        }
        return py::make_tuple(next, info_dict(watch.last));
      });

  m.def("_run_sample", [](const py::dict& options, std::shared_ptr<sf::Target> target,
                          py::object x0, py::object progress) {
    const sf::SampleOptions o = sample_options(options);
    sf::SampleInputs in;
    in.target = target.get();
    if (!x0.is_none()) in.init = particles_of(x0, "x0", target ? target->dim() : 0);
    PythonObserver watch(progress, PythonObserver::OnSignal::stop_after_checkpoint);
    in.observers.push_back(&watch);
    sf::clear_stop_request();
    nlohmann::json summary;
    {
      py::gil_scoped_release nogil;
      try {
        summary = sf::run_sample(o, in);
      } catch (const CallableError& e) {
        sf::clear_stop_request();
        rethrow_at_step(e, watch.last_step + 1);
      } catch (...) {
        sf::clear_stop_request();
        throw;
      }
    }
    return json_to_python(summary);
  });
  // name -> (description, options with defaults): the docstrings of the sampler factories.
  m.def("_sampler_entries", [] {
    py::dict d;
    for (const auto& e : sf::sampler_registry().entries())
      d[py::str(e.name)] = py::make_tuple(e.description, e.parameters);
    return d;
  });
}

}  // namespace sfpy
