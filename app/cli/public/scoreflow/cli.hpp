// The `scoreflow` command line as a function, for programs that add their own parts first:
// register a target, sampler or SDE in the library's registries, then hand over argv, and
// every command, config file and listing knows the new part by name.
#pragma once

namespace sf {

// Parses argv as the `scoreflow` command does and runs the chosen command; returns the exit
// status (0 success, 2 invalid input, 1 other failures).
int cli_main(int argc, char** argv);

}  // namespace sf
