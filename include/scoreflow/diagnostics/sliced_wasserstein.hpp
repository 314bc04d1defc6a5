// Sliced Wasserstein-2 between (optionally weighted) particle sets over fixed random
// projections (the same directions for the same seed).
#pragma once

#include <cstdint>
#include <span>

#include <scoreflow/core/particles.hpp>

namespace sf {

// Exact W2² between two weighted 1-D empirical distributions.
double wasserstein2_squared_1d(std::span<const double> a, std::span<const double> wa,
                               std::span<const double> b, std::span<const double> wb);

// sqrt(mean over projections θ of W2²(θᵀX, θᵀY)).
double sliced_wasserstein2(ConstRows x, ConstRows y, std::size_t projections = 128,
                           std::uint64_t seed = 0, std::span<const double> logwx = {},
                           std::span<const double> logwy = {});

}  // namespace sf
