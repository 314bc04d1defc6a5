#include "cli/run_options.hpp"

#include <scoreflow/sde/forward_sde.hpp>

namespace sf {

void add_heat_ball_options(CLI::App& cmd, HeatBallEstimateOptions& o) {
  cmd.add_option("--sde", o.sde,
                 "forward SDE: " + sde_registry().names() + " with parameters, or script:path=...")
      ->capture_default_str();
  cmd.add_option("--x0", o.x0, "start point, comma-separated")->capture_default_str();
  cmd.add_option("--x0-std", o.x0_std, "Gaussian start N(x0, std^2 I); 0: the fixed point x0")
      ->capture_default_str();
  cmd.add_option("--start", o.start, "N x d .npy of start points (X_0 ~ data)");
  cmd.add_option("--t", o.time, "time t of the estimate")->capture_default_str();
  cmd.add_option("--radius,-r", o.radius,
                 "heat-ball radius R in time-changed units (at most sqrt(4 pi theta(t)))")
      ->capture_default_str();
  cmd.add_option("--samples,-n", o.samples, "Monte Carlo draws per query point")
      ->capture_default_str();
  cmd.add_option("--tip", o.tip, "density: drop the ball's tip tau < tip R^2/4pi (corrected)")
      ->capture_default_str();
  cmd.add_option("--score-tip", o.score_tip, "score: the same cut, higher to tame variance")
      ->capture_default_str();
  cmd.add_flag("!--no-source", o.source,
               "drop the source term -(2/g^2) div(b p) (biased unless b = 0)");
  cmd.add_option("--steps", o.steps, "Euler steps on [0, t] (nonlinear drifts)")
      ->capture_default_str();
  cmd.add_option("--seed", o.seed, "random seed")->capture_default_str();
  cmd.add_option("--at", o.at, "M x d .npy query points (default: a quantile grid of X_t)");
  cmd.add_option("--points", o.points, "default grid points per axis (2-D: at most 15)")
      ->capture_default_str();
  cmd.add_flag("!--no-reference", o.reference, "skip the exact / Fokker-Planck reference");
  cmd.add_option("--out,-o", o.out, "output directory")->capture_default_str();
  cmd.add_flag("--force", o.force, "overwrite the output directory");
}

void add_malliavin_options(CLI::App& cmd, MalliavinEstimateOptions& o) {
  cmd.add_option("--sde", o.sde,
                 "forward SDE: " + sde_registry().names() +
                     " with parameters (e.g. nonlinear:a=0,beta_min=1,beta_max=25), or "
                     "script:path=drift.py,sigma=1 (TorchScript drift)")
      ->capture_default_str();
  cmd.add_option("--x0", o.x0, "fixed start point, comma-separated")->capture_default_str();
  cmd.add_option("--start", o.start, "N x d .npy of start points (X_0 ~ data), cycled");
  cmd.add_option("--paths,-n", o.paths, "number of Euler paths")->capture_default_str();
  cmd.add_option("--steps", o.steps, "Euler steps on [0, T]")->capture_default_str();
  cmd.add_option("--T", o.horizon, "horizon T")->capture_default_str();
  cmd.add_option("--seed", o.seed, "random seed")->capture_default_str();
  cmd.add_flag("--no-correction", o.no_correction,
               "drop the second-variation correction (Ito part only; biased for nonlinear b)");
  cmd.add_option("--at", o.at, "M x d .npy query points (default: a quantile grid of X_T)");
  cmd.add_option("--points", o.points, "default grid points per axis (2-D: at most 15)")
      ->capture_default_str();
  cmd.add_option("--bandwidth", o.bandwidth, "kernel bandwidth (0: Scott's rule)");
  cmd.add_option("--regression", o.regression, "local-linear | nadaraya-watson")
      ->capture_default_str();
  cmd.add_flag("!--no-reference", o.reference,
               "skip the finite-volume Fokker-Planck reference (d <= 2, fixed start)");
  cmd.add_flag("--save-paths", o.save_paths, "also write x_T.npy and delta.npy");
  cmd.add_option("--out,-o", o.out, "output directory")->capture_default_str();
  cmd.add_flag("--force", o.force, "overwrite the output directory");
}

void add_malliavin_diffusion_options(CLI::App& cmd, MalliavinDiffusionOptions& o) {
  auto& r = o.regression;
  cmd.add_option("--data", o.data, "2-D data set or N x d .npy")->capture_default_str();
  cmd.add_option(
         "--sde", o.sde,
         "forward SDE: " + sde_registry().names() + " (parameters as in estimate malliavin)")
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

}  // namespace sf
