#include <scoreflow/runs/sample.hpp>

#include <map>

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/checkpoint.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/diagnostics/kl.hpp>
#include <scoreflow/diagnostics/ksd.hpp>
#include <scoreflow/diagnostics/log_normaliser.hpp>
#include <scoreflow/diagnostics/sliced_wasserstein.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/runs/observers.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/targets/gaussian.hpp>
#include <scoreflow/targets/registry.hpp>
#include <scoreflow/targets/tempered.hpp>

namespace sf {
namespace fs = std::filesystem;

namespace {

Particles initial_particles(const SampleOptions& o, const Target& target) {
  if (!o.init_file.empty()) {
    const NpyArray a = read_npy(o.init_file);
    if (a.shape.size() != 2)
      throw InvalidArgument(
          fmt::format("--init-file {}: expected an N x d array, got {} dimensions", o.init_file,
                      a.shape.size()));
    check_dim("--init-file", o.init_file, a.shape[1], target.dim());
    if (a.shape[0] == 0)
      throw InvalidArgument(
          fmt::format("--init-file {} holds no particles (shape 0 x {})", o.init_file, a.shape[1]));
    if (a.shape[0] != o.n)
      throw InvalidArgument(
          fmt::format("--init-file {} has {} particles, but --n is {}; pass --n {}", o.init_file,
                      a.shape[0], o.n, a.shape[0]));
    Particles x(a.shape[0], a.shape[1], a.values);
    check_all_finite(x.rows(), "--init-file " + o.init_file);
    return x;
  }
  const std::string spec = o.init.empty() ? fmt::format("gauss:d={}", target.dim()) : o.init;
  const auto init = make_target(spec);
  check_dim("--init", spec, init->dim(), target.dim());
  Particles x(o.n, target.dim());
  init->sample(o.seed, x.rows());
  return x;
}

}  // namespace

Spec sampler_spec(const SampleOptions& o) {
  const Spec given = Spec::parse(o.sampler);
  auto values = given.values();
  for (const auto& [k, v] : o.sampler_options)
    if (!values.emplace(k, v).second)
      throw InvalidArgument(
          fmt::format("sampler option {} is given twice: {}={} in '{}' and {} as an option", k, k,
                      values.at(k), o.sampler, v));
  return Spec::from(given.name(), values);
}

SamplerContext sampler_context(const SampleOptions& o) {
  return {o.seed, o.steps, o.init, !o.init_file.empty()};
}

namespace {

nlohmann::json options_json(const SampleOptions& o) {
  return {{"target", o.target}, {"sampler", sampler_spec(o).text()},
          {"init", o.init},     {"init_file", o.init_file},
          {"n", o.n},           {"steps", o.steps},
          {"seed", o.seed},     {"metric_n", o.metric_n}};
}

// Initial particles handed over by an application, checked like an --init-file.
Particles given_particles(const Particles& x, const SampleOptions& o, const Target& target) {
  check_dim("sample", "the initial particles", x.d(), target.dim());
  if (x.n() != o.n)
    throw InvalidArgument(
        fmt::format("sample: {} initial particles were given, but n is {}", x.n(), o.n));
  check_all_finite(x.rows(), "sample: the initial particles");
  return x;
}

// Refuses runs whose particle arrays (several copies live at once) or trajectory would not
// fit in memory.
void check_memory(const SampleOptions& o, std::size_t dim) {
  constexpr double kCopies = 6, kBudget = 16e9;
  const double bytes = kCopies * 8.0 * static_cast<double>(o.n) * static_cast<double>(dim);
  if (bytes > kBudget)
    throw InvalidArgument(fmt::format(
        "sample: N = {} particles in d = {} need about {:.1f} GB, more than the {:.0f} GB "
        "allowed; lower --n",
        o.n, dim, bytes / 1e9, kBudget / 1e9));
  if (!o.trajectory_every) return;
  const double frames = static_cast<double>(o.steps / o.trajectory_every + 1);
  check_memory_fits(
      fmt::format("sample: trajectory.npy ({:.3g} frames of up to 200 particles)", frames),
      frames * 200 * 8 * static_cast<double>(dim), "use a larger --trajectory-every");
}

void check_finite_values(const std::vector<double>& v, const fs::path& file, bool allow_minus_inf) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::isnan(v[i]) || v[i] == INFINITY || (!allow_minus_inf && v[i] == -INFINITY))
      throw FormatError(
          fmt::format("{}: value {} is {}; the checkpoint is not usable", file.string(), i, v[i]));
}

// Restores the state of the committed checkpoint, checked against these options: the same
// run, a step within it, shapes and finite values. Returns nullopt when nothing was committed
// yet, so the run starts over.
std::optional<Checkpoint> load_checkpoint(const fs::path& dir, const SampleOptions& o,
                                          SamplerState& into, CsvTable& trace) {
  const auto ck = read_checkpoint(dir);
  if (!ck) {
    if (fs::exists(dir / "run_options.json"))
      check_resume_options("sample", dir, read_json(dir / "run_options.json"), options_json(o));
    return std::nullopt;
  }
  check_resume_options("sample", dir, ck->meta.at("options"), options_json(o));
  if (ck->step > o.steps)
    throw FormatError(fmt::format("{}: checkpoint at step {}, beyond the run's --steps {}",
                                  ck->dir.string(), ck->step, o.steps));
  const fs::path xfile = ck->dir / "particles.npy";
  const NpyArray a = read_npy(xfile);
  if (a.shape != std::vector<std::size_t>{o.n, into.x.d()})
    throw FormatError(fmt::format("{}: checkpoint has shape {}, expected {} x {}", xfile.string(),
                                  fmt::join(a.shape, " x "), o.n, into.x.d()));
  check_finite_values(a.values, xfile, false);
  into.x = Particles(a.shape[0], a.shape[1], a.values);
  const fs::path wfile = ck->dir / "log_weights.npy";
  if (fs::exists(wfile)) {
    const NpyArray w = read_npy(wfile);
    if (w.shape != std::vector<std::size_t>{o.n})
      throw FormatError(fmt::format("{}: log-weights have the wrong shape", wfile.string()));
    check_finite_values(w.values, wfile, true);
    into.x.log_weights() = w.values;
  }
  into.log_normaliser = ck->meta.at("log_normaliser").get<double>();
  into.start_scale = ck->meta.at("start_scale").get<double>();
  const CsvTable old = CsvTable::read(ck->dir / "trace.csv");
  for (const auto& r : old.rows())
    if (r[0] <= static_cast<double>(ck->step)) trace.add_row(r);
  return ck;
}

}  // namespace

// A run of more steps would take centuries at any step cost; a bigger number is a typo.
constexpr std::size_t kMaxSteps = 1'000'000'000'000;
constexpr std::size_t kMaxSnapshots = 10'000;

void validate(const SampleOptions& o) {
  check_positive("sample", "number of particles --n", o.n);
  check_positive("sample", "number of steps --steps", o.steps);
  check_positive("sample", "--metric-n", o.metric_n);
  if (o.steps > kMaxSteps)
    throw InvalidArgument(
        fmt::format("sample: --steps is {}, but must lie in [1, {}]", o.steps, kMaxSteps));
  if (o.snapshots > kMaxSnapshots)
    throw InvalidArgument(
        fmt::format("sample: --snapshots is {}, but must lie in [0, {}] (they are for plots)",
                    o.snapshots, kMaxSnapshots));
  if (!o.init.empty() && !o.init_file.empty())
    throw InvalidArgument(fmt::format(
        "sample: --init {} and --init-file {} both give the initial particles; pass one", o.init,
        o.init_file));
  if (o.force && o.resume) throw InvalidArgument("sample: --force and --resume exclude each other");
}

nlohmann::json final_metrics(const Particles& all, const Target& target, std::uint64_t seed,
                             std::optional<double> log_z_fk) {
  const Particles x = head(all, kMaxMetricN);
  const auto& lw = x.log_weights();
  nlohmann::json m;
  const Eigen::VectorXd mean = weighted_mean(x.rows(), lw);
  const Eigen::MatrixXd cov =
      x.n() > 1 ? weighted_cov(x.rows(), lw) : Eigen::MatrixXd::Zero(x.d(), x.d());
  m["mean"] = std::vector<double>(mean.data(), mean.data() + mean.size());
  if (x.weighted()) m["ess"] = normalised_ess(lw);
  if (target.can_sample()) {
    Particles ref(x.n(), target.dim());
    target.sample(seed ^ kReferenceSalt, ref.rows());
    const Eigen::VectorXd rmean = weighted_mean(ref.rows());
    m["mean_error"] = (mean - rmean).norm();
    m["cov_error"] = (cov - weighted_cov(ref.rows())).norm();
    const double ell = median_distance(ref.rows(), ref.rows());
    m["mmd2"] = mmd2(x.rows(), ref.rows(), ell, lw);
    m["mmd2_bandwidth"] = ell;
    m["energy_distance"] = energy_distance(x.rows(), ref.rows(), lw);
    m["sliced_w2"] = sliced_wasserstein2(x.rows(), ref.rows(), 128, seed, lw);
  }
  const Particles xs = head(x, kMaxKsdN);
  Particles g(xs.n(), xs.d());
  target.score(xs.rows(), g.rows());
  m["ksd2_imq"] = ksd2_imq(xs.rows(), g.rows(), xs.log_weights());
  if (const auto* gauss = dynamic_cast<const Gaussian*>(&target); gauss && x.n() > x.d())
    m["kl_gaussian_fit"] = kl_gaussian(mean, cov, gauss->mean(), gauss->cov());
  const auto exact_log_z = target.log_normaliser();
  if (exact_log_z && target.dim() <= 3 && x.n() > 1) m["kl_kde"] = kl_kde(x.rows(), target, lw);
  const auto modes = target.modes();
  if (modes.size() > 1) {
    const auto mc = mode_coverage(x.rows(), modes, lw);
    m["mode_entropy"] = mc.entropy;
    m["modes_hit"] = mc.modes_hit;
    m["modes_total"] = modes.size();
  }
  if (x.n() > 1) {
    // A kernel mixture fits in low dimension; beyond it every kernel misses the target.
    const bool kde = target.dim() <= 3;
    m["log_z_is_proposal"] = kde ? "kde" : "gaussian";
    try {
      const auto is = kde ? log_normaliser_is(x.rows(), lw, target, x.n(), seed)
                          : log_normaliser_is_gaussian(x.rows(), lw, target, 10 * x.n(), seed);
      m["log_z_is"] = is.log_z;
      m["log_z_is_se"] = is.std_error;
      m["log_z_is_ess"] = is.ess;
      if (exact_log_z) m["log_z_is_error"] = is.log_z - *exact_log_z;
    } catch (const NumericalError& e) {
      // A diagnostic that cannot be computed (collapsed particles) must not cost the run.
      m["log_z_is_unavailable"] = e.what();
    }
  }
  if (log_z_fk) {
    m["log_z_fk"] = *log_z_fk;
    if (exact_log_z) m["log_z_fk_error"] = *log_z_fk - *exact_log_z;
  }
  if (exact_log_z) m["log_z_exact"] = *exact_log_z;
  return m;
}

nlohmann::json run_sample(const SampleOptions& o) {
  return run_sample(o, SampleInputs{});
}

namespace {

// The observers of a run, on the root process only: the trace, snapshots, checkpoints,
// trajectory and progress bar, restored from a checkpoint when resuming.
struct RunObservers {
  RunObservers(const SampleOptions& o, const Target& target, const Sampler& sampler,
               CsvTable& trace, const std::optional<Checkpoint>& resumed)
      : trajectory(o.trajectory_every, 200),
        tracer(target, o, sampler, trace, o.trajectory_every ? &trajectory : nullptr),
        snaps(o.out / "snapshots", o),
        ck(o.out, o.checkpoint_every ? o.checkpoint_every : std::max<std::size_t>(1, o.steps / 10),
           trace, tracer, trajectory, sampler, options_json(o)),
        progress(o.steps, fmt::format("{} on {}", sampler.name(), target.spec().substr(0, 30))) {
    if (resumed) {
      trajectory.restore(resumed->dir / "trajectory.npy");
      tracer.restore(resumed->meta.at("trace_state"));
    }
  }
  // The trajectory sees each step first: the trace's R̂ column reads it.
  std::vector<Observer*> list(const SampleOptions& o, const SampleInputs& in) {
    std::vector<Observer*> all;
    if (o.trajectory_every) all.push_back(&trajectory);
    all.insert(all.end(), {&tracer, &snaps, &ck});
    all.insert(all.end(), in.observers.begin(), in.observers.end());
    if (!o.quiet) all.push_back(&progress);
    return all;
  }
  TrajectoryObserver trajectory;
  TraceObserver tracer;
  SnapshotObserver snaps;
  CheckpointObserver ck;
  ProgressObserver progress;
};

// samples.npy, weights.npy, trajectory.npy, summary.json and the plots of a finished run;
// returns the summary.
nlohmann::json write_results(const SampleOptions& o, const SampleInputs& in,
                             const SamplerState& state, const RunResult& r, const Sampler& sampler,
                             const Target& base, const Target& target, double power,
                             std::size_t start_step, const TrajectoryObserver& trajectory) {
  const nlohmann::json sampler_config = sampler.config();
  if (o.trajectory_every) {
    trajectory.write(o.out / "trajectory.npy");
    if (o.plot && fs::exists(o.out / "trajectory.npy"))
      plot_paths(o.out / "trajectory.npy",
                 sampler_config.value("step_size", 1.0) * static_cast<double>(o.trajectory_every),
                 fmt::format("{} on {}: paths of {} particles", o.sampler, o.target,
                             std::min<std::size_t>(o.n, 200)),
                 o.out / "paths.png");
  }
  write_npy(o.out / "samples.npy", {state.x.n(), state.x.d()}, state.x.data());
  if (state.x.weighted()) {
    const auto w = normalised_weights(state.x.log_weights(), state.x.n());
    write_npy(o.out / "weights.npy", {w.size()}, w.data());
  }

  nlohmann::json summary;
  summary["command"] = "sample";
  summary["options"] = options_json(o);
  summary["target_spec"] = base.spec();
  summary["target_power"] = power;  // samples aim at π^power
  summary["dim"] = target.dim();
  summary["sampler_config"] = sampler_config;
  summary["resumed_from_step"] = start_step;
  summary["threads"] = thread_count();
  summary["processes"] = Comm::world().size();
  // The root's share: it also gathers what the observers read.
  summary["communication"] = traffic_json(Comm::world().traffic(), r.steps_taken);
  summary["versions"] = {{"scoreflow", SCOREFLOW_VERSION}, {"compiler", __VERSION__}};
  summary["timing"] = {
      {"seconds", r.seconds},
      {"particle_steps_per_second",
       r.seconds > 0 ? static_cast<double>(r.steps_taken * o.n) / r.seconds : 0.0}};
  std::optional<double> log_z_fk;
  if (sampler_config.value("fk_weights", false))
    log_z_fk = state.log_normaliser + log_mean_weight(state.x.log_weights());
  summary["weighted"] = state.x.weighted();
  summary["metrics"] = final_metrics(state.x, target, o.seed, log_z_fk);
  if (o.trajectory_every && !state.x.weighted()) summary["mcmc"] = trajectory.convergence();
  write_json(o.out / "summary.json", summary);
  if (o.plot && !in.target) plot_run(o.out);  // plot_run rebuilds the target from its spec
  return summary;
}

// Rows [first, first + count) of x, with their log-weights.
Particles shard_rows(Particles x, Shard s) {
  if (s.first == 0 && s.count == x.n()) return x;
  Particles part(s.count, x.d(),
                 std::vector<double>(x.row(s.first), x.row(s.first) + s.count * x.d()));
  if (x.weighted())
    part.log_weights().assign(
        x.log_weights().begin() + static_cast<std::ptrdiff_t>(s.first),
        x.log_weights().begin() + static_cast<std::ptrdiff_t>(s.first + s.count));
  return part;
}

void check_distributable(const SampleOptions& o, const Sampler& sampler, const Comm& comm) {
  if (!comm.distributed()) return;
  if (!sampler.runs_sharded())
    throw InvalidArgument(
        fmt::format("sample: {} does not run across processes (across processes: ula, mala, "
                    "annealed-ula, ais, wfr, birth-death, birth-death-kl, fk-corrector, sbtm); "
                    "run it with one process",
                    sampler.name()));
  const std::size_t fewest = sampler.min_particles() * static_cast<std::size_t>(comm.size());
  if (o.n < fewest)
    throw InvalidArgument(fmt::format(
        "sample: --n {} is too few for {} processes: {} needs at least {} particles on each; "
        "pass --n {} or more",
        o.n, comm.size(), sampler.name(), sampler.min_particles(), fewest));
}

}  // namespace

nlohmann::json run_sample(const SampleOptions& o, const SampleInputs& in) {
  validate(o);
  set_thread_count(o.threads);
  const Comm& comm = Comm::world();
  std::unique_ptr<Target> built;
  if (!in.target) built = make_target(o.target);
  const Target* base = in.target ? in.target : built.get();
  check_memory(o, base->dim());
  const auto sampler = make_sampler(sampler_spec(o), *base, sampler_context(o));
  check_distributable(o, *sampler, comm);
  const nlohmann::json sampler_config = sampler->config();
  // fk-corrector samples π^β: measure against that (no exact sampler, so MMD etc. drop out).
  const double power =
      sampler->name() == "fk-corrector" ? sampler_config.at("beta").get<double>() : 1.0;
  std::unique_ptr<Target> tempered;
  if (power != 1.0) tempered = std::make_unique<Tempered>(*base, power);
  const Target* target = tempered ? tempered.get() : base;
  comm.on_root([&] {
    prepare_run_dir(o.out,
                    o.resume  ? RunDirMode::resume
                    : o.force ? RunDirMode::force
                              : RunDirMode::fresh,
                    /*resumable=*/true);
    remove_stale_files(o.out);
  });

  CsvTable trace(TraceObserver::columns());
  SamplerState saved;
  saved.x = Particles(o.n, target->dim());
  std::optional<Checkpoint> resumed;
  if (o.resume) resumed = load_checkpoint(o.out, o, saved, trace);
  if (!resumed)
    saved.x = in.init ? given_particles(*in.init, o, *target) : initial_particles(o, *target);
  const std::size_t start_step = resumed ? resumed->step : 0;
  comm.on_root([&] { write_json(o.out / "run_options.json", options_json(o)); });

  // Every process holds its shard of the particles; draws are keyed by global index.
  const Shard shard = comm.shard(o.n);
  SamplerState state = sampler->init_shard(shard_rows(std::move(saved.x), shard), start_step,
                                           {shard.first, &comm, o.n});
  if (resumed) sampler->load_extra(resumed->dir.string());
  state.log_normaliser = saved.log_normaliser;
  state.start_scale = saved.start_scale;
  std::optional<RunObservers> obs;
  comm.on_root([&] { obs.emplace(o, *target, *sampler, trace, resumed); });
  const std::vector<Observer*> observers = obs ? obs->list(o, in) : std::vector<Observer*>{};

  RunResult r;
  if (comm.distributed()) {
    SamplerState local = std::move(state);
    r = run_sharded(*sampler, local, o.n, o.steps, observers, comm, &state);
  } else {
    r = run(*sampler, state, o.steps, observers);
  }
  nlohmann::json summary;
  comm.on_root([&] {
    obs->ck.save(state);
    if (r.interrupted) return;
    summary = write_results(o, in, state, r, *sampler, *base, *target, power, start_step,
                            obs->trajectory);
  });
  if (r.interrupted)
    throw Interrupted(fmt::format(
        "sample: stopped by {} at step {} of {}; the checkpoint in '{}' holds that step; "
        "continue with the same options and --resume",
        stop_reason(), state.step, o.steps, o.out.string()));
  return summary;
}

}  // namespace sf
