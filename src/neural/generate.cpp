#include <scoreflow/neural/generate.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/neural/losses.hpp>
#include <scoreflow/neural/trainer.hpp>

namespace sf {
namespace {

// Time grid 1 = t_0 > t_1 > … > t_steps = t_min.
double grid_time(const LinearSde& sde, std::size_t i, std::size_t steps) {
  return 1.0 - (1.0 - sde.t_min()) * static_cast<double>(i) / static_cast<double>(steps);
}

torch::Tensor prior_sample(const LinearSde& sde, std::int64_t n, std::int64_t d,
                           std::uint64_t seed) {
  return sde.prior_std() * philox_normals(seed, Stream::init, 0, n, d);
}

// Probability-flow velocity v = a(t)x − ½g²(t)s(x, t).
torch::Tensor pf_velocity(const LinearSde& sde, const TimeScoreFn& score, const torch::Tensor& x,
                          double t) {
  return sde.drift_coef(t) * x - 0.5 * sde.g2(t) * score(x, t);
}

torch::Tensor ode_step(const LinearSde& sde, const TimeScoreFn& score, const torch::Tensor& x,
                       double t, double h, bool rk4) {
  const auto k1 = pf_velocity(sde, score, x, t);
  if (!rk4) {
    const auto k2 = pf_velocity(sde, score, x + h * k1, t + h);
    return x + 0.5 * h * (k1 + k2);
  }
  const auto k2 = pf_velocity(sde, score, x + 0.5 * h * k1, t + 0.5 * h);
  const auto k3 = pf_velocity(sde, score, x + 0.5 * h * k2, t + 0.5 * h);
  const auto k4 = pf_velocity(sde, score, x + h * k3, t + h);
  return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
}

// One reverse Euler–Maruyama step from t to t − dt; the mean when `noise` is undefined.
torch::Tensor reverse_em_step(const LinearSde& sde, const TimeScoreFn& score,
                              const torch::Tensor& x, double t, double dt,
                              const torch::Tensor& noise) {
  const double g2 = sde.g2(t);
  const auto mean = x - (sde.drift_coef(t) * x - g2 * score(x, t)) * dt;
  return noise.defined() ? mean + std::sqrt(g2 * dt) * noise : mean;
}

// Song et al.'s Langevin corrector: step 2α(r‖z‖/‖s‖)² from batch-mean norms.
torch::Tensor langevin_correct(const LinearSde& sde, const TimeScoreFn& score,
                               const torch::Tensor& x, double t, double dt, double snr,
                               const torch::Tensor& noise) {
  const auto s = score(x, t);
  const double grad_norm = s.norm(2, 1).mean().item<double>();
  const double noise_norm = noise.norm(2, 1).mean().item<double>();
  const double alpha = sde.kind() == LinearSde::Kind::ve ? 1.0 : 1.0 - sde.g2(t) * dt;
  const double step = 2 * alpha * std::pow(snr * noise_norm / std::max(grad_norm, 1e-12), 2);
  return x + step * s + std::sqrt(2 * step) * noise;
}

// As the samplers' run(): NaN/Inf, or positions 1e8 times beyond the prior's scale, which a
// reverse process only reaches when its steps are unstable.
void check_generation(const torch::Tensor& x, const LinearSde& sde, std::size_t step, double t,
                      const char* hint) {
  const double limit = 1e8 * std::max(1.0, sde.prior_std());
  if (!torch::isfinite(x).all().item<bool>())
    throw NumericalError(
        fmt::format("generation produced NaN/Inf at step {} (t = {:.4g}); {}", step, t, hint));
  const double top = x.abs().max().item<double>();
  if (top > limit)
    throw NumericalError(fmt::format(
        "generation blew up at step {} (t = {:.4g}): a coordinate reached {:.3g}, more than 1e8 "
        "times the prior's scale; {}",
        step, t, top, hint));
}

torch::Tensor ncsn(const LinearSde& sde, const TimeScoreFn& score, torch::Tensor x,
                   const GenerateOptions& o, const std::function<void(double)>& progress) {
  const double smax = sde.prior_std(), smin = sde.std(sde.t_min());
  std::uint64_t draw = 1;
  for (std::size_t i = 0; i < o.steps; ++i) {
    const double frac =
        o.steps == 1 ? 1.0 : static_cast<double>(i) / static_cast<double>(o.steps - 1);
    const double sigma = smax * std::pow(smin / smax, frac);
    const double alpha = o.ncsn_eps * sigma * sigma / (smin * smin);
    const double t = sde.time_of_sigma(sigma);
    for (std::size_t k = 0; k < o.ncsn_steps; ++k, ++draw)
      x = x + 0.5 * alpha * score(x, t) +
          std::sqrt(alpha) * philox_normals(o.seed, Stream::generate, draw, x.size(0), x.size(1));
    check_generation(x, sde, i, t, "lower --ncsn-eps (the Langevin step size)");
    if (progress) progress(static_cast<double>(i + 1) / static_cast<double>(o.steps));
  }
  // Tweedie denoising at the smallest level.
  return o.denoise ? x + smin * smin * score(x, sde.t_min()) : x;
}

}  // namespace

void GenerateOptions::validate(const LinearSde& sde) const {
  if (sampler != "euler" && sampler != "ode-heun" && sampler != "ode-rk4" && sampler != "pc" &&
      sampler != "ncsn" && sampler != "fk")
    throw InvalidArgument(
        fmt::format("unknown sampler '{}'; valid: {}", sampler, valid_samplers()));
  check_positive("generate", "steps", steps);
  check_positive_finite("generate", "snr", snr);
  check_positive_finite("generate", "ncsn-eps", ncsn_eps);
  check_positive("generate", "ncsn-steps", ncsn_steps);
  if (sampler == "ncsn" && sde.kind() != LinearSde::Kind::ve)
    throw InvalidArgument(
        fmt::format("the ncsn sampler runs on VE noise levels, not on the {} SDE", sde.name()));
}

torch::Tensor generate(const LinearSde& sde, const TimeScoreFn& score, std::int64_t n,
                       std::int64_t d, const GenerateOptions& o,
                       const std::function<void(double)>& progress) {
  o.validate(sde);
  if (o.sampler == "fk")
    throw InvalidArgument("generate(): the fk sampler is weighted; run it with FkCorrector");
  torch::NoGradGuard no_grad;
  auto x = prior_sample(sde, n, d, o.seed);
  if (o.sampler == "ncsn") return ncsn(sde, score, x, o, progress);
  const bool ode = o.sampler.starts_with("ode");
  std::uint64_t draw = 1;
  const auto noise = [&] { return philox_normals(o.seed, Stream::generate, draw++, n, d); };
  for (std::size_t i = 0; i < o.steps; ++i) {
    const double t = grid_time(sde, i, o.steps), dt = t - grid_time(sde, i + 1, o.steps);
    if (ode) {
      x = ode_step(sde, score, x, t, -dt, o.sampler == "ode-rk4");
    } else {
      if (o.sampler == "pc")
        for (std::size_t c = 0; c < o.corrector_steps; ++c)
          x = langevin_correct(sde, score, x, t, dt, o.snr, noise());
      const bool last = i + 1 == o.steps;
      x = reverse_em_step(sde, score, x, t, dt, last && o.denoise ? torch::Tensor() : noise());
    }
    check_generation(x, sde, i, t, "use more --steps or check the model");
    if (progress) progress(static_cast<double>(i + 1) / static_cast<double>(o.steps));
  }
  return x;
}

torch::Tensor log_likelihood(const LinearSde& sde, const TimeScoreFn& score,
                             const torch::Tensor& x0, const LikelihoodOptions& o) {
  check_positive("likelihood", "steps", o.steps);
  const auto n = x0.size(0), d = x0.size(1);
  const auto probe = philox_normals(o.seed, Stream::probes, 0, n, d).to(torch::kFloat64);
  // The ODE right-hand side for (x, ∫div): v and ∇·v, by autograd on the score.
  const auto rhs = [&](const torch::Tensor& x, double t) {
    torch::AutoGradMode grad(true);
    const auto xg = x.detach().to(torch::kFloat32).requires_grad_(true);
    const auto s = score(xg, t);
    torch::Tensor div_s;
    if (o.exact_trace) {
      div_s = divergence_autograd(s, xg);
    } else {
      const auto p32 = probe.to(torch::kFloat32);
      div_s = (torch::autograd::grad({(s * p32).sum()}, {xg})[0] * p32).sum(1);
    }
    const double a = sde.drift_coef(t), g2 = sde.g2(t);
    auto v = (a * x - 0.5 * g2 * s.detach().to(torch::kFloat64));
    auto div = a * static_cast<double>(d) - 0.5 * g2 * div_s.detach().to(torch::kFloat64);
    return std::pair{v, div};
  };
  auto x = x0.detach().to(torch::kFloat64);
  auto integral = torch::zeros({n}, torch::kFloat64);
  const double t0 = sde.t_min(), h = (1 - t0) / static_cast<double>(o.steps);
  for (std::size_t i = 0; i < o.steps; ++i) {  // RK4 forward in time
    const double t = t0 + h * static_cast<double>(i);
    const auto [v1, q1] = rhs(x, t);
    const auto [v2, q2] = rhs(x + 0.5 * h * v1, t + 0.5 * h);
    const auto [v3, q3] = rhs(x + 0.5 * h * v2, t + 0.5 * h);
    const auto [v4, q4] = rhs(x + h * v3, t + h);
    x = x + h / 6 * (v1 + 2 * v2 + 2 * v3 + v4);
    integral = integral + h / 6 * (q1 + 2 * q2 + 2 * q3 + q4);
  }
  if (o.log_prior) return o.log_prior(x).to(torch::kFloat64) + integral;
  const double var = sde.prior_std() * sde.prior_std();
  const auto log_prior = -0.5 * x.pow(2).sum(1) / var -
                         0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi * var);
  return log_prior + integral;
}

DiffusedMixture::DiffusedMixture(const GaussianMixture& mixture, const LinearSde& sde) : sde_(sde) {
  const auto comps = mixture.component_list();
  const auto k = static_cast<std::int64_t>(comps.size()),
             d = static_cast<std::int64_t>(comps[0].mean.size());
  means_ = torch::empty({k, d}, torch::kFloat64), covs_ = torch::empty({k, d, d}, torch::kFloat64);
  logw_ = torch::empty({k}, torch::kFloat64);
  for (std::int64_t c = 0; c < k; ++c) {
    logw_[c] = std::log(comps[c].weight);
    for (std::int64_t i = 0; i < d; ++i) {
      means_[c][i] = comps[c].mean(i);
      for (std::int64_t j = 0; j < d; ++j) covs_[c][i][j] = comps[c].cov(i, j);
    }
  }
}

std::pair<torch::Tensor, torch::Tensor> DiffusedMixture::terms(const torch::Tensor& x,
                                                               double t) const {
  const double m = sde_.mean_coef(t), s = sde_.std(t);
  const auto d = means_.size(1);
  const auto cov_t = m * m * covs_ + s * s * torch::eye(d, torch::kFloat64);
  const auto prec = torch::linalg::inv(cov_t);                        // [K, d, d]
  const auto logdet = std::get<1>(torch::linalg::slogdet(cov_t));     // [K]
  const auto diff = x.to(torch::kFloat64).unsqueeze(1) - m * means_;  // [B, K, d]
  const auto pd = torch::einsum("kij,bkj->bki", {prec, diff});
  const auto logt = logw_ - 0.5 * logdet - 0.5 * (diff * pd).sum(2) -
                    0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi);  // [B, K]
  return {logt, pd};
}

torch::Tensor DiffusedMixture::score(const torch::Tensor& x, double t) const {
  const auto [logt, pd] = terms(x, t);
  return (-(torch::softmax(logt, 1).unsqueeze(2) * pd).sum(1)).to(x.scalar_type());
}

torch::Tensor DiffusedMixture::log_density(const torch::Tensor& x, double t) const {
  return torch::logsumexp(terms(x, t).first, 1);
}

TimeScoreFn diffused_mixture_score(const GaussianMixture& mixture, const LinearSde& sde) {
  return [dm = DiffusedMixture(mixture, sde)](const torch::Tensor& x, double t) {
    return dm.score(x, t);
  };
}

torch::Tensor dequantise_8bit(const torch::Tensor& x, std::uint64_t seed, std::uint64_t step,
                              Stream stream) {
  const auto u = philox_uniforms(seed, stream, step, x.numel()).reshape(x.sizes());
  return ((x + 1) * 127.5).round().clamp(0, 255).add(u).div(128.0).sub(1.0);
}

double bits_per_dim(double nll_nats, std::size_t dim) {
  return nll_nats / (static_cast<double>(dim) * std::log(2.0)) + 7.0;
}

}  // namespace sf
