// Image data (mnist256 from the npm package, fashion256 from Debian) and --data resolution.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/targets/images.hpp>
#include <scoreflow/targets/training_data.hpp>

using namespace sf;
namespace fs = std::filesystem;

TEST(Images, AreaDownsamplingKeepsTheMeanAndConstants) {
  std::vector<double> img(28 * 28);
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = std::sin(0.37 * static_cast<double>(i));
  const auto small = area_downsample(img, 28, 16);
  ASSERT_EQ(small.size(), 256u);
  const double mean_big = std::accumulate(img.begin(), img.end(), 0.0) / 784,
               mean_small = std::accumulate(small.begin(), small.end(), 0.0) / 256;
  EXPECT_NEAR(mean_big, mean_small, 1e-12);  // area averaging conserves mass
  const auto flat = area_downsample(std::vector<double>(784, 0.7), 28, 16);
  for (double v : flat) EXPECT_NEAR(v, 0.7, 1e-12);
  // One bright input pixel lands in the output cells that overlap it, with its area.
  std::vector<double> delta(784, 0.0);
  delta[0] = 1;
  const auto d = area_downsample(delta, 28, 16);
  EXPECT_NEAR(d[0], 1 / (1.75 * 1.75), 1e-12);
  EXPECT_EQ(d[1], 0.0);
  EXPECT_THROW(area_downsample(std::vector<double>(10), 28, 16), InvalidArgument);
}

TEST(Images, Mnist256HasTheExpectedSplitsAndRange) {
  const auto train = load_image_dataset("mnist256", "train"),
             held = load_image_dataset("mnist256", "heldout");
  EXPECT_EQ(train.n() + held.n(), 10000u);
  EXPECT_EQ(held.n(), 1000u);
  EXPECT_EQ(train.d(), 256u);
  double lo = 1, hi = -1, sum = 0;
  for (double v : train.values()) lo = std::min(lo, v), hi = std::max(hi, v), sum += v;
  EXPECT_GE(lo, -1.0);
  EXPECT_LE(hi, 1.0);
  EXPECT_GT(hi, 0.9);  // real strokes, not an empty file
  const double mean = sum / static_cast<double>(train.values().size());
  EXPECT_GT(mean, -0.9);  // MNIST is mostly background (−1) with about a fifth ink
  EXPECT_LT(mean, -0.5);
}

TEST(Images, Fashion256LoadsFromDebiansIdxFile) {
  const auto held = load_image_dataset("fashion256", "heldout");
  EXPECT_EQ(held.n(), 1000u);
  EXPECT_EQ(held.d(), 256u);
}

TEST(Images, MissingOrCorruptFilesAreClearErrors) {
  const fs::path dir = fs::temp_directory_path() / "sf_bad_mnist";
  fs::remove_all(dir);
  fs::create_directories(dir);
  try {
    read_mnist_json_digits(dir.string());
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("make data"), std::string::npos) << e.what();
  }
  for (int k = 0; k < 10; ++k)
    std::ofstream(dir / (std::to_string(k) + ".json")) << "{\"data\": [0, 0.5";
  EXPECT_THROW(read_mnist_json_digits(dir.string()), FormatError);  // truncated JSON
  for (int k = 0; k < 10; ++k)
    std::ofstream(dir / (std::to_string(k) + ".json")) << "{\"data\": [0, 0.5]}";
  EXPECT_THROW(read_mnist_json_digits(dir.string()), FormatError);  // not whole images
  std::ofstream(dir / "bad.gz") << "not gzip at all";
  EXPECT_THROW(read_idx_images((dir / "bad.gz").string()), FormatError);
  fs::remove_all(dir);
}

TEST(TrainingData, ResolvesSetsFilesAndTargets) {
  const auto moons = load_training_data("moons", 500, 100, 1);
  EXPECT_EQ(moons.train.n(), 500u);
  EXPECT_EQ(moons.heldout.n(), 100u);
  EXPECT_FALSE(moons.target);
  const auto gauss = load_training_data("gauss:d=3", 200, 50, 1);
  EXPECT_EQ(gauss.train.d(), 3u);
  EXPECT_TRUE(gauss.target);
  const fs::path npy = fs::temp_directory_path() / "sf_td.npy";
  std::vector<double> v(40 * 2);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  write_npy(npy, {40, 2}, v.data());
  const auto file = load_training_data(npy.string(), 1, 1, 0);
  EXPECT_EQ(file.train.n(), 36u);
  EXPECT_EQ(file.heldout.n(), 4u);
  EXPECT_EQ(file.heldout(0, 0), 18.0);  // row 9
  try {
    load_training_data("moonz", 10, 10, 0);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown data 'moonz'"), std::string::npos) << e.what();
  }
  fs::remove(npy);
}
