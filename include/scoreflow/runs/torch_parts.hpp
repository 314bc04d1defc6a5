// The parts that need LibTorch, entered into the library's registries: the `torchscript`
// target, the `script` SDE (a TorchScript drift) and the `sbtm` sampler. scoreflow::scoreflow
// cannot know them, so a program linking scoreflow::torch calls this once before it looks a
// part up by name; calling it again does nothing.
#pragma once

namespace sf {

void register_torch_parts();

}  // namespace sf
