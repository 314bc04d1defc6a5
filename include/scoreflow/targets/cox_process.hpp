// Log-Gaussian Cox process posterior on a regular grid (Møller, Syversveen & Waagepetersen
// 1998), discretised as in Heng et al. (2020, "Controlled sequential Monte Carlo") and the
// annealed-flow-transport benchmarks: the window is mapped to the unit square and cut into
// an n × n grid of cells of area a = 1/n²; y_c counts the points in cell c; the latent
// log-intensity x has a Gaussian prior with constant mean μ and covariance
//   Σ(c, c') = σ² exp(−|g_c − g_c'| / (n β)),   g_c the cell's (row, column) index;
// the likelihood is the Poisson one without its constant Σ log y_c!:
//   log π(x) = Σ_c [y_c x_c − a e^{x_c}] − ½ (x − μ)ᵀ Σ⁻¹ (x − μ) − ½ log det(2πΣ),
//   ∇log π(x) = y − a e^x − Σ⁻¹ (x − μ).
// Defaults are Møller et al.'s estimates for the Finnish pines: σ² = 1.91, β = 1/33,
// μ = log 126 − σ²/2.
// Whitened (`whiten`): the coordinates are z with x = μ + L z, LLᵀ = Σ, so
//   log π(z) = Σ_c [y_c x_c − a e^{x_c}] + log N(z; 0, I),  ∇log π(z) = Lᵀ(y − a e^x) − z;
// the prior becomes N(0, I) and log Z is unchanged (the Jacobian cancels the prior's det).
#pragma once

#include <array>
#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct CoxProcessConfig {
  std::size_t grid = 40;
  double sigma2 = 1.91;
  double beta = 1.0 / 33;
  double mu = 0;  // set from the data's count by default (log n_points − σ²/2)
  bool whiten = false;
};

// Points of a pattern and the rectangle [x0, x1] × [y0, y1] they were observed in.
struct PointPattern {
  std::vector<std::array<double, 2>> points;
  std::array<double, 4> window{};
  std::string name;
};

// The Finnish pines (126 saplings in [−5, 5] × [−8, 2] metres, spatstat.data's finpines),
// as `make data` stores them under <data dir>/posteriors/finpines.csv.
PointPattern load_finpines();
// A CSV with columns x and y (header first); every point must lie in the window.
PointPattern read_point_pattern(const std::string& path, std::array<double, 4> window);

class CoxProcess : public JointTarget {
 public:
  CoxProcess(const PointPattern& data, CoxProcessConfig cfg, std::string spec);
  std::string spec() const override { return spec_; }
  std::size_t dim() const override { return counts_.size(); }
  const std::vector<double>& counts() const { return counts_; }
  double prior_mean() const { return cfg_.mu; }
  bool whitened() const { return cfg_.whiten; }
  // The prior's covariance Σ and its lower Cholesky factor L.
  const RowMatrix& covariance() const { return cov_; }
  const RowMatrix& cholesky() const { return chol_; }

 private:
  void evaluate(ConstRows x, double* logp, double* grad) const override;
  // Σ_c [y_c x_c − a e^{x_c}] at the latent field x, and y − a e^x into `residual`.
  double poisson_row(const double* x, double* residual) const;

  CoxProcessConfig cfg_;
  std::vector<double> counts_;
  double cell_area_ = 0, log_norm_ = 0;
  RowMatrix cov_, precision_, chol_;
  std::string spec_;
};

}  // namespace sf
