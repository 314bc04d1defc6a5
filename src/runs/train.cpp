#include <scoreflow/runs/train.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/checkpoint.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/progress.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/model_dir.hpp>
#include <scoreflow/neural/score_net.hpp>
#include <scoreflow/neural/torch_drift.hpp>
#include <scoreflow/neural/torchscript.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/runs/observers.hpp>
#include <scoreflow/runs/sample.hpp>
#include <scoreflow/samplers/fk_corrector.hpp>
#include <scoreflow/samplers/sbtm.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/score/kernel_score.hpp>
#include <scoreflow/targets/images.hpp>
#include <scoreflow/targets/registry.hpp>
#include <scoreflow/targets/training_data.hpp>

namespace sf {
namespace fs = std::filesystem;
namespace {

// Small MLP steps are dominated by per-operation overhead: on 2 cores one LibTorch thread
// trained the 3×128 MLP 4.4× faster than two (894 vs 201 steps/s). Convolutions gain.
void set_threads(int threads, bool big_model) {
  set_thread_count(threads);  // checks the range
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads > 0 ? threads : big_model ? all : 1);
}

torch::Tensor to_float_tensor(Particles& p) {
  return as_tensor(p).to(torch::kFloat32).contiguous();
}

// The known score of the data for ESM: the target's analytic score, else the Parzen score
// of the training points with Silverman's bandwidth (through the lattice where it pays).
ScoreOfBatch esm_target(const TrainingData& data, double kde_tol) {
  if (data.target) {
    const Target* t = data.target.get();
    return batch_score([t](ConstRows x, Rows s) { t->score(x, s); });
  }
  auto kde = std::make_shared<ParzenScore>(data.train.rows(),
                                           silverman_bandwidth(data.train.rows()), kde_tol);
  return batch_score([kde](ConstRows x, Rows s) { kde->score(x, s); });
}

void resolve_net_config(TrainRunOptions& c, const TrainingData& data) {
  c.net.dim = static_cast<std::int64_t>(data.train.d());
  c.net.arch = !c.arch.empty() ? c.arch : data.images ? "unet" : "mlp";
  c.net.hidden = parse_widths(c.hidden);
  if (c.net.arch == "unet" && c.hidden == "128,128,128") c.net.hidden = {16};  // CPU-sized
  std::string sde = c.sde;
  if (sde.empty() && loss_registry().get(c.train.loss).factory.noise_conditional) sde = "vp";
  if (!sde.empty()) c.net.sde = sde;
  c.net.cond = !c.cond.empty() ? c.cond : c.net.sde ? "fourier" : "none";
  c.net.validate();
  if (c.dequantise != "auto" && c.dequantise != "on" && c.dequantise != "off")
    throw InvalidArgument(
        fmt::format("unknown dequantise '{}'; valid: auto, on, off", c.dequantise));
  c.train.dequantise = c.dequantise == "on" || (c.dequantise == "auto" && data.images);
}

void write_loss_csv(const fs::path& dir, const std::vector<TrainRecord>& history) {
  CsvTable t({"step", "train_loss", "heldout_loss", "lr"});
  for (const auto& r : history)
    t.add_row({static_cast<double>(r.step), r.train_loss, r.heldout_loss, r.lr});
  t.write(dir / "loss.csv");
}

// What a training run is: resuming with any of these changed would silently train another
// model, so resume refuses it. --threads, --stop-after, --checkpoint-every may change.
nlohmann::json train_identity(const TrainRunOptions& c) {
  nlohmann::json id = {{"net", c.net.to_json()},   {"train", c.train.to_json()},
                       {"data", c.data},           {"n", c.n},
                       {"n_heldout", c.n_heldout}, {"data_seed", c.data_seed}};
  if (c.train.loss == "esm") id["kde_tol"] = c.kde_tol;  // the Parzen target's sums
  return id;
}

// The committed checkpoint of a training run, after checking it is this run's.
std::optional<Checkpoint> train_checkpoint(const TrainRunOptions& c) {
  const auto ck = read_checkpoint(c.out);
  if (!ck) return std::nullopt;
  check_resume_options("train", c.out, ck->meta.at("options"), train_identity(c));
  if (ck->step > c.train.steps)
    throw FormatError(fmt::format("{}: checkpoint at step {}, beyond the run's --steps {}",
                                  ck->dir.string(), ck->step, c.train.steps));
  return ck;
}

// Refuses a network or batch that cannot fit before LibTorch tries (it would throw bad_alloc
// or print a stack trace). Weights, gradients, Adam's two moments, EMA and best copy are six
// float32 copies of the parameters; a batch keeps a few activations per layer and width.
void check_train_memory(const TrainRunOptions& c, const TrainingData& data) {
  if (c.net.arch != "mlp") return;  // the U-Net is sized for 16×16 images
  std::vector<double> widths{static_cast<double>(c.net.dim)};
  for (const auto w : c.net.hidden) widths.push_back(static_cast<double>(w));
  widths.push_back(static_cast<double>(c.net.dim));
  double params = 0, units = 0;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i)
    params += widths[i] * widths[i + 1] + widths[i + 1];
  for (const double w : widths) units += w;
  const double batch = static_cast<double>(std::max(c.train.batch, data.heldout.n()));
  const double data_bytes =
      12.0 * static_cast<double>((data.train.n() + data.heldout.n()) * data.train.d());
  check_memory_fits(
      fmt::format("train: a network of {:.3g} parameters with batch {}", params, c.train.batch),
      6 * 4 * params + 8 * 4 * batch * units + data_bytes, "lower --hidden, --batch or --n");
}

}  // namespace

nlohmann::json run_train(TrainRunOptions c) {
  const Comm& comm = Comm::world();
  c.train.comm = &comm;
  c.train.validate();
  check_kde_tol("train: --kde-tol", c.kde_tol);
  if (comm.size() > 1 && c.train.grad_blocks < static_cast<std::size_t>(comm.size()))
    throw InvalidArgument(fmt::format(
        "train: across {} processes pass --grad-blocks B >= {} (the batch in B blocks split over "
        "the processes; the weights are the same for every process count with the same B)",
        comm.size(), comm.size()));
  check_memory_fits("train: the data", 16.0 * static_cast<double>(c.n + c.n_heldout) * 2,
                    "lower --n or --heldout-n");
  auto data = load_training_data(c.data, c.n, c.n_heldout, c.data_seed);
  resolve_net_config(c, data);
  check_train_memory(c, data);
  set_threads(c.threads, c.net.arch == "unet");
  // The trainer checks the options against the data: before the run directory exists, so a
  // refused run leaves nothing behind.
  auto net = make_score_net(c.net, c.train.seed);
  Trainer trainer(net, c.train, to_float_tensor(data.train), to_float_tensor(data.heldout),
                  c.train.loss == "esm" ? esm_target(data, c.kde_tol) : ScoreOfBatch{});
  comm.on_root([&] {
    prepare_run_dir(c.out,
                    c.force    ? RunDirMode::force
                    : c.resume ? RunDirMode::resume
                               : RunDirMode::fresh,
                    /*resumable=*/true);
    remove_stale_files(c.out);
  });
  const auto resumed = c.resume ? train_checkpoint(c) : std::nullopt;
  if (resumed) {
    trainer.load_checkpoint((resumed->dir / "trainer").string());
    if (c.verbose) std::printf("resuming %s at step %zu\n", c.out.c_str(), trainer.step());
  }
  const auto save = [&] {
    comm.on_root([&] {
      CheckpointWriter ck(c.out, trainer.step());
      trainer.save_checkpoint((ck.dir() / "trainer").string());
      ck.commit({{"options", train_identity(c)}});
      write_loss_csv(c.out, trainer.history());
    });
  };
  const std::size_t every =
      c.checkpoint_every ? c.checkpoint_every : std::max<std::size_t>(1, c.train.steps / 10);
  Progress progress(c.train.steps, "train");
  const auto start = std::chrono::steady_clock::now();
  const std::size_t first = trainer.step();
  bool finished = true;
  double last_heldout = NAN;
  const std::size_t last = c.stop_after ? std::min(c.stop_after, c.train.steps) : c.train.steps;
  const auto on_record = [&](const TrainRecord& r) {
    last_heldout = r.heldout_loss;
    progress.update(r.step,
                    fmt::format("loss {:.4g} held-out {:.4g}", r.train_loss, r.heldout_loss));
  };
  while (trainer.step() < last && finished) {
    const std::size_t until = std::min(last, (trainer.step() / every + 1) * every);
    // One step at a time, so that Ctrl-C ends the run within one step.
    bool stop = false;
    while (trainer.step() < until && finished && !stop) {
      finished = trainer.run(trainer.step() + 1, on_record);
      if (c.on_step) c.on_step(trainer.step());
      stop = comm.any(stop_requested());
    }
    if (trainer.step() > first) save();
    if (stop && trainer.step() < last)
      throw Interrupted(fmt::format(
          "train: stopped by {} at step {} of {}; the checkpoint in '{}' holds that step; "
          "continue with the same options and --resume",
          stop_reason(), trainer.step(), c.train.steps, c.out.string()));
  }
  progress.finish();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  trainer.finalize();
  const nlohmann::json meta = {
      {"net", c.net.to_json()},   {"train", c.train.to_json()}, {"data", c.data},       {"n", c.n},
      {"n_heldout", c.n_heldout}, {"data_seed", c.data_seed},   {"images", data.images}};
  comm.on_root([&] { write_model(c.out, trainer.net(), meta); });
  const double steps_run = static_cast<double>(trainer.step() - first);
  nlohmann::json summary = meta;
  summary["steps_done"] = trainer.step();
  summary["stopped_early"] = !finished;
  summary["heldout_loss"] = last_heldout;
  summary["seconds"] = secs;
  summary["steps_per_second"] = steps_run / secs;
  summary["parameters"] = [&] {
    std::int64_t k = 0;
    for (const auto& p : trainer.net().parameters()) k += p.numel();
    return k;
  }();
  summary["processes"] = comm.size();
  summary["communication"] = traffic_json(comm.traffic(), trainer.step() - first);
  comm.on_root([&] {
    write_json(c.out / "summary.json", summary);
    plot_loss_curve(c.out / "loss.csv", c.out / "loss.png");
  });
  if (!c.verbose || !comm.root()) return summary;
  std::printf(
      "trained %s (%s, %lld parameters) on %s: %zu steps, %.1f steps/s, held-out loss %.5g%s\n",
      c.net.arch.c_str(), c.train.loss.c_str(),
      static_cast<long long>(summary["parameters"].get<std::int64_t>()), c.data.c_str(),
      trainer.step(), steps_run / secs, last_heldout, finished ? "" : " (stopped early)");
  std::printf(
      "wrote %s/{model.pt, model.json, loss.csv, loss.png, summary.json, checkpoint.json}\n",
      c.out.c_str());
  return summary;
}

namespace {

void compare_with_reference(const Particles& gen, const Particles& ref, nlohmann::json& summary) {
  const std::size_t m = std::min<std::size_t>({gen.n(), ref.n(), 10000});
  const Particles g = strided_rows(gen, m), r = strided_rows(ref, m);
  const double ell = median_distance(g.rows(), r.rows());
  summary["energy_distance"] = energy_distance(g.rows(), r.rows());
  summary["mmd2"] = mmd2(g.rows(), r.rows(), ell);
  summary["mmd_bandwidth"] = ell;
  summary["compared_points"] = m;
}

// What the data themselves score against the reference: m fresh draws (another seed) against
// the same reference rows. A finite sample's energy distance is positive even for the true
// law, so this is the floor a perfect model would reach.
void add_data_floor(const std::string& name, std::uint64_t seed, const Particles& gen,
                    const Particles& ref, nlohmann::json& summary) {
  const std::size_t m = std::min<std::size_t>({gen.n(), ref.n(), 10000});
  const TrainingData fresh = load_training_data(name, 1, m, seed + 1);
  if (!fresh.generated) return;
  const Particles r = strided_rows(ref, m);
  summary["energy_distance_floor"] = energy_distance(fresh.heldout.rows(), r.rows());
  summary["mmd2_floor"] =
      mmd2(fresh.heldout.rows(), r.rows(), summary["mmd_bandwidth"].get<double>());
}

// The score of --model or --torchscript, with its SDE and dimension.
struct ScoreSource {
  TimeScoreFn score;
  std::optional<LoadedModel> model;
  LinearSde sde;
  std::int64_t dim;
  bool images = false;
};

LoadedModel load_diffusion_model(const fs::path& dir) {
  LoadedModel model = load_model(dir);
  if (!model.net->config().sde)
    throw InvalidArgument(
        fmt::format("model '{}' was trained with {} and has no SDE; generation needs nc-dsm",
                    dir.string(), model.meta["train"].value("loss", "?")));
  return model;
}

TimeScoreFn model_score(const LoadedModel& model) {
  auto net = model.net;
  return [net](const torch::Tensor& x, double t) {
    return net->score(x, torch::full({x.size(0)}, t, x.options()));
  };
}

ScoreSource load_score(const GenerateRunOptions& c) {
  if (!c.torchscript.empty()) {
    if (c.dim < 1) throw InvalidArgument("--torchscript needs --dim (the data dimension)");
    set_threads(c.threads, c.dim > 16);
    return {load_torchscript_score(c.torchscript.string(), c.dim), std::nullopt,
            LinearSde::by_name(c.sde), c.dim};
  }
  if (c.model.empty())
    throw InvalidArgument("give --model DIR (from scoreflow train) or --torchscript FILE");
  LoadedModel model = load_diffusion_model(c.model);
  const auto& cfg = model.net->config();
  set_threads(c.threads, cfg.arch == "unet");
  ScoreSource src{model_score(model), std::nullopt, cfg.linear_sde(), cfg.dim,
                  model.meta.value("images", false)};
  src.model = std::move(model);
  return src;
}

// A time-dependent score (a trained model, a TorchScript module) as a factor q_t^beta of the
// Feynman–Kac corrector: evaluated in float32 as the models were trained, returned in float64.
DiffusedFactor score_factor(TimeScoreFn score, std::string name, double beta) {
  DiffusedFactor f;
  f.name = std::move(name);
  f.beta = beta;
  f.score = [score = std::move(score)](double t, ConstRows x, Rows out) {
    torch::NoGradGuard no_grad;
    const auto in =
        torch::from_blob(const_cast<double*>(x.data),
                         {static_cast<std::int64_t>(x.n), static_cast<std::int64_t>(x.d)},
                         torch::kFloat64)
            .to(torch::kFloat32);
    const auto s = score(in, t).to(torch::kFloat64).contiguous();
    if (s.numel() != static_cast<std::int64_t>(x.n * x.d))
      throw Error(fmt::format("fk: the score returned {} values for {} points in d = {}", s.numel(),
                              x.n, x.d));
    std::copy_n(s.data_ptr<double>(), x.n * x.d, out.data);
  };
  return f;
}

// The factors of --sampler fk: the main score and each --product model, all to the power β,
// on one SDE.
std::vector<DiffusedFactor> fk_factors(const GenerateRunOptions& c, const ScoreSource& src) {
  check_positive_finite("generate --sampler fk", "--beta", c.beta);
  std::vector<DiffusedFactor> factors{
      score_factor(src.score, src.model ? c.model.string() : c.torchscript.string(), c.beta)};
  for (const auto& dir : c.product) {
    LoadedModel other = load_diffusion_model(dir);
    const auto& cfg = other.net->config();
    if (cfg.dim != src.dim || cfg.linear_sde().name() != src.sde.name() ||
        cfg.linear_sde().prior_std() != src.sde.prior_std())
      throw InvalidArgument(fmt::format(
          "--product '{}' (d = {}, {} SDE with prior std {}) does not match the first model "
          "(d = {}, {} SDE with prior std {}); a product needs one SDE and dimension",
          dir.string(), cfg.dim, cfg.linear_sde().name(), cfg.linear_sde().prior_std(), src.dim,
          src.sde.name(), src.sde.prior_std()));
    factors.push_back(score_factor(model_score(other), dir.string(), c.beta));
  }
  return factors;
}

// Runs the Feynman–Kac corrector; writes particles.npy and log_weights.npy and returns the
// equally weighted resample.
Particles run_fk(const GenerateRunOptions& c, const ScoreSource& src, nlohmann::json& summary) {
  FkCorrectorConfig cfg;
  cfg.steps = c.gen.steps;
  cfg.seed = c.gen.seed;
  cfg.sde = src.sde;
  cfg.t_end = src.sde.t_min();
  cfg.resampler = resampler_by_name(c.resampler);
  cfg.ess_threshold = c.ess_threshold;
  cfg.target_score_in_state = false;  // no trace here
  const FkCorrector fk(fk_factors(c, src), static_cast<std::size_t>(src.dim), cfg);
  const double sd = src.sde.prior_std();
  Particles x0(c.n, static_cast<std::size_t>(src.dim));
  for (std::size_t i = 0; i < c.n; ++i) {
    Draws r(c.gen.seed, Stream::init, i, 0);
    for (std::size_t k = 0; k < x0.d(); ++k) x0(i, k) = sd * r.normal();
  }
  SamplerState s = fk.init(std::move(x0));
  struct CountResamplings : Observer {
    std::size_t count = 0;
    bool on_step(const SamplerState&, const StepInfo& info) override {
      count += info.resampled;
      return true;
    }
  } resamplings;
  ProgressObserver progress(c.gen.steps, "generate fk");
  Observer* obs[] = {&resamplings, &progress};
  const RunResult r = run(fk, s, c.gen.steps, obs);
  if (r.interrupted) throw Interrupted("generate: stopped by " + stop_reason());
  const auto& lw = s.x.log_weights();
  write_npy(c.out / "particles.npy", {s.x.n(), s.x.d()}, s.x.data());
  write_npy(c.out / "log_weights.npy", {lw.size()}, lw.data());
  summary["fk"] = fk.config();
  summary["log_z"] = s.log_normaliser + log_mean_weight(lw);
  summary["ess_final"] = normalised_ess(lw);
  summary["resamplings"] = resamplings.count;
  StepInfo last;
  maybe_resample(s, scheme_of(cfg.resampler, "fk"), 1.0, c.gen.seed + 1, last);
  return std::move(s.x);
}

// Whether the run samples the model's own law (and may compare with its data).
bool own_data_of(const GenerateRunOptions& c) {
  return c.gen.sampler != "fk" || (c.beta == 1 && c.product.empty());
}

}  // namespace

nlohmann::json run_generate(GenerateRunOptions c) {
  const ScoreSource src = load_score(c);
  const auto& sde = src.sde;
  const std::int64_t dim = src.dim;
  const bool images = src.images;
  const auto& model = src.model;
  const auto& score = src.score;
  c.gen.validate(sde);
  check_positive("generate", "--n", c.n);
  if (c.gen.sampler != "fk" && (c.beta != 1 || !c.product.empty()))
    throw InvalidArgument(
        fmt::format("--beta and --product belong to --sampler fk (Feynman-Kac corrector), not {}",
                    c.gen.sampler));
  if (!own_data_of(c) && c.likelihood)
    throw InvalidArgument(
        "--likelihood measures the model itself; with --beta or --product the fk sampler "
        "draws another law");
  // The points, the score, the noise and the sampler's temporaries: about eight float copies.
  check_memory_fits(fmt::format("generate: {} points in d = {}", c.n, dim),
                    8.0 * 4.0 * static_cast<double>(c.n) * static_cast<double>(dim), "lower --n");
  prepare_run_dir(c.out, c.force ? RunDirMode::force : RunDirMode::fresh);
  nlohmann::json summary = {{"sampler", c.gen.sampler},
                            {"steps", c.gen.steps},
                            {"n", c.n},
                            {"sde", sde.name()},
                            {"seed", c.gen.seed}};
  const auto start = std::chrono::steady_clock::now();
  Particles gen;
  if (c.gen.sampler == "fk") {
    gen = run_fk(c, src, summary);
  } else {
    Progress progress(1000, "generate");
    const auto x = generate(sde, score, static_cast<std::int64_t>(c.n), dim, c.gen,
                            [&](double f) { progress.update(static_cast<std::size_t>(1000 * f)); });
    progress.finish();
    gen = to_particles(x);
  }
  summary["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  check_finite_output("generate: samples", {gen.data(), gen.n() * gen.d()},
                      "use more --steps, a smaller --ncsn-eps or --snr, or check the model");
  write_npy(c.out / "samples.npy", {gen.n(), gen.d()}, gen.data());
  // Held-out reference: the model's own data unless --reference names other data (a weighted
  // product or tempered law is not the model's data: compare only with --reference).
  std::optional<Particles> ref;
  std::string ref_name = c.reference;
  if (ref_name.empty() && model && own_data_of(c)) ref_name = model->meta.value("data", "");
  if (!ref_name.empty()) {
    const std::size_t rn = model ? model->meta.value("n_heldout", std::size_t{10000}) : 10000;
    const std::uint64_t rs = model ? model->meta.value("data_seed", std::uint64_t{0}) : 0;
    ref = load_training_data(ref_name, 10, rn, rs).heldout;
    if (ref->d() != gen.d())
      throw InvalidArgument(
          fmt::format("reference '{}' has d = {}, the model d = {}", ref_name, ref->d(), gen.d()));
    write_npy(c.out / "reference.npy", {ref->n(), ref->d()}, ref->data());
    summary["reference"] = ref_name;
    compare_with_reference(gen, *ref, summary);
    if (!images) add_data_floor(ref_name, rs, gen, *ref, summary);
  }
  if (c.likelihood && ref) {
    const std::size_t m = std::min(c.likelihood_n, ref->n());
    Particles sub = strided_rows(*ref, m);
    LikelihoodOptions lo;
    lo.steps = c.likelihood_steps;
    lo.exact_trace = dim <= 4;
    lo.seed = c.gen.seed;
    auto xs = as_tensor(sub).to(torch::kFloat32);
    torch::Tensor lp;
    if (images) xs = dequantise_8bit(xs, c.gen.seed);
    lp = log_likelihood(sde, score, xs, lo);
    const double nll = -lp.mean().item<double>(),
                 se = lp.std().item<double>() / std::sqrt(static_cast<double>(m));
    summary["nll_nats"] = nll;
    summary["nll_se"] = se;
    summary["likelihood_points"] = m;
    summary["likelihood_trace"] = lo.exact_trace ? "exact" : "hutchinson";
    if (images) {
      summary["bits_per_dim"] = bits_per_dim(nll, static_cast<std::size_t>(dim));
      summary["bits_per_dim_se"] = se / (static_cast<double>(dim) * std::log(2.0));
    }
  }
  write_json(c.out / "summary.json", summary);
  const std::string title =
      fmt::format("{} sampler, {} SDE, {} steps", c.gen.sampler, sde.name(), c.gen.steps);
  if (images || dim == 256)
    plot_image_grid(c.out / "samples.npy", kImageSide, 8, title, c.out / "samples.png");
  else if (dim == 2 && ref)
    plot_points_over_data(c.out / "samples.npy", c.out / "reference.npy", title,
                          c.out / "samples.png");
  if (c.verbose) {
    std::printf("%s\n", summary.dump(2).c_str());
    if (summary.contains("energy_distance_floor"))
      std::printf(
          "energy distance to the held-out data %.3g; floor (fresh data against the same points) "
          "%.3g: %.1f x the floor\n",
          summary["energy_distance"].get<double>(), summary["energy_distance_floor"].get<double>(),
          summary["energy_distance"].get<double>() /
              summary["energy_distance_floor"].get<double>());
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(c.out))
      if (e.is_regular_file() && !e.path().filename().string().starts_with("."))
        files.push_back(e.path().filename().string());
    std::sort(files.begin(), files.end());
    std::printf("wrote %s/{%s}\n", c.out.c_str(),
                fmt::format("{}", fmt::join(files, ", ")).c_str());
  }
  return summary;
}

namespace {

// --out is one file, not a run directory: it is replaced only with --force, and only when it
// is a TorchScript archive (a zip file), so a typo cannot overwrite a user's document.
void check_export_target(const ExportRunOptions& c) {
  if (!fs::exists(c.out)) return;
  if (!c.force)
    throw InvalidArgument(
        fmt::format("export: '{}' exists; pass --force to replace it", c.out.string()));
  char magic[4] = {};
  std::ifstream(c.out, std::ios::binary).read(magic, 4);
  if (!fs::is_regular_file(c.out) || std::string_view(magic, 4) != "PK\x03\x04")
    throw InvalidArgument(fmt::format(
        "export --force: '{}' is not a TorchScript file (not a zip archive), so it was left "
        "untouched; choose another --out",
        c.out.string()));
}

}  // namespace

void run_export(const ExportRunOptions& c) {
  check_export_target(c);
  auto m = load_model(c.model);
  auto* mlp = dynamic_cast<ResMlpImpl*>(m.net.get());
  if (!mlp)
    throw InvalidArgument(
        "export supports the residual MLP (arch mlp); the U-Net is not exported yet");
  export_torchscript(*mlp, c.out.string());
}

}  // namespace sf
