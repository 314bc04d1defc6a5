#include <scoreflow/samplers/langevin.hpp>

#include <cmath>
#include <numbers>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/samplers/weighted.hpp>

namespace sf {

void langevin_move(ConstRows x, ConstRows grad, double h, std::uint64_t seed, std::size_t step,
                   Rows out) {
  const double noise = std::sqrt(2 * h);
  constexpr std::size_t kBlock = 64;
  parallel_blocks(x.n, kBlock, [&](std::size_t first, std::size_t count) {
    thread_local std::vector<double> xi;  // not `out`: it may alias x
    xi.resize(count * x.d);
    fill_normals(seed, Stream::langevin_noise, step, first, count, x.d, xi.data());
    const double* xr = x.row(first);
    const double* gr = grad.row(first);
    double* o = out.row(first);
#pragma omp simd
    for (std::size_t k = 0; k < count * x.d; ++k) o[k] = xr[k] + h * gr[k] + noise * xi[k];
  });
}

namespace {

void check_config(const char* who, const LangevinConfig& c) {
  check_positive_finite(who, "step size h", c.step_size);
}

nlohmann::json langevin_json(const char* name, const LangevinConfig& c) {
  return {{"sampler", name}, {"step_size", c.step_size}, {"seed", c.seed}};
}

}  // namespace

Ula::Ula(const Target& target, LangevinConfig cfg) : target_(target), cfg_(cfg) {
  check_config("ula", cfg_);
}

nlohmann::json Ula::config() const {
  return langevin_json("ula", cfg_);
}

SamplerState Ula::init(Particles x, std::size_t step) const {
  return target_state(target_, std::move(x), step, "ula");
}

StepInfo Ula::step(SamplerState& s) const {
  // In place: each particle's move reads only its own row.
  langevin_move(s.x.rows(), s.grad.rows(), cfg_.step_size, cfg_.seed, s.step, s.x.rows());
  target_.score(s.x.rows(), s.grad.rows());
  ++s.step;
  return {};
}

Mala::Mala(const Target& target, LangevinConfig cfg) : target_(target), cfg_(cfg) {
  check_config("mala", cfg_);
}

nlohmann::json Mala::config() const {
  return langevin_json("mala", cfg_);
}

SamplerState Mala::init(Particles x, std::size_t step) const {
  return target_state(target_, std::move(x), step, "mala", Cache::log_density_and_score);
}

StepInfo Mala::step(SamplerState& s) const {
  const std::size_t n = s.x.n(), d = s.x.d();
  const double h = cfg_.step_size;
  Particles y(n, d), gy(n, d);
  std::vector<double> logpy(n);
  langevin_move(s.x.rows(), s.grad.rows(), h, cfg_.seed, s.step, y.rows());
  target_.log_density(y.rows(), logpy);
  target_.score(y.rows(), gy.rows());
  std::vector<char> accepted(n);
  parallel_rows(n, [&](std::size_t i) {
    // log q(a|b) = −|a − b − h∇log π(b)|²/(4h) + const.
    double fwd = 0, bwd = 0;
    for (std::size_t k = 0; k < d; ++k) {
      const double a = y(i, k) - s.x(i, k) - h * s.grad(i, k);
      const double b = s.x(i, k) - y(i, k) - h * gy(i, k);
      fwd += a * a;
      bwd += b * b;
    }
    const double log_alpha = logpy[i] - s.logp[i] + (fwd - bwd) / (4 * h);
    Draws rng(cfg_.seed, Stream::accept, i, s.step);
    accepted[i] = std::log(rng.uniform()) < log_alpha;
    if (accepted[i]) {
      for (std::size_t k = 0; k < d; ++k) s.x(i, k) = y(i, k), s.grad(i, k) = gy(i, k);
      s.logp[i] = logpy[i];
    }
  });
  std::size_t acc = 0;
  for (char a : accepted) acc += static_cast<std::size_t>(a);
  ++s.step;
  return {.acceptance = static_cast<double>(acc) / static_cast<double>(n)};
}

AnnealedUla::AnnealedUla(const Target& target, AnnealedConfig cfg)
    : target_(target), cfg_(std::move(cfg)), path_(cfg_.path) {
  if (!path_) throw InvalidArgument("annealed-ula: no annealing path given");
  check_config("annealed-ula", cfg_.langevin);
  check_positive("annealed-ula", "total steps", cfg_.total_steps);
  check_in_range("annealed-ula", "annealing fraction", cfg_.schedule.fraction, 1e-9, 1.0);
  if (cfg_.fk_weights) {
    if (path_->name() != "geometric")
      throw InvalidArgument(
          "annealed-ula: Feynman–Kac weights need a path that starts at N(0, I); use --path "
          "geometric");
    check_in_range("annealed-ula", "ESS threshold", cfg_.ess_threshold, 0.0, 1.0);
    resample_ = scheme_of(cfg_.resampler, "annealed-ula");
  }
}

nlohmann::json AnnealedUla::config() const {
  auto j = langevin_json("annealed-ula", cfg_.langevin);
  j["path"] = path_->name();
  j["anneal_fraction"] = cfg_.schedule.fraction;
  j["fk_weights"] = cfg_.fk_weights;
  if (cfg_.fk_weights)
    j["resampler"] = cfg_.resampler.name, j["ess_threshold"] = cfg_.ess_threshold;
  return j;
}

SamplerState AnnealedUla::init(Particles x, std::size_t step) const {
  SamplerState s = target_state(target_, std::move(x), step, "annealed-ula");
  path_->score(target_, lambda_at(step), s.x.rows(), s.grad.rows());  // the path's, not π's
  return s;
}

void AnnealedUla::reweight(SamplerState& s, double dlambda) const {
  std::vector<double> inc(s.x.n());
  target_.log_density(s.x.rows(), inc);
  const double log_norm0 = 0.5 * static_cast<double>(s.x.d()) * std::log(2 * std::numbers::pi);
  for (std::size_t i = 0; i < s.x.n(); ++i) {
    double r2 = 0;
    for (std::size_t k = 0; k < s.x.d(); ++k) r2 += s.x(i, k) * s.x(i, k);
    inc[i] = dlambda * (inc[i] + 0.5 * r2 + log_norm0);  // Δλ (log π − log N(0, I))
  }
  add_log_weights(s, inc);
}

StepInfo AnnealedUla::step(SamplerState& s) const {
  // The cached gradient belongs to λ(step); after the move it is refreshed at λ(step + 1).
  const double lambda = lambda_at(s.step);
  StepInfo info{.lambda = lambda};
  if (cfg_.fk_weights) {
    reweight(s, lambda_at(s.step + 1) - lambda);
    maybe_resample(s, resample_, cfg_.ess_threshold, cfg_.langevin.seed, info);
  }
  langevin_move(s.x.rows(), s.grad.rows(), cfg_.langevin.step_size, cfg_.langevin.seed, s.step,
                s.x.rows());
  ++s.step;
  path_->score(target_, lambda_at(s.step), s.x.rows(), s.grad.rows());
  return info;
}

}  // namespace sf
