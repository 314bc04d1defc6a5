// The C allocator's settings for long numerical loops. With glibc's defaults, every step that
// frees its multi-megabyte temporaries (LibTorch activations of a few thousand rows, particle
// buffers) hands them back to the kernel, and the next step faults them in again as zeroed
// pages: `generate` on moons spent 85 % of its time in the kernel. Keeping them in the heap
// makes such loops several times faster (BENCHMARKS.md, "Allocator"). Process-wide, so the
// library never calls this on its own: an application (the CLI, the Python module) decides.
#pragma once

#include <cstddef>

namespace sf {

struct AllocatorSettings {
  // Blocks at least this large are mapped from the kernel one by one (and unmapped on free).
  std::size_t mmap_threshold = std::size_t{64} << 20;
  // The heap keeps up to this much free memory at its top instead of returning it.
  std::size_t trim_threshold = std::size_t{512} << 20;
};

// Applies the settings and returns whether the C library took them all (older glibc caps the
// mmap threshold at 32 MiB; other C libraries have no such settings): the settings only
// change speed, so an application may go on either way. Throws InvalidArgument for values
// the interface cannot express (above INT_MAX).
bool tune_allocator(const AllocatorSettings& settings = {});

}  // namespace sf
