// User drifts written with LibTorch ops (TorchScript), their ∇b and ∇²b from autograd:
//   script:path=drift.py,sigma=1
// drift.py holds TorchScript source with `def drift(x: Tensor, t: float) -> Tensor` (x is
// [n, d] float64, the result [n, d]) and optionally `def sigma(t: float) -> float`, which
// then replaces the constant `sigma`. A path ending in .pt loads a scripted module whose
// forward(x, t) is the drift.
#pragma once

#include <memory>
#include <string>

#include <scoreflow/sde/forward_sde.hpp>

namespace sf {

std::unique_ptr<ForwardSde> make_script_sde(const std::string& spec);
// Makes `script:` specs known to make_forward_sde.
void register_script_sde();

}  // namespace sf
