#include <scoreflow/samplers/weighted.hpp>

#include <algorithm>
#include <cmath>

#include <scoreflow/core/error.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>

namespace sf {

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
  info.ess = normalised_ess(lw);
  if (info.ess >= threshold && threshold < 1) return;
  const std::size_t n = s.x.n(), d = s.x.d();
  const auto w = normalised_weights(lw, n);
  Draws rng(seed, Stream::resample, 0, s.step);
  const auto idx = resample(w, n, rng);
  // The cached score and log π travel with their particles where the sampler keeps them.
  const bool has_grad = s.grad.n() == n;
  Particles x(n, d), g(has_grad ? n : 0, d);
  std::vector<double> logp(s.logp.empty() ? 0 : n);
  for (std::size_t i = 0; i < n; ++i) {
    std::copy(s.x.row(idx[i]), s.x.row(idx[i]) + d, x.row(i));
    if (has_grad) std::copy(s.grad.row(idx[i]), s.grad.row(idx[i]) + d, g.row(i));
    if (!logp.empty()) logp[i] = s.logp[idx[i]];
  }
  // Equal weights afterwards; the mean weight moves into the normaliser.
  s.log_normaliser += log_mean_weight(lw);
  x.log_weights().assign(n, 0.0);
  s.x = std::move(x);
  s.grad = std::move(g);
  s.logp = std::move(logp);
  info.resampled = true;
}

}  // namespace sf
