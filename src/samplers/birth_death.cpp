#include <scoreflow/samplers/birth_death.hpp>

#include <cmath>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {

BirthDeath::BirthDeath(const Target& target, BirthDeathConfig cfg) : target_(target), cfg_(cfg) {
  check_positive_finite("birth-death", "step size h", cfg_.step_size);
  if (cfg_.bandwidth < 0 || !std::isfinite(cfg_.bandwidth))
    throw InvalidArgument("birth-death: bandwidth must be positive (or 0 for Silverman's rule)");
  check_kde_tol("birth-death", cfg_.kde_tol);
}

nlohmann::json BirthDeath::config() const {
  return {{"sampler", name()},
          {"step_size", cfg_.step_size},
          {"seed", cfg_.seed},
          {"bandwidth", cfg_.bandwidth},
          {"kde_tol", cfg_.kde_tol}};
}

SamplerState BirthDeath::init(Particles x, std::size_t step) const {
  if (x.n() < min_particles()) throw InvalidArgument("birth-death: needs at least 2 particles");
  return target_state(target_, std::move(x), step, "birth-death", Cache::log_density_and_score);
}

std::vector<double> BirthDeath::rates(const SamplerState& s) const {
  const AllRows x = all_rows(s, s.x.values(), s.x.d());
  std::vector<double> all = all_rates(s, x.rows(s.x.d()));
  if (!across_processes(s)) return all;
  const auto first = all.begin() + static_cast<std::ptrdiff_t>(s.first);
  return {first, first + static_cast<std::ptrdiff_t>(s.x.n())};
}

std::vector<double> BirthDeath::all_rates(const SamplerState& s, ConstRows x) const {
  // Across processes each computes the rates of its own rows from all particles.
  const std::size_t mine = s.x.n(), n = x.n;
  const double b = cfg_.bandwidth > 0 ? cfg_.bandwidth : silverman_bandwidth(x);
  std::vector<double> beta =
      kde_log_density(x, {}, b, s.x.rows(), cfg_.kde_tol, n);  // log (K_b * ρ)(X_i)
  std::vector<double> extra;
  if (cfg_.kernelised) {
    // (1/N) Σ_j K(X_i − X_j) / (K*ρ)(X_j): a KDE with weights 1/(K*ρ)(X_j), rescaled by
    // (Σ_j weight_j)/N since KernelDensity normalises its weights.
    const AllRows log_conv = all_rows(s, beta, 1);
    std::vector<double> lw(n);
    double m = -INFINITY;
    for (std::size_t j = 0; j < n; ++j) m = std::max(m, lw[j] = -log_conv.view[j]);
    double sum = 0;
    for (double v : lw) sum += std::exp(v - m);
    extra = kde_log_density(x, lw, b, s.x.rows(), cfg_.kde_tol, n);
    for (double& v : extra) v = std::exp(v + m + std::log(sum / static_cast<double>(n)));
  }
  for (std::size_t i = 0; i < mine; ++i) {
    beta[i] -= s.logp[i];
    if (!extra.empty()) beta[i] += extra[i];
  }
  // Centred by the mean over all particles, summed in global order as in one process.
  std::vector<double> all = across_processes(s) ? all_rows(s, beta, 1).owned : std::move(beta);
  double mean = 0;
  for (double v : all) mean += v / static_cast<double>(n);
  for (double& v : all) v -= mean;
  return all;
}

namespace {

// Jumps in particle order, each keyed by (seed, particle, step): the outcome does not depend
// on threads or processes. Rates are those at the start of the jump phase. Returns the count.
std::size_t jump(Rows x, std::span<double> logp, std::span<const double> beta, double h,
                 std::uint64_t seed, std::size_t step) {
  const std::size_t n = x.n, d = x.d;
  std::size_t jumps = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Draws rng(seed, Stream::jumps, i, step);
    const double u = rng.uniform();
    std::size_t j = rng.below(n - 1);
    j += j >= i;  // a uniformly chosen other particle
    const bool kill = beta[i] > 0 && u < 1 - std::exp(-beta[i] * h);
    const bool dup = beta[i] < 0 && u < 1 - std::exp(beta[i] * h);
    if (!kill && !dup) continue;
    const std::size_t from = kill ? j : i, to = kill ? i : j;
    std::copy(x.row(from), x.row(from) + d, x.row(to));
    logp[to] = logp[from];
    ++jumps;
  }
  return jumps;
}

}  // namespace

StepInfo BirthDeath::step(SamplerState& s) const {
  const double h = cfg_.step_size;
  const std::size_t d = s.x.d();
  langevin_move(s.x.rows(), s.grad.rows(), h, cfg_.seed, s.step, s.first, s.x.rows());
  target_.log_density(s.x.rows(), s.logp);
  AllRows x = all_rows(s, s.x.values(), d);
  const std::vector<double> beta = all_rates(s, x.rows(d));
  std::size_t jumps = 0, n = s.x.n();
  if (!across_processes(s)) {
    jumps = jump(s.x.rows(), s.logp, beta, h, cfg_.seed, s.step);
  } else {
    // A pair may span processes: every process replays all jumps on all particles, then
    // keeps its own rows.
    Particles all(s.n_all, d, std::move(x.owned));
    std::vector<double> logp = all_rows(s, s.logp, 1).owned;
    jumps = jump(all.rows(), logp, beta, h, cfg_.seed, s.step);
    std::copy_n(all.row(s.first), s.x.n() * d, s.x.data());
    std::copy_n(logp.begin() + static_cast<std::ptrdiff_t>(s.first), s.x.n(), s.logp.begin());
    n = s.n_all;
  }
  target_.score(s.x.rows(), s.grad.rows());
  ++s.step;
  StepInfo info;
  info.jump_rate = static_cast<double>(jumps) / static_cast<double>(n);
  return info;
}

}  // namespace sf
