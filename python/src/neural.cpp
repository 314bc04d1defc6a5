// Training, generation and export from Python: the library's run_train / run_generate /
// run_export (the same runs as the command line), options from a dict, Ctrl-C as a stop
// request after the current step.
#include <csignal>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/runs/train.hpp>

#include "bindings.hpp"
#include "fields.hpp"

namespace sfpy {

namespace py = pybind11;

namespace {

// Python's SIGINT handler only sets a flag; this runs it between steps and turns a
// KeyboardInterrupt into the library's stop request (a checkpoint, then Interrupted).
void poll_python_signals(std::size_t) {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) {
    PyErr_Clear();
    sf::request_stop(SIGINT);
  }
}

nlohmann::json train(const py::dict& d) {
  sf::TrainRunOptions c;
  std::string out;
  {
    Fields f(d);
    f.set("data", c.data).set("n", c.n).set("n_heldout", c.n_heldout).set("data_seed", c.data_seed);
    f.set("hidden", c.hidden).set("arch", c.arch).set("sde", c.sde).set("cond", c.cond);
    f.set("loss", c.train.loss).set("steps", c.train.steps).set("batch", c.train.batch);
    f.set("lr", c.train.lr).set("optimizer", c.train.optimizer);
    f.set("weight_decay", c.train.weight_decay).set("schedule", c.train.schedule);
    f.set("warmup", c.train.warmup).set("ema", c.train.ema).set("sigma", c.train.sigma);
    f.set("probes", c.train.probes).set("eval_every", c.train.eval_every);
    f.set("time_sampling", c.train.time_sampling).set("base", c.net.base);
    f.set("dequantise", c.dequantise);
    f.set("patience", c.train.patience).set("seed", c.train.seed);
    f.set("grad_blocks", c.train.grad_blocks);
    f.set("checkpoint_every", c.checkpoint_every).set("threads", c.threads);
    f.set("out", out).set("force", c.force).set("resume", c.resume);
    f.done("train");
  }
  c.out = out;
  c.verbose = false;
  c.on_step = poll_python_signals;
  sf::clear_stop_request();
  py::gil_scoped_release nogil;
  try {
    return sf::run_train(std::move(c));
  } catch (...) {
    sf::clear_stop_request();
    throw;
  }
}

nlohmann::json generate(const py::dict& d) {
  sf::GenerateRunOptions c;
  std::string model, out, torchscript;
  std::vector<std::string> product;
  {
    Fields f(d);
    f.set("model", model).set("torchscript", torchscript).set("sde", c.sde).set("dim", c.dim);
    f.set("sampler", c.gen.sampler).set("steps", c.gen.steps).set("snr", c.gen.snr);
    f.set("corrector_steps", c.gen.corrector_steps).set("ncsn_steps", c.gen.ncsn_steps);
    f.set("ncsn_eps", c.gen.ncsn_eps).set("denoise", c.gen.denoise).set("seed", c.gen.seed);
    f.set("n", c.n).set("likelihood", c.likelihood).set("likelihood_n", c.likelihood_n);
    f.set("likelihood_steps", c.likelihood_steps).set("reference", c.reference);
    f.set("threads", c.threads).set("out", out).set("force", c.force);
    f.set("beta", c.beta).set("product", product).set("resampler", c.resampler);
    f.set("ess_threshold", c.ess_threshold);
    f.done("generate");
  }
  c.product.assign(product.begin(), product.end());
  c.model = model;
  c.torchscript = torchscript;
  c.out = out;
  c.verbose = false;
  py::gil_scoped_release nogil;
  return sf::run_generate(std::move(c));
}

}  // namespace

void bind_neural(py::module_& m) {
  m.def("_train", [](const py::dict& d) { return json_to_python(train(d)); });
  m.def("_generate", [](const py::dict& d) { return json_to_python(generate(d)); });
  m.def(
      "_export",
      [](const std::string& model, const std::string& out, bool force) {
        sf::ExportRunOptions c;
        c.model = model;
        c.out = out;
        c.force = force;
        sf::run_export(c);
      },
      py::call_guard<py::gil_scoped_release>());
}

}  // namespace sfpy
