#include "core/torch_view.hpp"

#include <torch/torch.h>

#include "core/particles.hpp"

namespace sf {

at::Tensor as_tensor(Particles& p) {
  return torch::from_blob(p.data(), {static_cast<int64_t>(p.n()), static_cast<int64_t>(p.d())},
                          torch::TensorOptions().dtype(torch::kFloat64));
}

}  // namespace sf
