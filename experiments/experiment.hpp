// Reproductions of EXPERIMENTS.md: each writes table.csv, table.md and plots into a directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace sf {

struct ExperimentOptions {
  std::filesystem::path out = "runs/experiment";
  bool quick = false;  // a reduced version that finishes in about a minute
  bool force = false;
  std::uint64_t seed = 0;
};

// The mean of independent repetitions and its standard error (NaN for one value).
struct MeanSe {
  double mean, se;
  std::size_t n;
};
MeanSe mean_se(std::span<const double> values);

// The experiments this build can run, for messages.
std::string implemented_experiments();
// E3: WFR weighted SDE vs Langevin and birth–death on mode-hopping targets.
void run_e3(const ExperimentOptions& o);
// E5, first part: the κ-measure sampler study.
void run_e5_kappa(const ExperimentOptions& o);
void run_e5_mean_value(const ExperimentOptions& o);
// E1: SBTM against ULA on the analytic Gaussian (needs LibTorch).
void run_e1(const ExperimentOptions& o);
// E2: SBTM on mixtures, annealed and not (needs LibTorch).
void run_e2(const ExperimentOptions& o);
// E6: denoising-diffusion baselines (needs LibTorch; dispatched by the command line).
void run_e6(const ExperimentOptions& o);
// E5, third part: DSM with and without Fokker–Planck residual penalties (needs LibTorch).
void run_e5_train(const ExperimentOptions& o);
void run_e4(const ExperimentOptions& o);
// E7: real posteriors (logistic regression on three data sets, the Finnish pines LGCP).
void run_e7(const ExperimentOptions& o);

// By name (e3, e5-kappa, e5-meanvalue); names the implemented experiments when unknown.
void run_experiment(const std::string& name, const ExperimentOptions& o);

}  // namespace sf
