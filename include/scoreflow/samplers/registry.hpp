// Samplers by name. Each entry reads its own options from a spec ("wfr:density=kde" or
// key=value pairs from flags) with the sampler's own defaults and refuses keys it does not
// know; what every sampler shares (seed, run length, the initial law) comes in a context.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <scoreflow/core/registry.hpp>
#include <scoreflow/samplers/annealing.hpp>
#include <scoreflow/samplers/resampling.hpp>
#include <scoreflow/samplers/sampler.hpp>
#include <scoreflow/targets/spec.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct SamplerContext {
  std::uint64_t seed = 0;
  std::size_t total_steps = 1000;  // annealing schedules reach λ = 1 by this step
  std::string init;                // spec of the initial particles' law; empty: N(0, I)
  bool init_from_file = false;     // initial particles of unknown law
};

// The sampler keeps a reference to the target: the caller keeps it alive.
using SamplerFactory = std::function<std::unique_ptr<Sampler>(const Target&, const Spec& options,
                                                              const SamplerContext&)>;
using SamplerRegistry = Registry<SamplerFactory>;

// ula, mala, annealed-ula, wfr, birth-death, birth-death-kl, fk-corrector; sbtm once the
// LibTorch parts are registered (register_torch_parts); and any a user adds.
SamplerRegistry& sampler_registry();

std::unique_ptr<Sampler> make_sampler(const Spec& options, const Target& target,
                                      const SamplerContext& context);
std::unique_ptr<Sampler> make_sampler(const std::string& spec, const Target& target,
                                      const SamplerContext& context);

// Shared option readers for sampler factories.
// step_size (default `fallback`), checked positive and finite.
double step_size_option(const Spec& s, double fallback);
// bandwidth (default `fallback`; 0 means automatic), refused when negative.
double bandwidth_option(const Spec& s, double fallback);
// anneal_fraction or anneal_schedule (knots "0:0,0.5:1", in brackets inside a spec string).
LinearSchedule schedule_option(const Spec& s);
// path (a spec such as "dilation:min_lambda=0.3"); geometric by default.
std::shared_ptr<const AnnealingPath> path_option(const Spec& s);
Resampler resampler_option(const Spec& s);

}  // namespace sf
