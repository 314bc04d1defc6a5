// Bayesian logistic regression: labels y_i ∈ {0, 1}, inputs standardised to mean 0 and
// variance 1 per column, an intercept, and a N(0, I) prior on the p + 1 coefficients w:
//   log π(w) = Σ_i [y_i z_i − log(1 + e^{z_i})] − |w|²/2 − (p+1)/2 log 2π,  z = [1, x_i]·w,
//   ∇log π(w) = Σ_i (y_i − σ(z_i)) [1, x_i] − w.
// With the prior's normaliser included, log Z is the model's log marginal likelihood.
#pragma once

#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

// Inputs (n × p, one row per observation) and 0/1 labels.
struct LabelledData {
  RowMatrix inputs;
  std::vector<double> labels;
  std::string name;  // for spec() and messages
};

// A CSV with a header whose label column is `label` (default: the last), values 0 or 1;
// every other column is an input. Refuses missing values, other labels and constant columns.
LabelledData read_labelled_csv(const std::string& path, const std::string& label = "");

// The data sets `make data` stores under <data dir>/posteriors: breast-cancer (569 × 30),
// sonar (208 × 60), ionosphere (351 × 33: its constant second column is dropped).
const std::vector<std::string>& logistic_regression_datasets();
LabelledData load_logistic_regression_dataset(const std::string& name);

class LogisticRegression : public JointTarget {
 public:
  // Standardises the inputs and adds the intercept (the first coefficient).
  explicit LogisticRegression(LabelledData data, std::string spec);
  std::string spec() const override { return spec_; }
  std::size_t dim() const override { return static_cast<std::size_t>(design_.cols()); }
  std::array<double, 4> plot_box() const override { return {-3, 3, -3, 3}; }
  // The design matrix [1, standardised x] (n × (p + 1)) and the labels.
  const RowMatrix& design() const { return design_; }
  const std::vector<double>& labels() const { return labels_; }

 private:
  // For a block of rows: z = W Xᵀ, then per row log-likelihood and/or the residual y − σ(z).
  void evaluate(ConstRows w, double* logp, double* grad) const override;

  RowMatrix design_;
  std::vector<double> labels_;
  std::string spec_;
};

}  // namespace sf
