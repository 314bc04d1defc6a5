#include <scoreflow/samplers/resampling.hpp>

#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>

namespace sf {
namespace {

void check_weights(std::span<const double> w, std::size_t count) {
  check_positive("resample", "number of weights", w.size());
  check_positive("resample", "offspring count", count);
  double s = 0;
  for (double v : w) {
    if (!(v >= 0) || !std::isfinite(v))
      throw InvalidArgument(
          fmt::format("resample: weight {} is not a finite non-negative number", v));
    s += v;
  }
  if (!(s > 0)) throw InvalidArgument("resample: the weights sum to zero");
}

// Ancestors for sorted positions u_0 ≤ … < 1 (in units of the total weight) by one sweep
// over the cumulative weights. The last weight absorbs round-off, so a sum a little short
// of 1 never sends an index past the end.
std::vector<std::size_t> invert_sorted(std::span<const double> w, const std::vector<double>& u) {
  double total = 0;
  for (double v : w) total += v;
  std::vector<std::size_t> idx(u.size());
  std::size_t i = 0;
  double cum = w[0] / total;
  for (std::size_t k = 0; k < u.size(); ++k) {
    while (u[k] >= cum && i + 1 < w.size()) cum += w[++i] / total;
    idx[k] = i;
  }
  return idx;
}

// Sorted uniforms on [0, 1) from exponential spacings (no sort needed).
std::vector<double> sorted_uniforms(std::size_t count, Draws& rng) {
  std::vector<double> u(count);
  double s = 0;
  for (auto& v : u) v = (s += -std::log(rng.uniform()));
  s += -std::log(rng.uniform());
  for (auto& v : u) v /= s;
  return u;
}

}  // namespace

std::vector<std::size_t> systematic_resample(std::span<const double> w, std::size_t count,
                                             Draws& rng) {
  check_weights(w, count);
  const double u0 = rng.uniform();
  std::vector<double> u(count);
  for (std::size_t k = 0; k < count; ++k)
    u[k] = (u0 + static_cast<double>(k)) / static_cast<double>(count);
  return invert_sorted(w, u);
}

std::vector<std::size_t> stratified_resample(std::span<const double> w, std::size_t count,
                                             Draws& rng) {
  check_weights(w, count);
  std::vector<double> u(count);
  for (std::size_t k = 0; k < count; ++k)
    u[k] = (rng.uniform() + static_cast<double>(k)) / static_cast<double>(count);
  return invert_sorted(w, u);
}

std::vector<std::size_t> multinomial_resample(std::span<const double> w, std::size_t count,
                                              Draws& rng) {
  check_weights(w, count);
  return invert_sorted(w, sorted_uniforms(count, rng));
}

std::vector<std::size_t> residual_resample(std::span<const double> w, std::size_t count,
                                           Draws& rng) {
  check_weights(w, count);
  double total = 0;
  for (double v : w) total += v;
  std::vector<std::size_t> idx;
  idx.reserve(count);
  std::vector<double> residual(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double expected = static_cast<double>(count) * w[i] / total;
    const auto copies = static_cast<std::size_t>(std::floor(expected));
    idx.insert(idx.end(), copies, i);
    residual[i] = expected - static_cast<double>(copies);
  }
  const std::size_t rest = count - std::min(count, idx.size());
  if (rest > 0) {
    const auto extra = invert_sorted(residual, sorted_uniforms(rest, rng));
    std::vector<std::size_t> merged(idx.size() + extra.size());
    std::merge(idx.begin(), idx.end(), extra.begin(), extra.end(), merged.begin());
    idx = std::move(merged);
  }
  idx.resize(count);
  return idx;
}

namespace {

void add_builtins(ResamplerRegistry& r) {
  r.add({"systematic", "", "one uniform: offspring at (u + k)/N", systematic_resample});
  r.add({"stratified", "", "one uniform in each stratum [k/N, (k+1)/N)", stratified_resample});
  r.add({"residual", "", "floor(N w_i) copies, the rest multinomially", residual_resample});
  r.add({"multinomial", "", "N independent draws", multinomial_resample});
}

}  // namespace

ResamplerRegistry& resampler_registry() {
  static ResamplerRegistry r("resampler", add_builtins);
  return r;
}

ResampleFn scheme_of(const Resampler& r, const std::string& who) {
  if (!r.fn)
    throw InvalidArgument(fmt::format("{}: resampler '{}' has no scheme; valid resamplers: {}", who,
                                      r.name, resampler_registry().names()));
  return r.fn;
}

Resampler resampler_by_name(const std::string& name) {
  return {name, resampler_registry().get(name).factory};
}

}  // namespace sf
