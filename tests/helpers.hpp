// Helpers shared by the tests.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/registry.hpp>

namespace sf::test {

// n exact draws from the target named by `spec`.
inline Particles draw(const std::string& spec, std::size_t n, std::uint64_t seed) {
  const auto t = make_target(spec);
  Particles x(n, t->dim());
  t->sample(seed, x.rows());
  return x;
}

// n copies of the point x0 (paths that all start there).
inline Particles repeat_row(const std::vector<double>& x0, std::size_t n) {
  Particles p(n, x0.size());
  for (std::size_t i = 0; i < n; ++i) std::copy(x0.begin(), x0.end(), p.row(i));
  return p;
}

}  // namespace sf::test
