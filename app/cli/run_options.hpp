// CLI11 bindings of the run options: flag names, help and defaults for each command.
#pragma once

#include <CLI/CLI.hpp>

#include <scoreflow/runs/estimate_heat_ball.hpp>
#include <scoreflow/runs/estimate_malliavin.hpp>
#include <scoreflow/runs/malliavin_diffusion.hpp>

namespace sf {

void add_heat_ball_options(CLI::App& cmd, HeatBallEstimateOptions& o);
void add_malliavin_options(CLI::App& cmd, MalliavinEstimateOptions& o);
void add_malliavin_diffusion_options(CLI::App& cmd, MalliavinDiffusionOptions& o);

}  // namespace sf
