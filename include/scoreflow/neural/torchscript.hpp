// TorchScript interchange, so a score network moves between scoreflow and Python:
// export writes a trained residual MLP as a scripted module whose forward(x, t) returns the
// score (time embedding and the 1/std(t) scaling included); import wraps any scripted
// module with that signature, e.g. one written and trained in PyTorch.
#pragma once

#include <string>

#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/score_net.hpp>

namespace sf {

void export_torchscript(ResMlpImpl& net, const std::string& path);

// forward(x: Tensor[B, d] float32, t: Tensor[B] float32) -> Tensor[B, d]. Checks the
// signature once with a probe batch of dimension `dim` and names what is wrong.
TimeScoreFn load_torchscript_score(const std::string& path, std::int64_t dim);

}  // namespace sf
