// A sampler is a small object with init() and step(); the state caches what the next step
// reuses (positions, log π, ∇log π); per-step diagnostics come back beside it. The caller,
// or the generic run() below, owns the loop; observers attach from outside.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <scoreflow/core/particles.hpp>

namespace sf {

class Comm;

struct SamplerState {
  Particles x;               // positions (N × d)
  std::vector<double> logp;  // cached log π(x) where the sampler needs it (MALA, WFR, birth–death)
  Particles grad;            // cached drift score at x
  std::size_t step = 0;      // number of steps taken so far
  // Global index of row 0: a process's shard of the particles starts there (0 in one
  // process). Draws are keyed by the global index, so a shard steps as the whole would.
  std::size_t first = 0;
  // The processes sharing the particles and their number in all (null: this process holds
  // all x.n() of them). Weighted samplers reach the other shards through it.
  const Comm* comm = nullptr;
  std::size_t n_all = 0;
  // Weighted samplers: x.log_weights() holds log-weights normalised to max 0; this holds
  // what was taken out, log((1/N) Σ w) summed over renormalisations and resamplings, so
  // that log_normaliser + log mean(exp(logw)) estimates a log Z where the weights allow it.
  double log_normaliser = 0;
  // The largest |coordinate| when the run began (at least 1; 0 until run() sets it): the
  // scale against which run() detects particles that blow up. Checkpoints keep it, so a
  // resumed run stops where the uninterrupted one would.
  double start_scale = 0;
};

// Where a process's shard lies among all particles (SamplerState's first, comm and n_all).
struct Placement {
  std::size_t first = 0;
  const Comm* comm = nullptr;  // null: this process holds all particles
  std::size_t n_all = 0;
};

struct StepInfo {
  double acceptance = NAN;  // MALA: fraction of proposals accepted this step
  double lambda = NAN;      // annealed samplers: the path parameter used this step
  double ess = NAN;         // weighted samplers: normalised ESS before resampling
  bool resampled = false;   // weighted samplers: resampled this step
  double jump_rate = NAN;   // birth–death: fraction of particles killed or duplicated
  double fisher = NAN;      // SBTM: relative Fisher information (1/N)Σ|s_θ − ∇log π|²
  double train_loss = NAN;  // SBTM: mean score-matching loss of this step's training
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::string name() const = 0;
  virtual nlohmann::json config() const = 0;
  // State at step `step` from positions x (step > 0 when resuming from a checkpoint).
  virtual SamplerState init(Particles x, std::size_t step = 0) const = 0;
  // init() for a process's shard x of the particles placed by `where`. By default init()
  // on the shard with the placement recorded; a sampler whose set-up reads all particles
  // (SBTM's pre-fit) overrides it and reaches them through the placement.
  virtual SamplerState init_shard(Particles x, std::size_t step, const Placement& where) const;
  // Advances the state by one step; draws are keyed by (seed, particle, state.step).
  virtual StepInfo step(SamplerState& s) const = 0;
  // True when a process can step its shard of the particles, as run_sharded() does: each
  // particle's move reads its own row (draws keyed by its global index), and what couples
  // the particles (weights, resampling) goes through state.comm.
  virtual bool runs_sharded() const { return false; }
  // The fewest particles a state (or a process's shard of one) may hold.
  virtual std::size_t min_particles() const { return 1; }
  // False when the cached `grad` is not ∇log π (annealed samplers cache the path's score).
  virtual bool grad_is_target_score() const { return true; }
  // What to try when particles blow up.
  virtual std::string divergence_hint() const { return "try a smaller --step-size"; }
  // State beyond the particles (SBTM's network and optimiser), kept with each checkpoint
  // in `dir` and restored on resume.
  virtual void save_extra(const std::string& /*dir*/) const {}
  virtual void load_extra(const std::string& /*dir*/) const {}
};

// Hooks called by run(); implement only what is needed. Returning false from on_step
// stops the run early.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_start(const SamplerState&) {}
  virtual bool on_step(const SamplerState&, const StepInfo&) { return true; }
  virtual void on_finish(const SamplerState&) {}
  // Whether on_step at this step reads the particles (x, grad, logp, weights) and not only
  // the step count and StepInfo: a sharded run gathers them from every process only then.
  virtual bool needs_state(std::size_t /*step*/) const { return true; }
};

struct RunResult {
  std::size_t steps_taken = 0;
  bool stopped_early = false;
  bool interrupted = false;  // stop_requested() (Ctrl-C, SIGTERM) ended the run before its end
  double seconds = 0;
};

class Target;
enum class Cache { score, log_density_and_score };
// A state at `step` for particles x (checked against the target's dimension and N ≥ 1),
// with the target's score and, if asked, its log-density cached.
SamplerState target_state(const Target& t, Particles x, std::size_t step, const char* who,
                          Cache cache = Cache::score);
// Records where s's particles lie among all of them.
void place(SamplerState& s, const Placement& where);

// Runs until state.step == total_steps, an observer stops it, or stop_requested() (checked
// after each step). Throws NumericalError naming the step and a hint at the first non-finite
// particle, or when the particles grow beyond 1e8 times their starting scale.
RunResult run(const Sampler& sampler, SamplerState& state, std::size_t total_steps,
              std::span<Observer* const> observers);

// run() over processes: each holds rows [local.first, local.first + local.x.n()) of n particles
// and steps them alone (the sampler must have runs_sharded()). The observers, given
// on the root only, see the whole state, gathered on the steps where one of them needs it; a
// diverging particle, a stop request or an observer's stop on any process ends every process
// at the same step. Results equal run() on all n particles, for any number of processes.
// `whole`, when given, receives the final whole state at the root (scalars elsewhere).
RunResult run_sharded(const Sampler& sampler, SamplerState& local, std::size_t n,
                      std::size_t total_steps, std::span<Observer* const> observers,
                      const Comm& comm, SamplerState* whole = nullptr);
// A per-particle array of every process in global order, for samplers whose particles
// interact: a view of the state's own array in one process, a gathered copy across processes.
struct AllRows {
  std::vector<double> owned;
  std::span<const double> view;
  ConstRows rows(std::size_t d) const { return {view.data(), view.size() / d, d}; }
};
AllRows all_rows(const SamplerState& s, std::span<const double> local, std::size_t width);
// f(first, values) for consecutive blocks of `block` rows (the last may be shorter) of the
// first `count` rows of all particles' `local` values (`width` each), in global order, on
// every process: a sweep that holds one block at a time.
void for_each_block(const SamplerState& s, std::span<const double> local, std::size_t width,
                    std::size_t block, std::size_t count,
                    const std::function<void(std::size_t, std::span<const double>)>& f);
bool across_processes(const SamplerState& s);
// The number of particles over all processes.
std::size_t all_particles(const SamplerState& s);
// The largest of every process's `mine`.
double max_over_processes(const SamplerState& s, double mine);

// The whole state at the root, from every process's shard of n particles (other ranks get
// only the step and scalars).
SamplerState gather_state(const SamplerState& local, std::size_t n, const Comm& comm);

}  // namespace sf
