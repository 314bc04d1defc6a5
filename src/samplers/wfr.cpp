#include <scoreflow/samplers/wfr.hpp>

#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {

Wfr::Wfr(const Target& target, WfrConfig cfg)
    : target_(target), cfg_(std::move(cfg)), resample_(scheme_of(cfg_.resampler, "wfr")) {
  check_positive_finite("wfr", "step size h", cfg_.step_size);
  check_in_range("wfr", "ESS threshold", cfg_.ess_threshold, 0.0, 1.0);
  if (cfg_.density != "kde" && cfg_.density != "ula-kernel")
    throw InvalidArgument(fmt::format(
        "wfr: density estimate '{}' is not valid; valid: ula-kernel, kde", cfg_.density));
  if (cfg_.bandwidth < 0 || !std::isfinite(cfg_.bandwidth))
    throw InvalidArgument(fmt::format(
        "wfr: bandwidth is {}, but must be positive (or 0 for automatic)", cfg_.bandwidth));
  if (cfg_.bandwidth_rule != "silverman" && cfg_.bandwidth_rule != "median")
    throw InvalidArgument(fmt::format(
        "wfr: bandwidth rule '{}' is not valid; valid: silverman, median", cfg_.bandwidth_rule));
}

nlohmann::json Wfr::config() const {
  return {{"sampler", name()},
          {"step_size", cfg_.step_size},
          {"seed", cfg_.seed},
          {"density", cfg_.density},
          {"bandwidth", cfg_.bandwidth},
          {"bandwidth_rule", cfg_.bandwidth_rule},
          {"resampler", cfg_.resampler.name},
          {"ess_threshold", cfg_.ess_threshold}};
}

SamplerState Wfr::init(Particles x, std::size_t step) const {
  if (x.log_weights().empty()) x.log_weights().assign(x.n(), 0.0);
  return target_state(target_, std::move(x), step, "wfr", Cache::log_density_and_score);
}

std::vector<double> Wfr::log_density_estimate(const SamplerState& s,
                                              const Particles& centres) const {
  // Across processes each sums the kernels of all particles at its own rows.
  std::vector<double> out(s.x.n());
  const std::size_t d = s.x.d();
  const AllRows lw = all_rows(s, s.x.log_weights(), 1);
  if (cfg_.density == "ula-kernel") {
    // N(x; c_j, 2hI) is a Gaussian kernel of bandwidth √(2h) centred at c_j.
    const AllRows c = all_rows(s, centres.values(), d);
    KernelDensity(c.rows(d), std::sqrt(2 * cfg_.step_size), lw.view).log_density(s.x.rows(), out);
    return out;
  }
  const AllRows x = all_rows(s, s.x.values(), d);
  const double b = cfg_.bandwidth > 0                ? cfg_.bandwidth
                   : cfg_.bandwidth_rule == "median" ? median_bandwidth(x.rows(d))
                                                     : silverman_bandwidth(x.rows(d), lw.view);
  KernelDensity(x.rows(d), b, lw.view).log_density(s.x.rows(), out);
  return out;
}

StepInfo Wfr::step(SamplerState& s) const {
  const double h = cfg_.step_size;
  const std::size_t n = s.x.n(), d = s.x.d();
  // Drift targets of the ULA kernels from the current (soon previous) positions.
  Particles centres(n, d);
  for (std::size_t i = 0; i < n * d; ++i) centres.data()[i] = s.x.data()[i] + h * s.grad.data()[i];
  langevin_move(s.x.rows(), s.grad.rows(), h, cfg_.seed, s.step, s.first, s.x.rows());
  target_.log_density(s.x.rows(), s.logp);
  target_.score(s.x.rows(), s.grad.rows());

  const std::vector<double> log_rho = log_density_estimate(s, centres);
  const double factor = cfg_.density == "ula-kernel" ? 1 - std::exp(-h) : h;
  std::vector<double> inc(n);
  for (std::size_t i = 0; i < n; ++i) inc[i] = -factor * (log_rho[i] - s.logp[i]);
  add_log_weights(s, inc);
  ++s.step;
  StepInfo info;
  maybe_resample(s, resample_, cfg_.ess_threshold, cfg_.seed, info);
  return info;
}

}  // namespace sf
