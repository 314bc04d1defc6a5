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
// The four built-in schemes run from global prefix sums: each process finds its own
// particles' offspring and sends them to the processes owning their slots, so memory and
// traffic stay proportional to a shard. Stratified draws the uniform of position k from its
// own stream (seed, k, step); multinomial (and residual's remainder) draws its sorted
// positions from fixed-point exponential spacings, spacing k from stream (seed, k, step). So
// `stratified_resample`, `multinomial_resample` and `residual_resample`, which draw in
// sequence, give other ancestors than a sampler with the same seed (the same distribution).
// A scheme added to the registry sees all the weights, gathered on every process.
void maybe_resample(SamplerState& s, ResampleFn resample, double threshold, std::uint64_t seed,
                    StepInfo& info);

}  // namespace sf
