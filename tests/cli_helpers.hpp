// Running the scoreflow binary from tests: exit code and combined output, a fresh
// directory per test, and error expectations.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace sf::test {

struct Result {
  int code;
  std::string output;  // stdout and stderr
};

// `env` is a prefix of VAR=value settings for this run only, e.g. SCOREFLOW_CRASH_AT=label.
// The exit code the shell reports for a run that SIGKILL ended.
constexpr int kKilledBySigkill = 128 + 9;

inline Result scoreflow(const std::string& args, const std::string& env = "") {
  const std::string cmd =
      (env.empty() ? "" : "env " + env + " ") + std::string(SCOREFLOW_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status), out};
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir =
        std::filesystem::temp_directory_path() /
        ("sf_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string out(const std::string& name) const { return "--out " + (dir / name).string(); }
  std::filesystem::path dir;
};

inline void expect_error(const Result& r, const std::string& fragment) {
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(fragment), std::string::npos)
      << "missing '" << fragment << "' in: " << r.output;
}

}  // namespace sf::test
