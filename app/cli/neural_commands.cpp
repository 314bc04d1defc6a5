#include "cli/neural_commands.hpp"

#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/checkpoint.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/progress.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/model_dir.hpp>
#include <scoreflow/neural/score_net.hpp>
#include <scoreflow/neural/torch_drift.hpp>
#include <scoreflow/neural/torchscript.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/runs/sample.hpp>
#include <scoreflow/runs/train.hpp>
#include <scoreflow/samplers/sbtm.hpp>
#include <scoreflow/score/kernel_score.hpp>
#include <scoreflow/targets/images.hpp>
#include <scoreflow/targets/registry.hpp>
#include <scoreflow/targets/training_data.hpp>

namespace sf {
namespace fs = std::filesystem;
namespace {

void add_train(CLI::App& app, TrainRunOptions& c) {
  auto* t = app.add_subcommand("train", "train a score network by score matching");
  t->add_option("--data", c.data, "moons, …, mnist256, fashion256, an N×d .npy, or a target spec")
      ->capture_default_str();
  t->add_option("--n,-n", c.n, "training points drawn from a generator or target")
      ->capture_default_str();
  t->add_option("--heldout-n", c.n_heldout, "held-out points drawn likewise")
      ->capture_default_str();
  t->add_option("--data-seed", c.data_seed, "seed of generated data")->capture_default_str();
  t->add_option("--loss", c.train.loss, loss_registry().names())->capture_default_str();
  t->add_option("--sde", c.sde,
                "noise-conditional on ve, vp or subvp (default vp for nc-* losses)");
  t->add_option("--sigma-max", c.net.sigma_max, "VE σ_max")->capture_default_str();
  t->add_option("--arch", c.arch, "mlp or unet (default: unet for images)");
  t->add_option("--hidden", c.hidden, "MLP widths (unet: base channels)")->capture_default_str();
  t->add_option("--activation", c.net.activation, "silu or softsign")->capture_default_str();
  t->add_option("--cond", c.cond,
                "time features: none, sinusoidal, fourier (default fourier with --sde)");
  t->add_option("--cond-features", c.net.cond_features, "time feature width")
      ->capture_default_str();
  t->add_option("--fourier-scale", c.net.fourier_scale, "std of the Fourier frequencies")
      ->capture_default_str();
  t->add_option("--kde-tol", c.kde_tol,
                "esm on data of unknown score: relative error allowed in the Parzen target's "
                "kernel sums, near-linear for d <= 3 where that pays, else float32 kernels "
                "where the bound allows (0: exact sums)")
      ->capture_default_str();
  t->add_option("--steps", c.train.steps, "optimiser steps")->capture_default_str();
  t->add_option("--batch", c.train.batch, "minibatch size")->capture_default_str();
  t->add_option("--grad-blocks", c.train.grad_blocks,
                "the batch's gradient in this many fixed blocks summed in order (data-parallel "
                "over mpirun's processes, at most this many; the same weights for any number)")
      ->capture_default_str();
  t->add_option("--lr", c.train.lr, "peak learning rate")->capture_default_str();
  t->add_option("--optimizer", c.train.optimizer, "adam or adamw")->capture_default_str();
  t->add_option("--weight-decay", c.train.weight_decay, "weight decay")->capture_default_str();
  t->add_option("--schedule", c.train.schedule, "constant, cosine, warmup-cosine")
      ->capture_default_str();
  t->add_option("--warmup", c.train.warmup, "warm-up steps")->capture_default_str();
  t->add_option("--ema", c.train.ema, "EMA decay of the weights (0: off)")->capture_default_str();
  t->add_option("--sigma", c.train.sigma, "dsm noise level")->capture_default_str();
  t->add_option("--probes", c.train.probes, "rademacher or gaussian")->capture_default_str();
  t->add_option("--base", c.net.base,
                "nc-* losses: none, or gaussian (learn only the correction to the data's own "
                "Gaussian, whose diffused score is exact)")
      ->capture_default_str();
  t->add_option("--dequantise", c.dequantise,
                "auto (on for 8-bit image data), on, off: uniform dequantisation of each batch")
      ->capture_default_str();
  t->add_option("--time-sampling", c.train.time_sampling,
                "nc-* losses: diffusion times uniform, or likelihood (uniform in log std^2/m^2: "
                "the likelihood weighting)")
      ->capture_default_str();
  t->add_option("--residual", c.train.residual.kind,
                "nc-dsm: add a Fokker-Planck residual penalty: none, fp (pointwise), heatball")
      ->capture_default_str();
  t->add_option("--residual-weight", c.train.residual.weight, "lambda of the residual penalty")
      ->capture_default_str();
  t->add_option("--residual-anchors", c.train.residual.anchors,
                "batch rows that carry the residual penalty")
      ->capture_default_str();
  t->add_option("--residual-radius", c.train.residual.ball.radius,
                "heat-ball radius R (time-changed units)")
      ->capture_default_str();
  t->add_option("--residual-draws", c.train.residual.ball.draws,
                "kappa and source draws per anchor (antithetic pairs)")
      ->capture_default_str();
  t->add_option("--residual-laplacian", c.train.residual.pointwise.laplacian,
                "fp: the Laplacian exactly (d^2 passes), by hutchinson (one probe), or auto "
                "(exact for d <= 10)")
      ->capture_default_str();
  t->add_option("--eval-every", c.train.eval_every, "steps between held-out evaluations")
      ->capture_default_str();
  t->add_option("--patience", c.train.patience,
                "stop after this many evaluations without improvement (0: never)")
      ->capture_default_str();
  t->add_option("--seed", c.train.seed, "seed of initialisation, batches and noise")
      ->capture_default_str();
  t->add_option("--checkpoint-every", c.checkpoint_every,
                "steps between checkpoints (0: about 10)");
  t->add_option("--stop-after", c.stop_after,
                "stop at this step (the schedule still spans --steps); continue with --resume");
  t->add_option("--threads", c.threads,
                "LibTorch threads (0: 1 for MLPs, all cores for the U-Net)");
  t->add_option("--out,-o", c.out, "output directory")->capture_default_str();
  t->add_flag("--force", c.force, "overwrite the output directory");
  t->add_flag("--resume", c.resume, "continue from the output directory's checkpoint");
}

void add_generate(CLI::App& app, GenerateRunOptions& c) {
  auto* g = app.add_subcommand("generate", "sample from a trained diffusion model");
  g->add_option("--model", c.model, "directory written by scoreflow train");
  g->add_option("--torchscript", c.torchscript, "a TorchScript module forward(x, t) -> score");
  g->add_option("--sde", c.sde, "SDE of a TorchScript model: ve, vp, subvp")->capture_default_str();
  g->add_option("--dim", c.dim, "data dimension of a TorchScript model");
  g->add_option("--sampler", c.gen.sampler, GenerateOptions::valid_samplers())
      ->capture_default_str();
  g->add_option("--n,-n", c.n, "samples")->capture_default_str();
  g->add_option("--steps", c.gen.steps, "time steps (ncsn: noise levels)")->capture_default_str();
  g->add_option("--snr", c.gen.snr, "pc corrector signal-to-noise ratio")->capture_default_str();
  g->add_option("--corrector-steps", c.gen.corrector_steps, "pc corrector steps per time")
      ->capture_default_str();
  g->add_option("--ncsn-steps", c.gen.ncsn_steps, "Langevin steps per NCSN level")
      ->capture_default_str();
  g->add_option("--ncsn-eps", c.gen.ncsn_eps, "NCSN step scale")->capture_default_str();
  g->add_option("--seed", c.gen.seed, "random seed")->capture_default_str();
  g->add_option("--beta", c.beta, "fk: sample the model's law (times --product's) to this power")
      ->capture_default_str();
  g->add_option("--product", c.product,
                "fk: another model directory (same SDE and dimension) multiplied in; repeatable");
  g->add_option("--resampler", c.resampler, "fk: systematic | stratified | residual | multinomial")
      ->capture_default_str();
  g->add_option("--ess-threshold", c.ess_threshold, "fk: resample when ESS/N falls below")
      ->capture_default_str();
  g->add_flag("--likelihood", c.likelihood, "also the NLL (bits/dim for images) of held-out data");
  g->add_option("--likelihood-n", c.likelihood_n, "held-out points for the likelihood")
      ->capture_default_str();
  g->add_option("--likelihood-steps", c.likelihood_steps, "RK4 steps of the likelihood ODE")
      ->capture_default_str();
  g->add_option("--reference", c.reference,
                "data to compare with (default: the model's held-out data)");
  g->add_option("--threads", c.threads,
                "LibTorch threads (0: 1 for MLPs, all cores for the U-Net)");
  g->add_option("--out,-o", c.out, "output directory")->capture_default_str();
  g->add_flag("--force", c.force, "overwrite the output directory");
}

void add_export(CLI::App& app, ExportRunOptions& c) {
  auto* e = app.add_subcommand("export", "write a trained MLP score model as TorchScript");
  e->add_option("--model", c.model, "directory written by scoreflow train")->required();
  e->add_option("--out,-o", c.out, "output .pt file")->required();
  e->add_flag("--force", c.force, "replace an existing TorchScript file");
}

}  // namespace

std::function<std::optional<int>()> add_neural_commands(CLI::App& app) {
  auto train = std::make_shared<TrainRunOptions>();
  auto gen = std::make_shared<GenerateRunOptions>();
  auto exp = std::make_shared<ExportRunOptions>();
  add_train(app, *train);
  add_generate(app, *gen);
  add_export(app, *exp);
  return [&app, train, gen, exp]() -> std::optional<int> {
    try {
      if (app.got_subcommand("train")) return (run_train(*train), 0);
      if (app.got_subcommand("generate")) return (run_generate(*gen), 0);
      if (app.got_subcommand("export")) return (run_export(*exp), 0);
    } catch (const c10::Error& e) {
      // LibTorch's own message, without its C++ stack trace; which command failed is ours.
      throw Error(fmt::format("{}: LibTorch failed: {}",
                              app.got_subcommand("train")      ? "train"
                              : app.got_subcommand("generate") ? "generate"
                                                               : "export",
                              e.what_without_backtrace()));
    } catch (const std::bad_alloc&) {
      throw Error(
          "out of memory: lower --n, --batch or --hidden (the up-front check did not foresee this "
          "much)");
    }
    return std::nullopt;
  };
}

}  // namespace sf
