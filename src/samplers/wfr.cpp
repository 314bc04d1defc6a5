#include <scoreflow/samplers/wfr.hpp>

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/score/kde.hpp>
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
  if (cfg_.exchange != "auto" && cfg_.exchange != "gather" && cfg_.exchange != "blocks")
    throw InvalidArgument(
        fmt::format("wfr: exchange '{}' is not valid; valid: auto, gather, blocks", cfg_.exchange));
  check_kde_tol("wfr", cfg_.kde_tol);
  if (cfg_.exchange_block == 0 || cfg_.exchange_block % StreamedKernelDensity::kTile != 0)
    throw InvalidArgument(
        fmt::format("wfr: exchange_block is {} rows, but must be a positive multiple of {}",
                    cfg_.exchange_block, StreamedKernelDensity::kTile));
}

nlohmann::json Wfr::config() const {
  return {{"sampler", name()},
          {"step_size", cfg_.step_size},
          {"seed", cfg_.seed},
          {"density", cfg_.density},
          {"bandwidth", cfg_.bandwidth},
          {"bandwidth_rule", cfg_.bandwidth_rule},
          {"resampler", cfg_.resampler.name},
          {"ess_threshold", cfg_.ess_threshold},
          {"exchange", cfg_.exchange},
          {"exchange_block", cfg_.exchange_block},
          {"kde_tol", cfg_.kde_tol}};
}

SamplerState Wfr::init(Particles x, std::size_t step) const {
  if (x.log_weights().empty()) x.log_weights().assign(x.n(), 0.0);
  return target_state(target_, std::move(x), step, "wfr", Cache::log_density_and_score);
}

bool Wfr::in_blocks(const SamplerState& s) const {
  if (cfg_.exchange != "auto") return cfg_.exchange == "blocks";
  // By the size of the whole set alone, so every process count takes the same path.
  const auto n = static_cast<double>(all_particles(s));
  return n * static_cast<double>(s.x.d() + 1) * 8 > 0x1p30;
}

namespace {

// A process's rows with their log-weights, d + 1 values each: what a sweep carries.
std::vector<double> with_log_weights(const Particles& p, std::span<const double> lw) {
  std::vector<double> v;
  v.reserve(p.n() * (p.d() + 1));
  for (std::size_t i = 0; i < p.n(); ++i) {
    v.insert(v.end(), p.row(i), p.row(i) + p.d());
    v.push_back(lw[i]);
  }
  return v;
}

// One sweep over all particles' packed rows: f(first, rows, log-weights) per block.
void sweep(const SamplerState& s, std::span<const double> packed, std::size_t d, std::size_t block,
           std::size_t count,
           const std::function<void(std::size_t, ConstRows, std::span<const double>)>& f) {
  Particles x;
  std::vector<double> lw;
  for_each_block(s, packed, d + 1, block, count, [&](std::size_t first, std::span<const double> v) {
    const std::size_t rows = v.size() / (d + 1);
    x.reshape(rows, d);
    lw.resize(rows);
    for (std::size_t i = 0; i < rows; ++i) {
      std::copy_n(v.data() + i * (d + 1), d, x.row(i));
      lw[i] = v[i * (d + 1) + d];
    }
    f(first, x.rows(), lw);
  });
}

}  // namespace

std::vector<double> Wfr::log_density_in_blocks(const SamplerState& s,
                                               const Particles& centres) const {
  const std::size_t d = s.x.d(), n = all_particles(s);
  const auto& lw = s.x.log_weights();
  const double log_max = max_over_processes(s, *std::max_element(lw.begin(), lw.end()));
  const bool ula_kernel = cfg_.density == "ula-kernel";
  const std::vector<double> data = with_log_weights(ula_kernel ? centres : s.x, lw);
  const std::size_t block = cfg_.exchange_block;
  double b = ula_kernel ? std::sqrt(2 * cfg_.step_size) : cfg_.bandwidth;
  if (b == 0 && cfg_.bandwidth_rule == "median") {
    const std::size_t m = std::min(n, kMedianBandwidthPoints);
    Particles first(m, d);
    sweep(s, data, d, m, m, [&](std::size_t, ConstRows x, std::span<const double>) {
      std::copy_n(x.data, m * d, first.data());
    });
    b = median_bandwidth(first.rows());
  } else if (b == 0) {
    StreamedSilverman rule(d, log_max);
    do {
      sweep(s, data, d, block, n,
            [&](std::size_t, ConstRows x, std::span<const double> w) { rule.add(x, w); });
    } while (rule.next_pass());
    b = rule.bandwidth();
  }
  StreamedKernelDensity kde(s.x.rows(), b, log_max);
  const auto add = [&](std::size_t first, ConstRows x, std::span<const double> w) {
    kde.add(first, x, w);
  };
  sweep(s, data, d, block, n, add);
  // A query far from all particles underflowed: two more sweeps, by every process.
  const bool redo = across_processes(s) ? s.comm->any(kde.underflowed()) : kde.underflowed();
  if (redo)
    for (int pass = 0; pass < 2; ++pass) kde.next_pass(), sweep(s, data, d, block, n, add);
  return kde.log_density();
}

std::vector<double> Wfr::log_density_estimate(const SamplerState& s,
                                              const Particles& centres) const {
  if (in_blocks(s)) return log_density_in_blocks(s, centres);
  // Across processes each sums the kernels of all particles at its own rows.
  const std::size_t d = s.x.d();
  const AllRows lw = all_rows(s, s.x.log_weights(), 1);
  if (cfg_.density == "ula-kernel") {
    // N(x; c_j, 2hI) is a Gaussian kernel of bandwidth √(2h) centred at c_j.
    const AllRows c = all_rows(s, centres.values(), d);
    return kde_log_density(c.rows(d), lw.view, std::sqrt(2 * cfg_.step_size), s.x.rows(),
                           cfg_.kde_tol, all_particles(s));
  }
  const AllRows x = all_rows(s, s.x.values(), d);
  const double b = cfg_.bandwidth > 0                ? cfg_.bandwidth
                   : cfg_.bandwidth_rule == "median" ? median_bandwidth(x.rows(d))
                                                     : silverman_bandwidth(x.rows(d), lw.view);
  return kde_log_density(x.rows(d), lw.view, b, s.x.rows(), cfg_.kde_tol, all_particles(s));
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
