#include <scoreflow/score/kernel_sum_f32.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/fastmath.hpp>
#include <scoreflow/core/parallel.hpp>

namespace sf {
namespace {

constexpr std::size_t kF32Tile = Float32KernelSum::kTile;
constexpr std::size_t kQueryBlock = 4;  // queries per pass over a tile: each load serves four
constexpr std::size_t kMaxFixedDim = 16;
constexpr std::size_t kPilot = 64;
constexpr double kU = 0x1p-24;  // float32's unit roundoff
// Log-weights below this (and padding) give terms fast_expf drops, with an E that stays finite.
constexpr float kLowestLogWeight = -200.0f;
// The largest exponent error the first-order bound is used for (exp(ΔE) − 1 ≤ 1.01·ΔE).
constexpr double kMaxExponentError = 0.01;

// A tile's terms for kQueryBlock queries a: e[a·kF32Tile + t] = fast_expf(ê) with the float32
// exponent ê = lw[t] − Σ_k (q[a·d + k] − z[k·kF32Tile + t])², and per query the float32 sums
// s1[a] = Σ_t e·E and s2[a] = Σ_t e·E² (E = −ê) that the bounds need.
using TermsFn = void (*)(std::size_t d, const float* q, const float* z, const float* lw, float* e,
                         float* s1, float* s2);

// One query's terms from its exponents in e, in place.
inline void exp_terms(float* __restrict e, float& s1, float& s2) {
  float a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
  for (std::size_t t = 0; t < kF32Tile; ++t) {
    const float E = -e[t];
    e[t] = fast_expf(e[t]);
    a1 += e[t] * E;
    a2 += e[t] * E * E;
  }
  s1 = a1, s2 = a2;
}

// For d = D: the four queries' exponents, terms and sums in one pass over the tile, each point's
// coordinates loaded once for all four. Every query's terms come from the same operations
// whichever block it is in.
template <std::size_t D>
void terms_fixed(std::size_t, const float* __restrict q, const float* __restrict z,
                 const float* __restrict lw, float* __restrict e, float* s1, float* s2) {
  static_assert(kQueryBlock == 4);
  float qq[kQueryBlock][D];
  for (std::size_t a = 0; a < kQueryBlock; ++a)
    for (std::size_t k = 0; k < D; ++k) qq[a][k] = q[a * D + k];
  float p0 = 0, p1 = 0, p2 = 0, p3 = 0, r0 = 0, r1 = 0, r2 = 0, r3 = 0;
#pragma omp simd reduction(+ : p0, p1, p2, p3, r0, r1, r2, r3)
  for (std::size_t t = 0; t < kF32Tile; ++t) {
    float a0 = lw[t], a1 = lw[t], a2 = lw[t], a3 = lw[t];
    for (std::size_t k = 0; k < D; ++k) {
      const float x = z[k * kF32Tile + t];
      const float d0 = qq[0][k] - x, d1 = qq[1][k] - x, d2 = qq[2][k] - x, d3 = qq[3][k] - x;
      a0 -= d0 * d0, a1 -= d1 * d1, a2 -= d2 * d2, a3 -= d3 * d3;
    }
    const float t0 = fast_expf(a0), t1 = fast_expf(a1), t2 = fast_expf(a2), t3 = fast_expf(a3);
    e[t] = t0, e[kF32Tile + t] = t1, e[2 * kF32Tile + t] = t2, e[3 * kF32Tile + t] = t3;
    p0 -= t0 * a0, p1 -= t1 * a1, p2 -= t2 * a2, p3 -= t3 * a3;
    r0 += t0 * a0 * a0, r1 += t1 * a1 * a1, r2 += t2 * a2 * a2, r3 += t3 * a3 * a3;
  }
  s1[0] = p0, s1[1] = p1, s1[2] = p2, s1[3] = p3;
  s2[0] = r0, s2[1] = r1, s2[2] = r2, s2[3] = r3;
}

// The same for any d, one query and coordinate at a time.
void terms_any(std::size_t d, const float* q, const float* z, const float* lw, float* e, float* s1,
               float* s2) {
  for (std::size_t a = 0; a < kQueryBlock; ++a) {
    float* ea = e + a * kF32Tile;
    std::copy_n(lw, kF32Tile, ea);
    for (std::size_t k = 0; k < d; ++k) {
      const float qk = q[a * d + k];
      const float* zk = z + k * kF32Tile;
#pragma omp simd
      for (std::size_t t = 0; t < kF32Tile; ++t) ea[t] -= (qk - zk[t]) * (qk - zk[t]);
    }
    exp_terms(ea, s1[a], s2[a]);
  }
}

// acc[l] += Σ_t e[t]·z[t] over a tile's t ≡ l (mod kLanes): kLanes independent partial sums
// (one accumulator would chain every addition to the one before). In float64 (T = double), or
// in float32 over the tile's kF32Tile / kLanes terms per lane, then added to the float64 lanes.
constexpr std::size_t kLanes = 32;
constexpr double kLaneTerms = static_cast<double>(kF32Tile / kLanes);
template <typename T>
inline void lane_dot(const T* __restrict e, const T* __restrict z, double* __restrict acc) {
  T a[kLanes] = {};  // in registers through the tile
  for (std::size_t t0 = 0; t0 < kF32Tile; t0 += kLanes)
#pragma omp simd
    for (std::size_t l = 0; l < kLanes; ++l) a[l] += e[t0 + l] * z[t0 + l];
#pragma omp simd
  for (std::size_t l = 0; l < kLanes; ++l) acc[l] += a[l];
}

// lane_dot for each of the tile's D coordinates at once, the float32 lanes only: the same sums
// in the same order, but each e is loaded once for all D (one load per multiply–add, not two),
// with the D·kLanes partial sums held in registers.
using LaneDotsFn = void (*)(std::size_t d, const float* e, const float* z, double* acc);
constexpr std::size_t kMaxFusedDim = 12;  // 2·12 of AVX-512's 32 vector registers hold the sums

template <std::size_t D>
void lane_dots_fixed(std::size_t, const float* __restrict e, const float* __restrict z,
                     double* __restrict acc) {
  float a[D][kLanes] = {};
  for (std::size_t t0 = 0; t0 < kF32Tile; t0 += kLanes)
    for (std::size_t k = 0; k < D; ++k)
#pragma omp simd
      for (std::size_t l = 0; l < kLanes; ++l) a[k][l] += e[t0 + l] * z[k * kF32Tile + t0 + l];
  for (std::size_t k = 0; k < D; ++k)
#pragma omp simd
    for (std::size_t l = 0; l < kLanes; ++l) acc[k * kLanes + l] += a[k][l];
}

void lane_dots_any(std::size_t d, const float* e, const float* z, double* acc) {
  for (std::size_t k = 0; k < d; ++k) lane_dot(e, z + k * kF32Tile, acc + k * kLanes);
}

inline double lane_sum(const double* acc) {
  double s = 0;
  for (std::size_t l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

template <std::size_t... D>
constexpr std::array<TermsFn, kMaxFixedDim + 1> term_kernels(std::index_sequence<D...>) {
  return {terms_any, terms_fixed<D + 1>...};
}

TermsFn terms_for(std::size_t d) {
  static constexpr auto kernels = term_kernels(std::make_index_sequence<kMaxFixedDim>{});
  return d <= kMaxFixedDim ? kernels[d] : terms_any;
}

template <std::size_t... D>
constexpr std::array<LaneDotsFn, kMaxFusedDim + 1> lane_dot_kernels(std::index_sequence<D...>) {
  return {lane_dots_any, lane_dots_fixed<D + 1>...};
}

LaneDotsFn lane_dots_for(std::size_t d) {
  static constexpr auto kernels = lane_dot_kernels(std::make_index_sequence<kMaxFusedDim>{});
  return d <= kMaxFusedDim ? kernels[d] : lane_dots_any;
}

}  // namespace

// One query's sums over the exact terms, bounded above from the float32 ones (per tile, with
// E within kMaxExponentError): Σt, Σt·E, Σt·E²; per tile m the Cauchy–Schwarz bound
// Σ_m t·√E ≤ √(Σ_m t · Σ_m t·E) summed (r0), and weighted by the tile's largest |z̃| (r1, and
// q1 for Σ_m t·E); and the score's numerator Σ t_j (z̃_j − q̃).
struct Float32KernelSum::Sums {
  double s0 = 0, s1 = 0, s2 = 0, r0 = 0, r1 = 0, q1 = 0;
  double z1 = 0;     // Σ_m (the tile's largest |z̃|)·Σ_m t̂ ≥ Σ t̂·|z̃|
  double total = 0;  // Σ t̂, the answer
  std::vector<double> numerator;
};

Float32KernelSum::Float32KernelSum(ConstRows data, double h, std::span<const double> logw)
    : n_(data.n),
      d_(data.d),
      tiles_((data.n + kF32Tile - 1) / kF32Tile),
      h_(h),
      scale_(1 / (h * std::sqrt(2.0))),
      center_(data.d, 0.0),
      exact_(data, h, logw),  // checks the data, bandwidth and weights
      pilot_(std::min(data.n, kPilot), data.d) {
  std::copy_n(data.data, pilot_.rows().n * d_, pilot_.data());
  for (std::size_t i = 0; i < n_; ++i)
    for (std::size_t k = 0; k < d_; ++k) center_[k] += data.row(i)[k] / static_cast<double>(n_);
  // Tiles of points of similar |z̃|, so that each tile's bound on the inputs' rounding (its
  // largest |z̃|) is near its points' own.
  std::vector<double> norm(n_, 0.0);
  for (std::size_t i = 0; i < n_; ++i)
    for (std::size_t k = 0; k < d_; ++k)
      norm[i] +=
          ((data.row(i)[k] - center_[k]) * scale_) * ((data.row(i)[k] - center_[k]) * scale_);
  std::vector<std::size_t> order(n_);
  for (std::size_t i = 0; i < n_; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return norm[a] < norm[b]; });
  z_.assign(tiles_ * d_ * kF32Tile, 0.0f);
  zd_.assign(tiles_ * d_ * kF32Tile, 0.0);
  lw_.assign(tiles_ * kF32Tile, kLowestLogWeight);
  tile_norm_.assign(tiles_, 0.0);
  const double lw_max = logw.empty() ? 0 : *std::max_element(logw.begin(), logw.end());
  double wsum = 0;
  for (std::size_t p = 0; p < n_; ++p) {
    const std::size_t i = order[p], tile = p / kF32Tile, t = p % kF32Tile;
    const double lw = logw.empty() ? 0 : logw[i] - lw_max;
    wsum += std::exp(lw);
    lw_[p] = static_cast<float>(std::max(lw, static_cast<double>(kLowestLogWeight)));
    for (std::size_t k = 0; k < d_; ++k) {
      const double v = (data.row(i)[k] - center_[k]) * scale_;
      zd_[(tile * d_ + k) * kF32Tile + t] = v;
      z_[(tile * d_ + k) * kF32Tile + t] = static_cast<float>(v);
    }
    tile_norm_[tile] = std::max(tile_norm_[tile], std::sqrt(norm[i]));
  }
  max_norm_ = tiles_ ? tile_norm_.back() : 0;
  log_norm_ = -std::log(wsum) + gaussian_log_norm(d_, h);
}

void Float32KernelSum::sum_block(ConstRows q, std::size_t first, std::size_t count, bool want_score,
                                 Sums* out) const {
  std::vector<float> qf(kQueryBlock * d_);
  std::vector<double> qd(kQueryBlock * d_);
  for (std::size_t a = 0; a < kQueryBlock; ++a) {
    const double* row = q.row(first + std::min(a, count - 1));  // a short block repeats its last
    for (std::size_t k = 0; k < d_; ++k) {
      qd[a * d_ + k] = (row[k] - center_[k]) * scale_;
      qf[a * d_ + k] = static_cast<float>(qd[a * d_ + k]);
    }
    out[a] = Sums{};
    out[a].numerator.assign(want_score ? d_ * kLanes : 0, 0.0);  // lanes, then the sums
  }
  const TermsFn terms = terms_for(d_);
  const LaneDotsFn lane_dots = lane_dots_for(d_);
  alignas(64) float e[kQueryBlock * kF32Tile];
  alignas(64) double ed[kF32Tile];
  float s1[kQueryBlock], s2[kQueryBlock];
  for (std::size_t tile = 0; tile < tiles_; ++tile) {
    terms(d_, qf.data(), &z_[tile * d_ * kF32Tile], &lw_[tile * kF32Tile], e, s1, s2);
    for (std::size_t a = 0; a < count; ++a) {
      const float* ea = e + a * kF32Tile;
      double lanes[kLanes] = {};
      for (std::size_t t0 = 0; t0 < kF32Tile; t0 += kLanes)
#pragma omp simd
        for (std::size_t l = 0; l < kLanes; ++l) lanes[l] += ea[t0 + l];
      add_tile(lane_sum(lanes), s1[a], s2[a], tile_norm_[tile], out[a]);
      if (!want_score) continue;
      const std::size_t at = tile * d_ * kF32Tile;
      if (score_lanes_ == ScoreLanes::float32) {
        lane_dots(d_, ea, &z_[at], out[a].numerator.data());
      } else {
        std::copy_n(ea, kF32Tile, ed);
        for (std::size_t k = 0; k < d_; ++k)
          lane_dot(ed, &zd_[at + k * kF32Tile], &out[a].numerator[k * kLanes]);
      }
    }
  }
  if (!want_score) return;
  for (std::size_t a = 0; a < count; ++a) {  // Σ t·(z̃ − q̃) as Σ t·z̃ − q̃·Σ t
    for (std::size_t k = 0; k < d_; ++k)
      out[a].numerator[k] = lane_sum(&out[a].numerator[k * kLanes]) - qd[a * d_ + k] * out[a].total;
    out[a].numerator.resize(d_);
  }
}

void Float32KernelSum::add_tile(double s0, double s1, double s2, double tile_norm, Sums& s) {
  // From the float32 terms to bounds on the exact ones: t ≤ 1.0102·t̂, E ≤ Ê + 0.01, and the
  // float32 sums of at most 256 positive terms within 1.5e-5 of theirs.
  const double b0 = 1.02 * s0, b1 = 1.02 * s1 + 0.02 * s0, b2 = 1.02 * s2 + 0.05 * (s1 + s0);
  const double root = std::sqrt(b0 * b1);
  s.total += s0;
  s.s0 += b0, s.s1 += b1, s.s2 += b2;
  s.r0 += root, s.r1 += tile_norm * root, s.q1 += tile_norm * b1;
  s.z1 += tile_norm * s0;
}

bool Float32KernelSum::finish(const Sums& s, const double* q, double tol, bool want_score,
                              std::size_t i, BoundedKde& r) const {
  double q_norm2 = 0;
  for (std::size_t k = 0; k < d_; ++k)
    q_norm2 += ((q[k] - center_[k]) * scale_) * ((q[k] - center_[k]) * scale_);
  const double qn = std::sqrt(q_norm2);
  // A term's exponent errs by ΔE ≤ u·[(d + 3)·E + 2·A_m·√E] (header; A_m = |q̃| + the tile's
  // largest |z̃|), its value by 1.01·(ΔE + ε_exp) while ΔE stays below kMaxExponentError.
  const double dd = static_cast<double>(d_) + 3, emax = -kFastExpfFloor;
  if (!(kU * (dd * emax + 2 * (qn + max_norm_) * std::sqrt(emax)) <= kMaxExponentError))
    return false;
  const double t_rootE = s.r0;                      // ≥ Σ t·√E
  const double t_A_rootE = qn * s.r0 + s.r1;        // ≥ Σ t·A·√E
  const double t_A_E = qn * s.s1 + s.q1;            // ≥ Σ t·A·E
  const double t_E_rootE = std::sqrt(s.s1 * s.s2);  // ≥ Σ t·E^{3/2}
  const double n = static_cast<double>(n_);
  const double dropped = n * std::exp(kFastExpfFloor + kMaxExponentError);
  const double rounding = n * 2.3e-16;  // float64 accumulation, relative
  const double err0 = 1.01 * (kFastExpfError * s.s0 + kU * (dd * s.s1 + 2 * t_A_rootE)) + dropped +
                      rounding * s.total;
  if (!(err0 < 0.5 * s.total)) return false;
  const double beta = err0 / (s.total - err0);
  if (!(beta <= tol)) return false;
  if (want_score) {
    // Σ t·b·|z̃ − q̃| with |z̃ − q̃| ≤ √E; a dropped term's t·√E is below e⁻⁸⁶·√86; float64
    // rounding on Σ t·(|z̃| + |q̃|). In float32 lanes, Σ t̂·z̃ errs by at most
    // (kLaneTerms + 1.01)·u·Σ t̂·|z̃| in norm (kLaneTerms products a lane, z̃ rounded).
    const double lanes = score_lanes_ == ScoreLanes::float32 ? (kLaneTerms + 1.01) * kU * s.z1 : 0;
    const double err_numerator =
        1.01 * (kFastExpfError * t_rootE + kU * (dd * t_E_rootE + 2 * t_A_E)) +
        dropped * std::sqrt(emax) + lanes + rounding * (max_norm_ + qn) * s.s0;
    double num_norm2 = 0;
    for (const double v : s.numerator) num_norm2 += v * v;
    const double to_score = std::sqrt(2.0) / h_;  // ψ = (√2/h)·Σ t (z̃ − q̃) / Σ t
    const double err_score =
        to_score * (err_numerator + std::sqrt(num_norm2) / s.total * err0) / (s.total - err0);
    const double score_norm = to_score * std::sqrt(num_norm2) / s.total;
    if (!(err_score <= tol * std::max(score_norm, 1 / h_))) return false;
    for (std::size_t k = 0; k < d_; ++k) r.score.row(i)[k] = to_score * s.numerator[k] / s.total;
    r.score_bound[i] = err_score;
  }
  r.log_density[i] = std::log(s.total) + log_norm_;
  r.bound[i] = beta;
  return true;
}

BoundedKde Float32KernelSum::kde(ConstRows queries, double tol, bool want_score) const {
  check_dim("Float32KernelSum", "query", queries.d, d_);
  BoundedKde r;
  const std::vector<char> within = approximate(queries, tol, want_score, r);
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < queries.n; ++i)
    if (!within[i]) which.push_back(i);
  if (!which.empty()) sum_exactly(exact_, queries, which, r);
  return r;
}

std::vector<char> Float32KernelSum::approximate(ConstRows queries, double tol, bool want_score,
                                                BoundedKde& r) const {
  r.log_density.assign(queries.n, 0.0);
  r.bound.assign(queries.n, 0.0);
  if (want_score) r.score = Particles(queries.n, d_), r.score_bound.assign(queries.n, 0.0);
  std::vector<char> within(queries.n, 0);
  parallel_blocks(queries.n, kQueryBlock, [&](std::size_t first, std::size_t count) {
    Sums s[kQueryBlock];
    sum_block(queries, first, count, want_score, s);
    for (std::size_t a = 0; a < count; ++a)
      within[first + a] = finish(s[a], queries.row(first + a), tol, want_score, first + a, r);
  });
  return within;
}

bool Float32KernelSum::plan(double tol, bool want_score, std::size_t queries) {
  if (!(tol > 0) || queries < kMinQueries) return false;
  for (const ScoreLanes lanes : {ScoreLanes::float32, ScoreLanes::float64}) {
    score_lanes_ = lanes;
    BoundedKde r;
    const std::vector<char> within = approximate(pilot_.rows(), tol, want_score, r);
    if (8 * static_cast<std::size_t>(std::count(within.begin(), within.end(), 1)) >=
        7 * within.size())
      return true;
    if (!want_score) return false;  // the lanes only sum the score
  }
  return false;
}

}  // namespace sf
