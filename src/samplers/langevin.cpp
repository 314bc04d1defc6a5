#include <scoreflow/samplers/langevin.hpp>

#include <cmath>
#include <numbers>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/samplers/weighted.hpp>

namespace sf {

void langevin_move(ConstRows x, ConstRows grad, double h, std::uint64_t seed, std::size_t step,
                   std::size_t first_row, Rows out) {
  const double noise = std::sqrt(2 * h);
  constexpr std::size_t kBlock = 64;
  // Captured by value, so h and the noise scale stay in registers: through a reference they
  // were reloaded in every iteration (`out` may alias them).
  parallel_blocks(x.n, kBlock, [=](std::size_t first, std::size_t count) {
    thread_local std::vector<double> xi;  // not `out`: it may alias x
    xi.resize(count * x.d);
    fill_normals(seed, Stream::langevin_noise, step, first_row + first, count, x.d, xi.data());
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
  langevin_move(s.x.rows(), s.grad.rows(), cfg_.step_size, cfg_.seed, s.step, s.first, s.x.rows());
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

std::vector<char> mala_accept(ConstRows x, ConstRows gx, std::span<const double> lpx, ConstRows y,
                              ConstRows gy, std::span<const double> lpy, double h,
                              std::uint64_t seed, std::size_t step, std::size_t first) {
  std::vector<char> accepted(x.n);
  parallel_rows(x.n, [&](std::size_t i) {
    // log q(a|b) = −|a − b − h∇log p(b)|²/(4h) + const.
    double fwd = 0, bwd = 0;
    const double *xi = x.row(i), *yi = y.row(i), *gxi = gx.row(i), *gyi = gy.row(i);
    for (std::size_t k = 0; k < x.d; ++k) {
      const double a = yi[k] - xi[k] - h * gxi[k];
      const double b = xi[k] - yi[k] - h * gyi[k];
      fwd += a * a;
      bwd += b * b;
    }
    const double log_alpha = lpy[i] - lpx[i] + (fwd - bwd) / (4 * h);
    Draws rng(seed, Stream::accept, first + i, step);
    accepted[i] = std::log(rng.uniform()) < log_alpha;
  });
  return accepted;
}

namespace {

// Accepted rows of the proposal replace the state's position, cached log π and score.
double take_accepted(SamplerState& s, const std::vector<char>& accepted, const Particles& y,
                     const Particles& gy, std::span<const double> logpy) {
  const std::size_t d = s.x.d();
  parallel_rows(s.x.n(), [&](std::size_t i) {
    if (!accepted[i]) return;
    std::copy_n(y.rows().row(i), d, s.x.rows().row(i));
    std::copy_n(gy.rows().row(i), d, s.grad.rows().row(i));
    s.logp[i] = logpy[i];
  });
  std::size_t acc = 0;
  for (char a : accepted) acc += static_cast<std::size_t>(a);
  return static_cast<double>(acc) / static_cast<double>(s.x.n());
}

}  // namespace

StepInfo Mala::step(SamplerState& s) const {
  const std::size_t n = s.x.n(), d = s.x.d();
  const double h = cfg_.step_size;
  Particles y(n, d), gy(n, d);
  std::vector<double> logpy(n);
  langevin_move(s.x.rows(), s.grad.rows(), h, cfg_.seed, s.step, s.first, y.rows());
  target_.log_density_and_score(y.rows(), logpy, gy.rows());
  const auto accepted = mala_accept(s.x.rows(), s.grad.rows(), s.logp, y.rows(), gy.rows(), logpy,
                                    h, cfg_.seed, s.step, s.first);
  const double rate = take_accepted(s, accepted, y, gy, logpy);
  ++s.step;
  return {.acceptance = rate};
}

AnnealedUla::AnnealedUla(const Target& target, AnnealedConfig cfg)
    : target_(target), cfg_(std::move(cfg)), path_(cfg_.path) {
  if (!path_) throw InvalidArgument("annealed-ula: no annealing path given");
  check_config("annealed-ula", cfg_.langevin);
  check_positive("annealed-ula", "total steps", cfg_.total_steps);
  check_in_range("annealed-ula", "annealing fraction", cfg_.schedule.fraction, 1e-9, 1.0);
  if (cfg_.metropolis && !cfg_.fk_weights)
    throw InvalidArgument("ais: annealed importance sampling needs its Feynman–Kac weights");
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
  auto j = langevin_json(cfg_.metropolis ? "ais" : "annealed-ula", cfg_.langevin);
  j["path"] = path_->name();
  j["anneal_fraction"] = cfg_.schedule.fraction;
  j["fk_weights"] = cfg_.fk_weights;
  if (cfg_.fk_weights)
    j["resampler"] = cfg_.resampler.name, j["ess_threshold"] = cfg_.ess_threshold;
  return j;
}

SamplerState AnnealedUla::init(Particles x, std::size_t step) const {
  if (cfg_.metropolis)
    return target_state(target_, std::move(x), step, "ais", Cache::log_density_and_score);
  SamplerState s = target_state(target_, std::move(x), step, "annealed-ula");
  path_->score(target_, lambda_at(step), s.x.rows(), s.grad.rows());  // the path's, not π's
  return s;
}

namespace {

// log N(x; 0, I) of one row.
double log_base(const double* x, std::size_t d) {
  double r2 = 0;
  for (std::size_t k = 0; k < d; ++k) r2 += x[k] * x[k];
  return -0.5 * r2 - 0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi);
}

// log π_λ and ∇log π_λ of the geometric path from the target's log π and score.
void geometric_path(ConstRows x, ConstRows g, std::span<const double> logp, double lambda,
                    Rows g_out, std::span<double> lp_out) {
  parallel_rows(x.n, [&](std::size_t i) {
    const double *xi = x.row(i), *gi = g.row(i);
    double* o = g_out.row(i);
    for (std::size_t k = 0; k < x.d; ++k) o[k] = lambda * gi[k] - (1 - lambda) * xi[k];
    lp_out[i] = lambda * logp[i] + (1 - lambda) * log_base(xi, x.d);
  });
}

}  // namespace

void AnnealedUla::reweight(SamplerState& s, double dlambda, std::span<const double> logp) const {
  std::vector<double> inc(s.x.n());
  parallel_rows(s.x.n(), [&](std::size_t i) {
    inc[i] = dlambda * (logp[i] - log_base(s.x.rows().row(i), s.x.d()));
  });
  add_log_weights(s, inc);
}

double AnnealedUla::metropolis_move(SamplerState& s, double lambda) const {
  const std::size_t n = s.x.n(), d = s.x.d();
  const double h = cfg_.langevin.step_size;
  Particles gx(n, d), y(n, d), gy(n, d), gy_path(n, d);
  std::vector<double> lpx(n), logpy(n), lpy(n);
  geometric_path(s.x.rows(), s.grad.rows(), s.logp, lambda, gx.rows(), lpx);
  langevin_move(s.x.rows(), gx.rows(), h, cfg_.langevin.seed, s.step, s.first, y.rows());
  target_.log_density_and_score(y.rows(), logpy, gy.rows());
  geometric_path(y.rows(), gy.rows(), logpy, lambda, gy_path.rows(), lpy);
  const auto accepted = mala_accept(s.x.rows(), gx.rows(), lpx, y.rows(), gy_path.rows(), lpy, h,
                                    cfg_.langevin.seed, s.step, s.first);
  return take_accepted(s, accepted, y, gy, logpy);
}

StepInfo AnnealedUla::step(SamplerState& s) const {
  // The cached gradient belongs to λ(step); after the move it is refreshed at λ(step + 1).
  const double lambda = lambda_at(s.step), next = lambda_at(s.step + 1);
  StepInfo info{.lambda = lambda};
  if (cfg_.metropolis) {
    // AIS: weight by π_next/π_λ at x, then a move that leaves π_next invariant.
    reweight(s, next - lambda, s.logp);
    maybe_resample(s, resample_, cfg_.ess_threshold, cfg_.langevin.seed, info);
    info.acceptance = metropolis_move(s, next);
    ++s.step;
    return info;
  }
  if (cfg_.fk_weights) {
    std::vector<double> logp(s.x.n());
    target_.log_density(s.x.rows(), logp);
    reweight(s, next - lambda, logp);
    maybe_resample(s, resample_, cfg_.ess_threshold, cfg_.langevin.seed, info);
  }
  langevin_move(s.x.rows(), s.grad.rows(), cfg_.langevin.step_size, cfg_.langevin.seed, s.step,
                s.first, s.x.rows());
  ++s.step;
  path_->score(target_, next, s.x.rows(), s.grad.rows());
  return info;
}

}  // namespace sf
