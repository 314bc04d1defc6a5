// Score-network training: minibatch Adam/AdamW with a learning-rate schedule, an EMA of the
// weights, held-out loss, early stopping, progress, and checkpoints that resume exactly.
// Minibatch indices, noise, probes and times are Philox draws keyed by (seed, step), so a
// resumed run continues bit-identically and the thread count does not change the numbers.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/neural/fp_residual.hpp>
#include <scoreflow/neural/losses.hpp>
#include <scoreflow/neural/score_net.hpp>

namespace sf {

class Comm;

struct TrainOptions {
  std::string loss = "dsm";
  std::size_t steps = 2000;
  std::size_t batch = 256;
  double lr = 1e-3;
  std::string optimizer = "adam";  // adam | adamw
  double weight_decay = 0;
  std::string schedule = "cosine";  // constant | cosine | warmup-cosine
  std::size_t warmup = 100;
  double ema = 0.999;                 // 0 disables
  double sigma = 0.1;                 // dsm noise level
  std::string probes = "rademacher";  // rademacher | gaussian (ism-hutchinson, ssm)
  // nc-* losses: diffusion times uniform on [t_min, 1], or "likelihood": uniform in
  // log(std²/m²), which weights the ε-loss by g²/std² — the likelihood weighting.
  std::string time_sampling = "uniform";
  // 8-bit data (images): every batch dequantised afresh (uniform within each pixel's bin, as
  // the likelihood is measured), the held-out set once; the model learns a continuous density.
  bool dequantise = false;
  std::size_t eval_every = 100;
  std::size_t patience = 0;  // evaluations without held-out improvement; 0 = never stop
  std::uint64_t seed = 1;
  bool fused = true;         // fused Eigen steps for unconditioned MLPs with dsm/ism
  ResidualPenalty residual;  // nc-dsm only: + λ·(Fokker–Planck residual)² on training steps
  // > 1: each batch in this many fixed blocks of rows, each block's gradient computed alone
  // (its noise keyed by step·blocks + block) and the gradients summed in block order. The
  // blocks split over `comm`'s processes, so training is data-parallel with the same weights
  // for any number of processes (at most `grad_blocks` of them). Fused MLP steps compute the
  // blocks' gradients fused too.
  std::size_t grad_blocks = 1;
  const Comm* comm = nullptr;  // null: this process alone

  void validate() const;
  nlohmann::json to_json() const;
};

struct TrainRecord {
  std::size_t step;
  double train_loss;    // mean over the steps since the previous record
  double heldout_loss;  // EMA weights, fixed held-out noise
  double lr;
};

// ψ(x) for ESM: the known score at a batch (float32 [B, d] -> [B, d]).
using ScoreOfBatch = std::function<torch::Tensor(const torch::Tensor&)>;
// A score written on particle rows (a target's or a KDE's) as a ScoreOfBatch.
ScoreOfBatch batch_score(std::function<void(ConstRows, Rows)> score);

class Trainer {
 public:
  Trainer(std::shared_ptr<ScoreNetImpl> net, TrainOptions opts, torch::Tensor train,
          torch::Tensor heldout, ScoreOfBatch esm_target = {});

  // Trains up to `until` steps in total (resumable); calls `on_record` after each
  // evaluation. Returns false when early stopping ended the run. A checkpoint taken after
  // any step resumes exactly (the loss average of a part-done evaluation interval included).
  bool run(std::size_t until, const std::function<void(const TrainRecord&)>& on_record = {});

  // Loss of the current (or EMA) weights on `x`, with noise fixed by `step`.
  double evaluate(const torch::Tensor& x, std::uint64_t step, bool use_ema);

  // The checkpoint: live weights, optimiser moments, EMA, step and history. Loading it into
  // a trainer built with the same options continues as if never interrupted.
  void save_checkpoint(const std::string& dir) const;
  void load_checkpoint(const std::string& dir);
  // Put the weights to evaluate (EMA if enabled, or the best held-out weights after early
  // stopping) into the network.
  void finalize();

  std::size_t step() const { return step_; }
  // The loss of the last training step (before its update).
  double last_loss() const { return last_loss_; }
  // Train on other points from now on (SBTM: the particles of each time step).
  void set_train_data(const torch::Tensor& train);
  const std::vector<TrainRecord>& history() const { return history_; }
  ScoreNetImpl& net() { return *net_; }

 private:
  // `training` adds the residual penalty; held-out evaluations leave it out so the held-out
  // loss stays the plain score-matching loss, comparable across penalties.
  torch::Tensor loss_on(const torch::Tensor& x, std::uint64_t step, bool training = false);
  torch::Tensor batch(std::uint64_t step) const;
  double fused_step(const torch::Tensor& x, std::uint64_t step, double lr);
  double blocked_step(std::uint64_t step, double lr);
  double block_gradient(const torch::Tensor& x, std::int64_t lo, std::int64_t hi, std::uint64_t key,
                        std::vector<double>& out);
  AdamSettings adam_settings(double lr) const;
  double lr_at(std::size_t step) const;

  std::shared_ptr<ScoreNetImpl> net_;
  TrainOptions opts_;
  Loss loss_;
  torch::Tensor train_, heldout_;
  ScoreOfBatch esm_target_;
  std::unique_ptr<torch::optim::Optimizer> optim_;
  std::unique_ptr<FusedMlpTrainer> fused_;  // replaces the LibTorch step when set
  std::unique_ptr<Ema> ema_;
  std::size_t step_ = 0;
  double last_loss_ = NAN;
  double pending_sum_ = 0;  // training losses since the last evaluation, for its record
  std::size_t pending_count_ = 0;
  std::vector<TrainRecord> history_;
  double best_heldout_ = INFINITY;
  std::size_t evals_since_best_ = 0;
  std::vector<torch::Tensor> best_weights_;
};

}  // namespace sf
