// Threading helpers. Work is split by rows or by fixed blocks of rows; each result depends
// only on its rows, so results are identical for any thread count.
#pragma once

#include <algorithm>
#include <cstddef>

#include <omp.h>

namespace sf {

template <class F>
void parallel_rows(std::size_t n, F&& f) {
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i)
    f(static_cast<std::size_t>(i));
}

// f(first, count) over blocks of `block` rows; block boundaries depend only on n, so
// vectorised kernels see the same blocks whatever the thread count.
template <class F>
void parallel_blocks(std::size_t n, std::size_t block, F&& f) {
  const std::size_t nb = (n + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(nb); ++b) {
    const std::size_t first = static_cast<std::size_t>(b) * block;
    f(first, std::min(block, n - first));
  }
}

inline int thread_count() {
  return omp_get_max_threads();
}
inline void set_thread_count(int n) {
  if (n > 0) omp_set_num_threads(n);
}

}  // namespace sf
