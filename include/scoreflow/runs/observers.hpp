// Observers of `scoreflow sample` runs: the per-step trace, snapshots for plots,
// checkpoints for --resume, and the progress bar.
#pragma once

#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/progress.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/diagnostics/kl.hpp>
#include <scoreflow/diagnostics/ksd.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/runs/sample.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {
namespace fs = std::filesystem;

// Exact reference samples use this salt on the run seed (trace and final metrics agree).
constexpr std::uint64_t kReferenceSalt = 0x5eed5eedULL;
constexpr std::size_t kMaxKsdN = 2000;     // particles for the O(N²) KSD
constexpr std::size_t kMaxMetricN = 5000;  // particles for the other O(N²) metrics

// The first m rows with their log-weights (particle order carries no meaning, so a prefix
// is a fair subsample).
Particles head(const Particles& x, std::size_t m);

// Positions of the first `m` particles every k steps (and at the start), for path plots and
// the convergence of unweighted samplers: trajectory.npy holds (frames, m, d). It is kept in
// every checkpoint, so a resumed run ends with the same file and the same R̂.
class TrajectoryObserver : public Observer {
 public:
  TrajectoryObserver(std::size_t every, std::size_t m) : every_(every), m_(m) {}
  void on_start(const SamplerState& s) override {
    if (frames_ == 0) keep(s);  // a resumed run already holds the frames up to its step
  }
  bool on_step(const SamplerState& s, const StepInfo&) override {
    if (needs_state(s.step)) keep(s);
    return true;
  }
  bool needs_state(std::size_t step) const override { return every_ && step % every_ == 0; }
  void write(const fs::path& file) const {
    if (frames_ == 0) return;
    write_npy(file, {frames_, rows_, d_}, values_.data());
  }
  // The frames a checkpoint holds (written by write()).
  void restore(const fs::path& file);
  // Rank-normalised split-R̂ and bulk/tail ESS per coordinate, with the kept particles as
  // chains and the second half of the frames as draws (the first half is warm-up). Only
  // meaningful for samplers whose particles are independent chains (not weighted or
  // resampled); empty when there are fewer than 8 draws.
  nlohmann::json convergence() const;
  // The largest R̂ over the coordinates so far, as convergence() defines it; NaN with fewer
  // than 8 draws. The trace's running check of mixing.
  double max_rhat() const;

 private:
  void keep(const SamplerState& s) {
    rows_ = std::min(m_, s.x.n()), d_ = s.x.d();
    values_.insert(values_.end(), s.x.data(), s.x.data() + rows_ * d_);
    ++frames_;
  }
  // Coordinate k of the second half of the frames, chain-major, as the R̂ functions take it.
  std::vector<double> second_half(std::size_t k) const;
  std::size_t every_, m_, rows_ = 0, d_ = 0, frames_ = 0;
  std::vector<double> values_;
};

// Per-step metrics on a prefix of the particles against fixed reference samples: the O(m)
// ones on every row, the O(m²) ones (MMD², energy distance, KSD², KL) on the rows that
// --trace-full-rows asks for, so that the trace stays a small part of a run.
class TraceObserver : public Observer {
 public:
  // `trajectory` (may be null) gives the running R̂ column of unweighted samplers; it must
  // see each step before the tracer does.
  TraceObserver(const Target& t, const SampleOptions& o, const Sampler& sampler, CsvTable& table,
                const TrajectoryObserver* trajectory = nullptr)
      : target_(t),
        trajectory_(trajectory),
        o_(o),
        step_size_(sampler.config().value("step_size", NAN)),
        ksd_applies_(sampler.grad_is_target_score()),
        table_(table),
        every_(o.trace_every ? o.trace_every : std::max<std::size_t>(1, o.steps / 100)),
        full_every_(o.trace_full_rows
                        ? std::max<std::size_t>(1, o.steps / every_ / o.trace_full_rows)
                        : 1) {
    if (t.can_sample()) {
      Particles y(std::min(o.metric_n, kMaxMetricN), t.dim());
      t.sample(o.seed ^ kReferenceSalt, y.rows());
      const double ell = median_distance(y.rows(), y.rows());
      reference_.emplace(std::move(y), ell);
    }
  }
  static std::vector<std::string> columns() {
    return {"step",      "time",       "acceptance", "lambda", "ess",     "resamplings",
            "jump_rate", "mean_error", "mmd2",       "energy", "ksd2",    "mode_entropy",
            "fisher",    "train_loss", "kl",         "dkl_dt", "rhat_max"};
  }
  void on_start(const SamplerState& s) override {
    if (s.step == 0) record(s, {});
  }
  bool on_step(const SamplerState& s, const StepInfo& info) override {
    acceptance_.add(info.acceptance);
    jumps_.add(info.jump_rate);
    fisher_.add(info.fisher);
    train_loss_.add(info.train_loss);
    resamplings_ += info.resampled;
    if (needs_state(s.step)) record(s, info);
    return true;
  }
  bool needs_state(std::size_t step) const override {
    return step % every_ == 0 || step == o_.steps;
  }
  // What the next rows depend on besides the table (averages since the last row, the last
  // KL for dKL/dt), kept with each checkpoint so that a resumed trace is the same.
  nlohmann::json state() const {
    const auto num = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
    const auto avg = [](const Average& a) { return nlohmann::json{a.sum, a.count}; };
    return {{"acceptance", avg(acceptance_)}, {"jumps", avg(jumps_)},
            {"fisher", avg(fisher_)},         {"train_loss", avg(train_loss_)},
            {"last_kl", num(last_kl_)},       {"last_time", num(last_time_)},
            {"resamplings", resamplings_}};
  }
  void restore(const nlohmann::json& j) {
    const auto num = [](const nlohmann::json& v) { return v.is_null() ? NAN : v.get<double>(); };
    const auto avg = [](const nlohmann::json& v) {
      return Average{v[0].get<double>(), v[1].get<std::size_t>()};
    };
    acceptance_ = avg(j.at("acceptance")), jumps_ = avg(j.at("jumps"));
    fisher_ = avg(j.at("fisher")), train_loss_ = avg(j.at("train_loss"));
    last_kl_ = num(j.at("last_kl")), last_time_ = num(j.at("last_time"));
    resamplings_ = j.at("resamplings").get<std::size_t>();
  }

 private:
  // Mean of the values seen since the last trace row (NaN when none).
  struct Average {
    double sum = 0;
    std::size_t count = 0;
    void add(double v) {
      if (!std::isnan(v)) sum += v, ++count;
    }
    double take() {
      const double m = count ? sum / static_cast<double>(count) : NAN;
      *this = {};
      return m;
    }
  };

  // Rows that carry the O(m²) metrics: every full_every_-th row, the first and the last.
  bool full_row(std::size_t step) const {
    return step == o_.steps || (step / every_) % full_every_ == 0;
  }

  void record(const SamplerState& s, const StepInfo& info) {
    const Particles x = head(s.x, o_.metric_n);
    const auto& lw = x.log_weights();
    const bool full = full_row(s.step);
    double mean_err = NAN, mmd = NAN, energy = NAN, ent = NAN;
    if (reference_) {
      mean_err = (weighted_mean(x.rows(), lw) - weighted_mean(reference_->points().rows())).norm();
      if (full)
        mmd = reference_->mmd2(x.rows(), lw), energy = reference_->energy_distance(x.rows(), lw);
    }
    const auto modes = target_.modes();
    if (modes.size() > 1) ent = mode_coverage(x.rows(), modes, lw).entropy;
    // KSD needs the target's score, which annealed samplers do not cache.
    double ksd = NAN;
    if (ksd_applies_ && full) {
      const Particles g = head(s.grad, std::min(o_.metric_n, kMaxKsdN));
      const Particles xk = head(x, g.n());
      ksd = ksd2_imq(xk.rows(), g.rows(), xk.log_weights());
    }
    const double resamplings = static_cast<double>(resamplings_);
    resamplings_ = 0;
    // KL by a leave-one-out KDE where that is meaningful (d ≤ 3, log Z known); its time
    // derivative by finite differences against the previous full row (−dKL/dt = Fisher
    // info for the exact flow).
    const double time = static_cast<double>(s.step) * step_size_;
    double kl = NAN, dkl = NAN;
    if (full && x.d() <= 3 && target_.log_normaliser() && x.n() > 1) {
      kl = kl_kde(x.rows(), target_, lw);
      if (!std::isnan(last_kl_) && time > last_time_) dkl = (kl - last_kl_) / (time - last_time_);
      last_kl_ = kl, last_time_ = time;
    }
    const double rhat = trajectory_ && !s.x.weighted() ? trajectory_->max_rhat() : NAN;
    table_.add_row({static_cast<double>(s.step), time, acceptance_.take(), info.lambda,
                    s.x.weighted() ? normalised_ess(s.x.log_weights()) : NAN, resamplings,
                    jumps_.take(), mean_err, mmd, energy, ksd, ent, fisher_.take(),
                    train_loss_.take(), kl, dkl, rhat});
  }

  const Target& target_;
  const TrajectoryObserver* trajectory_;
  const SampleOptions& o_;
  double step_size_;
  bool ksd_applies_;
  CsvTable& table_;
  std::size_t every_, full_every_;
  std::optional<ReferenceSample> reference_;
  Average acceptance_, jumps_, fisher_, train_loss_;
  double last_kl_ = NAN, last_time_ = NAN;
  std::size_t resamplings_ = 0;
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
  bool needs_state(std::size_t step) const override { return steps_.count(step) > 0; }

 private:
  void save(const SamplerState& s) {
    if (!needs_state(s.step)) return;
    const Particles x = head(s.x, 2000);
    write_npy(dir_ / fmt::format("step_{:08d}.npy", s.step), {x.n(), x.d()}, x.data());
    if (x.weighted()) {
      const auto w = normalised_weights(x.log_weights(), x.n());
      write_npy(dir_ / fmt::format("step_{:08d}.weights", s.step), {w.size()}, w.data());
    }
  }
  fs::path dir_;
  std::set<std::size_t> steps_;
};

// A checkpoint every k steps, committed as a whole (core/checkpoint.hpp): particles,
// log-weights, trace and the sampler's own state. A resumed run continues bit-identically
// because the randomness is keyed by step.
class CheckpointObserver : public Observer {
 public:
  CheckpointObserver(fs::path dir, std::size_t every, const CsvTable& trace,
                     const TraceObserver& tracer, const TrajectoryObserver& trajectory,
                     const Sampler& sampler, nlohmann::json options)
      : dir_(std::move(dir)),
        every_(every),
        trace_(trace),
        tracer_(tracer),
        trajectory_(trajectory),
        sampler_(sampler),
        options_(std::move(options)) {}
  bool on_step(const SamplerState& s, const StepInfo&) override {
    if (needs_state(s.step)) save(s);
    return true;
  }
  bool needs_state(std::size_t step) const override { return step % every_ == 0; }
  // Commits the state unless this step is already committed.
  void save(const SamplerState& s);

 private:
  fs::path dir_;
  std::size_t every_;
  const CsvTable& trace_;
  const TraceObserver& tracer_;
  const TrajectoryObserver& trajectory_;
  const Sampler& sampler_;
  nlohmann::json options_;
};

class ProgressObserver : public Observer {
 public:
  ProgressObserver(std::size_t total, const std::string& label) : bar_(total, label) {}
  bool on_step(const SamplerState& s, const StepInfo&) override {
    bar_.update(s.step);
    return true;
  }
  bool needs_state(std::size_t) const override { return false; }
  void on_finish(const SamplerState&) override { bar_.finish(); }

 private:
  Progress bar_;
};

}  // namespace sf
