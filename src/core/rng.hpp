// Counter-based randomness (Random123 Philox4x64). A draw is a pure function of
// (seed, stream, particle, step, block), so results do not depend on the thread count or on
// how particles are split between threads, and a resumed run continues bit-identically.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

#include <Random123/philox.h>

namespace sf {

// Distinct purposes draw from distinct streams so they never share numbers.
enum class Stream : std::uint64_t {
  init = 1,
  langevin_noise = 2,
  accept = 3,
  reference = 4,
  data = 5,
  projections = 6,
  subsample = 7,
  bench = 8,
};

// Draws for one (particle, step): uniforms and standard normals, produced four at a time.
class Draws {
 public:
  Draws(std::uint64_t seed, Stream stream, std::uint64_t particle, std::uint64_t step)
      : key_{{seed, static_cast<std::uint64_t>(stream)}}, ctr_{{particle, step, 0, 0}} {}

  // Uniform on the open interval (0, 1).
  double uniform() {
    if (pos_ == 4) refill();
    return to_unit(bits_[pos_++]);
  }

  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    // Box-Muller: two uniforms -> two independent normals.
    const double u1 = uniform(), u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(a);
    have_spare_ = true;
    return r * std::cos(a);
  }

  void normals(double* out, std::size_t count) {
    for (std::size_t k = 0; k < count; ++k) out[k] = normal();
  }

  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>(uniform() * static_cast<double>(n)) % n;
  }

 private:
  static double to_unit(std::uint64_t b) { return (static_cast<double>(b >> 11) + 0.5) * 0x1.0p-53; }
  void refill() {
    using G = r123::Philox4x64;
    G g;
    const auto out = g(ctr_, key_);
    for (int k = 0; k < 4; ++k) bits_[k] = out.v[k];
    ctr_.v[2] += 1;  // next block for this (particle, step)
    pos_ = 0;
  }

  r123::Philox4x64::key_type key_;
  r123::Philox4x64::ctr_type ctr_;
  std::array<std::uint64_t, 4> bits_{};
  int pos_ = 4;
  double spare_ = 0;
  bool have_spare_ = false;
};

}  // namespace sf
