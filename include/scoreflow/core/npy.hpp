// NumPy .npy files (format versions 1-3; dtypes <f8, <f4, |u1; C order only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sf {

enum class NpyType { f8, f4, u1 };

struct NpyArray {
  std::vector<std::size_t> shape;
  std::vector<double> values;  // converted to double, C order
  NpyType type = NpyType::f8;
  std::size_t size() const;
};

std::string encode_npy(const std::vector<std::size_t>& shape, const double* data,
                       NpyType type = NpyType::f8);
// `name` is used in error messages (usually the file path).
NpyArray decode_npy(const std::string& bytes, const std::string& name);

NpyArray read_npy(const std::filesystem::path& path);
void write_npy(const std::filesystem::path& path, const std::vector<std::size_t>& shape,
               const double* data, NpyType type = NpyType::f8);

}  // namespace sf
