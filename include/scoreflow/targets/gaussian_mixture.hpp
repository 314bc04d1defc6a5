// Gaussian mixtures: gmm-grid16(-far), mix1d-near/far, gmm4, and mixtures read from JSON.
#pragma once

#include <filesystem>

#include <Eigen/Core>

#include <scoreflow/targets/target.hpp>

namespace sf {

struct MixtureComponent {
  double weight;
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
};

class GaussianMixture : public RowwiseTarget<GaussianMixture> {
 public:
  GaussianMixture(std::string spec, std::vector<MixtureComponent> components);
  // {"weights": [...], "means": [[...]], "covariances": [[[...]]] } or "variances": [[diag]].
  static GaussianMixture from_json(const std::filesystem::path& path);

  std::string spec() const override { return spec_; }
  // Shared diagonal covariance (grid16, mix1d): a vectorised path over blocks of particles.
  void log_density(ConstRows x, std::span<double> out) const override;
  void score(ConstRows x, Rows out) const override;
  std::size_t dim() const override { return d_; }
  double log_density_row(const double* x) const;
  void score_row(const double* x, double* g) const;
  bool can_sample() const override { return true; }
  void sample(std::uint64_t seed, Rows out) const override;
  std::optional<double> log_normaliser() const override { return 0.0; }
  std::vector<std::vector<double>> modes() const override;
  std::array<double, 4> plot_box() const override;

  std::size_t components() const { return k_; }
  // The components (normalised weights, means, covariances).
  std::vector<MixtureComponent> component_list() const;

 private:
  // log w_k + log N(x; μ_k, Σ_k) for every k, and the precision-weighted residuals P_k(x-μ_k).
  void component_terms(const double* x, double* logt, double* pr) const;
  // r_k = responsibility of component k at x (pr as above); returns log π(x).
  double responsibilities(const double* x, double* r, double* pr) const;

  // count rows from x: log π into logp and/or ∇log π into g (either may be null).
  void shared_block(const double* x, std::size_t count, double* logp, double* g) const;

  std::string spec_;
  std::size_t d_ = 0, k_ = 0;
  bool diagonal_ = true;           // every covariance diagonal: the fast path
  std::vector<double> means_;      // k x d
  std::vector<double> inv_var_;    // k x d (diagonal case)
  std::vector<double> log_const_;  // log w_k - ½ log det(2πΣ_k)
  std::vector<Eigen::MatrixXd> precision_, chol_;
  std::vector<double> weights_;
  // Shared-covariance path: log π = −½Σ_j iv_j x_j² + LSE_k(c_k + x·a_k) + shared_norm_, with
  // a_k = P μ_k and c_k = log w_k − ½ μ_kᵀ P μ_k.
  bool shared_ = false;
  std::vector<double> a_, c_;
  double shared_norm_ = 0;
};

// p_a · p_b normalised, in closed form: the pairwise products w_i w_j N(x; μ_i, Σ_i) N(x; μ_j, Σ_j)
// = w_i w_j N(μ_i; μ_j, Σ_i + Σ_j) N(x; μ_ij, Σ_ij) with Σ_ij = (Σ_i⁻¹ + Σ_j⁻¹)⁻¹ and
// μ_ij = Σ_ij(Σ_i⁻¹μ_i + Σ_j⁻¹μ_j). `log_z` receives log ∫ p_a p_b. Powers p^k for integer k
// are repeated products.
GaussianMixture mixture_product(const GaussianMixture& a, const GaussianMixture& b,
                                double* log_z = nullptr);

GaussianMixture make_grid16(double spacing_near_or_far);
GaussianMixture make_mix1d(double offset, const std::string& name);
GaussianMixture make_gmm4();

}  // namespace sf
