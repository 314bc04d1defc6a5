// Counter-based randomness (Philox4x32-10, as in Random123). A draw is a pure function of
// (seed, stream, particle, step, block), so results do not depend on the thread count or on
// how particles are split between threads, and a resumed run continues bit-identically.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include <scoreflow/core/fastmath.hpp>

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
  resample = 9,
  jumps = 10,
  kappa = 11,
  source = 12,
  batch = 13,        // training minibatch indices
  train_noise = 14,  // DSM noise, probe vectors and diffusion times while training
  generate = 15,     // prior draws and reverse-SDE noise
  probes = 16,       // Hutchinson probes of likelihood evaluation
  train_time = 17,   // diffusion times of noise-conditional training
  malliavin = 18,    // Brownian increments of Malliavin paths
  heat_ball = 19,    // draws of the heat-ball mean-value estimators
  fp_probes = 20,    // Hutchinson probes of the pointwise Fokker–Planck residual
  dequantise = 21,   // uniform dequantisation of 8-bit training data
};

// Uniform on the open interval (0, 1) from two 32-bit words (53 random bits).
inline double bits_to_unit(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t b = (static_cast<std::uint64_t>(hi) << 32) | lo;
  return (static_cast<double>(b >> 11) + 0.5) * 0x1.0p-53;
}

// Two independent normals from two uniforms in (0, 1) (Box–Muller).
inline void box_muller(double u1, double u2, double& z0, double& z1) {
  const double r = std::sqrt(-2.0 * fast_log(u1));
  double s, c;
  fast_sincos_2pi(u2, s, c);
  z0 = r * c;
  z1 = r * s;
}

// Philox4x32-10 (Salmon et al. 2011), the same function as Random123's philox4x32, written
// in plain arithmetic so loops over many counters vectorise (32×32→64-bit multiplies).
// Key: the 64-bit seed. Counter: (particle low 32 bits, particle high 16 bits | stream << 16,
// step, block): particles < 2^48, steps < 2^32.
struct PhiloxCounter {
  std::uint32_t c0, c1, c2, c3;
};
inline PhiloxCounter philox_counter(Stream stream, std::uint64_t particle, std::uint64_t step,
                                    std::uint64_t block) {
  return {static_cast<std::uint32_t>(particle),
          static_cast<std::uint32_t>(((particle >> 32) & 0xffff) |
                                     (static_cast<std::uint64_t>(stream) << 16)),
          static_cast<std::uint32_t>(step), static_cast<std::uint32_t>(block)};
}
inline void philox4x32_10(std::uint64_t seed, PhiloxCounter c, std::uint32_t out[4]) {
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  std::uint32_t x0 = c.c0, x1 = c.c1, x2 = c.c2, x3 = c.c3;
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t{0xD2511F53} * x0, p1 = std::uint64_t{0xCD9E8D57} * x2;
    const std::uint32_t y0 = static_cast<std::uint32_t>(p1 >> 32) ^ x1 ^ k0;
    const std::uint32_t y2 = static_cast<std::uint32_t>(p0 >> 32) ^ x3 ^ k1;
    x1 = static_cast<std::uint32_t>(p1);
    x3 = static_cast<std::uint32_t>(p0);
    x0 = y0;
    x2 = y2;
    k0 += 0x9E3779B9;
    k1 += 0xBB67AE85;
  }
  out[0] = x0, out[1] = x1, out[2] = x2, out[3] = x3;
}

// Draws for one (particle, step): uniforms and standard normals, two uniforms per block.
class Draws {
 public:
  Draws(std::uint64_t seed, Stream stream, std::uint64_t particle, std::uint64_t step)
      : seed_(seed), stream_(stream), particle_(particle), step_(step) {}

  double uniform() {
    if (pos_ == 2) {
      philox4x32_10(seed_, philox_counter(stream_, particle_, step_, block_++), bits_);
      pos_ = 0;
    }
    const double u = bits_to_unit(bits_[2 * pos_], bits_[2 * pos_ + 1]);
    ++pos_;
    return u;
  }

  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double u1 = uniform(), u2 = uniform();
    double z0;
    box_muller(u1, u2, z0, spare_);
    have_spare_ = true;
    return z0;
  }

  void normals(double* out, std::size_t count) {
    for (std::size_t k = 0; k < count; ++k) out[k] = normal();
  }

  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>(uniform() * static_cast<double>(n)) % n;
  }

 private:
  std::uint64_t seed_;
  Stream stream_;
  std::uint64_t particle_, step_, block_ = 0;
  std::uint32_t bits_[4] = {};
  int pos_ = 2;
  double spare_ = 0;
  bool have_spare_ = false;
};

// count × d standard normals for particles first, …, first + count − 1 at `step`: row i
// holds the first d values of Draws(seed, stream, first + i, step).normal(). The uniforms
// come from Philox per particle; Box–Muller then runs vectorised over the whole batch.
inline void fill_normals(std::uint64_t seed, Stream stream, std::uint64_t step, std::size_t first,
                         std::size_t count, std::size_t d, double* out) {
  const std::size_t pairs = (d + 1) / 2;  // one Philox block gives one normal pair
  const std::size_t total = pairs * count;
  // Philox words in four separate arrays (p = i·pairs + b) so every loop below stores
  // contiguously and vectorises.
  thread_local std::vector<std::uint32_t> w0, w1, w2, w3;
  thread_local std::vector<double> z;
  for (auto* w : {&w0, &w1, &w2, &w3}) w->resize(total);
  std::uint32_t *a0 = w0.data(), *a1 = w1.data(), *a2 = w2.data(), *a3 = w3.data();
  const auto block = [&](std::size_t i, std::size_t b) {
    std::uint32_t o[4];
    philox4x32_10(seed, philox_counter(stream, first + i, step, b), o);
    const std::size_t p = i * pairs + b;
    a0[p] = o[0], a1[p] = o[1], a2[p] = o[2], a3[p] = o[3];
  };
  if (pairs < 8) {  // few normals per particle (Langevin moves): vectorise over particles
    for (std::size_t b = 0; b < pairs; ++b)
#pragma omp simd
      for (std::size_t i = 0; i < count; ++i) block(i, b);
  } else {  // many (κ draws in high dimension): vectorise over a particle's blocks
    for (std::size_t i = 0; i < count; ++i)
#pragma omp simd
      for (std::size_t b = 0; b < pairs; ++b) block(i, b);
  }
  // With d even the pairs fill each row exactly, so they go straight to `out`; with d odd
  // each row's last pair is cut, through a buffer (a copy per row costs as much as the
  // Langevin update itself at d = 2).
  double* zz = out;
  if (d % 2 != 0) z.resize(2 * total), zz = z.data();
#pragma omp simd
  for (std::size_t p = 0; p < total; ++p)
    box_muller(bits_to_unit(a0[p], a1[p]), bits_to_unit(a2[p], a3[p]), zz[2 * p], zz[2 * p + 1]);
  if (zz == out) return;
  for (std::size_t i = 0; i < count; ++i)
    std::copy(zz + 2 * pairs * i, zz + 2 * pairs * i + d, out + i * d);
}

}  // namespace sf
