// `scoreflow sample`: build a target and sampler from options, run with trace, snapshot,
// checkpoint and progress observers, write the run directory.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/samplers/annealing.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct SampleOptions {
  std::string target = "gmm-grid16";
  std::string sampler = "ula";  // see make_sampler for the valid names
  std::string init;             // spec of an initial distribution; default N(0, I)
  std::string init_file;        // or initial particles from an N×d .npy file
  std::size_t n = 1000;
  std::size_t steps = 1000;
  double step_size = 0.01;
  std::uint64_t seed = 0;
  std::string path = "geometric";  // annealing path
  double anneal_fraction = 1.0;
  bool fk_weights = false;   // annealed-ula: Feynman–Kac (AIS) weights
  double anneal_beta = 1.0;  // fk-corrector: sample the mixture target raised to this power
  std::string density = "ula-kernel";  // wfr: ula-kernel | kde
  double bandwidth = 0;                // wfr (kde), birth-death: 0 = automatic
  std::string bandwidth_rule = "silverman";
  std::string resampler = "systematic";
  double ess_threshold = 0.5;
  // SBTM (MATH.md §3): the network trained on the particles at every step.
  std::string hidden;  // widths; empty: [128,128] for d = 1, else 4×128
  std::string activation = "softsign";
  std::string sbtm_loss = "";    // ism (default d ≤ 10), ism-hutchinson (default d > 10), dsm
  double dsm_sigma = 0.05;       // sbtm --sbtm-loss dsm
  std::size_t train_steps = 10;  // minibatch steps per time step
  std::size_t batch = 100;
  double lr = 5e-4;
  double weight_decay = 1e-4;
  double loss_tol = 0;               // > 0: stop a step's training once the loss changes less
  std::string integrator = "euler";  // euler | heun
  bool anneal = false;               // sbtm: follow --path with the linear schedule
  std::string anneal_schedule;       // custom piecewise-linear λ knots (annealed-ula, sbtm)
  std::size_t trajectory_every = 0;  // > 0: positions of up to 200 particles every k steps
  std::size_t trace_every = 0;       // 0: about 100 trace rows
  std::size_t metric_n = 1000;       // particles used for per-step metrics
  std::size_t snapshots = 4;         // snapshot count besides step 0
  std::size_t checkpoint_every = 0;  // 0: about 10 checkpoints
  int threads = 0;                   // 0: OpenMP default
  std::filesystem::path out = "runs/sample";
  bool force = false;
  bool resume = false;
  bool plot = true;
  bool quiet = false;
};

// Samplers from other libraries (SBTM lives with LibTorch) register here by name.
using SamplerFactory = std::function<std::unique_ptr<Sampler>(const SampleOptions&, const Target&)>;
void register_sampler(const std::string& name, SamplerFactory factory);
bool sampler_registered(const std::string& name);
// The annealing schedule the options describe (--anneal-fraction or --anneal-schedule).
LinearSchedule schedule_of(const SampleOptions& o);

// Validates every option before any work, naming the bad value and what is valid.
void validate(const SampleOptions& o);

// Runs and writes samples.npy, trace.csv, summary.json, snapshots/ and plots. Returns the
// summary.
nlohmann::json run_sample(const SampleOptions& o);

// Metrics of a particle set against a target (and exact reference samples when the target
// has a sampler): mean/cov error, MMD², energy, sliced W2, KSD, KL, mode coverage.
// Weighted particles (x.log_weights()) give weighted metrics; `log_z_fk` is a Feynman–Kac
// estimate of log Z to report beside the importance-sampling one.
nlohmann::json final_metrics(const Particles& x, const Target& target, std::uint64_t seed,
                             std::optional<double> log_z_fk = std::nullopt);

}  // namespace sf
