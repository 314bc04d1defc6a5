#include <scoreflow/core/progress.hpp>

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace sf {

Progress::Progress(std::size_t total, std::string label)
    : total_(total), label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1) {
  start_ = last_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  finish();
}

void Progress::update(std::size_t done, const std::string& note) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
  constexpr int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %zu/%zu eta %.0fs %s\x1b[K", label_.c_str(),
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(), 100 * frac, done,
               total_, eta, note.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_ && !finished_) std::fprintf(stderr, "\n");
  finished_ = true;
}

}  // namespace sf
