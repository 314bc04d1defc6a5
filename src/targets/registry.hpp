// Named targets: spec string -> Target, and the catalogue `scoreflow targets` prints.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "targets/target.hpp"

namespace sf {

struct TargetInfo {
  std::string name;
  std::string parameters;  // "d=2, mean=0, var=1, ..." with defaults
  std::string description;
};

const std::vector<TargetInfo>& target_catalogue();
// Throws InvalidArgument naming the valid targets when the name is unknown.
std::unique_ptr<Target> make_target(const std::string& spec);

}  // namespace sf
