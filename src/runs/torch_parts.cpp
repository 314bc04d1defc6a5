#include <scoreflow/runs/torch_parts.hpp>

#include <mutex>

#include <scoreflow/neural/torch_drift.hpp>
#include <scoreflow/neural/torchscript_target.hpp>
#include <scoreflow/samplers/sbtm.hpp>

namespace sf {

void register_torch_parts() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_script_sde();
    register_torchscript_target();
    register_sbtm_sampler();
  });
}

}  // namespace sf
