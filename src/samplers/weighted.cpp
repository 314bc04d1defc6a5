#include <scoreflow/samplers/weighted.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/samplers/resampling.hpp>

namespace sf {

double log_mean_weight(std::span<const double> logw) {
  const double m = *std::max_element(logw.begin(), logw.end());
  double s = 0;
  for (double v : logw) s += std::exp(v - m);
  return m + std::log(s / static_cast<double>(logw.size()));
}

void add_log_weights(SamplerState& s, std::span<const double> increment) {
  auto& lw = s.x.log_weights();
  if (lw.empty()) lw.assign(s.x.n(), 0.0);
  double m = -INFINITY;
  for (std::size_t i = 0; i < lw.size(); ++i) m = std::max(m, lw[i] += increment[i]);
  m = max_over_processes(s, m);
  if (!std::isfinite(m))
    throw NumericalError(
        "weights: every log-weight became -inf or NaN (log π or the density estimate is not "
        "finite)");
  for (double& v : lw) v -= m;
  s.log_normaliser += m;
}

namespace {

// Weights as fixed-point integers W = w·2⁶² (w ≤ 1 after the largest is taken out): their
// sums are exact, so a prefix sum or a total is the same in any order and for any split over
// processes. A weight below 2⁻⁶² of the largest counts as zero (one offspring in 10¹⁸
// resamplings).
__extension__ using Wide = unsigned __int128;  // GCC and Clang; exact sums of ≤ 2⁶⁴ weights
constexpr int kFixedBits = 62;

struct FixedWeights {
  std::vector<std::uint64_t> w;  // this process's particles
  Wide before = 0;               // ΣW over the particles of lower global index
  Wide total = 0, squares = 0;   // ΣW and Σ(W²/2⁶²) over all particles
  double log_max = 0;            // the largest log-weight, taken out of w
};

FixedWeights fixed_weights(const SamplerState& s, std::span<const double> lw) {
  FixedWeights f;
  f.log_max = max_over_processes(s, *std::max_element(lw.begin(), lw.end()));
  if (!std::isfinite(f.log_max))
    throw NumericalError(fmt::format(
        "weights: the largest log-weight is {}; every particle has lost its weight", f.log_max));
  f.w.resize(lw.size());
  Wide sum = 0, squares = 0;
  for (std::size_t i = 0; i < lw.size(); ++i) {
    if (std::isnan(lw[i]))
      throw NumericalError(fmt::format("weights: particle {} has a NaN log-weight", s.first + i));
    f.w[i] = static_cast<std::uint64_t>(std::ldexp(std::exp(lw[i] - f.log_max), kFixedBits) + 0.5);
    sum += f.w[i];
    squares += (Wide{f.w[i]} * f.w[i]) >> kFixedBits;
  }
  // Every process's two sums, as 64-bit halves.
  const std::uint64_t mine[] = {
      static_cast<std::uint64_t>(sum), static_cast<std::uint64_t>(sum >> 64),
      static_cast<std::uint64_t>(squares), static_cast<std::uint64_t>(squares >> 64)};
  const bool many = across_processes(s);
  const auto all = many ? s.comm->all_values(std::span<const std::uint64_t>(mine))
                        : std::vector<std::uint64_t>(std::begin(mine), std::end(mine));
  const std::size_t rank = many ? static_cast<std::size_t>(s.comm->rank()) : 0;
  for (std::size_t r = 0; 4 * r < all.size(); ++r) {
    const Wide t = all[4 * r] | (Wide{all[4 * r + 1]} << 64);
    if (r < rank) f.before += t;
    f.total += t;
    f.squares += all[4 * r + 2] | (Wide{all[4 * r + 3]} << 64);
  }
  return f;
}

// (ΣW)²/(N·ΣW²), the ESS as a fraction of N.
double ess_fraction(const FixedWeights& f, std::size_t n) {
  const auto t = static_cast<long double>(f.total);
  return static_cast<double>(
      t * t / (static_cast<long double>(f.squares) * 0x1p62L * static_cast<long double>(n)));
}

// log of the mean weight, the normaliser's increment when the weights are reset.
double log_mean(const FixedWeights& f, std::size_t n) {
  return f.log_max +
         static_cast<double>(std::log(static_cast<long double>(f.total)) -
                             kFixedBits * std::log(2.0L) - std::log(static_cast<long double>(n)));
}

// Systematic and stratified resampling put the k-th of n sorted positions at (k + u_k)/n of
// the total weight (u_k = u_0 for systematic). Particle i's offspring are the positions in
// [C_{i−1}, C_i), its slice of the cumulative weight, so each process finds its own particles'
// offspring from its prefix sum alone, and the slots they fill are consecutive.
class SortedPositions {
 public:
  SortedPositions(const FixedWeights& f, std::size_t n, bool stratified, std::uint64_t seed,
                  std::size_t step)
      : f_(f),
        n_(n),
        stratified_(stratified),
        seed_(seed),
        step_(step),
        u0_(Draws(seed, Stream::resample, 0, step).uniform()) {}

  // How many positions lie below the cumulative weight c.
  std::size_t below(Wide c) const {
    if (c >= f_.total) return n_;
    const long double x = static_cast<long double>(c) * static_cast<long double>(n_) /
                          static_cast<long double>(f_.total);
    if (!stratified_)
      return x <= u0_ ? 0 : std::min(n_, static_cast<std::size_t>(std::ceil(x - u0_)));
    const auto k = static_cast<std::size_t>(x);  // positions 0..k−1 lie below; k itself if u_k does
    const double u = Draws(seed_, Stream::resample, k, step_).uniform();
    return std::min(n_, k + (u < x - static_cast<long double>(k) ? 1 : 0));
  }

 private:
  const FixedWeights& f_;
  std::size_t n_;
  bool stratified_;
  std::uint64_t seed_;
  std::size_t step_;
  double u0_;
};

// What travels with a particle: its position, and the cached score and log π where the
// sampler keeps them.
struct RowLayout {
  std::size_t d = 0;
  bool grad = false, logp = false;
  std::size_t width() const { return d * (grad ? 2 : 1) + (logp ? 1 : 0); }
};

RowLayout row_layout(const SamplerState& s) {
  return {s.x.d(), s.grad.n() == s.x.n(), !s.logp.empty()};
}

void append_row(const SamplerState& s, const RowLayout& l, std::size_t i,
                std::vector<double>& out) {
  out.insert(out.end(), s.x.row(i), s.x.row(i) + l.d);
  if (l.grad) out.insert(out.end(), s.grad.row(i), s.grad.row(i) + l.d);
  if (l.logp) out.push_back(s.logp[i]);
}

// The new particles from their rows in slot order, with equal weights.
void take_rows(SamplerState& s, const RowLayout& l, std::span<const double> rows) {
  const std::size_t n = rows.size() / l.width();
  Particles x(n, l.d), g(l.grad ? n : 0, l.d);
  std::vector<double> logp(l.logp ? n : 0);
  for (std::size_t i = 0; i < n; ++i) {
    const double* r = rows.data() + i * l.width();
    std::copy_n(r, l.d, x.row(i));
    if (l.grad) std::copy_n(r + l.d, l.d, g.row(i));
    if (l.logp) logp[i] = r[l.width() - 1];
  }
  x.log_weights().assign(n, 0.0);
  s.x = std::move(x);
  s.grad = std::move(g);
  s.logp = std::move(logp);
}

// Each particle's copies go to the processes that own their slots (all to this one when it
// runs alone): memory and traffic stay proportional to a shard.
void resample_by_prefix_sums(SamplerState& s, const FixedWeights& f, std::size_t n, bool stratified,
                             std::uint64_t seed) {
  const SortedPositions positions(f, n, stratified, seed, s.step);
  const RowLayout l = row_layout(s);
  const Comm& comm = across_processes(s) ? *s.comm : Comm::self();
  std::vector<double> send;
  std::vector<std::size_t> counts(static_cast<std::size_t>(comm.size()), 0);
  int owner = 0;
  Wide c = f.before;
  std::size_t slot = positions.below(c);
  for (std::size_t i = 0; i < f.w.size(); ++i) {
    c += f.w[i];
    for (const std::size_t end = positions.below(c); slot < end; ++slot) {
      while (slot >= comm.shard_of(n, owner).first + comm.shard_of(n, owner).count) ++owner;
      append_row(s, l, i, send);
      counts[static_cast<std::size_t>(owner)] += l.width();
    }
  }
  take_rows(s, l, comm.exchange(send, counts));
}

// Any other scheme sees all weights: every process draws the same ancestors from them and
// fetches its own ancestors' rows from the gathered particles.
void resample_gathered(SamplerState& s, ResampleFn resample, std::span<const double> lw,
                       std::uint64_t seed) {
  const AllRows all_lw = all_rows(s, lw, 1);
  const std::size_t n = all_lw.view.size();
  Draws rng(seed, Stream::resample, 0, s.step);
  const auto idx = resample(normalised_weights(all_lw.view, n), n, rng);
  const RowLayout l = row_layout(s);
  std::vector<double> mine;
  mine.reserve(s.x.n() * l.width());
  for (std::size_t i = 0; i < s.x.n(); ++i) append_row(s, l, i, mine);
  const AllRows rows = all_rows(s, mine, l.width());
  std::vector<double> picked;
  picked.reserve(mine.size());
  for (std::size_t i = 0; i < s.x.n(); ++i) {
    const double* r = rows.view.data() + idx[s.first + i] * l.width();
    picked.insert(picked.end(), r, r + l.width());
  }
  take_rows(s, l, picked);
}

}  // namespace

void maybe_resample(SamplerState& s, ResampleFn resample, double threshold, std::uint64_t seed,
                    StepInfo& info) {
  auto& lw = s.x.log_weights();
  if (lw.empty()) lw.assign(s.x.n(), 0.0);
  const std::size_t n = all_particles(s);
  const FixedWeights f = fixed_weights(s, lw);
  info.ess = ess_fraction(f, n);
  if (info.ess >= threshold && threshold < 1) return;
  // Equal weights afterwards; the mean weight moves into the normaliser.
  s.log_normaliser += log_mean(f, n);
  if (resample == systematic_resample || resample == stratified_resample)
    resample_by_prefix_sums(s, f, n, resample == stratified_resample, seed);
  else
    resample_gathered(s, resample, lw, seed);
  info.resampled = true;
}

}  // namespace sf
