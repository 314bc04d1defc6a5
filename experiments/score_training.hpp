// Shared by the experiments that train noise-conditional score networks on data (E5 training,
// E6): the network and optimiser settings, sample discrepancies, image samples and bits/dim.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/neural/fp_residual.hpp>
#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/score_net.hpp>
#include <scoreflow/targets/training_data.hpp>

namespace sf {

struct TrainSpec {
  std::string loss = "nc-dsm";
  std::string sde = "vp";
  double sigma_max = 50;
  std::size_t steps = 2000;
  std::uint64_t seed = 1;
  // Images: batch 128, lr 5·10⁻⁴, a Gaussian base and dequantised batches; a 3×512 MLP or a
  // U-Net with 32 base channels (else a 3×128 MLP, batch 256, lr 10⁻³).
  bool images = false;
  ResidualPenalty residual;
  std::string arch = "mlp";
};

struct Trained {
  std::shared_ptr<ScoreNetImpl> net;
  double seconds;
  double heldout_loss;  // plain (noise-conditional) DSM on the held-out set, EMA weights
};

Trained train_score_net(const TrainingData& data, const TrainSpec& spec);
TimeScoreFn score_of(const std::shared_ptr<ScoreNetImpl>& net);

// Energy distance and biased MMD² (median-heuristic bandwidth) between two samples.
std::pair<double, double> discrepancy(const Particles& a, const Particles& b);

// 64 digits from the VP reverse SDE (Euler, 500 steps): `npy`, and an 8×8 grid beside it (.png).
void write_image_samples(const LinearSde& sde, const TimeScoreFn& score, std::uint64_t seed,
                         const std::string& title, const std::filesystem::path& npy);
// Bits/dim of dequantised 8-bit images (bins of 2/256 on [−1, 1]) by the probability-flow ODE
// (50 RK4 steps, Hutchinson traces).
double heldout_bits_per_dim(const LinearSde& sde, const TimeScoreFn& score, Particles images,
                            std::uint64_t seed);

// The classical baseline a diffusion model's bits/dim must beat: a Gaussian (full covariance,
// or its diagonal) fitted by maximum likelihood to the dequantised training images, scored on
// the same dequantised held-out images as heldout_bits_per_dim (same `seed`), and `n` of its
// draws for the sample metrics.
struct GaussianBaseline {
  double bits_per_dim;
  Particles samples;
};
GaussianBaseline gaussian_baseline(const Particles& train, bool full_covariance,
                                   const Particles& heldout, std::size_t n, std::uint64_t seed);

// `n` images from the VP reverse SDE (Euler, 500 steps), for the sample metrics.
Particles generate_images(const LinearSde& sde, const TimeScoreFn& score, std::size_t n,
                          std::uint64_t seed);

}  // namespace sf
