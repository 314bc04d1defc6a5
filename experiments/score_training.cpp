#include "experiments/score_training.hpp"

#include <chrono>
#include <cmath>
#include <numbers>

#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/neural/losses.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/targets/images.hpp>

namespace sf {

Trained train_score_net(const TrainingData& data, const TrainSpec& spec) {
  NetConfig cfg;
  cfg.dim = static_cast<std::int64_t>(data.train.d());
  cfg.cond = "fourier";
  cfg.fourier_scale = 4;
  cfg.sde = spec.sde;
  cfg.sigma_max = spec.sigma_max;
  cfg.arch = spec.arch;
  if (spec.images) {
    cfg.hidden = spec.arch == "unet" ? std::vector<std::int64_t>{32}
                                     : std::vector<std::int64_t>{512, 512, 512};
    if (spec.arch == "unet") cfg.fourier_scale = 16;  // as `scoreflow train` builds it
    cfg.base = "gaussian";
  }
  TrainOptions o;
  o.loss = spec.loss;
  o.steps = spec.steps;
  o.batch = spec.images ? 128 : 256;
  o.lr = spec.images ? 5e-4 : 1e-3;
  o.eval_every = std::max<std::size_t>(1, spec.steps / 10);
  o.dequantise = spec.images;
  o.seed = spec.seed;
  o.residual = spec.residual;
  auto net = make_score_net(cfg, spec.seed);
  Particles train_copy = data.train, held_copy = data.heldout;
  Trainer t(net, o, as_tensor(train_copy).to(torch::kFloat32),
            as_tensor(held_copy).to(torch::kFloat32));
  const auto start = std::chrono::steady_clock::now();
  t.run(spec.steps);
  t.finalize();
  net->eval();
  return {net, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
          t.history().back().heldout_loss};
}

TimeScoreFn score_of(const std::shared_ptr<ScoreNetImpl>& net) {
  return [net](const torch::Tensor& x, double t) {
    return net->score(x, torch::full({x.size(0)}, t, x.options()));
  };
}

std::pair<double, double> discrepancy(const Particles& a, const Particles& b) {
  const double ell = median_distance(a.rows(), b.rows());
  return {energy_distance(a.rows(), b.rows()), mmd2(a.rows(), b.rows(), ell)};
}

GaussianBaseline gaussian_baseline(const Particles& train, bool full_covariance,
                                   const Particles& heldout, std::size_t n, std::uint64_t seed) {
  Particles train_copy = train, held_copy = heldout;
  // In float32 first, as heldout_bits_per_dim dequantises: the very same held-out points.
  const auto x =
      dequantise_8bit(as_tensor(train_copy).to(torch::kFloat32), seed + 1).to(torch::kFloat64);
  const auto h =
      dequantise_8bit(as_tensor(held_copy).to(torch::kFloat32), seed).to(torch::kFloat64);
  const auto mean = x.mean(0);
  const auto centred = x - mean;
  auto cov = centred.t().mm(centred) / static_cast<double>(x.size(0));
  if (!full_covariance) cov = torch::diag(torch::diagonal(cov));
  const auto chol = torch::linalg_cholesky(cov);
  const auto z = torch::linalg_solve_triangular(chol, (h - mean).t(), /*upper=*/false);
  const auto d = static_cast<double>(x.size(1));
  const double nll = 0.5 * z.pow(2).sum(0).mean().item<double>() +
                     torch::log(torch::diagonal(chol)).sum().item<double>() +
                     0.5 * d * std::log(2 * std::numbers::pi);
  const auto xi =
      philox_normals(seed, Stream::reference, 0, static_cast<std::int64_t>(n), x.size(1))
          .to(torch::kFloat64);
  return {bits_per_dim(nll, static_cast<std::size_t>(d)),
          to_particles((mean + xi.mm(chol.t())).contiguous())};
}

Particles generate_images(const LinearSde& sde, const TimeScoreFn& score, std::size_t n,
                          std::uint64_t seed) {
  GenerateOptions g;
  g.sampler = "euler";
  g.steps = 500;
  g.seed = seed;
  return to_particles(
      generate(sde, score, static_cast<std::int64_t>(n), kImageSide * kImageSide, g));
}

void write_image_samples(const LinearSde& sde, const TimeScoreFn& score, std::uint64_t seed,
                         const std::string& title, const std::filesystem::path& npy) {
  const Particles gen = generate_images(sde, score, 64, seed);
  write_npy(npy, {gen.n(), gen.d()}, gen.data());
  auto png = npy;
  plot_image_grid(npy, kImageSide, 8, title, png.replace_extension(".png"));
}

double heldout_bits_per_dim(const LinearSde& sde, const TimeScoreFn& score, Particles images,
                            std::uint64_t seed) {
  const auto x = dequantise_8bit(as_tensor(images).to(torch::kFloat32), seed);
  LikelihoodOptions lo;
  lo.steps = 50;
  lo.seed = seed;
  const auto lp = log_likelihood(sde, score, x, lo);
  return bits_per_dim(-lp.mean().item<double>(), static_cast<std::size_t>(x.size(1)));
}

}  // namespace sf
