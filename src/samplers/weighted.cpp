#include <scoreflow/samplers/weighted.hpp>

#include <algorithm>
#include <cmath>

#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>

namespace sf {
namespace {

double max_over_processes(const SamplerState& s, double mine) {
  if (!across_processes(s)) return mine;
  const auto all = s.comm->all_values(std::span<const double>(&mine, 1));
  return *std::max_element(all.begin(), all.end());
}

}  // namespace

double log_mean_weight(std::span<const double> logw) {
  const double m = *std::max_element(logw.begin(), logw.end());
  double s = 0;
  for (double v : logw) s += std::exp(v - m);
  return m + std::log(s / static_cast<double>(logw.size()));
}

void add_log_weights(SamplerState& s, std::span<const double> increment) {
  auto& lw = s.x.log_weights();
  if (lw.empty()) lw.assign(s.x.n(), 0.0);
  double m = -INFINITY;
  for (std::size_t i = 0; i < lw.size(); ++i) m = std::max(m, lw[i] += increment[i]);
  m = max_over_processes(s, m);
  if (!std::isfinite(m))
    throw NumericalError(
        "weights: every log-weight became -inf or NaN (log π or the density estimate is not "
        "finite)");
  for (double& v : lw) v -= m;
  s.log_normaliser += m;
}

void maybe_resample(SamplerState& s, ResampleFn resample, double threshold, std::uint64_t seed,
                    StepInfo& info) {
  auto& lw = s.x.log_weights();
  if (lw.empty()) lw.assign(s.x.n(), 0.0);
  // Every process sees all weights, so each draws the same ancestors.
  const AllRows all_lw = all_rows(s, lw, 1);
  info.ess = normalised_ess(all_lw.view);
  if (info.ess >= threshold && threshold < 1) return;
  const std::size_t n = all_lw.view.size(), d = s.x.d(), mine = s.x.n();
  const auto w = normalised_weights(all_lw.view, n);
  Draws rng(seed, Stream::resample, 0, s.step);
  const auto idx = resample(w, n, rng);
  // The cached score and log π travel with their particles where the sampler keeps them;
  // across processes a shard's ancestors may live on any of them.
  const bool has_grad = s.grad.n() == mine;
  const AllRows xs = all_rows(s, s.x.values(), d);
  const AllRows gs = has_grad ? all_rows(s, s.grad.values(), d) : AllRows{};
  const AllRows lps = s.logp.empty() ? AllRows{} : all_rows(s, s.logp, 1);
  Particles x(mine, d), g(has_grad ? mine : 0, d);
  std::vector<double> logp(s.logp.empty() ? 0 : mine);
  for (std::size_t i = 0; i < mine; ++i) {
    const std::size_t a = idx[s.first + i];
    std::copy_n(&xs.view[a * d], d, x.row(i));
    if (has_grad) std::copy_n(&gs.view[a * d], d, g.row(i));
    if (!logp.empty()) logp[i] = lps.view[a];
  }
  // Equal weights afterwards; the mean weight moves into the normaliser.
  s.log_normaliser += log_mean_weight(all_lw.view);
  x.log_weights().assign(mine, 0.0);
  s.x = std::move(x);
  s.grad = std::move(g);
  s.logp = std::move(logp);
  info.resampled = true;
}

}  // namespace sf
