// A branch-free exp that GCC vectorises (AVX2/AVX-512) inside plain loops; the KDE and
// mixture hot loops spend most of their time here. Relative error below 2e-16 on
// [-708, 709]; returns 0 below -708 (denormals are not produced).
#pragma once

#include <bit>
#include <cstdint>

namespace sf {

inline double fast_exp(double x) {
  constexpr double log2e = 1.4426950408889634;
  constexpr double ln2_hi = 0.6931471805598903;  // ln2 split so k*ln2_hi is exact
  constexpr double ln2_lo = 5.497923018708371e-14;
  constexpr double shifter = 0x1.8p52;
  const double xc = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
  double kd = xc * log2e + shifter;  // round-to-nearest k sits in kd's low mantissa bits
  const std::int64_t k = std::bit_cast<std::int64_t>(kd) - std::bit_cast<std::int64_t>(shifter);
  kd -= shifter;
  const double r = (xc - kd * ln2_hi) - kd * ln2_lo;  // |r| <= ln2/2
  // Taylor polynomial of e^r to degree 12 (truncation error < 2e-16 for |r| <= 0.347).
  double p = 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const double scale = std::bit_cast<double>((k + 1023) << 52);
  return x < -708.0 ? 0.0 : p * scale;
}

// exp in float32 for x ≤ 0, branch-free so loops over it vectorise in 16 lanes (AVX-512):
// relative error below kFastExpfError on [kFastExpfFloor, 0], 0 below kFastExpfFloor (whose
// exp, 2^-124, keeps every result a normal float). For float32 kernel sums.
inline constexpr float kFastExpfFloor = -86.0f;
inline constexpr double kFastExpfError = 0x1p-22;  // ≈ 2.4e-7, four float32 rounding units
inline float fast_expf(float x) {
  constexpr float log2e = 1.44269504f;
  constexpr float ln2_hi = 0.693359375f;  // 355/512: k·ln2_hi is exact for |k| < 2^15
  constexpr float ln2_lo = -2.12194440e-4f;
  constexpr float shifter = 0x1.8p23f;
  const float xc = x < kFastExpfFloor ? kFastExpfFloor : x;
  float kf = xc * log2e + shifter;  // round-to-nearest k sits in kf's low mantissa bits
  const std::int32_t k = std::bit_cast<std::int32_t>(kf) - std::bit_cast<std::int32_t>(shifter);
  kf -= shifter;
  const float r = (xc - kf * ln2_hi) - kf * ln2_lo;  // |r| <= ln2/2 (plus a rounding)
  // Taylor polynomial of e^r to degree 7 (truncation error < 6e-9 for |r| <= 0.347).
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>((k + 127) << 23);
  return x < kFastExpfFloor ? 0.0f : p * scale;
}

}  // namespace sf

namespace sf {

// Natural log for positive normal doubles, branch-free so loops over it vectorise.
// log x = e·ln2 + log m with m ∈ [√½, √2), log m = 2 atanh((m−1)/(m+1)) by its series.
inline double fast_log(double x) {
  constexpr std::int64_t mantissa = (std::int64_t{1} << 52) - 1;
  constexpr std::int64_t one_bits = std::int64_t{1023} << 52;
  const std::int64_t bits = std::bit_cast<std::int64_t>(x);
  double e = static_cast<double>(((bits >> 52) & 0x7ff) - 1023);
  double m = std::bit_cast<double>((bits & mantissa) | one_bits);  // [1, 2)
  const bool big = m > 1.4142135623730951;
  m = big ? 0.5 * m : m;
  e = big ? e + 1 : e;
  const double s = (m - 1) / (m + 1), s2 = s * s;  // |s| ≤ 0.1716
  double p = 1.0 / 23;
  p = p * s2 + 1.0 / 21;
  p = p * s2 + 1.0 / 19;
  p = p * s2 + 1.0 / 17;
  p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11;
  p = p * s2 + 1.0 / 9;
  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;
  p = p * s2 + 1.0 / 3;
  p = p * s2 + 1.0;
  constexpr double ln2_hi = 0.6931471805598903, ln2_lo = 5.497923018708371e-14;
  return e * ln2_hi + (e * ln2_lo + 2 * s * p);
}

// sin(2πu) and cos(2πu), branch-free: reduce to the nearest quarter turn, then Taylor
// polynomials on [−π/4, π/4].
inline void fast_sincos_2pi(double u, double& sin_out, double& cos_out) {
  constexpr double shifter = 0x1.8p52;
  const double qd = (4 * u + shifter) - shifter;  // nearest integer to 4u
  const std::int64_t q = static_cast<std::int64_t>(qd) & 3;
  const double t = (u - 0.25 * qd) * 6.283185307179586;  // |t| ≤ π/4
  const double t2 = t * t;
  double s = -1.0 / 1307674368000.0;  // −1/15!
  s = s * t2 + 1.0 / 6227020800.0;
  s = s * t2 - 1.0 / 39916800.0;
  s = s * t2 + 1.0 / 362880.0;
  s = s * t2 - 1.0 / 5040.0;
  s = s * t2 + 1.0 / 120.0;
  s = s * t2 - 1.0 / 6.0;
  s = t + t * t2 * s;
  double c = 1.0 / 20922789888000.0;  // 1/16!
  c = c * t2 - 1.0 / 87178291200.0;
  c = c * t2 + 1.0 / 479001600.0;
  c = c * t2 - 1.0 / 3628800.0;
  c = c * t2 + 1.0 / 40320.0;
  c = c * t2 - 1.0 / 720.0;
  c = c * t2 + 1.0 / 24.0;
  c = c * t2 - 0.5;
  c = 1 + t2 * c;
  // Rotate by q quarter turns.
  const double sq = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
  const double cq = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
  sin_out = sq;
  cos_out = cq;
}

}  // namespace sf
