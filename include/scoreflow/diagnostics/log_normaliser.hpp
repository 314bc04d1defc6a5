// log Z of an unnormalised target from (weighted) particles by importance sampling with a
// Gaussian-mixture proposal fitted to them: q = Σ_j w̄_j N(x_j, b²I) (b: Silverman),
// log Ẑ = log((1/M) Σ_m π(Y_m)/q(Y_m)), Y_m ~ q. Unbiased in Z for any particle set;
// its variance is small when the particles cover the target.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct LogZEstimate {
  double log_z;
  double std_error;  // of log Ẑ, by the delta method
  double ess = NAN;  // normalised ESS of the importance weights (1: q ∝ π; near 0: SE unreliable)
};

LogZEstimate log_normaliser_is(ConstRows x, std::span<const double> logw, const Target& target,
                               std::size_t draws, std::uint64_t seed);

// The same with one Gaussian proposal, for higher dimension where a kernel mixture is
// useless: q = N(μ̂, s² Ĉ), μ̂ and Ĉ the particles' weighted mean and covariance, Ĉ shrunk
// towards its diagonal by d/(d + N_eff) (Ledoit–Wolf's fixed weight, so Ĉ is positive
// definite even when N < d) and widened by s = `inflate` for heavier tails than π.
LogZEstimate log_normaliser_is_gaussian(ConstRows x, std::span<const double> logw,
                                        const Target& target, std::size_t draws, std::uint64_t seed,
                                        double inflate = 1.1);

}  // namespace sf
