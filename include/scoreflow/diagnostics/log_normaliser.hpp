// log Z of an unnormalised target from (weighted) particles by importance sampling with a
// Gaussian-mixture proposal fitted to them: q = Σ_j w̄_j N(x_j, b²I) (b: Silverman),
// log Ẑ = log((1/M) Σ_m π(Y_m)/q(Y_m)), Y_m ~ q. Unbiased in Z for any particle set;
// its variance is small when the particles cover the target.
#pragma once

#include <cstdint>
#include <span>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct LogZEstimate {
  double log_z;
  double std_error;  // of log Ẑ, by the delta method
};

LogZEstimate log_normaliser_is(ConstRows x, std::span<const double> logw, const Target& target,
                               std::size_t draws, std::uint64_t seed);

}  // namespace sf
