// The common 2-D toy data generators (FFJORD's definitions) as data sources.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>

namespace sf {

const std::vector<std::string>& dataset_names();
// n points of the named set; row i depends only on (seed, i) except where a generator
// lays points out deterministically by index (circles, rings, pinwheel classes).
Particles sample_dataset(const std::string& name, std::size_t n, std::uint64_t seed);
// The law of 8gaussians, exactly (the other sets have no closed-form density).
GaussianMixture eight_gaussians_mixture();

}  // namespace sf
