// Resampling of weighted particles. Every scheme has one signature: normalised weights,
// offspring count and a draw stream in, ancestor indices (sorted) out, so a weighted
// sampler takes any of them as a parameter.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include <scoreflow/core/registry.hpp>
#include <scoreflow/core/rng.hpp>

namespace sf {

using ResampleFn = std::vector<std::size_t> (*)(std::span<const double> w, std::size_t count,
                                                Draws& rng);

// One uniform: offspring at (u + k)/count.
std::vector<std::size_t> systematic_resample(std::span<const double> w, std::size_t count,
                                             Draws& rng);
// One uniform in each stratum [k/count, (k+1)/count).
std::vector<std::size_t> stratified_resample(std::span<const double> w, std::size_t count,
                                             Draws& rng);
// floor(count·w_i) copies of i, the rest multinomially on the residual weights.
std::vector<std::size_t> residual_resample(std::span<const double> w, std::size_t count,
                                           Draws& rng);
// count independent draws from w.
std::vector<std::size_t> multinomial_resample(std::span<const double> w, std::size_t count,
                                              Draws& rng);

// A scheme with its name, as weighted samplers take it (the name goes into their config).
struct Resampler {
  Resampler() = default;
  Resampler(std::string scheme, ResampleFn f) : name(std::move(scheme)), fn(f) {}
  std::string name = "systematic";
  ResampleFn fn = systematic_resample;
};

// The schemes by name: systematic, stratified, residual, multinomial, and any a user adds.
using ResamplerRegistry = Registry<ResampleFn>;
ResamplerRegistry& resampler_registry();
Resampler resampler_by_name(const std::string& name);
// The scheme of `r`, refused when empty; `who` names the sampler in the message.
ResampleFn scheme_of(const Resampler& r, const std::string& who);

}  // namespace sf
