// E6 (EXPERIMENTS.md): denoising-diffusion baselines. Noise-conditional score networks on
// the eight 2-D sets, generated against held-out data next to the data-vs-data floor; DSM
// against sliced and implicit score matching on the same network; VE with the reverse SDE,
// the probability-flow ODE and NCSN annealed Langevin; and mnist256 with an image grid and
// bits/dim. Needs LibTorch, so it lives beside the neural code.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/targets/datasets.hpp>
#include <scoreflow/targets/images.hpp>
#include <scoreflow/targets/training_data.hpp>
#include "experiments/experiment.hpp"
#include "experiments/score_training.hpp"

namespace sf {
namespace fs = std::filesystem;
namespace {

struct DiffusionBudget {
  std::size_t n_train, n_eval, steps, gen_steps, image_steps, image_eval, image_metric;
};

struct DiffusionRow {
  std::string part, data, loss, sde, sampler;
  double energy, mmd, floor_energy, floor_mmd, train_s, extra;
};

std::string diffusion_table(const std::vector<DiffusionRow>& rows) {
  std::string md =
      "| part | data | loss | SDE | sampler | energy distance | MMD² | data-vs-data energy | "
      "data-vs-data MMD² | "
      "train s | bits/dim |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows)
    md += fmt::format(
        "| {} | {} | {} | {} | {} | {:.4g} | {:.3g} | {:.3g} | {:.3g} | {:.0f} | {} |\n", r.part,
        r.data, r.loss, r.sde, r.sampler, r.energy, r.mmd, r.floor_energy, r.floor_mmd, r.train_s,
        std::isnan(r.extra) ? "" : fmt::format("{:.3f}", r.extra));
  return md;
}

// Generate, compare with held-out data and plot.
DiffusionRow evaluate(const std::string& part, const std::string& name, const std::string& loss,
                      const LinearSde& sde, const std::string& sampler, const Trained& model,
                      const TrainingData& data, const Particles& fresh, const DiffusionBudget& b,
                      const fs::path& out, std::uint64_t seed) {
  GenerateOptions g;
  g.sampler = sampler;
  g.steps = sampler == "ncsn"            ? b.gen_steps / 5
            : sampler.starts_with("ode") ? b.gen_steps / 5
                                         : b.gen_steps;
  g.seed = seed;
  const Particles gen =
      to_particles(generate(sde, score_of(model.net), static_cast<std::int64_t>(b.n_eval),
                            static_cast<std::int64_t>(data.train.d()), g));
  const Particles held = strided_rows(data.heldout, b.n_eval);
  const auto [e, m] = discrepancy(gen, held);
  const auto [fe, fm] = discrepancy(fresh, held);
  const std::string stem = fmt::format("{}_{}_{}_{}_{}", part, name, loss, sde.name(), sampler);
  write_npy(out / (stem + ".npy"), {gen.n(), gen.d()}, gen.data());
  write_npy(out / "plots" / (name + "_heldout.npy"), {held.n(), held.d()}, held.data());
  plot_points_over_data(out / (stem + ".npy"), out / "plots" / (name + "_heldout.npy"),
                        fmt::format("{}: {} {} {}", name, loss, sde.name(), sampler),
                        out / (stem + ".png"));
  std::printf(
      "%-8s %-12s %-7s %-5s %-8s energy %.4g (floor %.3g)  MMD² %.3g (floor %.3g)  %.0f s\n",
      part.c_str(), name.c_str(), loss.c_str(), sde.name().c_str(), sampler.c_str(), e, fe, m, fm,
      model.seconds);
  return {part, name, loss, sde.name(), sampler, e, m, fe, fm, model.seconds, NAN};
}

// mnist256: the model's samples and bits/dim, next to the Gaussian baselines fitted to the same
// digits; sample metrics against held-out digits, with training digits as the floor.
std::vector<DiffusionRow> images(const DiffusionBudget& b, const fs::path& out,
                                 std::uint64_t seed) {
  auto data = load_training_data("mnist256", 10, 10, 0);
  const auto sde = LinearSde::by_name("vp");
  // The U-Net's convolutions are the one workload here that gains from every core.
  torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const Trained model =
      train_score_net(data, {"nc-dsm", "vp", 50, b.image_steps, seed, true, {}, "unet"});
  const auto score = score_of(model.net);
  write_image_samples(sde, score, seed, "mnist256: VP reverse SDE, 500 steps",
                      out / "mnist256_samples.npy");
  write_npy(out / "plots" / "mnist256_heldout.npy", {64, 256}, data.heldout.data());
  plot_image_grid(out / "plots" / "mnist256_heldout.npy", kImageSide, 8, "mnist256 held-out digits",
                  out / "mnist256_heldout.png");
  const Particles eval = strided_rows(data.heldout, b.image_eval);
  const Particles held = strided_rows(data.heldout, b.image_metric);
  const auto [fe, fm] = discrepancy(strided_rows(data.train, b.image_metric), held);
  const double bpd = heldout_bits_per_dim(sde, score, eval, seed);
  const auto [e, m] = discrepancy(generate_images(sde, score, b.image_metric, seed + 1), held);
  std::printf(
      "mnist256: held-out DSM loss %.4g, %.3f bits/dim on %zu digits, energy %.4g (floor "
      "%.3g), %.0f s training\n",
      model.heldout_loss, bpd, b.image_eval, e, fe, model.seconds);
  std::vector<DiffusionRow> rows = {{"images", "mnist256", "nc-dsm, U-Net + Gaussian base", "vp",
                                     "euler", e, m, fe, fm, model.seconds, bpd}};
  for (const bool full : {true, false}) {
    const auto start = std::chrono::steady_clock::now();
    const GaussianBaseline g = gaussian_baseline(data.train, full, eval, b.image_metric, seed);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto [ge, gm] = discrepancy(g.samples, held);
    const std::string name = full ? "Gaussian, full covariance" : "Gaussian, diagonal";
    std::printf("mnist256: %s: %.3f bits/dim, energy %.4g\n", name.c_str(), g.bits_per_dim, ge);
    rows.push_back(
        {"images", "mnist256", name, "—", "exact draws", ge, gm, fe, fm, secs, g.bits_per_dim});
  }
  torch::set_num_threads(1);
  return rows;
}

}  // namespace

void run_e6(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  fs::create_directories(o.out / "plots");
  torch::set_num_threads(1);
  const DiffusionBudget b = o.quick ? DiffusionBudget{4000, 1000, 1500, 200, 30, 20, 100}
                                    : DiffusionBudget{20000, 10000, 20000, 500, 2000, 500, 1000};
  const std::vector<std::string> sets =
      o.quick ? std::vector<std::string>{"moons", "8gaussians"} : dataset_names();
  std::vector<DiffusionRow> rows;
  const auto vp = LinearSde::by_name("vp");
  const auto load = [&](const std::string& name) {
    return load_training_data(name, b.n_train, b.n_eval, o.seed);
  };
  const auto fresh_of = [&](const std::string& name) {
    return sample_dataset(name, b.n_eval, o.seed + 777);
  };
  for (const auto& name : sets) {  // A: every set, DSM, VP reverse SDE and PF-ODE
    const auto data = load(name);
    const auto fresh = fresh_of(name);
    const Trained m = train_score_net(data, {"nc-dsm", "vp", 50, b.steps, o.seed + 1, false, {}});
    rows.push_back(
        evaluate("sets", name, "nc-dsm", vp, "euler", m, data, fresh, b, o.out, o.seed + 2));
    rows.push_back(
        evaluate("sets", name, "nc-dsm", vp, "ode-heun", m, data, fresh, b, o.out, o.seed + 2));
  }
  const std::vector<std::string> loss_sets =
      o.quick ? std::vector<std::string>{"moons"}
              : std::vector<std::string>{"moons", "checkerboard", "swissroll"};
  for (const auto& name : loss_sets) {  // B: DSM vs sliced vs implicit on the same network
    const auto data = load(name);
    const auto fresh = fresh_of(name);
    for (const std::string loss : {"nc-ssm", "nc-ism"}) {
      const Trained m = train_score_net(data, {loss, "vp", 50, b.steps, o.seed + 1, false, {}});
      rows.push_back(
          evaluate("losses", name, loss, vp, "euler", m, data, fresh, b, o.out, o.seed + 2));
    }
  }
  {  // C: VE with the reverse SDE (predictor–corrector), the PF-ODE and NCSN
    const std::string name = o.quick ? "8gaussians" : "swissroll";
    const auto data = load(name);
    const auto fresh = fresh_of(name);
    const auto ve = LinearSde::by_name("ve", 10);
    const Trained m = train_score_net(data, {"nc-dsm", "ve", 10, b.steps, o.seed + 1, false, {}});
    for (const std::string s : {"pc", "ode-rk4", "ncsn"})
      rows.push_back(evaluate("ve", name, "nc-dsm", ve, s, m, data, fresh, b, o.out, o.seed + 2));
  }
  for (auto& r : images(b, o.out, o.seed + 3)) rows.push_back(std::move(r));

  std::string csv =
      "part,data,loss,sde,sampler,energy,mmd2,floor_energy,floor_mmd2,train_seconds,bits_per_dim\n";
  for (const auto& r : rows)
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", r.part, r.data, r.loss, r.sde,
                       r.sampler, r.energy, r.mmd, r.floor_energy, r.floor_mmd, r.train_s, r.extra);
  write_file_atomic(o.out / "table.csv", csv);
  const std::string md = diffusion_table(rows);
  write_file_atomic(o.out / "table.md", md);
  std::printf("%s\nwrote %s/{table.md, table.csv, *.png}\n", md.c_str(), o.out.c_str());
}

}  // namespace sf
