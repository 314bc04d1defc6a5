#include "experiments/experiment.hpp"

#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {

MeanSe mean_se(std::span<const double> v) {
  if (v.empty()) throw InvalidArgument("mean_se: no values");
  const double n = static_cast<double>(v.size());
  double m = 0;
  for (double x : v) m += x / n;
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {m, v.size() > 1 ? std::sqrt(ss / (n - 1) / n) : NAN, v.size()};
}

std::string implemented_experiments() {
#ifdef SCOREFLOW_WITH_TORCH_EXPERIMENTS
  return "e1, e2, e3, e4, e5-kappa, e5-meanvalue, e5-train, e6, e7";
#else
  return "e3, e5-kappa, e5-meanvalue, e7 (e1, e2, e4, e5-train and e6 need the LibTorch build)";
#endif
}

void run_experiment(const std::string& name, const ExperimentOptions& o) {
  if (name == "e3") return run_e3(o);
  if (name == "e5-kappa") return run_e5_kappa(o);
  if (name == "e5-meanvalue") return run_e5_mean_value(o);
  if (name == "e7") return run_e7(o);
  throw InvalidArgument(fmt::format("experiment '{}' is not implemented; implemented: {}", name,
                                    implemented_experiments()));
}

}  // namespace sf
