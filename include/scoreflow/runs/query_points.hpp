// Query points and start points shared by the `estimate` commands that work from paths of a
// forward SDE (malliavin, heatball).
#pragma once

#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/sde/fokker_planck.hpp>

namespace sf {

// "1.5" or "1,-0.5" → {1.5} or {1, −0.5}; errors name the option.
std::vector<double> parse_point(const std::string& text, const std::string& option);

// `m` points per axis over the central 96 % of each coordinate of x (a product grid in 2-D;
// x must have d ≤ 2).
Particles quantile_grid(const Particles& x, std::size_t m);

// An M × d .npy of query points, checked for shape and finiteness.
Particles read_queries(const std::string& file, std::size_t d);

// The box a Fokker–Planck reference covers: the start ± half the spread of x, at least ±1.
std::vector<GridAxis> reference_grid(const Particles& x, const std::vector<double>& x0);

}  // namespace sf
