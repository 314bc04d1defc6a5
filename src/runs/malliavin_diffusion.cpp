#include <scoreflow/runs/malliavin_diffusion.hpp>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/neural/malliavin_regression.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/sde/forward_sde.hpp>
#include <scoreflow/targets/datasets.hpp>
#include <scoreflow/targets/training_data.hpp>

namespace fs = std::filesystem;

namespace sf {

nlohmann::json run_malliavin_diffusion(const MalliavinDiffusionOptions& o, bool verbose) {
  const auto sde = make_forward_sde(o.sde);
  check_positive("malliavin-diffusion", "--n-train", o.n_train);
  check_positive("malliavin-diffusion", "--n-generate", o.n_generate);
  check_memory_fits(
      "malliavin-diffusion: the data",
      16.0 * (static_cast<double>(o.n_train) + 2.0 * static_cast<double>(o.n_generate)) * 2,
      "lower --n-train or --n-generate");
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
  check_finite_output("malliavin-diffusion: the generated samples",
                      std::span<const double>(gen.data(), gen.n() * gen.d()),
                      "the reverse SDE diverged; raise --steps or --train-steps");
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
