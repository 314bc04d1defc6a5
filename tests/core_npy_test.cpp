#include <gtest/gtest.h>

#include <filesystem>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>

using namespace sf;

namespace {
std::string error_of(const std::string& bytes) {
  try {
    decode_npy(bytes, "f.npy");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Npy, RoundTripF8KeepsValuesExactly) {
  const std::vector<double> v{1.5, -2.25, 1e-300, 3.0e300, 0.1, 7};
  const auto a = decode_npy(encode_npy({3, 2}, v.data()), "x");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{3, 2}));
  EXPECT_EQ(a.values, v);
  EXPECT_EQ(a.type, NpyType::f8);
}

TEST(Npy, RoundTripF4AndU1) {
  const std::vector<double> v{0.5, 1.0, 2.0, 255.0};
  const auto f = decode_npy(encode_npy({4}, v.data(), NpyType::f4), "x");
  EXPECT_EQ(f.values, v);
  const auto u = decode_npy(encode_npy({2, 2}, v.data(), NpyType::u1), "x");
  EXPECT_EQ(u.values, (std::vector<double>{1, 1, 2, 255}));  // rounded to integers
}

TEST(Npy, ThreeDimensionalAndEmptyShapes) {
  std::vector<double> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  const auto a = decode_npy(encode_npy({2, 3, 4}, v.data()), "x");
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3, 4}));
  EXPECT_EQ(a.values, v);
  const auto e = decode_npy(encode_npy({0, 2}, v.data()), "x");
  EXPECT_EQ(e.size(), 0u);
}

TEST(Npy, HeaderIsPaddedTo64Bytes) {
  const std::vector<double> v{1};
  const std::string b = encode_npy({1}, v.data());
  EXPECT_EQ((b.size() - 8) % 64, 0u);
}

TEST(Npy, RejectsMissingMagic) {
  EXPECT_NE(error_of("hello world, not numpy").find("magic"), std::string::npos);
}

TEST(Npy, RejectsTruncatedData) {
  const std::vector<double> v{1, 2, 3, 4};
  const std::string b = encode_npy({4}, v.data());
  const std::string msg = error_of(b.substr(0, b.size() - 5));
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(Npy, RejectsTruncatedHeader) {
  const std::vector<double> v{1};
  const std::string msg = error_of(encode_npy({1}, v.data()).substr(0, 30));
  EXPECT_NE(msg.find("truncated in its header"), std::string::npos) << msg;
}

TEST(Npy, RejectsTrailingBytes) {
  const std::vector<double> v{1};
  EXPECT_NE(error_of(encode_npy({1}, v.data()) + "xx").find("trailing"), std::string::npos);
}

TEST(Npy, RejectsUnsupportedDtypeAndFortranOrder) {
  const std::vector<double> v{1, 2};
  std::string b = encode_npy({2}, v.data());
  std::string c = b;
  c.replace(c.find("<f8"), 3, "<i8");
  EXPECT_NE(error_of(c).find("dtype '<i8' is not supported"), std::string::npos) << error_of(c);
  std::string f = b;
  f.replace(f.find("False"), 5, "True ");
  EXPECT_NE(error_of(f).find("Fortran"), std::string::npos);
}

TEST(Npy, RejectsUnknownVersion) {
  const std::vector<double> v{1};
  std::string b = encode_npy({1}, v.data());
  b[6] = 9;
  EXPECT_NE(error_of(b).find("version 9"), std::string::npos);
}

TEST(Npy, FileRoundTripAndMissingFile) {
  const auto dir = std::filesystem::temp_directory_path() / "sf_npy_test";
  std::filesystem::create_directories(dir);
  const std::vector<double> v{3, 4};
  write_npy(dir / "a.npy", {1, 2}, v.data());
  EXPECT_EQ(read_npy(dir / "a.npy").values, v);
  EXPECT_THROW(read_npy(dir / "missing.npy"), IoError);
  std::filesystem::remove_all(dir);
}
