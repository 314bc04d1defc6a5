// Threading helpers. Work is split by rows; each row's result depends only on that row, so
// results are identical for any thread count.
#pragma once

#include <cstddef>

#include <omp.h>

namespace sf {

template <class F>
void parallel_rows(std::size_t n, F&& f) {
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) f(static_cast<std::size_t>(i));
}

inline int thread_count() { return omp_get_max_threads(); }
inline void set_thread_count(int n) {
  if (n > 0) omp_set_num_threads(n);
}

}  // namespace sf
