// scoreflow <command>: sample, targets, data, estimate, plot, demo, bench.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <scoreflow/runs/estimate_heat_ball.hpp>
#include <scoreflow/runs/estimate_malliavin.hpp>
#include "cli/bench.hpp"
#include "cli/bench_neural.hpp"
#ifdef SCOREFLOW_HAS_TORCH
#include <scoreflow/runs/malliavin_diffusion.hpp>
#endif
#include "cli/neural_commands.hpp"
#include "cli/run_options.hpp"
#include "cli/strict_input.hpp"
#include "scoreflow/cli.hpp"
#ifdef SCOREFLOW_HAS_TORCH
#include <scoreflow/runs/torch_parts.hpp>
#endif
#include <scoreflow/core/allocator.hpp>
#include <scoreflow/core/check.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/runs/sample.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/score/kernel_score.hpp>
#include <scoreflow/sde/forward_sde.hpp>
#include <scoreflow/targets/datasets.hpp>
#include <scoreflow/targets/registry.hpp>
#include "experiments/experiment.hpp"

namespace fs = std::filesystem;
using namespace sf;

namespace {

// Under mpirun an error is held until cli_main knows whether every process failed with it.
std::string& held_errors() {
  static std::string text;
  return text;
}

template <class... A>
void print_error(const char* format, A... args) {
  if (!Comm::world().distributed()) {
    std::fprintf(stderr, format, args...);
    return;
  }
  std::string text(static_cast<std::size_t>(std::snprintf(nullptr, 0, format, args...)), '\0');
  std::snprintf(text.data(), text.size() + 1, format, args...);
  held_errors() += text;
}

// Flags that are options of the chosen sampler: each is passed on under its key only when
// given, so the sampler's own default applies otherwise, and a flag the sampler does not take
// is refused by it, naming the key.
struct SamplerFlag {
  const char* flag;
  const char* key;
  const char* help;
  bool is_switch = false;
};
constexpr SamplerFlag kSamplerFlags[] = {
    {"--step-size", "step_size", "step size h > 0 (default 0.01)"},
    {"--path", "path", "annealed-ula, sbtm: annealing path, geometric | dilation"},
    {"--anneal-fraction", "anneal_fraction", "fraction of steps over which lambda rises to 1"},
    {"--anneal-schedule", "anneal_schedule",
     "custom piecewise-linear schedule, fraction:lambda pairs, e.g. 0:0,0.3:0.8,0.6:1"},
    {"--fk-weights", "fk_weights", "annealed-ula: Feynman-Kac (AIS) weights and a log Z estimate",
     true},
    {"--anneal-beta", "beta", "fk-corrector: sample the mixture target to this power (default 2)"},
    {"--density", "density", "wfr: density estimate, ula-kernel | kde"},
    {"--bandwidth", "bandwidth", "wfr (kde), birth-death: kernel bandwidth (0: automatic)"},
    {"--bandwidth-rule", "bandwidth_rule", "wfr (kde): silverman | median"},
    {"--kde-tol", "kde_tol",
     "wfr, birth-death: relative error allowed in the kernel sums, which then run in near-linear "
     "time for d <= 3 where that pays, else on float32 kernels where the bound allows (about "
     "1e-5 and looser) (default 1e-6; 0: exact sums)"},
    {"--resampler", "resampler", "systematic | stratified | residual | multinomial"},
    {"--ess-threshold", "ess_threshold", "resample when ESS/N falls below (1: every step)"},
    {"--hidden", "hidden", "sbtm: network widths (default 128,128 in 1-D, else 4x128)"},
    {"--activation", "activation", "sbtm: softsign | silu"},
    {"--sbtm-loss", "loss", "sbtm: ism | ism-hutchinson | dsm (default ism for d <= 10)"},
    {"--dsm-sigma", "dsm_sigma", "sbtm --sbtm-loss dsm: noise level"},
    {"--train-steps", "train_steps", "sbtm: minibatch steps per time step"},
    {"--batch", "batch", "sbtm: minibatch size"},
    {"--lr", "lr", "sbtm: AdamW learning rate"},
    {"--weight-decay", "weight_decay", "sbtm: AdamW weight decay"},
    {"--loss-tol", "loss_tol", "sbtm: stop a step's training when the loss changes less (0: off)"},
    {"--integrator", "integrator", "sbtm: euler | heun"},
    {"--anneal", "anneal", "sbtm: anneal along --path with --anneal-fraction", true},
};

// What the sampler flags were given as, read after parsing.
struct SamplerFlagValues {
  std::map<std::string, std::string> values;
  std::map<std::string, bool> switches;
  std::vector<std::pair<CLI::Option*, std::string>> given;

  void add_to(CLI::App& cmd) {
    for (const auto& f : kSamplerFlags) {
      CLI::Option* opt = f.is_switch ? cmd.add_flag(f.flag, switches[f.key], f.help)
                                     : cmd.add_option(f.flag, values[f.key], f.help);
      given.emplace_back(opt, f.key);
    }
  }
  // The flags behind the option keys a message names, so the user can find what to change.
  std::string annotate(const std::string& message) const {
    std::string given_as;
    for (const auto& [opt, key] : given) {
      if (opt->count() == 0 || !names_key(message, key)) continue;
      given_as += fmt::format("{}{} {}", given_as.empty() ? "" : ", ", opt->get_name(),
                              switches.count(key) ? "" : values.at(key));
    }
    return given_as.empty() ? message : fmt::format("{} (given as {})", message, given_as);
  }
  static bool names_key(const std::string& message, const std::string& key) {
    const auto word = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    };
    for (auto at = message.find(key); at != std::string::npos; at = message.find(key, at + 1)) {
      const std::size_t end = at + key.size();
      if ((at == 0 || !word(message[at - 1])) && (end == message.size() || !word(message[end])))
        return true;
    }
    return false;
  }
  void collect(SampleOptions& o) const {
    for (const auto& [opt, key] : given) {
      if (opt->count() == 0) continue;
      o.sampler_options[key] =
          switches.count(key) ? (switches.at(key) ? "true" : "false") : values.at(key);
    }
  }
};

void add_sample_options(CLI::App& cmd, SampleOptions& o, SamplerFlagValues& flags) {
  cmd.add_option("--target,-t", o.target, "target spec, e.g. gauss:d=10 (see `scoreflow targets`)")
      ->capture_default_str();
  cmd.add_option("--sampler,-s", o.sampler,
                 "sampler, optionally with its options: " + sampler_registry().names() +
                     " (see `scoreflow samplers`)")
      ->capture_default_str();
  cmd.add_option("--n,-n", o.n, "number of particles")->capture_default_str();
  cmd.add_option("--steps", o.steps, "number of steps")->capture_default_str();
  cmd.add_option("--seed", o.seed, "random seed")->capture_default_str();
  cmd.add_option("--init", o.init, "initial distribution spec (default N(0, I))");
  cmd.add_option("--init-file", o.init_file, "initial particles from an N x d .npy file");
  flags.add_to(cmd);
  cmd.add_option("--trajectory-every", o.trajectory_every,
                 "keep positions of 200 particles every k steps (trajectory.npy, paths.png)");
  cmd.add_option("--trace-every", o.trace_every, "steps between trace rows (0: about 100 rows)");
  cmd.add_option("--metric-n", o.metric_n, "particles used for per-step metrics")
      ->capture_default_str();
  cmd.add_option("--trace-full-rows", o.trace_full_rows,
                 "trace rows with the O(m^2) metrics (MMD2, energy, KSD2, KL) besides the "
                 "first, evenly spaced up to the last; 0: every row")
      ->capture_default_str();
  cmd.add_option("--snapshots", o.snapshots, "snapshots kept for plots (besides step 0)")
      ->capture_default_str();
  cmd.add_option("--checkpoint-every", o.checkpoint_every,
                 "steps between checkpoints (0: about 10)");
  cmd.add_option("--threads", o.threads,
                 "OpenMP threads (0: default); results do not depend on it");
  cmd.add_option("--out,-o", o.out, "run directory")->capture_default_str();
  cmd.add_flag("--force", o.force, "overwrite an existing run directory");
  cmd.add_flag("--resume", o.resume, "continue the run in --out from its last checkpoint");
  cmd.add_flag("!--no-plot", o.plot, "skip the PNG plots");
  cmd.add_flag("--quiet,-q", o.quiet, "no progress bar");
}

void print_metrics(const nlohmann::json& summary) {
  std::printf("%s\n", summary["metrics"].dump(2).c_str());
}

void list_targets() {
  std::printf("Targets (spec: name:key=value,...; lists as [a,b]):\n");
  for (const auto& t : target_registry().entries())
    std::printf("  %-15s %s\n  %-15s   parameters: %s\n", t.name.c_str(), t.description.c_str(), "",
                t.parameters.empty() ? "none" : t.parameters.c_str());
  std::printf("\n2-D data sets (scoreflow data NAME): %s\n",
              fmt::format("{}", fmt::join(dataset_names(), ", ")).c_str());
}

template <class R>
void list_entries(const char* title, const R& registry) {
  std::printf("%s:\n", title);
  for (const auto& e : registry.entries())
    std::printf("  %-15s %s\n  %-15s   options: %s\n", e.name.c_str(), e.description.c_str(), "",
                e.parameters.empty() ? "none" : e.parameters.c_str());
}

void list_samplers() {
  list_entries(
      "Samplers (--sampler name or name:key=value,...; flags such as --step-size give "
      "the same options)",
      sampler_registry());
  std::printf("\n");
  list_entries("Annealing paths (--path)", annealing_path_registry());
  std::printf("\n");
  list_entries("Resamplers (--resampler)", resampler_registry());
}

// ULA, MALA and annealed ULA on gmm-grid16 from N(0, I), side by side.
int run_demo(const fs::path& out, bool force, std::size_t n, std::size_t steps) {
  check_positive("demo", "--n", n);
  check_positive("demo", "--steps", steps);
  prepare_run_dir(out, force ? RunDirMode::force : RunDirMode::fresh);
  struct Case {
    std::string name, sampler, title;
  };
  std::vector<Case> cases{
      {"ula", "ula:step_size=0.05", "ULA"},
      {"mala", "mala:step_size=0.05", "MALA"},
      {"annealed-ula", "annealed-ula:step_size=0.05,path=dilation,anneal_fraction=0.5",
       "annealed ULA (dilation)"}};
  if (sampler_registry().contains("sbtm")) cases.push_back({"sbtm", "sbtm:step_size=0.05", "SBTM"});
  CsvTable table({"mmd2", "energy_distance", "sliced_w2", "mode_entropy", "modes_hit", "seconds"});
  std::vector<fs::path> dirs;
  std::vector<std::string> titles;
  std::string md =
      "| sampler | MMD² | energy distance | sliced W2 | mode entropy | modes hit (of 16) | seconds "
      "|\n"
      "|---|---|---|---|---|---|---|\n";
  for (const auto& c : cases) {
    SampleOptions o;
    o.target = "gmm-grid16";
    o.sampler = c.sampler;
    o.n = n;
    o.steps = steps;
    o.seed = 1;
    o.out = out / c.name;
    std::fprintf(stderr, "demo: %s ...\n", c.title.c_str());
    const auto s = run_sample(o);
    const auto& m = s["metrics"];
    const double secs = s["timing"]["seconds"].get<double>();
    table.add_row({m["mmd2"], m["energy_distance"], m["sliced_w2"], m["mode_entropy"],
                   m["modes_hit"].get<double>(), secs});
    md += fmt::format("| {} | {:.4g} | {:.4g} | {:.4g} | {:.3f} | {} | {:.2f} |\n", c.title,
                      m["mmd2"].get<double>(), m["energy_distance"].get<double>(),
                      m["sliced_w2"].get<double>(), m["mode_entropy"].get<double>(),
                      m["modes_hit"].get<int>(), secs);
    dirs.push_back(o.out);
    titles.push_back(c.title);
  }
  md = fmt::format(
           "gmm-grid16 from N(0, I): N = {}, {} steps, h = 0.05, seed 1 (metrics against {} exact "
           "samples)\n\n",
           n, steps, std::min<std::size_t>(n, 5000)) +
       md;
  write_file_atomic(out / "metrics.md", md);
  write_file_atomic(out / "metrics.csv", table.to_csv());
  plot_comparison(dirs, titles, out / "comparison.png");
  std::printf(
      "%s\nwrote %s/{comparison.png, metrics.md, metrics.csv} and one run directory per sampler\n",
      md.c_str(), out.c_str());
  return 0;
}

int estimate_kde(const std::string& data, const std::string& at, double bandwidth, double tol,
                 const fs::path& out, bool force) {
  const NpyArray a = read_npy(data);
  if (a.shape.size() != 2 || a.shape[0] == 0 || a.shape[1] == 0)
    throw InvalidArgument(fmt::format("--data {}: expected a non-empty N x d array, got shape ({})",
                                      data, fmt::join(a.shape, ", ")));
  const Particles x(a.shape[0], a.shape[1], a.values);
  check_all_finite(x.rows(), "--data " + data);
  Particles q = x;
  if (!at.empty()) {
    const NpyArray b = read_npy(at);
    if (b.shape.size() != 2 || b.shape[1] != x.d())
      throw InvalidArgument(fmt::format("--at {}: expected an M x {} array", at, x.d()));
    q = Particles(b.shape[0], b.shape[1], b.values);
    check_all_finite(q.rows(), "--at " + at);
  }
  if (!(bandwidth >= 0))
    throw InvalidArgument(fmt::format(
        "estimate kde: --bandwidth is {}, but must be positive (or 0 for Silverman's rule)",
        bandwidth));
  check_kde_tol("estimate kde: --kde-tol", tol);
  const KdeEstimate e = kde_estimate(x.rows(), q.rows(), bandwidth, {}, tol);
  prepare_run_dir(out, force ? RunDirMode::force : RunDirMode::fresh);
  write_npy(out / "log_density.npy", {q.n()}, e.log_density.data());
  write_npy(out / "score.npy", {q.n(), q.d()}, e.score.data());
  write_json(out / "summary.json", {{"command", "estimate kde"},
                                    {"data", data},
                                    {"at", at},
                                    {"bandwidth", e.bandwidth},
                                    {"kde_tol", tol},
                                    {"lattice_queries", e.counts.lattice_queries},
                                    {"float32_queries", e.counts.float32_queries}});
  std::printf("bandwidth %.6g; wrote %s/{log_density.npy, score.npy, summary.json}\n", e.bandwidth,
              out.c_str());
  return 0;
}

}  // namespace

namespace {

int run_cli(int argc, char** argv) {
  tune_allocator();
#ifdef SCOREFLOW_HAS_TORCH
  register_torch_parts();
#endif
  CLI::App app{"scoreflow: score estimation and score-based sampling"};
  app.require_subcommand(1);
  app.set_config("--config", "",
                 "TOML/INI config file (sections named after the command, e.g. [sample])");
  app.set_version_flag("--version", SCOREFLOW_VERSION);

  SampleOptions so;
  SamplerFlagValues sampler_flags;
  auto* sample = app.add_subcommand("sample", "sample a target with any registered sampler");
  add_sample_options(*sample, so, sampler_flags);

  app.add_subcommand("targets", "list the targets and data sets");
  app.add_subcommand("samplers", "list the samplers, annealing paths and resamplers");
  app.add_subcommand("sdes", "list the forward SDEs (--sde of estimate and malliavin-diffusion)");

  std::string data_name, data_out;
  std::size_t data_n = 1000;
  std::uint64_t data_seed = 0;
  auto* data = app.add_subcommand("data", "draw points from a 2-D data set into an .npy file");
  data->add_option("name", data_name, "data set name")->required();
  data->add_option("--n,-n", data_n, "number of points")->capture_default_str();
  data->add_option("--seed", data_seed, "random seed")->capture_default_str();
  data->add_option("--out,-o", data_out, "output .npy file")->required();

  std::string plot_dir;
  auto* plot = app.add_subcommand("plot", "redraw the plots of a run directory");
  plot->add_option("dir", plot_dir, "run directory")->required()->check(CLI::ExistingDirectory);

  fs::path demo_out = "runs/demo";
  bool demo_force = false;
  std::size_t demo_n = 2000, demo_steps = 2000;
  auto* demo = app.add_subcommand("demo", "ULA, MALA and annealed ULA on gmm-grid16, side by side");
  demo->add_option("--out,-o", demo_out, "output directory")->capture_default_str();
  demo->add_option("--n,-n", demo_n, "particles per sampler")->capture_default_str();
  demo->add_option("--steps", demo_steps, "steps per sampler")->capture_default_str();
  demo->add_flag("--force", demo_force, "overwrite the output directory");

  std::string est_data, est_at;
  double est_h = 0, est_tol = kDefaultKdeTol;
  fs::path est_out = "runs/estimate";
  bool est_force = false;
  auto* estimate = app.add_subcommand("estimate", "estimate log-densities and scores");
  estimate->require_subcommand(1);
  auto* est_kde = estimate->add_subcommand("kde", "Parzen (Gaussian KDE) log-density and score");
  est_kde->add_option("--data", est_data, "N x d .npy data")->required();
  est_kde->add_option("--at", est_at, "M x d .npy query points (default: the data)");
  est_kde->add_option("--bandwidth", est_h, "kernel bandwidth (0: Silverman)");
  est_kde
      ->add_option("--kde-tol", est_tol,
                   "relative error allowed in the kernel sums, which then run in near-linear "
                   "time for d <= 3 where that pays, else on float32 kernels where the bound "
                   "allows (0: exact sums)")
      ->capture_default_str();
  est_kde->add_option("--out,-o", est_out, "output directory")->capture_default_str();
  est_kde->add_flag("--force", est_force, "overwrite the output directory");

  MalliavinEstimateOptions mo;
  auto* est_malliavin = estimate->add_subcommand(
      "malliavin", "score of a nonlinear diffusion from Malliavin weights (MATH.md 6)");
  add_malliavin_options(*est_malliavin, mo);

  HeatBallEstimateOptions ho;
  auto* est_heat_ball = estimate->add_subcommand(
      "heatball",
      "local mean-value (heat-ball) density, score, log-density and entropy of a diffusion "
      "(MATH.md 7)");
  add_heat_ball_options(*est_heat_ball, ho);

#ifdef SCOREFLOW_HAS_TORCH
  MalliavinDiffusionOptions mdo;
  auto* malliavin_diffusion = app.add_subcommand(
      "malliavin-diffusion",
      "generate with a score regressed from Malliavin weights (Algorithm 6 of MATH.md 6)");
  add_malliavin_diffusion_options(*malliavin_diffusion, mdo);
#endif

  ExperimentOptions eo;
  std::string experiment_name;
  auto* experiment = app.add_subcommand("experiment",
                                        "reproduce an experiment of EXPERIMENTS.md (e1, e2, e3, "
                                        "e4, e5-kappa, e5-meanvalue, e5-train, e6, e7)");
  experiment
      ->add_option("name", experiment_name,
                   "experiment: e1 | e2 | e3 | e4 | e5-kappa | e5-meanvalue | e5-train | e6 | e7")
      ->required();
  experiment->add_flag("--quick", eo.quick, "reduced version (about a minute)");
  experiment->add_option("--out,-o", eo.out, "output directory")->required();
  experiment->add_option("--seed", eo.seed, "random seed")->capture_default_str();
  experiment->add_flag("--force", eo.force, "overwrite the output directory");

  BenchOptions bo;
  std::string bench_what;
  auto* bench = app.add_subcommand("bench", "throughput benchmarks (median of repeats)");
  bench
      ->add_option("what", bench_what,
                   "ula | kde | kde-density | wfr | wfr-gmm4 | kappa | malliavin | train-dsm | "
                   "train-ism | sbtm")
      ->required()
      ->check(CLI::IsMember({"ula", "kde", "kde-density", "wfr", "wfr-gmm4", "kappa", "malliavin",
                             "train-dsm", "train-ism", "sbtm"}));
  bench->add_option("--n,-n", bo.n, "particles (0: default)");
  bench->add_option("--steps", bo.steps, "ULA steps (0: default)");
  bench->add_option("--dim", bo.dim, "KDE dimension (kappa: 2 means its default 256)")
      ->capture_default_str();
  bench->add_option("--repeats", bo.repeats, "repeats")->capture_default_str();
  bench
      ->add_option(
          "--kde-tol", bo.kde_tol,
          "kde, kde-density, wfr: relative tolerance of the kernel sums (0: exact tiled sums)")
      ->capture_default_str();
  bench->add_option("--threads", bo.threads, "OpenMP threads (0: default)");
  bench->add_option("--target", bo.target, "ula: the target spec (any registered target)")
      ->capture_default_str();

#ifdef SCOREFLOW_HAS_TORCH
  const auto run_neural = add_neural_commands(app);
#endif

  // CLI11 reports an unknown command only as "a subcommand is required": name it instead.
  std::vector<std::string> names;
  for (const auto* c : app.get_subcommands({})) names.push_back(c->get_name());
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(names.begin(), names.end(), argv[1]) == names.end()) {
    print_error("error: unknown command '%s'; valid commands: %s\n", argv[1],
                fmt::format("{}", fmt::join(names, ", ")).c_str());
    return 2;
  }
  make_numbers_strict(app);
  try {
    if (const auto config = config_file_argument(argc, argv)) check_config_file(*config, app);
  } catch (const Error& e) {
    print_error("error: %s\n", e.what());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here with 0; every refused argument with 2, whatever CLI11's
    // own code for its kind.
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  // Commands that poll for a stop request end within one step on Ctrl-C, with a checkpoint;
  // the others keep the default action (end at once), as they have nothing to save.
  // (`train` exists only in the LibTorch build, so it is looked up among the parsed commands.)
  for (const auto* c : app.get_subcommands())
    if (c->get_name() == "sample" || c->get_name() == "train") install_stop_handlers();
  try {
#ifdef SCOREFLOW_HAS_TORCH
    if (const auto rc = run_neural()) return *rc;
    if (*malliavin_diffusion) return run_malliavin_diffusion(mdo), 0;
#endif
    if (*sample) {
      sampler_flags.collect(so);
      nlohmann::json summary;
      try {
        summary = run_sample(so);
      } catch (const InvalidArgument& e) {
        throw InvalidArgument(sampler_flags.annotate(e.what()));
      }
      if (!Comm::world().root()) return 0;  // the root wrote and reports the run
      print_metrics(summary);
      std::printf("wrote %s/{samples.npy, trace.csv, summary.json, particles.png, metrics.png}\n",
                  so.out.c_str());
    } else if (app.got_subcommand("targets")) {
      list_targets();
    } else if (app.got_subcommand("samplers")) {
      list_samplers();
    } else if (app.got_subcommand("sdes")) {
      list_entries("Forward SDEs (--sde name:key=value,...)", sde_registry());
    } else if (*data) {
      const Particles p = sample_dataset(data_name, data_n, data_seed);
      write_npy(data_out, {p.n(), p.d()}, p.data());
      std::printf("wrote %zu points of %s to %s\n", p.n(), data_name.c_str(), data_out.c_str());
    } else if (*plot) {
      for (const auto& f : plot_run(plot_dir)) std::printf("wrote %s\n", f.c_str());
    } else if (*demo) {
      return run_demo(demo_out, demo_force, demo_n, demo_steps);
    } else if (*est_malliavin) {
      run_estimate_malliavin(mo);
      return 0;
    } else if (*est_heat_ball) {
      run_estimate_heat_ball(ho);
      return 0;
    } else if (*estimate) {
      return estimate_kde(est_data, est_at, est_h, est_tol, est_out, est_force);
    } else if (*experiment) {
#ifdef SCOREFLOW_HAS_TORCH
      if (experiment_name == "e6") return run_e6(eo), 0;
      if (experiment_name == "e1") return run_e1(eo), 0;
      if (experiment_name == "e2") return run_e2(eo), 0;
      if (experiment_name == "e4") return run_e4(eo), 0;
      if (experiment_name == "e5-train") return run_e5_train(eo), 0;
#endif
      run_experiment(experiment_name, eo);
    } else if (*bench) {
#ifdef SCOREFLOW_HAS_TORCH
      if (bench_what == "sbtm") {
        std::printf("%s\n", bench_sbtm(bo).dump(2).c_str());
        return 0;
      }
      if (bench_what.starts_with("train-")) {
        std::printf("%s\n", bench_train(bench_what.substr(6), bo).dump(2).c_str());
        return 0;
      }
#endif
      const auto j = bench_what == "ula"           ? bench_ula(bo)
                     : bench_what == "kde"         ? bench_kde(bo, true)
                     : bench_what == "kde-density" ? bench_kde(bo, false)
                     : bench_what == "wfr"         ? bench_wfr(bo)
                     : bench_what == "kappa"       ? bench_kappa(bo)
                     : bench_what == "malliavin"   ? bench_malliavin(bo)
                                                   : bench_wfr_gmm4(bo);
      std::printf("%s\n", j.dump(2).c_str());
    }
  } catch (const InvalidArgument& e) {
    print_error("error: %s\n", e.what());
    return 2;
  } catch (const nlohmann::json::exception& e) {
    print_error("error: a JSON file of this run is malformed: %s\n", json_error_text(e).c_str());
    return 1;
  } catch (const Interrupted& e) {
    print_error("\n%s\n", e.what());
    return 130;
  } catch (const std::exception& e) {
    print_error("error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

// How long a failed process waits for the others to fail too before it ends the job.
constexpr double kFailureAgreementSeconds = 2;

int sf::cli_main(int argc, char** argv) {
  const Comm& comm = Comm::world();
  // Under mpirun the root speaks for the job: the others' output would repeat it.
  if (!comm.root()) (void)std::freopen("/dev/null", "w", stdout);
  const int rc = run_cli(argc, argv);
  if (rc == 0 || !comm.distributed()) return rc;
  // All processes failed (a bad option, a refused run): the root says why, once. One alone:
  // the others wait in a collective, so it names itself and ends the job.
  const bool together = comm.all_fail_together(kFailureAgreementSeconds);
  if (comm.root() || !together)
    std::fprintf(stderr, "%s%s", comm.root() ? "" : fmt::format("rank {}: ", comm.rank()).c_str(),
                 held_errors().c_str());
  if (!together) comm.abort(rc);
  return rc;
}
