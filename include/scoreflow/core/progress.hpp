// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace sf {

class Progress {
 public:
  Progress(std::size_t total, std::string label);
  ~Progress();
  void update(std::size_t done, const std::string& note = "");
  void finish();

 private:
  std::size_t total_;
  std::string label_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace sf
