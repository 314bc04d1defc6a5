#include <scoreflow/core/interrupt.hpp>

#include <signal.h>

#include <atomic>

namespace sf {
namespace {

std::atomic<int> g_signal{-1};  // -1: no request; 0: requested without a signal
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need a lock-free flag");

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGINT, &dfl, nullptr);  // async-signal-safe: the next signal ends the process
  sigaction(SIGTERM, &dfl, nullptr);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() {
  return g_signal.load() >= 0;
}

std::string stop_reason() {
  switch (g_signal.load()) {
    case SIGINT:
      return "SIGINT (Ctrl-C)";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "a stop request";
  }
}

void request_stop(int signal) {
  g_signal.store(signal);
}
void clear_stop_request() {
  g_signal.store(-1);
}

}  // namespace sf
