#include "cli/malliavin_diffusion_command.hpp"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "cli/plot.hpp"
#include "core/io.hpp"
#include "core/npy.hpp"
#include "diagnostics/divergences.hpp"
#include "malliavin/forward_sde.hpp"
#include "neural/malliavin_regression.hpp"
#include "targets/datasets.hpp"
#include "targets/training_data.hpp"

namespace fs = std::filesystem;

namespace sf {

void add_malliavin_diffusion_options(CLI::App& cmd, MalliavinDiffusionOptions& o) {
  auto& r = o.regression;
  cmd.add_option("--data", o.data, "2-D data set or N x d .npy")->capture_default_str();
  cmd.add_option("--sde", o.sde,
                 "forward SDE: " + builtin_sde_names() + " (parameters as in estimate malliavin)")
      ->capture_default_str();
  cmd.add_option("--n-train", o.n_train, "training points")->capture_default_str();
  cmd.add_option("--n-generate", o.n_generate, "generated points (and held-out points)")
      ->capture_default_str();
  cmd.add_option("--T", r.horizon, "horizon T")->capture_default_str();
  cmd.add_option("--steps", r.steps, "Euler steps forward and in reverse")->capture_default_str();
  cmd.add_option("--snapshots", r.snapshots, "weight times per path (must divide --steps)")
      ->capture_default_str();
  cmd.add_option("--train-steps", r.train_steps, "Adam steps of the regression")
      ->capture_default_str();
  cmd.add_option("--batch", r.batch, "minibatch size")->capture_default_str();
  cmd.add_option("--lr", r.lr, "peak learning rate (cosine decay)")->capture_default_str();
  cmd.add_option("--hidden", r.hidden, "network widths, e.g. 128,128,128")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--seed", r.seed, "random seed")->capture_default_str();
  cmd.add_option("--out,-o", o.out, "output directory")->capture_default_str();
  cmd.add_flag("--force", o.force, "overwrite the output directory");
}

nlohmann::json run_malliavin_diffusion(const MalliavinDiffusionOptions& o, bool verbose) {
  const auto sde = make_forward_sde(o.sde);
  const TrainingData data = load_training_data(o.data, o.n_train, o.n_generate, o.regression.seed);
  if (data.images)
    throw InvalidArgument(
        fmt::format("malliavin-diffusion: --data {} is an image set; the "
                    "Malliavin weights cost O(d^4) per step, use d <= 10",
                    o.data));
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  const auto trained = train_malliavin_score(*sde, data.train, o.regression);
  const Particles start = strided_rows(data.train, o.n_generate);
  const Particles prior =
      forward_euler(*sde, start, o.regression.horizon, o.regression.steps, o.regression.seed + 7);
  const Particles gen = reverse_sde(*sde, *trained.model, prior, o.regression.horizon,
                                    o.regression.steps, o.regression.seed + 8);
  const double ell = median_distance(gen.rows(), data.heldout.rows());
  nlohmann::json summary = {{"command", "malliavin-diffusion"},
                            {"data", o.data},
                            {"sde", sde->name()},
                            {"n_train", data.train.n()},
                            {"n_generate", gen.n()},
                            {"T", o.regression.horizon},
                            {"steps", o.regression.steps},
                            {"snapshots", o.regression.snapshots},
                            {"train_steps", o.regression.train_steps},
                            {"prior", "training points pushed forward to T with fresh noise"},
                            {"energy_distance", energy_distance(gen.rows(), data.heldout.rows())},
                            {"mmd2", mmd2(gen.rows(), data.heldout.rows(), ell)},
                            {"seconds_weights", trained.seconds_weights},
                            {"seconds_training", trained.seconds_training},
                            {"final_loss", trained.final_loss}};
  const auto& sets = dataset_names();
  if (std::find(sets.begin(), sets.end(), o.data) !=
      sets.end()) {  // the floor: fresh data vs held-out
    const Particles fresh = sample_dataset(o.data, gen.n(), o.regression.seed + 777);
    summary["floor_energy_distance"] = energy_distance(fresh.rows(), data.heldout.rows());
    summary["floor_mmd2"] = mmd2(fresh.rows(), data.heldout.rows(), ell);
  }
  write_npy(o.out / "samples.npy", {gen.n(), gen.d()}, gen.data());
  write_npy(o.out / "heldout.npy", {data.heldout.n(), data.heldout.d()}, data.heldout.data());
  write_json(o.out / "summary.json", summary);
  if (gen.d() == 2)
    plot_points_over_data(o.out / "samples.npy", o.out / "heldout.npy",
                          fmt::format("{}: Malliavin score, {} SDE", o.data, o.sde),
                          o.out / "samples.png");
  if (verbose)
    std::printf(
        "%s / %s: energy distance %.4g, MMD2 %.3g (weights %.1f s, training %.0f s)\n"
        "wrote %s/{samples.npy, summary.json%s}\n",
        o.data.c_str(), o.sde.c_str(), summary["energy_distance"].get<double>(),
        summary["mmd2"].get<double>(), trained.seconds_weights, trained.seconds_training,
        o.out.c_str(), gen.d() == 2 ? ", samples.png" : "");
  return summary;
}

}  // namespace sf
