// The paper's Algorithm 6 (Mirafzali et al. 2025; MATH.md §6): Euler paths of a forward SDE
// from data points, Malliavin weights δ_t at many times t along them, and a regression of
// −δ_t on (X_t, t) into a time-conditioned network. Least squares gives the conditional mean
// −E[δ_t | X_t], the marginal score ∇ log p_t, which then drives the reverse SDE
//   dX = [b(X, t) − σ(t)² s(X, t)] dt + σ(t) dW̄   from t = T down to the first weight time.
// The network predicts the score times a per-time scale (the weights' rms inverse), so the
// regression target has unit size at every t, as noise prediction does for linear SDEs.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/neural/malliavin_regression_options.hpp>
#include <scoreflow/neural/score_net.hpp>
#include <scoreflow/sde/forward_sde.hpp>

namespace sf {

class MalliavinScoreModel {
 public:
  MalliavinScoreModel(std::shared_ptr<ScoreNetImpl> net, std::vector<double> times,
                      std::vector<double> scales)
      : net_(std::move(net)), times_(std::move(times)), scales_(std::move(scales)) {}
  // s(x, t) for a float32 batch [B, d] at one time.
  torch::Tensor score(const torch::Tensor& x, double t) const;
  double scale(double t) const;  // rms of δ_t, interpolated between weight times
  double first_time() const { return times_.front(); }
  ScoreNetImpl& net() { return *net_; }

 private:
  std::shared_ptr<ScoreNetImpl> net_;
  std::vector<double> times_, scales_;
};

struct MalliavinTraining {
  std::unique_ptr<MalliavinScoreModel> model;
  double seconds_weights = 0, seconds_training = 0, final_loss = 0;
};

MalliavinTraining train_malliavin_score(const ForwardSde& sde, const Particles& data,
                                        const MalliavinRegressionOptions& opt);

// X_T of plain Euler paths from the rows of x0 (the prior of a forward SDE without a
// closed-form terminal law: the data pushed forward with fresh noise).
Particles forward_euler(const ForwardSde& sde, const Particles& x0, double horizon,
                        std::size_t steps, std::uint64_t seed);

// Reverse-SDE Euler–Maruyama from `prior` (at T) down to the model's first weight time;
// the last step adds no noise.
Particles reverse_sde(const ForwardSde& sde, const MalliavinScoreModel& model,
                      const Particles& prior, double horizon, std::size_t steps,
                      std::uint64_t seed);

}  // namespace sf
