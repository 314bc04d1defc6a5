// The LibTorch commands: `train` (score-matching training), `generate` (diffusion sampling
// and likelihood from a trained or TorchScript model) and `export` (TorchScript). Kept in
// their own translation unit so main.cpp never includes LibTorch.
#pragma once

#include <functional>
#include <optional>

namespace CLI {
class App;
}

namespace sf {

// Registers the commands on `app`; the returned function runs whichever was parsed and
// gives its exit code, or nullopt when none of them was chosen.
std::function<std::optional<int>()> add_neural_commands(CLI::App& app);

}  // namespace sf
