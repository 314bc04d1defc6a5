// `scoreflow train`, `generate` and `export` as library calls: train a score network on data
// (a data set name, an N×d .npy file or a target spec) with checkpoints and resume; generate
// from a trained model (and measure its likelihood); export it as TorchScript. The command
// line and the Python package both call these.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/score_net.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/score/kde.hpp>

namespace sf {

struct TrainRunOptions {
  std::string data = "moons";
  std::size_t n = 20000, n_heldout = 10000;
  std::uint64_t data_seed = 0;
  NetConfig net;
  std::string hidden = "128,128,128";
  std::string arch;                 // empty: unet for images, else mlp
  std::string sde;                  // empty: none (vp when the loss is nc-dsm)
  std::string cond;                 // empty: fourier with an SDE, else none
  std::string dequantise = "auto";  // auto (on for image data), on, off
  TrainOptions train;
  // esm on data of unknown score: the Parzen target's kernel sums within this (kde.hpp)
  double kde_tol = kDefaultKdeTol;
  std::size_t checkpoint_every = 0;  // 0: about 10 checkpoints
  std::size_t stop_after = 0;        // 0: run to --steps
  int threads = 0;
  std::filesystem::path out = "runs/train";
  bool force = false, resume = false;
  bool verbose = true;  // print what was written (progress bars need a terminal anyway)
  // Called after every step (not part of the run's identity): an application's progress
  // display or interrupt check, which may call request_stop().
  std::function<void(std::size_t step)> on_step;
};

struct GenerateRunOptions {
  std::filesystem::path model, torchscript;
  std::string sde = "vp";
  std::int64_t dim = 0;
  GenerateOptions gen;
  std::size_t n = 10000;
  bool likelihood = false;
  std::size_t likelihood_n = 1000, likelihood_steps = 100;
  std::string reference;  // data to compare with (default: the model's held-out data)
  // --sampler fk (Feynman–Kac corrector): samples (q_model × Π q_product)^beta, weighted.
  double beta = 1;
  std::vector<std::filesystem::path> product;  // further model directories, multiplied in
  std::string resampler = "systematic";
  double ess_threshold = 0.5;
  int threads = 0;
  std::filesystem::path out = "runs/generate";
  bool force = false;
  bool verbose = true;
};

struct ExportRunOptions {
  std::filesystem::path model, out;
  bool force = false;
};

// Trains and writes model.pt, model.json, loss.csv, loss.png, summary.json and checkpoints
// into c.out; returns the summary. Ctrl-C (stop_requested) ends it with a checkpoint and
// Interrupted.
nlohmann::json run_train(TrainRunOptions c);
// Generates c.n points (samples.npy, summary.json, a plot); returns the summary. With
// --sampler fk also particles.npy and log_weights.npy (samples.npy is their resample) and the
// estimate of log ∫ Π.
nlohmann::json run_generate(GenerateRunOptions c);
// Writes a trained MLP as TorchScript: forward(x, t) -> score.
void run_export(const ExportRunOptions& c);

}  // namespace sf
