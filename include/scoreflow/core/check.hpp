// One family of argument checks: (function, argument name, value) -> a message such as
// "ula: step size is -1, but must be positive and finite".
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>

#include <unistd.h>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {

inline void check_positive_finite(std::string_view fn, std::string_view what, double v) {
  if (!(std::isfinite(v) && v > 0))
    throw InvalidArgument(
        fmt::format("{}: {} is {}, but must be positive and finite", fn, what, v));
}

inline void check_finite(std::string_view fn, std::string_view what, double v) {
  if (!std::isfinite(v))
    throw InvalidArgument(fmt::format("{}: {} is {}, but must be finite", fn, what, v));
}

inline void check_positive(std::string_view fn, std::string_view what, std::size_t v) {
  if (v == 0) throw InvalidArgument(fmt::format("{}: {} is 0, but must be at least 1", fn, what));
}

inline void check_in_range(std::string_view fn, std::string_view what, double v, double lo,
                           double hi) {
  if (!(v >= lo && v <= hi))
    throw InvalidArgument(
        fmt::format("{}: {} is {}, but must lie in [{}, {}]", fn, what, v, lo, hi));
}

inline void check_dim(std::string_view fn, std::string_view what, std::size_t got,
                      std::size_t expected) {
  if (got != expected)
    throw InvalidArgument(fmt::format("{}: {} has dimension {}, but the target has dimension {}",
                                      fn, what, got, expected));
}

// Refuses to hand on a result with NaN or Inf: `what` names the output, `hint` what to
// change. Outputs are checked before anything is written, so no file ever holds them.
inline void check_finite_output(std::string_view what, std::span<const double> v,
                                std::string_view hint) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw NumericalError(fmt::format("{}: value {} of {} is {}, so nothing was written; {}", what,
                                       i, v.size(), v[i], hint));
}

// Refuses an allocation larger than physical memory before any work is done, so a run
// that could never finish fails in a second instead of swapping for an hour. `hint` says
// which option to lower.
inline void check_memory_fits(std::string_view what, double bytes, std::string_view hint) {
  const double physical =
      static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (physical > 0 && bytes > 0.8 * physical)
    throw InvalidArgument(
        fmt::format("{} would need {:.1f} GiB, but this machine has {:.1f} GiB of memory; {}", what,
                    bytes / 1073741824.0, physical / 1073741824.0, hint));
}

}  // namespace sf
