#include "cli/run_sampler.hpp"

#include <chrono>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "cli/plot.hpp"
#include "core/check.hpp"
#include "core/io.hpp"
#include "core/npy.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "diagnostics/divergences.hpp"
#include "diagnostics/kl.hpp"
#include "diagnostics/ksd.hpp"
#include "diagnostics/sliced_wasserstein.hpp"
#include "diagnostics/summary_stats.hpp"
#include "samplers/langevin.hpp"
#include "targets/gaussian.hpp"
#include "targets/registry.hpp"

namespace sf {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kReferenceSalt = 0x5eed5eedULL;
constexpr std::size_t kMaxMetricN = 5000;
constexpr std::size_t kMaxKsdN = 2000;

// The first m rows (particle order carries no meaning, so a prefix is a fair subsample).
Particles head(const Particles& x, std::size_t m) {
  m = std::min(m, x.n());
  return Particles(m, x.d(), std::vector<double>(x.data(), x.data() + m * x.d()));
}

Particles initial_particles(const SampleOptions& o, const Target& target) {
  if (!o.init_file.empty()) {
    const NpyArray a = read_npy(o.init_file);
    if (a.shape.size() != 2)
      throw InvalidArgument(
          fmt::format("--init-file {}: expected an N x d array, got {} dimensions", o.init_file,
                      a.shape.size()));
    check_dim("--init-file", o.init_file, a.shape[1], target.dim());
    return Particles(a.shape[0], a.shape[1], a.values);
  }
  const std::string spec = o.init.empty() ? fmt::format("gauss:d={}", target.dim()) : o.init;
  const auto init = make_target(spec);
  check_dim("--init", spec, init->dim(), target.dim());
  Particles x(o.n, target.dim());
  init->sample(o.seed, x.rows());
  return x;
}

std::unique_ptr<Sampler> make_sampler(const SampleOptions& o, const Target& t) {
  const LangevinConfig lc{o.step_size, o.seed};
  if (o.sampler == "ula") return std::make_unique<Ula>(t, lc);
  if (o.sampler == "mala") return std::make_unique<Mala>(t, lc);
  if (o.sampler == "annealed-ula")
    return std::make_unique<AnnealedUla>(
        t, AnnealedConfig{lc, o.path, LinearSchedule{o.anneal_fraction}, o.steps});
  throw InvalidArgument(
      fmt::format("unknown sampler '{}'; valid samplers: ula, mala, annealed-ula", o.sampler));
}

// Cheap per-step metrics on a prefix of the particles against fixed reference samples.
class TraceObserver : public Observer {
 public:
  TraceObserver(const Target& t, const SampleOptions& o, CsvTable& table)
      : target_(t),
        o_(o),
        table_(table),
        every_(o.trace_every ? o.trace_every : std::max<std::size_t>(1, o.steps / 100)) {
    if (t.can_sample()) {
      reference_ = Particles(std::min(o.metric_n, kMaxMetricN), t.dim());
      t.sample(o.seed ^ kReferenceSalt, reference_.rows());
      ell_ = median_distance(reference_.rows(), reference_.rows());
    }
  }
  static std::vector<std::string> columns() {
    return {"step", "time",   "acceptance", "lambda",      "mean_error",
            "mmd2", "energy", "ksd2",       "mode_entropy"};
  }
  void on_start(const SamplerState& s) override {
    if (s.step == 0) record(s, {});
  }
  bool on_step(const SamplerState& s, const StepInfo& info) override {
    acc_sum_ += std::isnan(info.acceptance) ? 0 : info.acceptance;
    acc_count_ += std::isnan(info.acceptance) ? 0 : 1;
    if (s.step % every_ == 0 || s.step == o_.steps) {
      StepInfo avg = info;
      if (acc_count_) avg.acceptance = acc_sum_ / static_cast<double>(acc_count_);
      acc_sum_ = 0;
      acc_count_ = 0;
      record(s, avg);
    }
    return true;
  }

 private:
  void record(const SamplerState& s, const StepInfo& info) {
    const Particles x = head(s.x, o_.metric_n);
    const Particles g = head(s.grad, std::min(o_.metric_n, kMaxKsdN));
    double mean_err = NAN, mmd = NAN, energy = NAN, ent = NAN;
    if (reference_.n()) {
      mean_err = (weighted_mean(x.rows()) - weighted_mean(reference_.rows())).norm();
      mmd = mmd2(x.rows(), reference_.rows(), ell_);
      energy = energy_distance(x.rows(), reference_.rows());
    }
    const auto modes = target_.modes();
    if (modes.size() > 1) ent = mode_coverage(x.rows(), modes).entropy;
    // KSD needs the target's score; annealed samplers cache the path's score instead.
    double ksd = NAN;
    if (o_.sampler != "annealed-ula") ksd = ksd2_imq(head(x, g.n()).rows(), g.rows());
    table_.add_row({static_cast<double>(s.step), static_cast<double>(s.step) * o_.step_size,
                    info.acceptance, info.lambda, mean_err, mmd, energy, ksd, ent});
  }

  const Target& target_;
  const SampleOptions& o_;
  CsvTable& table_;
  std::size_t every_;
  Particles reference_;
  double ell_ = 1;
  double acc_sum_ = 0;
  std::size_t acc_count_ = 0;
};

// Positions (a prefix of at most 2000 particles) at a few evenly spaced steps, for plots.
class SnapshotObserver : public Observer {
 public:
  SnapshotObserver(fs::path dir, const SampleOptions& o) : dir_(std::move(dir)) {
    for (std::size_t k = 0; k <= o.snapshots; ++k)
      steps_.insert(o.steps * k / std::max<std::size_t>(o.snapshots, 1));
    fs::create_directories(dir_);
  }
  void on_start(const SamplerState& s) override { save(s); }
  bool on_step(const SamplerState& s, const StepInfo&) override {
    save(s);
    return true;
  }

 private:
  void save(const SamplerState& s) {
    if (!steps_.count(s.step)) return;
    const Particles x = head(s.x, 2000);
    write_npy(dir_ / fmt::format("step_{:08d}.npy", s.step), {x.n(), x.d()}, x.data());
  }
  fs::path dir_;
  std::set<std::size_t> steps_;
};

// Positions and trace every k steps; a resumed run continues bit-identically because the
// randomness is keyed by step.
class CheckpointObserver : public Observer {
 public:
  CheckpointObserver(fs::path dir, std::size_t every, const CsvTable& trace)
      : dir_(std::move(dir)), every_(every), trace_(trace) {}
  bool on_step(const SamplerState& s, const StepInfo&) override {
    if (s.step % every_ == 0) save(dir_, s, trace_);
    return true;
  }
  static void save(const fs::path& dir, const SamplerState& s, const CsvTable& trace) {
    write_npy(dir / "checkpoint.npy", {s.x.n(), s.x.d()}, s.x.data());
    trace.write(dir / "trace.csv");
    write_json(dir / "checkpoint.json", {{"step", s.step}});
  }

 private:
  fs::path dir_;
  std::size_t every_;
  const CsvTable& trace_;
};

class ProgressObserver : public Observer {
 public:
  ProgressObserver(std::size_t total, const std::string& label) : bar_(total, label) {}
  bool on_step(const SamplerState& s, const StepInfo&) override {
    bar_.update(s.step);
    return true;
  }
  void on_finish(const SamplerState&) override { bar_.finish(); }

 private:
  Progress bar_;
};

nlohmann::json options_json(const SampleOptions& o) {
  return {{"target", o.target},
          {"sampler", o.sampler},
          {"init", o.init},
          {"init_file", o.init_file},
          {"n", o.n},
          {"steps", o.steps},
          {"step_size", o.step_size},
          {"seed", o.seed},
          {"path", o.path},
          {"anneal_fraction", o.anneal_fraction},
          {"metric_n", o.metric_n}};
}

// Restores the state saved by CheckpointObserver, checking it belongs to these options.
std::size_t load_checkpoint(const fs::path& dir, const SampleOptions& o, Particles& x,
                            CsvTable& trace) {
  if (!fs::exists(dir / "checkpoint.json"))
    throw InvalidArgument(
        fmt::format("--resume: '{}' has no checkpoint.json to resume from", dir.string()));
  const auto saved = read_json(dir / "run_options.json");
  if (saved != options_json(o))
    throw InvalidArgument(
        fmt::format("--resume: the options differ from those of the run in '{}' (saved: {})",
                    dir.string(), saved.dump()));
  const std::size_t step = read_json(dir / "checkpoint.json").at("step").get<std::size_t>();
  const NpyArray a = read_npy(dir / "checkpoint.npy");
  if (a.shape.size() != 2 || a.shape[0] != o.n || a.shape[1] != x.d())
    throw FormatError(
        fmt::format("{}: checkpoint has the wrong shape", (dir / "checkpoint.npy").string()));
  x = Particles(a.shape[0], a.shape[1], a.values);
  const CsvTable old = CsvTable::read(dir / "trace.csv");
  for (const auto& r : old.rows())
    if (r[0] <= static_cast<double>(step)) trace.add_row(r);
  return step;
}

}  // namespace

void validate(const SampleOptions& o) {
  check_positive("sample", "number of particles --n", o.n);
  check_positive("sample", "number of steps --steps", o.steps);
  check_positive_finite("sample", "step size --step-size", o.step_size);
  check_positive("sample", "--metric-n", o.metric_n);
  check_in_range("sample", "--anneal-fraction", o.anneal_fraction, 1e-9, 1.0);
  if (o.force && o.resume) throw InvalidArgument("sample: --force and --resume exclude each other");
  // Refuse runs whose particle arrays alone would not fit in memory (several copies live at once).
  constexpr double kCopies = 6, kBudget = 16e9;
  const auto t = make_target(o.target);
  const double bytes = kCopies * 8.0 * static_cast<double>(o.n) * static_cast<double>(t->dim());
  if (bytes > kBudget)
    throw InvalidArgument(fmt::format(
        "sample: N = {} particles in d = {} need about {:.1f} GB, more than the {:.0f} GB "
        "allowed; lower --n",
        o.n, t->dim(), bytes / 1e9, kBudget / 1e9));
}

nlohmann::json final_metrics(const Particles& all, const Target& target, std::uint64_t seed) {
  const Particles x = head(all, kMaxMetricN);
  nlohmann::json m;
  const Eigen::VectorXd mean = weighted_mean(x.rows());
  const Eigen::MatrixXd cov =
      x.n() > 1 ? weighted_cov(x.rows()) : Eigen::MatrixXd::Zero(x.d(), x.d());
  m["mean"] = std::vector<double>(mean.data(), mean.data() + mean.size());
  if (target.can_sample()) {
    Particles ref(x.n(), target.dim());
    target.sample(seed ^ kReferenceSalt, ref.rows());
    const Eigen::VectorXd rmean = weighted_mean(ref.rows());
    m["mean_error"] = (mean - rmean).norm();
    m["cov_error"] = (cov - weighted_cov(ref.rows())).norm();
    const double ell = median_distance(ref.rows(), ref.rows());
    m["mmd2"] = mmd2(x.rows(), ref.rows(), ell);
    m["mmd2_bandwidth"] = ell;
    m["energy_distance"] = energy_distance(x.rows(), ref.rows());
    m["sliced_w2"] = sliced_wasserstein2(x.rows(), ref.rows(), 128, seed);
  }
  const Particles xs = head(x, kMaxKsdN);
  Particles g(xs.n(), xs.d());
  target.score(xs.rows(), g.rows());
  m["ksd2_imq"] = ksd2_imq(xs.rows(), g.rows());
  if (const auto* gauss = dynamic_cast<const Gaussian*>(&target); gauss && x.n() > x.d())
    m["kl_gaussian_fit"] = kl_gaussian(mean, cov, gauss->mean(), gauss->cov());
  if (target.log_normaliser() && target.dim() <= 3 && x.n() > 1)
    m["kl_kde"] = kl_kde(x.rows(), target);
  const auto modes = target.modes();
  if (modes.size() > 1) {
    const auto mc = mode_coverage(x.rows(), modes);
    m["mode_entropy"] = mc.entropy;
    m["modes_hit"] = mc.modes_hit;
    m["modes_total"] = modes.size();
  }
  return m;
}

nlohmann::json run_sample(const SampleOptions& o) {
  validate(o);
  set_thread_count(o.threads);
  const auto target = make_target(o.target);
  const auto sampler = make_sampler(o, *target);
  prepare_run_dir(o.out, o.resume  ? RunDirMode::resume
                         : o.force ? RunDirMode::force
                                   : RunDirMode::fresh);

  CsvTable trace(TraceObserver::columns());
  Particles x0(o.n, target->dim());
  std::size_t start_step = 0;
  if (o.resume)
    start_step = load_checkpoint(o.out, o, x0, trace);
  else
    x0 = initial_particles(o, *target);
  if (x0.n() != o.n && o.init_file.empty())
    throw InvalidArgument("sample: initial particle count differs from --n");
  write_json(o.out / "run_options.json", options_json(o));

  SamplerState state = sampler->init(std::move(x0), start_step);
  TraceObserver tracer(*target, o, trace);
  SnapshotObserver snaps(o.out / "snapshots", o);
  const std::size_t ck_every =
      o.checkpoint_every ? o.checkpoint_every : std::max<std::size_t>(1, o.steps / 10);
  CheckpointObserver ck(o.out, ck_every, trace);
  ProgressObserver progress(o.steps,
                            fmt::format("{} on {}", sampler->name(), target->spec().substr(0, 30)));
  std::vector<Observer*> observers{&tracer, &snaps, &ck};
  if (!o.quiet) observers.push_back(&progress);

  const RunResult r = run(*sampler, state, o.steps, observers);
  CheckpointObserver::save(o.out, state, trace);
  write_npy(o.out / "samples.npy", {state.x.n(), state.x.d()}, state.x.data());

  nlohmann::json summary;
  summary["command"] = "sample";
  summary["options"] = options_json(o);
  summary["target_spec"] = target->spec();
  summary["dim"] = target->dim();
  summary["sampler_config"] = sampler->config();
  summary["resumed_from_step"] = start_step;
  summary["threads"] = thread_count();
  summary["versions"] = {{"scoreflow", SCOREFLOW_VERSION}, {"compiler", __VERSION__}};
  summary["timing"] = {
      {"seconds", r.seconds},
      {"particle_steps_per_second",
       r.seconds > 0 ? static_cast<double>(r.steps_taken * o.n) / r.seconds : 0.0}};
  summary["metrics"] = final_metrics(state.x, *target, o.seed);
  write_json(o.out / "summary.json", summary);
  if (o.plot) plot_run(o.out);
  return summary;
}

}  // namespace sf
