// While a SingleThreadedBlas lives, OpenBLAS (under LibTorch) runs on the calling thread.
// Two reasons: OpenBLAS's threaded sgemm rounds differently from its one-thread sgemm, so a
// LibTorch step's numbers would depend on the thread count; and inside scoreflow's own
// OpenMP blocks a threaded BLAS oversubscribes the cores (a d = 50 TorchScript target ran 9×
// slower on 2 cores). Other BLAS libraries are left as they are.
#pragma once

namespace sf {

class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int before_ = 0;  // 0: no OpenBLAS found, nothing to restore
};

}  // namespace sf
