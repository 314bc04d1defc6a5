// Resolves a `--data` name into training and held-out points: a 2-D generator (moons, …),
// an image set (mnist256, fashion256), an N×d .npy file (every tenth row held out), or a
// target spec with an exact sampler (whose analytic score then serves ESM).
#pragma once

#include <memory>
#include <string>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

struct TrainingData {
  Particles train, heldout;
  bool images = false;
  bool generated = false;          // drawn from a generator or target: any seed gives fresh draws
  std::unique_ptr<Target> target;  // set when the data come from a target spec
};

// `n`, `n_heldout` and `seed` apply to generated data (generators and targets).
TrainingData load_training_data(const std::string& name, std::size_t n, std::size_t n_heldout,
                                std::uint64_t seed);

}  // namespace sf
