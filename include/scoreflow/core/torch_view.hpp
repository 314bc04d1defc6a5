// Zero-copy LibTorch views of particle arrays. Kept out of widely included headers: only
// translation units that already use LibTorch include <torch/torch.h>.
#pragma once

namespace at {
class Tensor;
}

namespace sf {
class Particles;

// A float64 N x d tensor sharing memory with `p` (no copy); valid while `p` lives and is
// not resized.
at::Tensor as_tensor(Particles& p);
// A copy of a 2-D tensor (any floating dtype) as particles.
Particles to_particles(const at::Tensor& t);

}  // namespace sf
