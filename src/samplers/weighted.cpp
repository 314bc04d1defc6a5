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

const Comm& comm_of(const SamplerState& s) {
  return across_processes(s) ? *s.comm : Comm::self();
}

// Every process's 128-bit values, rank after rank (they travel as 64-bit halves).
std::vector<Wide> all_wide(const Comm& comm, std::span<const Wide> mine) {
  std::vector<std::uint64_t> halves;
  for (const Wide v : mine)
    halves.push_back(static_cast<std::uint64_t>(v)),
        halves.push_back(static_cast<std::uint64_t>(v >> 64));
  const auto all = comm.all_values(std::span<const std::uint64_t>(halves));
  std::vector<Wide> out(all.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = all[2 * i] | (Wide{all[2 * i + 1]} << 64);
  return out;
}

// The sum of `mine` over the processes of lower rank, and over all of them.
struct OverProcesses {
  Wide before = 0, total = 0;
};

OverProcesses sum_over_processes(const Comm& comm, Wide mine) {
  OverProcesses o;
  const auto all = all_wide(comm, std::span<const Wide>(&mine, 1));
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (r < static_cast<std::size_t>(comm.rank())) o.before += all[r];
    o.total += all[r];
  }
  return o;
}

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
  const Comm& comm = comm_of(s);
  const Wide mine[] = {sum, squares};
  const auto all = all_wide(comm, mine);
  for (std::size_t r = 0; 2 * r < all.size(); ++r) {
    if (r < static_cast<std::size_t>(comm.rank())) f.before += all[2 * r];
    f.total += all[2 * r];
    f.squares += all[2 * r + 1];
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

// Offspring counts of this process's particles, in their order. A particle's offspring fill
// consecutive slots after those of every particle of lower global index.
using Offspring = std::vector<std::size_t>;

Offspring offspring_at_sorted_positions(const FixedWeights& f, std::size_t n, bool stratified,
                                        std::uint64_t seed, std::size_t step) {
  const SortedPositions positions(f, n, stratified, seed, step);
  Offspring count(f.w.size());
  Wide c = f.before;
  std::size_t below = positions.below(c);
  for (std::size_t i = 0; i < f.w.size(); ++i) {
    const std::size_t end = positions.below(c += f.w[i]);
    count[i] = end - below;
    below = end;
  }
  return count;
}

// An exponential spacing in fixed point (2⁻³² units, at least 1): its prefix sums are exact,
// so every split over processes gives the same sorted positions.
std::uint64_t fixed_spacing(std::uint64_t seed, std::size_t k, std::size_t step) {
  const double e = -std::log(Draws(seed, Stream::resample, k, step).uniform());
  return static_cast<std::uint64_t>(std::ldexp(e, 32)) + 1;
}

// m independent draws from the weights w (this process's part of them): m sorted uniforms
// from m + 1 exponential spacings (spacing k from stream (seed, k, step)), position k at
// S_k/S of the total weight. Each process makes the positions of its share of k and sends
// each to the process whose slice of the cumulative weight holds it; a particle's offspring
// are the positions in its own slice [C_{i−1}, C_i).
Offspring multinomial_offspring(const Comm& comm, std::span<const Wide> w, std::size_t m,
                                std::uint64_t seed, std::size_t step) {
  Wide mine = 0;
  for (const Wide v : w) mine += v;
  const auto sums = all_wide(comm, std::span<const Wide>(&mine, 1));
  std::vector<Wide> start(sums.size() + 1, 0);  // where each process's slice begins
  for (std::size_t r = 0; r < sums.size(); ++r) start[r + 1] = start[r] + sums[r];
  const Wide total = start.back();

  const Shard ks = comm.shard(m + 1);
  std::vector<std::uint64_t> e(ks.count);
  Wide spanned = 0;
  for (std::size_t j = 0; j < ks.count; ++j)
    spanned += e[j] = fixed_spacing(seed, ks.first + j, step);
  const OverProcesses spans = sum_over_processes(comm, spanned);
  Wide s = spans.before;
  const Wide s_total = spans.total;

  std::vector<std::uint64_t> send;
  std::vector<std::size_t> counts(sums.size(), 0);
  std::size_t owner = 0;
  for (std::size_t j = 0; j < ks.count && ks.first + j < m; ++j) {
    s += e[j];
    const auto x = static_cast<long double>(s) / static_cast<long double>(s_total) *
                   static_cast<long double>(total);
    const Wide p = std::min(total - 1, static_cast<Wide>(x));
    while (p >= start[owner + 1]) ++owner;
    send.push_back(static_cast<std::uint64_t>(p)),
        send.push_back(static_cast<std::uint64_t>(p >> 64));
    counts[owner] += 2;
  }
  const auto got = comm.exchange(send, counts);  // sorted: ranks hold increasing k

  Offspring count(w.size(), 0);
  Wide c = start[static_cast<std::size_t>(comm.rank())];
  for (std::size_t i = 0, j = 0; i < w.size(); ++i) {
    c += w[i];
    for (; j < got.size() && (got[j] | (Wide{got[j + 1]} << 64)) < c; j += 2) ++count[i];
  }
  return count;
}

// ⌊N·wᵢ⌋ copies of each particle (exact in fixed point), then the N − Σ⌊N·wᵢ⌋ others drawn
// from the remainders N·Wᵢ mod ΣW.
Offspring residual_offspring(const Comm& comm, const FixedWeights& f, std::size_t n,
                             std::uint64_t seed, std::size_t step) {
  Offspring count(f.w.size());
  std::vector<Wide> rest(f.w.size());
  Wide copies = 0;
  for (std::size_t i = 0; i < f.w.size(); ++i) {
    const Wide expected = Wide{n} * f.w[i];
    count[i] = static_cast<std::size_t>(expected / f.total);
    rest[i] = expected - Wide{count[i]} * f.total;
    copies += count[i];
  }
  const auto m = n - static_cast<std::size_t>(sum_over_processes(comm, copies).total);
  if (m == 0) return count;
  const Offspring extra = multinomial_offspring(comm, rest, m, seed, step);
  for (std::size_t i = 0; i < count.size(); ++i) count[i] += extra[i];
  return count;
}

// Each particle's copies go to the processes that own their slots (all to this one when it
// runs alone): memory and traffic stay proportional to a shard.
void send_offspring(SamplerState& s, const Offspring& count, std::size_t n) {
  const Comm& comm = comm_of(s);
  Wide mine = 0;
  for (const std::size_t c : count) mine += c;
  const OverProcesses slots = sum_over_processes(comm, mine);
  if (slots.total != n)
    throw Error(fmt::format("resample: {} offspring for {} particles",
                            static_cast<std::size_t>(slots.total), n));
  auto slot = static_cast<std::size_t>(slots.before);
  const RowLayout l = row_layout(s);
  std::vector<double> send;
  std::vector<std::size_t> counts(static_cast<std::size_t>(comm.size()), 0);
  int owner = 0;
  for (std::size_t i = 0; i < count.size(); ++i) {
    for (std::size_t k = 0; k < count[i]; ++k, ++slot) {
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
    send_offspring(
        s, offspring_at_sorted_positions(f, n, resample == stratified_resample, seed, s.step), n);
  else if (resample == multinomial_resample) {
    std::vector<Wide> w(f.w.begin(), f.w.end());
    send_offspring(s, multinomial_offspring(comm_of(s), w, n, seed, s.step), n);
  } else if (resample == residual_resample)
    send_offspring(s, residual_offspring(comm_of(s), f, n, seed, s.step), n);
  else
    resample_gathered(s, resample, lw, seed);
  info.resampled = true;
}

}  // namespace sf
