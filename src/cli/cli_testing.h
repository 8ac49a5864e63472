// Test helpers for the CLI end-to-end tests: running the built `ramp` binary with a verb and
// arguments, and capturing its exit code, stdout and stderr. Test-only.
//
// Thread-safety: each call uses files named after the running test, so tests of one binary may
// run in parallel processes (CTest); one call at a time per test.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace ramp::cli::testing_util {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A file named after `verb`, the running test and `name` in the test's temporary directory.
inline std::string WriteTemp(const std::string& verb, const std::string& name,
                             const std::string& text) {
  const std::string path = ::testing::TempDir() + "ramp-" + verb + "-cli-" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                           name;
  std::ofstream(path) << text;
  return path;
}

// Runs `ramp VERB ARGS` (ARGS as a shell would split them).
inline CliResult RunRamp(const std::string& verb, const std::string& args) {
  const std::string err = ::testing::TempDir() + "ramp-" + verb + "-cli-" +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                          ".stderr";
  const std::string cmd =
      std::string(RAMP_BINARY_DIR) + "/src/cli/ramp " + verb + " " + args + " 2>'" + err + "'";
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadAll(err);
  return r;
}

}  // namespace ramp::cli::testing_util
