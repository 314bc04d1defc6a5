#include <scoreflow/neural/malliavin_regression.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <vector>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/malliavin/malliavin_weights.hpp>

namespace sf {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Particles drift_at(const ForwardSde& sde, const Particles& x, double t) {
  Particles b(x.n(), x.d());
  sde.drift(x.data(), x.n(), x.d(), t, b.data(), nullptr, nullptr);
  return b;
}

}  // namespace

double MalliavinScoreModel::scale(double t) const {
  if (t <= times_.front()) return scales_.front();
  if (t >= times_.back()) return scales_.back();
  const auto it = std::upper_bound(times_.begin(), times_.end(), t);
  const std::size_t k = static_cast<std::size_t>(it - times_.begin());
  const double w = (t - times_[k - 1]) / (times_[k] - times_[k - 1]);
  return (1 - w) * scales_[k - 1] + w * scales_[k];
}

torch::Tensor MalliavinScoreModel::score(const torch::Tensor& x, double t) const {
  return net_->net(x, torch::full({x.size(0)}, t, x.options())) * scale(t);
}

namespace {

// Refuses what cannot fit before the weights are computed or LibTorch allocates (it would throw
// bad_alloc or print a stack trace): the paths and weights at every snapshot in double, the
// stacked regression set in float, a batch's activations through the network, and the
// weights with their gradients, Adam moments and EMA copy.
void check_regression_memory(const Particles& data, const MalliavinRegressionOptions& opt) {
  const double nd = static_cast<double>(data.n()) * static_cast<double>(data.d());
  const double snapshots = static_cast<double>(opt.snapshots) + 1;
  std::vector<double> widths{static_cast<double>(data.d()) + 1};
  for (const auto w : opt.hidden) widths.push_back(static_cast<double>(w));
  widths.push_back(static_cast<double>(data.d()));
  double units = 0, params = 0;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    units += widths[i];
    if (i + 1 < widths.size()) params += widths[i] * widths[i + 1] + widths[i + 1];
  }
  check_memory_fits(
      fmt::format("malliavin-diffusion: {} training points at {} snapshots with batch {}", data.n(),
                  opt.snapshots, opt.batch),
      nd * snapshots * (2 * 8 + 3 * 4) + 8 * 4 * static_cast<double>(opt.batch) * units +
          5 * 4 * params,
      "lower --n-train, --snapshots, --batch or --hidden");
}

}  // namespace

MalliavinTraining train_malliavin_score(const ForwardSde& sde, const Particles& data,
                                        const MalliavinRegressionOptions& opt) {
  check_positive("malliavin regression", "train_steps", opt.train_steps);
  check_positive("malliavin regression", "batch", opt.batch);
  check_positive_finite("malliavin regression", "lr", opt.lr);
  check_regression_memory(data, opt);
  MalliavinTraining out;
  auto t0 = std::chrono::steady_clock::now();
  MalliavinOptions mo;
  mo.horizon = opt.horizon;
  mo.steps = opt.steps;
  mo.snapshots = opt.snapshots;
  mo.seed = opt.seed;
  const MalliavinPaths paths = malliavin_weights(sde, data.rows(), mo);
  out.seconds_weights = seconds_since(t0);

  // Regression set: (X_t, t) → −δ_t / rms(δ_t), all snapshots stacked.
  const std::size_t n = data.n(), d = data.d(), m = paths.times.size();
  std::vector<double> scales(m);
  auto xs = torch::empty({static_cast<std::int64_t>(n * m), static_cast<std::int64_t>(d)});
  auto ts = torch::empty({static_cast<std::int64_t>(n * m)});
  auto ys = torch::empty_like(xs);
  float *xp = xs.data_ptr<float>(), *tp = ts.data_ptr<float>(), *yp = ys.data_ptr<float>();
  for (std::size_t s = 0; s < m; ++s) {
    double sq = 0;
    for (std::size_t k = 0; k < n * d; ++k)
      sq += paths.delta[s].data()[k] * paths.delta[s].data()[k];
    const double rms = std::sqrt(sq / static_cast<double>(n * d));
    scales[s] = rms;
    for (std::size_t p = 0; p < n; ++p) {
      tp[s * n + p] = static_cast<float>(paths.times[s]);
      for (std::size_t i = 0; i < d; ++i) {
        xp[(s * n + p) * d + i] = static_cast<float>(paths.x[s](p, i));
        yp[(s * n + p) * d + i] = static_cast<float>(-paths.delta[s](p, i) / rms);
      }
    }
  }

  NetConfig cfg;
  cfg.dim = static_cast<std::int64_t>(d);
  cfg.hidden = opt.hidden;
  cfg.cond = "fourier";
  cfg.fourier_scale = 4;
  auto net = make_score_net(cfg, opt.seed);
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(opt.lr));
  Ema ema(*net, 0.999);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opt.seed);
  t0 = std::chrono::steady_clock::now();
  const auto rows = static_cast<std::int64_t>(n * m);
  double recent = 0;
  for (std::size_t step = 0; step < opt.train_steps; ++step) {
    const double lr = 0.5 * opt.lr *
                      (1 + std::cos(std::numbers::pi * static_cast<double>(step) /
                                    static_cast<double>(opt.train_steps)));
    for (auto& g : adam.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    const auto idx =
        torch::randint(rows, {static_cast<std::int64_t>(opt.batch)}, gen, torch::kLong);
    const auto loss =
        (net->net(xs.index_select(0, idx), ts.index_select(0, idx)) - ys.index_select(0, idx))
            .pow(2)
            .sum(1)
            .mean();
    adam.zero_grad();
    loss.backward();
    adam.step();
    ema.update(*net);
    recent = step == 0 ? loss.item<double>() : 0.99 * recent + 0.01 * loss.item<double>();
  }
  ema.swap_into(*net);
  net->eval();
  out.seconds_training = seconds_since(t0);
  out.final_loss = recent;
  out.model = std::make_unique<MalliavinScoreModel>(net, paths.times, scales);
  return out;
}

Particles forward_euler(const ForwardSde& sde, const Particles& x0, double horizon,
                        std::size_t steps, std::uint64_t seed) {
  Particles x = x0;
  const double h = horizon / static_cast<double>(steps);
  std::vector<double> z(x.n() * x.d());
  for (std::size_t k = 0; k < steps; ++k) {
    const double t = h * static_cast<double>(k), sig = sde.sigma(t) * std::sqrt(h);
    const Particles b = drift_at(sde, x, t);
    fill_normals(seed, Stream::generate, k, 0, x.n(), x.d(), z.data());
    for (std::size_t e = 0; e < z.size(); ++e) x.data()[e] += h * b.data()[e] + sig * z[e];
  }
  return x;
}

Particles reverse_sde(const ForwardSde& sde, const MalliavinScoreModel& model,
                      const Particles& prior, double horizon, std::size_t steps,
                      std::uint64_t seed) {
  Particles x = prior;
  const double t_end = model.first_time(), h = (horizon - t_end) / static_cast<double>(steps);
  std::vector<double> z(x.n() * x.d());
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < steps; ++k) {
    const double t = horizon - h * static_cast<double>(k), sigma = sde.sigma(t);
    const Particles b = drift_at(sde, x, t);
    const Particles s = to_particles(model.score(as_tensor(x).to(torch::kFloat32), t));
    const bool last = k + 1 == steps;
    if (!last) fill_normals(seed + 1, Stream::generate, k, 0, x.n(), x.d(), z.data());
    for (std::size_t e = 0; e < z.size(); ++e)
      x.data()[e] += -h * (b.data()[e] - sigma * sigma * s.data()[e]) +
                     (last ? 0.0 : sigma * std::sqrt(h) * z[e]);
    if (const std::size_t bad = first_non_finite(x.rows()); bad < x.n())
      throw NumericalError(
          fmt::format("reverse SDE: sample {} is not finite at t = {:.4g} (step "
                      "{}); use more steps or a longer training",
                      bad, t, k));
  }
  return x;
}

}  // namespace sf
