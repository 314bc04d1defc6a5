// A user's target written in PyTorch: a TorchScript module whose
//   forward(x: Tensor[N, d] float64) -> Tensor[N]
// is log π up to a constant. The score is the module's `score(x) -> Tensor[N, d]` method when
// it has one, else the gradient of forward by autograd in C++; no Python runs at sampling
// time. Rows are evaluated in fixed blocks, so results do not depend on the thread count.
#pragma once

#include <memory>
#include <string>

#include <scoreflow/targets/target.hpp>

namespace sf {

// `dim` 0 takes the dimension from the module's integer attribute `dim`; when both are given
// they must agree. Checks the module once on a probe batch and names the file and what is
// wrong: no forward, wrong output shape or dtype.
std::unique_ptr<Target> load_torchscript_target(const std::string& path, std::size_t dim = 0);

// Registers `torchscript:path=FILE.pt[,d=…]` in the target registry.
void register_torchscript_target();

}  // namespace sf
