// Two-sample discrepancies between (optionally weighted) particle sets: MMD² with an RBF
// kernel and the energy distance. Empty weight spans mean equal weights.
#pragma once

#include <span>
#include <vector>

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

// MMD² (V-statistic) and energy distance of samples against one fixed, unweighted reference
// sample, with the reference's own terms E k(Y, Y') and E|Y − Y'| computed once: a trace
// compares many rows against the same reference. Equal to mmd2/energy_distance to the bit.
class ReferenceSample {
 public:
  ReferenceSample(Particles y, double ell);
  double mmd2(ConstRows x, std::span<const double> logwx = {}) const;
  double energy_distance(ConstRows x, std::span<const double> logwx = {}) const;
  const Particles& points() const { return y_; }
  double bandwidth() const { return ell_; }

 private:
  Particles y_;
  std::vector<double> wy_;  // its equal weights
  double ell_, kyy_, dyy_;
};

}  // namespace sf
