// gauss: N(μ, Σ) in any dimension, normalised.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <scoreflow/targets/target.hpp>

namespace sf {

class Gaussian : public RowwiseTarget<Gaussian> {
 public:
  Gaussian(Eigen::VectorXd mean, Eigen::MatrixXd cov);
  std::string spec() const override;
  std::size_t dim() const override { return static_cast<std::size_t>(mean_.size()); }
  double log_density_row(const double* x) const;
  void score_row(const double* x, double* g) const;
  bool can_sample() const override { return true; }
  void sample(std::uint64_t seed, Rows out) const override;
  std::optional<double> log_normaliser() const override { return 0.0; }
  std::vector<std::vector<double>> modes() const override;
  std::array<double, 4> plot_box() const override;

  const Eigen::VectorXd& mean() const { return mean_; }
  const Eigen::MatrixXd& cov() const { return cov_; }

 private:
  Eigen::VectorXd mean_;
  Eigen::MatrixXd cov_, precision_, chol_;
  double log_norm_;  // -½ log det(2πΣ)
};

}  // namespace sf
