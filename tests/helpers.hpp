// Helpers shared by the tests.
#pragma once

#include <string>

#include "core/particles.hpp"
#include "targets/registry.hpp"

namespace sf::test {

// n exact draws from the target named by `spec`.
inline Particles draw(const std::string& spec, std::size_t n, std::uint64_t seed) {
  const auto t = make_target(spec);
  Particles x(n, t->dim());
  t->sample(seed, x.rows());
  return x;
}

}  // namespace sf::test
