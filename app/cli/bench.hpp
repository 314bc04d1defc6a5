// `scoreflow bench`: throughput of the hot loops, median of several repeats.
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

namespace sf {

struct BenchOptions {
  std::size_t n = 0;                  // 0: the benchmark's default
  std::size_t steps = 0;              // ULA only
  std::string target = "gmm-grid16";  // ULA only: any target spec, e.g. torchscript:path=…
  std::size_t dim = 2;                // KDE only
  double kde_tol = 0;                 // kde, wfr: 0 exact sums; > 0 the lattice where it pays
  std::size_t repeats = 5;
  int threads = 0;
};

// ULA on --target (default gmm-grid16, N = 20,000, 1,000 steps): particle-steps per second.
nlohmann::json bench_ula(const BenchOptions& o);
// KDE log-density + score (`kde-density`: log-density alone, as WFR and birth–death use it)
// of N points against themselves (default N = 10,000, d = 2): pair evaluations per second (of
// the exact sum the same results stand for, with --kde-tol), and how many queries each of the
// lattice, float32 kernels and exact sums answered.
nlohmann::json bench_kde(const BenchOptions& o, bool with_score);
// WFR steps with KDE weights on gmm4 (default N = 10,000, 20 steps): pair evaluations per
// second of the KDE inside the step, steps per second, peak memory.
nlohmann::json bench_wfr(const BenchOptions& o);
// The E3 iteration: WFR with the ULA-kernel mixture on gmm4, N = 500, 1,000 iterations.
nlohmann::json bench_wfr_gmm4(const BenchOptions& o);
// Exact κ-measure draws (heat balls), default dimension 256 and 2,000,000 draws: samples per
// second.
nlohmann::json bench_kappa(const BenchOptions& o);

// Malliavin weights with the correction for the paper's nonlinear SDE in d = 2 (default
// 100,000 paths, 250 Euler steps): weights per second.
nlohmann::json bench_malliavin(const BenchOptions& o);

}  // namespace sf
