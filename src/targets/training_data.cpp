#include <scoreflow/targets/training_data.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/targets/datasets.hpp>
#include <scoreflow/targets/images.hpp>
#include <scoreflow/targets/registry.hpp>

namespace sf {
namespace {

// Held-out draws use a seed far from the training seed.
constexpr std::uint64_t kHeldoutSeedOffset = 1'000'003;

TrainingData from_npy(const std::string& path) {
  const auto a = read_npy(path);
  if (a.shape.size() != 2 || a.shape[0] < 10 || a.shape[1] == 0)
    throw FormatError(
        fmt::format("'{}' must hold an N×d array with N ≥ 10 and d ≥ 1, not shape ({})", path,
                    fmt::join(a.shape, ", ")));
  const std::size_t d = a.shape[1];
  Particles all(a.shape[0], d, a.values);
  check_all_finite(all.rows(), path);
  TrainingData out;
  std::vector<double> tr, ho;
  for (std::size_t i = 0; i < all.n(); ++i)
    (i % 10 == 9 ? ho : tr).insert((i % 10 == 9 ? ho : tr).end(), all.row(i), all.row(i) + d);
  const std::size_t n_train = tr.size() / d, n_held = ho.size() / d;  // before the moves
  out.train = Particles(n_train, d, std::move(tr));
  out.heldout = Particles(n_held, d, std::move(ho));
  return out;
}

}  // namespace

TrainingData load_training_data(const std::string& name, std::size_t n, std::size_t n_heldout,
                                std::uint64_t seed) {
  check_positive("data", "n", n);
  check_positive("data", "held-out n", n_heldout);
  TrainingData out;
  if (is_image_dataset(name)) {
    out.train = load_image_dataset(name, "train");
    out.heldout = load_image_dataset(name, "heldout");
    out.images = true;
    return out;
  }
  const auto& sets = dataset_names();
  if (std::find(sets.begin(), sets.end(), name) != sets.end()) {
    out.train = sample_dataset(name, n, seed);
    out.heldout = sample_dataset(name, n_heldout, seed + kHeldoutSeedOffset);
    out.generated = true;
    return out;
  }
  if (name.ends_with(".npy")) return from_npy(name);
  std::unique_ptr<Target> target;
  try {
    target = make_target(name);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(
        fmt::format("unknown data '{}': not a data set ({}, mnist256, fashion256), an .npy file, "
                    "or a target ({})",
                    name, fmt::join(sets, ", "), e.what()));
  }
  if (!target->can_sample())
    throw InvalidArgument(
        fmt::format("target '{}' has no exact sampler, so it cannot provide training data", name));
  out.train = Particles(n, target->dim());
  target->sample(seed, out.train.rows());
  out.heldout = Particles(n_heldout, target->dim());
  target->sample(seed + kHeldoutSeedOffset, out.heldout.rows());
  out.target = std::move(target);
  out.generated = true;
  return out;
}

}  // namespace sf
