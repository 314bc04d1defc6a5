#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/interrupt.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

SamplerState target_state(const Target& t, Particles x, std::size_t step, const char* who,
                          Cache cache) {
  check_dim(who, "initial particles", x.d(), t.dim());
  check_positive(who, "number of particles N", x.n());
  SamplerState s;
  s.grad = Particles(x.n(), x.d());
  s.x = std::move(x);
  s.step = step;
  if (cache == Cache::log_density_and_score) {
    s.logp.resize(s.x.n());
    t.log_density_and_score(s.x.rows(), s.logp, s.grad.rows());
  } else {
    t.score(s.x.rows(), s.grad.rows());
  }
  return s;
}

namespace {

// Particles this far beyond where the run started have left any target a sampler could be
// meant for: a step size too large for the target's curvature grows them geometrically
// (ULA with h = 10 on N(0, I) multiplies them by 9 a step), and stopping here names the step
// long before they overflow to Inf.
constexpr double kBlowUpFactor = 1e8;

// The largest |coordinate|, or NaN if any is not finite: one pass, as it runs every step.
double max_abs_if_finite(const Particles& x) {
  const double* v = x.data();
  double m = 0;
  bool finite = true;
  for (std::size_t i = 0; i < x.n() * x.d(); ++i) {
    finite &= std::isfinite(v[i]);
    m = std::max(m, std::abs(v[i]));
  }
  return finite ? m : NAN;
}

void check_divergence(const Sampler& sampler, const SamplerState& s) {
  const double largest = max_abs_if_finite(s.x);
  if (std::isnan(largest)) {
    const std::size_t bad = first_non_finite(s.x.rows());
    throw NumericalError(fmt::format("{}: particle {} became non-finite at step {} (value {}); {}",
                                     sampler.name(), bad, s.step, s.x(bad, 0),
                                     sampler.divergence_hint()));
  }
  if (largest > kBlowUpFactor * s.start_scale)
    throw NumericalError(fmt::format(
        "{}: the particles blew up at step {}: a coordinate reached {:.3g}, more than {:.0e} "
        "times the largest starting coordinate ({:.3g}); {}",
        sampler.name(), s.step, largest, kBlowUpFactor, s.start_scale, sampler.divergence_hint()));
}

}  // namespace

RunResult run(const Sampler& sampler, SamplerState& state, std::size_t total_steps,
              std::span<Observer* const> observers) {
  const auto start = std::chrono::steady_clock::now();
  RunResult r;
  if (!(state.start_scale > 0)) state.start_scale = std::max(1.0, max_abs_if_finite(state.x));
  for (auto* o : observers) o->on_start(state);
  while (state.step < total_steps) {
    const StepInfo info = sampler.step(state);
    ++r.steps_taken;
    check_divergence(sampler, state);
    bool go_on = true;
    for (auto* o : observers) go_on = o->on_step(state, info) && go_on;
    if (!go_on) {
      r.stopped_early = true;
      break;
    }
    if (stop_requested() && state.step < total_steps) {
      r.interrupted = true;
      break;
    }
  }
  for (auto* o : observers) o->on_finish(state);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace sf
