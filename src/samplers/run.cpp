#include <chrono>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
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
  t.score(s.x.rows(), s.grad.rows());
  if (cache == Cache::log_density_and_score) {
    s.logp.resize(s.x.n());
    t.log_density(s.x.rows(), s.logp);
  }
  return s;
}

RunResult run(const Sampler& sampler, SamplerState& state, std::size_t total_steps,
              std::span<Observer* const> observers) {
  const auto start = std::chrono::steady_clock::now();
  RunResult r;
  for (auto* o : observers) o->on_start(state);
  while (state.step < total_steps) {
    const StepInfo info = sampler.step(state);
    ++r.steps_taken;
    const std::size_t bad = first_non_finite(state.x.rows());
    if (bad < state.x.n())
      throw NumericalError(
          fmt::format("{}: particle {} became non-finite at step {} (value {}); {}", sampler.name(),
                      bad, state.step, state.x(bad, 0), sampler.divergence_hint()));
    bool go_on = true;
    for (auto* o : observers) go_on = o->on_step(state, info) && go_on;
    if (!go_on) {
      r.stopped_early = true;
      break;
    }
  }
  for (auto* o : observers) o->on_finish(state);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace sf
