// Non-Gaussian analytic targets of EXPERIMENTS.md: many-well (double-well is d = 2),
// banana, funnel, ring. Each has a hand-written score.
#pragma once

#include <scoreflow/targets/grid_sampler.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

// d/2 independent copies of E(a, b) = a⁴ − 6a² − 0.5a + 0.5b², π ∝ e^{−E}.
class ManyWell : public RowwiseTarget<ManyWell> {
 public:
  explicit ManyWell(std::size_t d);
  std::string spec() const override;
  std::size_t dim() const override { return d_; }
  double log_density_row(const double* x) const;
  void score_row(const double* x, double* g) const;
  bool can_sample() const override { return true; }
  void sample(std::uint64_t seed, Rows out) const override;
  std::optional<double> log_normaliser() const override;
  std::vector<std::vector<double>> modes() const override;
  std::array<double, 4> plot_box() const override { return {-3, 3, -3.5, 3.5}; }

 private:
  std::size_t d_;
  GridInverseCdf x1_;
};

// log π = −σ²(x₂ − x₁²)²/2 − (1 − x₁)²/(2σ²): x₁ ~ N(1, σ²), x₂ | x₁ ~ N(x₁², 1/σ²).
class Banana : public RowwiseTarget<Banana> {
 public:
  explicit Banana(double sigma);
  std::string spec() const override;
  std::size_t dim() const override { return 2; }
  double log_density_row(const double* x) const;
  void score_row(const double* x, double* g) const;
  bool can_sample() const override { return true; }
  void sample(std::uint64_t seed, Rows out) const override;
  std::optional<double> log_normaliser() const override;
  std::array<double, 4> plot_box() const override { return {-4, 5, -3, 14}; }

 private:
  double s2_;
};

// Neal's funnel: x₀ ~ N(0, scale²), x_{1:d−1} ~ N(0, e^{x₀} I). Normalised.
class Funnel : public RowwiseTarget<Funnel> {
 public:
  Funnel(std::size_t d, double scale);
  std::string spec() const override;
  std::size_t dim() const override { return d_; }
  double log_density_row(const double* x) const;
  void score_row(const double* x, double* g) const;
  bool can_sample() const override { return true; }
  void sample(std::uint64_t seed, Rows out) const override;
  std::optional<double> log_normaliser() const override { return 0.0; }
  std::array<double, 4> plot_box() const override { return {-9, 9, -12, 12}; }

 private:
  std::size_t d_;
  double scale_;
};

// log π = −(|x − c| − R)²/(2s²): a ring of radius R about c with radial noise s.
class Ring : public RowwiseTarget<Ring> {
 public:
  Ring(double cx, double cy, double radius, double noise);
  std::string spec() const override;
  std::size_t dim() const override { return 2; }
  double log_density_row(const double* x) const;
  void score_row(const double* x, double* g) const;
  bool can_sample() const override { return true; }
  void sample(std::uint64_t seed, Rows out) const override;
  std::optional<double> log_normaliser() const override;
  std::array<double, 4> plot_box() const override;

 private:
  double cx_, cy_, r_, s_;
  GridInverseCdf radius_;
};

}  // namespace sf
