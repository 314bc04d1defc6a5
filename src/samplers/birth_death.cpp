#include <scoreflow/samplers/birth_death.hpp>

#include <cmath>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {

BirthDeath::BirthDeath(const Target& target, BirthDeathConfig cfg) : target_(target), cfg_(cfg) {
  check_positive_finite("birth-death", "step size h", cfg_.step_size);
  if (cfg_.bandwidth < 0 || !std::isfinite(cfg_.bandwidth))
    throw InvalidArgument("birth-death: bandwidth must be positive (or 0 for Silverman's rule)");
}

nlohmann::json BirthDeath::config() const {
  return {{"sampler", name()},
          {"step_size", cfg_.step_size},
          {"seed", cfg_.seed},
          {"bandwidth", cfg_.bandwidth}};
}

SamplerState BirthDeath::init(Particles x, std::size_t step) const {
  if (x.n() < 2) throw InvalidArgument("birth-death: needs at least 2 particles");
  return target_state(target_, std::move(x), step, "birth-death", Cache::log_density_and_score);
}

std::vector<double> BirthDeath::rates(const SamplerState& s) const {
  const std::size_t n = s.x.n();
  const double b = cfg_.bandwidth > 0 ? cfg_.bandwidth : silverman_bandwidth(s.x.rows());
  const KernelDensity kde(s.x.rows(), b);
  std::vector<double> beta(n);
  kde.log_density(s.x.rows(), beta);  // log (K_b * ρ)(X_i)
  std::vector<double> extra;
  if (cfg_.kernelised) {
    // (1/N) Σ_j K(X_i − X_j) / (K*ρ)(X_j): a KDE with weights 1/(K*ρ)(X_j), rescaled by
    // (Σ_j weight_j)/N since KernelDensity normalises its weights.
    std::vector<double> lw(n);
    double m = -INFINITY;
    for (std::size_t j = 0; j < n; ++j) m = std::max(m, lw[j] = -beta[j]);
    double sum = 0;
    for (double v : lw) sum += std::exp(v - m);
    extra.resize(n);
    KernelDensity(s.x.rows(), b, lw).log_density(s.x.rows(), extra);
    for (double& v : extra) v = std::exp(v + m + std::log(sum / static_cast<double>(n)));
  }
  double mean = 0;
  for (std::size_t i = 0; i < n; ++i) {
    beta[i] -= s.logp[i];
    if (!extra.empty()) beta[i] += extra[i];
    mean += beta[i] / static_cast<double>(n);
  }
  for (double& v : beta) v -= mean;
  return beta;
}

StepInfo BirthDeath::step(SamplerState& s) const {
  const double h = cfg_.step_size;
  const std::size_t n = s.x.n(), d = s.x.d();
  langevin_move(s.x.rows(), s.grad.rows(), h, cfg_.seed, s.step, s.first, s.x.rows());
  target_.log_density(s.x.rows(), s.logp);
  const std::vector<double> beta = rates(s);
  // Jumps in particle order, each keyed by (seed, particle, step): the outcome does not
  // depend on threads. Rates are those at the start of the jump phase.
  std::size_t jumps = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Draws rng(cfg_.seed, Stream::jumps, i, s.step);
    const double u = rng.uniform();
    std::size_t j = rng.below(n - 1);
    j += j >= i;  // a uniformly chosen other particle
    const bool kill = beta[i] > 0 && u < 1 - std::exp(-beta[i] * h);
    const bool dup = beta[i] < 0 && u < 1 - std::exp(beta[i] * h);
    if (!kill && !dup) continue;
    const std::size_t from = kill ? j : i, to = kill ? i : j;
    std::copy(s.x.row(from), s.x.row(from) + d, s.x.row(to));
    s.logp[to] = s.logp[from];
    ++jumps;
  }
  target_.score(s.x.rows(), s.grad.rows());
  ++s.step;
  StepInfo info;
  info.jump_rate = static_cast<double>(jumps) / static_cast<double>(n);
  return info;
}

}  // namespace sf
