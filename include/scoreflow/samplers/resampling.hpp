// Resampling of weighted particles. Every scheme has one signature: normalised weights,
// offspring count and a draw stream in, ancestor indices (sorted) out, so a weighted
// sampler takes any of them as a parameter.
#pragma once

#include <span>
#include <string>
#include <vector>

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

// By name: systematic | stratified | residual | multinomial.
ResampleFn resampler_by_name(const std::string& name);

}  // namespace sf
