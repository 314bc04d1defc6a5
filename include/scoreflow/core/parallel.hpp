// Threading helpers. Work is split by rows or by fixed blocks of rows; each result depends
// only on its rows, so results are identical for any thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <limits>
#include <mutex>

#include <omp.h>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {

// An exception may not leave an OpenMP region (it would terminate the process): each item's
// is caught, and the one of the lowest index is rethrown after the loop, so the error a user
// sees does not depend on the thread count.
class FirstError {
 public:
  template <class F>
  void run(std::size_t index, F&& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (index < index_) {
        index_ = index;
        error_ = std::current_exception();
      }
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::size_t index_ = std::numeric_limits<std::size_t>::max();
  std::exception_ptr error_;
};

template <class F>
void parallel_rows(std::size_t n, F&& f) {
  FirstError error;
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i)
    error.run(static_cast<std::size_t>(i), [&] { f(static_cast<std::size_t>(i)); });
  error.rethrow();
}

// f(first, count) over blocks of `block` rows; block boundaries depend only on n, so
// vectorised kernels see the same blocks whatever the thread count.
template <class F>
void parallel_blocks(std::size_t n, std::size_t block, F&& f) {
  const std::size_t nb = (n + block - 1) / block;
  FirstError error;
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(nb); ++b) {
    const std::size_t first = static_cast<std::size_t>(b) * block;
    error.run(first, [&] { f(first, std::min(block, n - first)); });
  }
  error.rethrow();
}

inline int thread_count() {
  return omp_get_max_threads();
}
// More threads than this only thrash (and OpenMP cannot start 10⁵ of them: it crashes).
inline constexpr int kMaxThreads = 1024;

// n = 0 keeps the OpenMP default (one per core).
inline void set_thread_count(int n) {
  if (n < 0 || n > kMaxThreads)
    throw InvalidArgument(fmt::format(
        "--threads is {}, but must lie in [0, {}] (0: one per core); results do not depend on it",
        n, kMaxThreads));
  if (n > 0) omp_set_num_threads(n);
}

}  // namespace sf
