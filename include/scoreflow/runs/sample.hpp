// `scoreflow sample`: build a target and sampler from options, run with trace, snapshot,
// checkpoint and progress observers, write the run directory.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct SampleOptions {
  std::string target = "gmm-grid16";
  // The sampler and its own options as a spec, e.g. "wfr:density=kde,step_size=0.05" (see
  // `scoreflow samplers`); more options may come in sampler_options, e.g. from flags. A key
  // given in both is refused.
  std::string sampler = "ula";
  std::map<std::string, std::string> sampler_options;
  std::string init;       // spec of an initial distribution; default N(0, I)
  std::string init_file;  // or initial particles from an N×d .npy file
  std::size_t n = 1000;
  std::size_t steps = 1000;
  std::uint64_t seed = 0;
  std::size_t trajectory_every = 0;  // > 0: positions of up to 200 particles every k steps
  std::size_t trace_every = 0;       // 0: about 100 trace rows
  std::size_t metric_n = 1000;       // particles used for per-step metrics
  // Trace rows with the O(m²) metrics (MMD², energy, KSD², KL) besides the first, evenly
  // spaced up to the last; 0: every row.
  std::size_t trace_full_rows = 5;
  std::size_t snapshots = 4;         // snapshot count besides step 0
  std::size_t checkpoint_every = 0;  // 0: about 10 checkpoints
  int threads = 0;                   // 0: OpenMP default
  std::filesystem::path out = "runs/sample";
  bool force = false;
  bool resume = false;
  bool plot = true;
  bool quiet = false;
};

// The sampler spec with sampler_options merged in, and what every sampler shares.
Spec sampler_spec(const SampleOptions& o);
SamplerContext sampler_context(const SampleOptions& o);

// Validates every option before any work, naming the bad value and what is valid.
void validate(const SampleOptions& o);

// Runs and writes samples.npy, trace.csv, summary.json, snapshots/ and plots. Returns the
// summary.
nlohmann::json run_sample(const SampleOptions& o);

// What an application embedding the engine (the Python package) passes besides the options.
struct SampleInputs {
  // The target object; o.target then only names it (in run_options.json and the summary),
  // and no plots are drawn (they rebuild the target from its spec). The caller keeps it alive.
  const Target* target = nullptr;
  std::optional<Particles> init;     // initial particles, instead of --init / --init-file
  std::vector<Observer*> observers;  // e.g. a progress bar or an interrupt check
};
nlohmann::json run_sample(const SampleOptions& o, const SampleInputs& in);

// Metrics of a particle set against a target (and exact reference samples when the target
// has a sampler): mean/cov error, MMD², energy, sliced W2, KSD, KL, mode coverage.
// Weighted particles (x.log_weights()) give weighted metrics; `log_z_fk` is a Feynman–Kac
// estimate of log Z to report beside the importance-sampling one.
nlohmann::json final_metrics(const Particles& x, const Target& target, std::uint64_t seed,
                             std::optional<double> log_z_fk = std::nullopt);

}  // namespace sf
