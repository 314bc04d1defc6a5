// Ctrl-C and SIGTERM as a request to stop at the next step boundary. Long loops (sampler
// runs, training) poll stop_requested() after each step, save a final checkpoint and throw
// Interrupted; the command line turns that into exit code 130. The library never installs
// handlers on its own: an application (the CLI, a Python binding) decides.
#pragma once

#include <string>

#include <scoreflow/core/error.hpp>

namespace sf {

// A run stopped on request; its last state was checkpointed.
struct Interrupted : Error {
  using Error::Error;
};

// SIGINT and SIGTERM set the request; a second signal of either kind ends the process at once
// (the default action), for a loop that does not poll.
void install_stop_handlers();
bool stop_requested();
// The name of the signal behind the request ("SIGINT", "SIGTERM"), or "a stop request".
std::string stop_reason();
// For tests and bindings that catch interrupts themselves.
void request_stop(int signal = 0);
void clear_stop_request();

}  // namespace sf
