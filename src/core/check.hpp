// One family of argument checks: (function, argument name, value) -> a message such as
// "ula: step size is -1, but must be positive and finite".
#pragma once

#include <cmath>
#include <cstddef>
#include <string_view>

#include <fmt/format.h>

#include "core/error.hpp"

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

}  // namespace sf
