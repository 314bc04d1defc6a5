#include <scoreflow/core/torch_view.hpp>

#include <torch/torch.h>

#include <scoreflow/core/particles.hpp>

namespace sf {

at::Tensor as_tensor(Particles& p) {
  return torch::from_blob(p.data(), {static_cast<int64_t>(p.n()), static_cast<int64_t>(p.d())},
                          torch::TensorOptions().dtype(torch::kFloat64));
}

Particles to_particles(const at::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat64).contiguous();
  Particles p(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)));
  std::copy(c.data_ptr<double>(), c.data_ptr<double>() + c.numel(), p.data());
  return p;
}

}  // namespace sf
