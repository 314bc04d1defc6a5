// Two-sample discrepancies between (optionally weighted) particle sets: MMD² with an RBF
// kernel and the energy distance. Empty weight spans mean equal weights.
#pragma once

#include <span>

#include <scoreflow/core/particles.hpp>

namespace sf {

// Median of pairwise distances in the pooled sample (first 1000 points of each).
double median_distance(ConstRows x, ConstRows y);

// MMD² with k(x, y) = exp(−|x − y|²/(2ℓ²)). V-statistic (biased) by default; unbiased
// (diagonal terms removed) only for unweighted sets.
double mmd2(ConstRows x, ConstRows y, double ell, std::span<const double> logwx = {},
            std::span<const double> logwy = {}, bool unbiased = false);

// Energy distance 2E|X − Y| − E|X − X'| − E|Y − Y'| (V-statistic, weighted).
double energy_distance(ConstRows x, ConstRows y, std::span<const double> logwx = {},
                       std::span<const double> logwy = {});

}  // namespace sf
