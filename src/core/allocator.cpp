#include <scoreflow/core/allocator.hpp>

#include <climits>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sf {

namespace {

#if defined(__GLIBC__)
bool set_option(int option, std::size_t value) {
  return mallopt(option, static_cast<int>(value)) == 1;
}
#endif

void check_expressible(const char* name, std::size_t value) {
  if (value > static_cast<std::size_t>(INT_MAX))
    throw InvalidArgument(fmt::format("allocator {} = {} bytes is above the largest allowed, {}",
                                      name, value, INT_MAX));
}

}  // namespace

bool tune_allocator(const AllocatorSettings& settings) {
  check_expressible("mmap_threshold", settings.mmap_threshold);
  check_expressible("trim_threshold", settings.trim_threshold);
#if defined(__GLIBC__)
  const bool mmap_ok = set_option(M_MMAP_THRESHOLD, settings.mmap_threshold);
  return set_option(M_TRIM_THRESHOLD, settings.trim_threshold) && mmap_ok;
#else
  return false;
#endif
}

}  // namespace sf
