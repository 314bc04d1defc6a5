// Named targets: a spec string "name:key=value,..." -> Target. One registry holds the
// built-ins and whatever user code adds, so `scoreflow targets`, configs and error messages
// know a user's target like a built-in.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <scoreflow/core/registry.hpp>
#include <scoreflow/targets/spec.hpp>
#include <scoreflow/targets/target.hpp>

namespace sf {

// Builds a target from its parsed spec; refuse unknown keys with Spec::allow_only.
using TargetFactory = std::function<std::unique_ptr<Target>(const Spec&)>;
using TargetRegistry = Registry<TargetFactory>;

// The process-wide registry, with the built-ins entered on first use.
TargetRegistry& target_registry();

// Throws InvalidArgument naming the valid targets when the name is unknown.
std::unique_ptr<Target> make_target(const std::string& spec);

}  // namespace sf
