// Settings of the Malliavin score regression (neural/malliavin_regression), kept free of
// LibTorch headers so the command line can hold them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sf {

struct MalliavinRegressionOptions {
  double horizon = 1;
  std::size_t steps = 250;      // Euler steps of the forward paths (and of the reverse SDE)
  std::size_t snapshots = 125;  // weight times T·m/snapshots along each path
  std::size_t train_steps = 4000;
  std::size_t batch = 512;
  double lr = 1e-3;
  std::vector<std::int64_t> hidden = {128, 128, 128};
  std::uint64_t seed = 1;
};

}  // namespace sf
