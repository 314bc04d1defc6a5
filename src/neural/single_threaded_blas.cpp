#include <scoreflow/neural/single_threaded_blas.hpp>

#include <dlfcn.h>

namespace sf {
namespace {

using SetThreads = void (*)(int);
using GetThreads = int (*)();

// Looked up at run time: LibTorch may be linked against another BLAS.
SetThreads openblas_set() {
  static const auto f =
      reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  return f;
}
GetThreads openblas_get() {
  static const auto f =
      reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return f;
}

}  // namespace

SingleThreadedBlas::SingleThreadedBlas() {
  if (!openblas_set() || !openblas_get()) return;
  before_ = openblas_get()();
  openblas_set()(1);
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (before_ > 0) openblas_set()(before_);
}

}  // namespace sf
