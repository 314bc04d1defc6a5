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
// Fills info.ess and info.resampled. The weights' sums are exact (fixed point, see
// weighted.cpp), so the ESS, the decision and log Z are the same for any split over processes.
// Systematic and stratified resampling run from global prefix sums: each process finds its
// own particles' offspring and sends them to the processes owning their slots, so memory and
// traffic stay proportional to a shard. (Stratified draws the uniform of position k from its
// own stream (seed, k, step), so `stratified_resample`, which draws them in sequence, gives
// other ancestors than a sampler with the same seed.) Other schemes see all the weights.
void maybe_resample(SamplerState& s, ResampleFn resample, double threshold, std::uint64_t seed,
                    StepInfo& info);

}  // namespace sf
