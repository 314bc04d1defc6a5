#include <scoreflow/core/npy.hpp>

#include <cstring>
#include <functional>
#include <numeric>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

namespace sf {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;

std::size_t item_size(NpyType t) {
  return t == NpyType::f8 ? 8 : t == NpyType::f4 ? 4 : 1;
}
const char* descr(NpyType t) {
  return t == NpyType::f8 ? "<f8" : t == NpyType::f4 ? "<f4" : "|u1";
}

std::size_t product(const std::vector<std::size_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

// Value of `'key':` in the header dictionary, up to the next top-level comma or brace.
std::string dict_value(const std::string& header, const std::string& key, const std::string& name) {
  const auto k = header.find("'" + key + "'");
  if (k == std::string::npos)
    throw FormatError(
        fmt::format("{}: npy header has no '{}' entry (header: {})", name, key, header));
  auto p = header.find(':', k);
  if (p == std::string::npos) throw FormatError(fmt::format("{}: npy header is malformed", name));
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  std::size_t end = p;
  if (p < header.size() && header[p] == '(') {
    end = header.find(')', p);
    if (end == std::string::npos)
      throw FormatError(fmt::format("{}: npy shape is not closed", name));
    return header.substr(p, end - p + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(p, end - p);
}

std::vector<std::size_t> parse_shape(const std::string& tuple, const std::string& name) {
  std::vector<std::size_t> shape;
  std::size_t i = 1;  // skip '('
  while (i < tuple.size()) {
    while (i < tuple.size() && (tuple[i] == ' ' || tuple[i] == ',')) ++i;
    if (i >= tuple.size() || tuple[i] == ')') break;
    if (tuple[i] < '0' || tuple[i] > '9')
      throw FormatError(fmt::format("{}: npy shape {} is not a tuple of integers", name, tuple));
    std::size_t v = 0;
    while (i < tuple.size() && tuple[i] >= '0' && tuple[i] <= '9') v = v * 10 + (tuple[i++] - '0');
    shape.push_back(v);
  }
  return shape;
}

NpyType parse_descr(std::string d, const std::string& name) {
  if (d.size() >= 2 && (d.front() == '\'' || d.front() == '"')) d = d.substr(1, d.size() - 2);
  if (d == "<f8") return NpyType::f8;
  if (d == "<f4") return NpyType::f4;
  if (d == "|u1" || d == "<u1" || d == "u1") return NpyType::u1;
  throw FormatError(fmt::format(
      "{}: npy dtype '{}' is not supported; valid dtypes are <f8, <f4 and |u1", name, d));
}

}  // namespace

std::size_t NpyArray::size() const {
  return product(shape);
}

std::string encode_npy(const std::vector<std::size_t>& shape, const double* data, NpyType type) {
  std::string sh = "(";
  for (std::size_t s : shape) sh += fmt::format("{}, ", s);
  if (shape.size() > 1)
    sh.resize(sh.size() - 1), sh.back() = ')';
  else
    sh += ")";
  if (shape.size() == 1) sh = fmt::format("({},)", shape[0]);
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr(type), sh);
  // Pad so the data starts on a 64-byte boundary, header ends with '\n'.
  const std::size_t unpadded = kMagicLen + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  const std::size_t n = product(shape);
  const std::size_t start = out.size();
  out.resize(start + n * item_size(type));
  char* p = out.data() + start;
  for (std::size_t i = 0; i < n; ++i) {
    if (type == NpyType::f8) {
      std::memcpy(p + 8 * i, &data[i], 8);
    } else if (type == NpyType::f4) {
      const float f = static_cast<float>(data[i]);
      std::memcpy(p + 4 * i, &f, 4);
    } else {
      const double c = data[i] < 0 ? 0 : data[i] > 255 ? 255 : data[i];
      p[i] = static_cast<char>(static_cast<unsigned char>(c + 0.5));
    }
  }
  return out;
}

NpyArray decode_npy(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 10 || bytes.compare(0, kMagicLen, kMagic, kMagicLen) != 0)
    throw FormatError(
        fmt::format("{}: not an .npy file (missing the \\x93NUMPY magic string)", name));
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      throw FormatError(fmt::format("{}: npy file is truncated in its header", name));
    for (int b = 3; b >= 0; --b)
      header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + b]);
    offset = 12;
  } else {
    throw FormatError(
        fmt::format("{}: npy format version {} is not supported (valid: 1, 2, 3)", name, major));
  }
  if (bytes.size() < offset + header_len)
    throw FormatError(fmt::format("{}: npy file is truncated in its header ({} of {} header bytes)",
                                  name, bytes.size() - offset, header_len));
  const std::string header = bytes.substr(offset, header_len);
  NpyArray a;
  a.type = parse_descr(dict_value(header, "descr", name), name);
  if (dict_value(header, "fortran_order", name).find("False") == std::string::npos)
    throw FormatError(
        fmt::format("{}: npy array is in Fortran order; only C order is supported", name));
  a.shape = parse_shape(dict_value(header, "shape", name), name);
  const std::size_t n = a.size();
  const std::size_t need = n * item_size(a.type);
  const std::size_t have = bytes.size() - offset - header_len;
  if (have != need)
    throw FormatError(fmt::format("{}: npy data is {} bytes, but shape and dtype need {} ({})",
                                  name, have, need,
                                  have < need ? "file is truncated" : "trailing bytes"));
  a.values.resize(n);
  const char* p = bytes.data() + offset + header_len;
  for (std::size_t i = 0; i < n; ++i) {
    if (a.type == NpyType::f8) {
      std::memcpy(&a.values[i], p + 8 * i, 8);
    } else if (a.type == NpyType::f4) {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      a.values[i] = f;
    } else {
      a.values[i] = static_cast<unsigned char>(p[i]);
    }
  }
  return a;
}

NpyArray read_npy(const std::filesystem::path& path) {
  return decode_npy(read_file(path), path.string());
}

void write_npy(const std::filesystem::path& path, const std::vector<std::size_t>& shape,
               const double* data, NpyType type) {
  write_file_atomic(path, encode_npy(shape, data, type));
}

}  // namespace sf
