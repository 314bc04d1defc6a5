// `scoreflow bench train-dsm | train-ism`: optimiser steps per second of score-network
// training, the settings of bench/reference/train_step_torch.py (residual MLP d→128→128→128→d,
// SiLU, Adam; DSM batch 256, ISM with exact divergence batch 100; d = 2 by default).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cli/bench.hpp"

namespace sf {

nlohmann::json bench_train(const std::string& loss, const BenchOptions& o);

// `scoreflow bench sbtm`: wall time per SBTM time step (10 ISM minibatch steps of 100 and an
// Euler move; π = N(0, I)), the settings of bench/reference/sbtm_torch.py. Default n = 1,000,
// d = 1 (network [128, 128]); d ≥ 2 uses 4×128.
nlohmann::json bench_sbtm(const BenchOptions& o);

}  // namespace sf
