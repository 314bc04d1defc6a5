// Shared pieces of weighted samplers: log-weight bookkeeping and resampling of a state.
#pragma once

#include <span>

#include <scoreflow/samplers/resampling.hpp>
#include <scoreflow/samplers/sampler.hpp>

namespace sf {

// Adds `increment` to the log-weights, then shifts them to max 0, keeping what was removed
// in s.log_normaliser (log-sum-exp throughout, so extreme values stay finite).
void add_log_weights(SamplerState& s, std::span<const double> increment);

// log of the mean weight, log((1/N) Σ exp(logw)).
double log_mean_weight(std::span<const double> logw);

// If the normalised ESS is below `threshold` (or threshold ≥ 1: every step), replaces the
// particles (positions, cached log π and score) by resampled copies with equal weights.
// Fills info.ess and info.resampled.
void maybe_resample(SamplerState& s, ResampleFn resample, double threshold, std::uint64_t seed,
                    StepInfo& info);

}  // namespace sf
