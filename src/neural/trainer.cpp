#include <scoreflow/neural/trainer.hpp>

#include <cmath>
#include <filesystem>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/single_threaded_blas.hpp>

namespace sf {
namespace {

// Held-out evaluations draw their noise at steps far from any training step.
constexpr std::uint64_t kHeldoutStep = 1ull << 31;
constexpr std::uint64_t kBaseFitStep = kHeldoutStep + 1;

}  // namespace

torch::Tensor philox_normals(std::uint64_t seed, Stream stream, std::uint64_t step,
                             std::int64_t rows, std::int64_t cols) {
  std::vector<double> z(static_cast<std::size_t>(rows * cols));
  fill_normals(seed, stream, step, 0, static_cast<std::size_t>(rows),
               static_cast<std::size_t>(cols), z.data());
  return torch::from_blob(z.data(), {rows, cols}, torch::kFloat64).to(torch::kFloat32);
}

torch::Tensor philox_uniforms(std::uint64_t seed, Stream stream, std::uint64_t step,
                              std::int64_t rows) {
  auto u = torch::empty({rows}, torch::kFloat64);
  for (std::int64_t i = 0; i < rows; ++i)
    u.data_ptr<double>()[i] = Draws(seed, stream, static_cast<std::uint64_t>(i), step).uniform();
  return u.to(torch::kFloat32);
}

torch::Tensor philox_signs(std::uint64_t seed, Stream stream, std::uint64_t step, std::int64_t rows,
                           std::int64_t cols) {
  return torch::sign(philox_normals(seed, stream, step, rows, cols));
}

ScoreOfBatch batch_score(std::function<void(ConstRows, Rows)> score) {
  return [score = std::move(score)](const torch::Tensor& x) {
    const Particles p = to_particles(x);
    Particles s(p.n(), p.d());
    score(p.rows(), s.rows());
    return as_tensor(s).to(torch::kFloat32);
  };
}

void TrainOptions::validate() const {
  loss_registry().get(loss);  // names the valid losses when `loss` is unknown
  check_positive("train", "steps", steps);
  check_positive("train", "batch", batch);
  check_positive_finite("train", "learning rate", lr);
  if (loss == "dsm") check_positive_finite("train", "dsm sigma", sigma);
  check_positive("train", "eval-every", eval_every);
  check_in_range("train", "ema decay", ema, 0, 0.999999);
  check_in_range("train", "weight decay", weight_decay, 0, 1);
  if (optimizer != "adam" && optimizer != "adamw")
    throw InvalidArgument(fmt::format("unknown optimizer '{}'; valid: adam, adamw", optimizer));
  if (schedule != "constant" && schedule != "cosine" && schedule != "warmup-cosine")
    throw InvalidArgument(
        fmt::format("unknown schedule '{}'; valid: constant, cosine, warmup-cosine", schedule));
  if (probes != "rademacher" && probes != "gaussian")
    throw InvalidArgument(fmt::format("unknown probes '{}'; valid: rademacher, gaussian", probes));
  if (time_sampling != "uniform" && time_sampling != "likelihood")
    throw InvalidArgument(
        fmt::format("unknown time sampling '{}'; valid: uniform, likelihood", time_sampling));
  check_in_range("train", "grad-blocks", static_cast<double>(grad_blocks), 1,
                 static_cast<double>(batch));
  residual.validate();
  if (residual.kind != "none" && loss != "nc-dsm")
    throw InvalidArgument(fmt::format(
        "the {} residual penalty trains a time-conditioned score: use --loss nc-dsm, not {}",
        residual.kind, loss));
}

nlohmann::json TrainOptions::to_json() const {
  return {{"loss", loss},
          {"steps", steps},
          {"batch", batch},
          {"lr", lr},
          {"optimizer", optimizer},
          {"weight_decay", weight_decay},
          {"schedule", schedule},
          {"warmup", warmup},
          {"ema", ema},
          {"sigma", sigma},
          {"probes", probes},
          {"time_sampling", time_sampling},
          {"dequantise", dequantise},
          {"eval_every", eval_every},
          {"patience", patience},
          {"seed", seed},
          {"grad_blocks", grad_blocks},
          {"residual", residual.kind},
          {"residual_weight", residual.weight},
          {"residual_anchors", residual.anchors},
          {"residual_radius", residual.ball.radius},
          {"residual_draws", residual.ball.draws},
          {"residual_laplacian", residual.pointwise.laplacian}};
}

Trainer::Trainer(std::shared_ptr<ScoreNetImpl> net, TrainOptions opts, torch::Tensor train,
                 torch::Tensor heldout, ScoreOfBatch esm_target)
    : net_(std::move(net)),
      opts_(std::move(opts)),
      loss_(loss_registry().get(opts_.loss).factory),
      train_(train.to(torch::kFloat32).contiguous()),
      heldout_(heldout.to(torch::kFloat32).contiguous()),
      esm_target_(std::move(esm_target)) {
  opts_.validate();
  if (opts_.dequantise) {
    // Dequantisation assumes 8-bit pixels scaled to [−1, 1]; anything else would be clamped.
    for (const auto* set : {&train_, &heldout_}) {
      const double lo = set->min().item<double>(), hi = set->max().item<double>();
      if (lo < -1 || hi > 1)
        throw InvalidArgument(fmt::format(
            "dequantise: the data lie in [{}, {}], but 8-bit dequantisation needs pixels in "
            "[-1, 1]; use --dequantise off",
            lo, hi));
    }
    heldout_ = dequantise_8bit(heldout_, opts_.seed, kHeldoutStep, Stream::dequantise);
  }
  const auto d = net_->config().dim;
  if (train_.dim() != 2 || train_.size(1) != d || train_.size(0) == 0)
    throw InvalidArgument(fmt::format("training data must be N×{} with N ≥ 1", d));
  if (heldout_.dim() != 2 || heldout_.size(1) != d || heldout_.size(0) == 0)
    throw InvalidArgument(fmt::format("held-out data must be N×{} with N ≥ 1", d));
  if (loss_.needs_target_score && !esm_target_)
    throw InvalidArgument("esm needs a known score of the data (an analytic target or a KDE)");
  if (loss_.noise_conditional && !net_->config().sde)
    throw InvalidArgument(
        fmt::format("{} needs a noise-conditional model (set --sde)", opts_.loss));
  if (!loss_.noise_conditional && net_->config().sde)
    throw InvalidArgument(
        fmt::format("loss {} trains a score of x alone; drop --sde or use nc-dsm", opts_.loss));
  // A Gaussian base is the data's own Gaussian, as the loss sees the data (dequantised once
  // with a key of its own). A resumed run reloads the same buffers from its checkpoint.
  if (net_->has_base())
    net_->fit_gaussian_base(
        opts_.dequantise ? dequantise_8bit(train_, opts_.seed, kBaseFitStep, Stream::dequantise)
                         : train_);
  if (opts_.optimizer == "adamw")
    optim_ = std::make_unique<torch::optim::AdamW>(
        net_->parameters(), torch::optim::AdamWOptions(opts_.lr).weight_decay(opts_.weight_decay));
  else
    optim_ = std::make_unique<torch::optim::Adam>(
        net_->parameters(), torch::optim::AdamOptions(opts_.lr).weight_decay(opts_.weight_decay));
  if (opts_.ema > 0) ema_ = std::make_unique<Ema>(*net_, opts_.ema);
  auto* mlp = dynamic_cast<ResMlpImpl*>(net_.get());
  if (opts_.fused && mlp && !mlp->config().conditioned() &&
      (opts_.loss == "dsm" || opts_.loss == "ism"))
    fused_ = std::make_unique<FusedMlpTrainer>(mlp->fused_view());
}

AdamSettings Trainer::adam_settings(double lr) const {
  AdamSettings a;
  a.lr = lr;
  a.weight_decay = opts_.weight_decay;
  a.decoupled = opts_.optimizer == "adamw";
  return a;
}

double Trainer::fused_step(const torch::Tensor& x, std::uint64_t step, double lr) {
  const AdamSettings a = adam_settings(lr);
  torch::NoGradGuard ng;
  if (opts_.loss == "ism") return fused_->ism_step(x.data_ptr<float>(), x.size(0), a);
  const auto xi = philox_normals(opts_.seed, Stream::train_noise, step, x.size(0), x.size(1));
  return fused_->dsm_step(x.data_ptr<float>(), xi.data_ptr<float>(), x.size(0), opts_.sigma, a);
}

void Trainer::set_train_data(const torch::Tensor& train) {
  if (train.dim() != 2 || train.size(1) != net_->config().dim || train.size(0) == 0)
    throw InvalidArgument(fmt::format("training data must be N×{} with N ≥ 1", net_->config().dim));
  train_ = train.to(torch::kFloat32).contiguous();
}

double Trainer::lr_at(std::size_t step) const {
  const double total = static_cast<double>(opts_.steps), s = static_cast<double>(step);
  if (opts_.schedule == "constant") return opts_.lr;
  if (opts_.schedule == "warmup-cosine" && step < opts_.warmup)
    return opts_.lr * (s + 1) / static_cast<double>(opts_.warmup);
  const double start = opts_.schedule == "warmup-cosine" ? static_cast<double>(opts_.warmup) : 0.0;
  const double frac = std::clamp((s - start) / std::max(1.0, total - start), 0.0, 1.0);
  return opts_.lr * (0.05 + 0.95 * 0.5 * (1 + std::cos(std::numbers::pi * frac)));
}

torch::Tensor Trainer::batch(std::uint64_t step) const {
  const auto n = static_cast<std::uint64_t>(train_.size(0));
  auto idx = torch::empty({static_cast<std::int64_t>(opts_.batch)}, torch::kInt64);
  for (std::size_t b = 0; b < opts_.batch; ++b)
    idx.data_ptr<std::int64_t>()[b] =
        static_cast<std::int64_t>(Draws(opts_.seed, Stream::batch, b, step).below(n));
  const auto x = train_.index_select(0, idx);
  return opts_.dequantise ? dequantise_8bit(x, opts_.seed, step, Stream::dequantise) : x;
}

// Rows [lo, hi) of the batch x: their share of the batch loss, and its gradient appended to
// `out` (in double, parameter order). The fused step where it applies, else autograd.
double Trainer::block_gradient(const torch::Tensor& x, std::int64_t lo, std::int64_t hi,
                               std::uint64_t key, std::vector<double>& out) {
  const double share = static_cast<double>(hi - lo) / static_cast<double>(x.size(0));
  if (fused_) {
    torch::NoGradGuard ng;
    const float* rows = x.data_ptr<float>() + lo * x.size(1);
    std::vector<float> g;
    double loss;
    if (opts_.loss == "ism") {
      loss = fused_->ism_gradient(rows, hi - lo, g);
    } else {
      const auto xi = philox_normals(opts_.seed, Stream::train_noise, key, hi - lo, x.size(1));
      loss = fused_->dsm_gradient(rows, xi.data_ptr<float>(), hi - lo, opts_.sigma, g);
    }
    for (const float v : g) out.push_back(share * static_cast<double>(v));
    return share * loss;
  }
  optim_->zero_grad();
  const auto loss = loss_on(x.slice(0, lo, hi), key, true) * share;
  const double value = loss.item<double>();
  if (std::isfinite(value)) loss.backward();
  for (const auto& p : net_->parameters()) {
    const auto g = p.grad().defined() ? p.grad().to(torch::kFloat64).contiguous()
                                      : torch::zeros_like(p, torch::kFloat64);
    out.insert(out.end(), g.data_ptr<double>(), g.data_ptr<double>() + g.numel());
  }
  return value;
}

double Trainer::blocked_step(std::uint64_t step, double lr) {
  const Comm& comm = opts_.comm ? *opts_.comm : Comm::self();
  const std::uint64_t blocks = opts_.grad_blocks;
  const auto x = batch(step);
  const auto rows = static_cast<std::uint64_t>(x.size(0));
  auto params = net_->parameters();
  std::size_t count = 0;
  for (const auto& p : params) count += static_cast<std::size_t>(p.numel());
  // Per block: its loss (its rows' share of the batch mean), then its gradient.
  const std::size_t width = 1 + count;
  const Shard mine = comm.shard(blocks);
  std::vector<double> local;
  local.reserve(mine.count * width);
  for (std::uint64_t b = mine.first; b < mine.first + mine.count; ++b) {
    const auto lo = static_cast<std::int64_t>(rows * b / blocks);
    const auto hi = static_cast<std::int64_t>(rows * (b + 1) / blocks);
    const std::size_t at = local.size();
    local.push_back(0);
    local[at] = block_gradient(x, lo, hi, step * blocks + b, local);
  }
  // Every block's, on every process, summed in block order.
  const auto all = comm.all_rows(local, blocks, width);
  double value = 0;
  std::vector<double> grad(count, 0.0);
  for (std::uint64_t b = 0; b < blocks; ++b) {
    const double* row = &all[b * width];
    value += row[0];
    for (std::size_t k = 0; k < count; ++k) grad[k] += row[1 + k];
  }
  if (!std::isfinite(value)) return value;
  if (fused_) {
    fused_->apply_adam(std::vector<float>(grad.begin(), grad.end()), adam_settings(lr));
    return value;
  }
  std::size_t at = 0;
  for (auto& p : params) {
    const auto g = torch::from_blob(grad.data() + at, p.sizes(), torch::kFloat64);
    p.mutable_grad() = g.to(p.scalar_type()).clone();
    at += static_cast<std::size_t>(p.numel());
  }
  optim_->step();
  return value;
}

torch::Tensor Trainer::loss_on(const torch::Tensor& x, std::uint64_t step, bool training) {
  LossBatch b;
  b.net = net_.get();
  b.x = x;
  b.seed = opts_.seed;
  b.step = step;
  b.sigma = opts_.sigma;
  b.gaussian_probes = opts_.probes == "gaussian";
  b.likelihood_times = opts_.time_sampling == "likelihood";
  b.target_score = esm_target_;
  if (training && opts_.residual.kind != "none")
    b.penalty = [&](const torch::Tensor& xt, const torch::Tensor& t) {
      return opts_.residual(*net_, xt, t, opts_.seed, step);
    };
  return loss_.value(b);
}

double Trainer::evaluate(const torch::Tensor& x, std::uint64_t step, bool use_ema) {
  const SingleThreadedBlas blas;
  if (use_ema && ema_) ema_->swap_into(*net_);
  double total = 0;
  const std::int64_t chunk = 2048;
  for (std::int64_t i = 0; i < x.size(0); i += chunk) {
    const auto part = x.slice(0, i, std::min(x.size(0), i + chunk));
    total += loss_on(part, step + static_cast<std::uint64_t>(i)).item<double>() *
             static_cast<double>(part.size(0));
  }
  if (use_ema && ema_) ema_->swap_into(*net_);
  return total / static_cast<double>(x.size(0));
}

bool Trainer::run(std::size_t until, const std::function<void(const TrainRecord&)>& on_record) {
  // Backward passes too: OpenBLAS's threaded sgemm rounds otherwise than its one-thread one.
  const SingleThreadedBlas blas;
  double& sum = pending_sum_;
  std::size_t& count = pending_count_;
  while (step_ < until) {
    const double lr = lr_at(step_);
    double value;
    if (opts_.grad_blocks > 1) {
      for (auto& group : optim_->param_groups()) group.options().set_lr(lr);
      value = blocked_step(step_, lr);
    } else if (fused_) {
      value = fused_step(batch(step_), step_, lr);
    } else {
      for (auto& group : optim_->param_groups()) group.options().set_lr(lr);
      optim_->zero_grad();
      const auto loss = loss_on(batch(step_), step_, true);
      value = loss.item<double>();
      if (std::isfinite(value)) loss.backward(), optim_->step();
    }
    if (!std::isfinite(value))
      throw NumericalError(fmt::format(
          "training loss is {} at step {}; lower the learning rate (--lr {}) or check the data",
          value, step_, opts_.lr));
    if (ema_) ema_->update(*net_);
    last_loss_ = value;
    sum += value, ++count, ++step_;
    if (step_ % opts_.eval_every != 0 && step_ != opts_.steps) continue;
    const TrainRecord rec{step_, sum / static_cast<double>(count),
                          evaluate(heldout_, kHeldoutStep, true), lr};
    sum = 0, count = 0;
    history_.push_back(rec);
    if (on_record) on_record(rec);
    if (rec.heldout_loss < best_heldout_) {
      best_heldout_ = rec.heldout_loss, evals_since_best_ = 0;
      if (opts_.patience) {
        if (ema_) ema_->swap_into(*net_);
        best_weights_.clear();
        for (const auto& p : net_->parameters()) best_weights_.push_back(p.detach().clone());
        if (ema_) ema_->swap_into(*net_);
      }
    } else if (opts_.patience && ++evals_since_best_ >= opts_.patience) {
      return false;
    }
  }
  return true;
}

void Trainer::finalize() {
  torch::NoGradGuard ng;
  if (!best_weights_.empty()) {
    auto params = net_->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights_[i]);
  } else if (ema_) {
    ema_->swap_into(*net_);
  }
}

void Trainer::save_checkpoint(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  const auto tmp = [&](const std::string& name) { return dir + "/" + name + ".tmp"; };
  const auto commit = [&](const std::string& name) {
    std::filesystem::rename(tmp(name), dir + "/" + name);
  };
  torch::serialize::OutputArchive model, optim;
  net_->save(model);
  model.save_to(tmp("weights.pt"));
  optim_->save(optim);
  optim.save_to(tmp("optimizer.pt"));
  std::vector<torch::Tensor> extra = ema_ ? ema_->shadow() : std::vector<torch::Tensor>{};
  torch::save(extra, tmp("ema.pt"));
  std::vector<torch::Tensor> moments;
  if (fused_) {
    const auto n = static_cast<std::int64_t>(fused_->parameter_count());
    moments = {torch::from_blob(fused_->first_moment().data(), {n}, torch::kFloat32).clone(),
               torch::from_blob(fused_->second_moment().data(), {n}, torch::kFloat32).clone(),
               torch::tensor({fused_->adam_step()}, torch::kInt64)};
  }
  torch::save(moments, tmp("fused_adam.pt"));
  std::vector<torch::Tensor> best = best_weights_;
  torch::save(best, tmp("best.pt"));
  nlohmann::json state = {{"step", step_},
                          {"best_heldout", best_heldout_},
                          {"evals_since_best", evals_since_best_},
                          {"pending_loss", {pending_sum_, pending_count_}},
                          {"options", opts_.to_json()}};
  for (const auto& r : history_)
    state["history"].push_back({r.step, r.train_loss, r.heldout_loss, r.lr});
  write_json(tmp("state.json"), state);
  for (const char* name : {"weights.pt", "optimizer.pt", "ema.pt", "best.pt", "fused_adam.pt"})
    commit(name);
  commit("state.json");  // last: a checkpoint is complete once its state exists
}

void Trainer::load_checkpoint(const std::string& dir) {
  const auto state = read_json(dir + "/state.json");
  try {
    torch::serialize::InputArchive model, optim;
    model.load_from(dir + "/weights.pt");
    net_->load(model);
    optim.load_from(dir + "/optimizer.pt");
    optim_->load(optim);
    std::vector<torch::Tensor> extra, best;
    torch::load(extra, dir + "/ema.pt");
    torch::load(best, dir + "/best.pt");
    if (ema_) {
      if (extra.size() != ema_->shadow().size())
        throw FormatError("EMA size does not match the model");
      for (std::size_t i = 0; i < extra.size(); ++i) ema_->shadow()[i].copy_(extra[i]);
    }
    best_weights_ = best;
    std::vector<torch::Tensor> moments;
    torch::load(moments, dir + "/fused_adam.pt");
    if (fused_) {
      // Loading re-pointed the parameters at new storage: take fresh views.
      fused_ = std::make_unique<FusedMlpTrainer>(dynamic_cast<ResMlpImpl&>(*net_).fused_view());
      const auto n = static_cast<std::int64_t>(fused_->parameter_count());
      if (moments.size() != 3 || moments[0].numel() != n)
        throw FormatError("the checkpoint's optimiser state does not match the fused trainer");
      std::copy_n(moments[0].data_ptr<float>(), n, fused_->first_moment().data());
      std::copy_n(moments[1].data_ptr<float>(), n, fused_->second_moment().data());
      fused_->adam_step() = moments[2].item<std::int64_t>();
    }
  } catch (const c10::Error& e) {
    throw FormatError(fmt::format("checkpoint '{}' does not match this model: {}", dir,
                                  e.what_without_backtrace()));
  }
  step_ = state.at("step").get<std::size_t>();
  best_heldout_ =
      state.at("best_heldout").is_null() ? INFINITY : state.at("best_heldout").get<double>();
  evals_since_best_ = state.at("evals_since_best").get<std::size_t>();
  pending_sum_ = state.at("pending_loss")[0].get<double>();
  pending_count_ = state.at("pending_loss")[1].get<std::size_t>();
  if (ema_) ema_->updates() = static_cast<std::int64_t>(step_);
  history_.clear();
  if (state.contains("history"))
    for (const auto& r : state["history"])
      history_.push_back(
          {r[0].get<std::size_t>(), r[1].get<double>(), r[2].get<double>(), r[3].get<double>()});
}

}  // namespace sf
