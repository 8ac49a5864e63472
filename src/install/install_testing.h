// Test helpers for the install tests: running a program to completion with its stdout and stderr
// captured, reading multi-document YAML as JSON, and a kubeconfig for the API-server fake.
// Test-only.
//
// Thread-safety: none needed; each test uses its own directory.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/subprocess.h"
#include "spec/yaml_tree.h"

namespace ramp::install::testing {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;  // -1: did not finish within the limit
  std::string out;
  std::string err;
};

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `argv` (argv[0] a path or a name found in the PATH of `env`) with exactly `env`, stdout
// and stderr to files in `dir`, for at most `limit`.
inline RunResult Run(const fs::path& dir, const std::vector<std::string>& argv,
                     const std::vector<std::string>& env,
                     std::chrono::seconds limit = std::chrono::seconds(60)) {
  static int runs = 0;
  const int n = runs++;
  const fs::path out = dir / ("out" + std::to_string(n) + ".txt");
  const fs::path err = dir / ("err" + std::to_string(n) + ".txt");
  SubprocessOptions opts;
  // The shell only splits stderr off (Subprocess sends both streams to one place), then becomes
  // the program.
  opts.argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>\"$RAMP_TEST_STDERR\""};
  opts.argv.insert(opts.argv.end(), argv.begin(), argv.end());
  opts.env = env;
  opts.env.push_back("RAMP_TEST_STDERR=" + err.string());
  opts.output_path = out.string();
  RunResult r;
  auto p = Subprocess::Start(opts);
  if (!p) {
    r.err = p.error().ToString();
    return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::optional<int> status;
  while (!(status = (*p)->Poll()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (status) {
    r.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  } else {
    (*p)->Kill();
  }
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

// Every non-empty document of `text` as JSON (as kubectl reads YAML into JSON).
inline std::vector<nlohmann::json> YamlDocuments(const std::string& text, const std::string& file) {
  std::vector<nlohmann::json> out;
  auto docs = spec::ParseDocuments(text, file);
  EXPECT_TRUE(docs.has_value()) << (docs ? "" : docs.error().ToString());
  if (!docs) return out;
  for (const spec::Document& d : *docs) {
    if (!d.root.IsNull()) out.push_back(spec::ToJson(d.root));
  }
  return out;
}

// "Kind namespace/name" of an object.
inline std::string Key(const nlohmann::json& o) {
  const nlohmann::json& m = o["metadata"];
  return o.value("kind", "") + " " + m.value("namespace", "") + "/" + m.value("name", "");
}

// A kubeconfig at `path` for an API server at `server`, namespace "default".
inline void WriteKubeconfig(const fs::path& path, const std::string& server) {
  std::ofstream(path) << "apiVersion: v1\n"
                         "kind: Config\n"
                         "clusters:\n"
                         "- name: fake\n"
                         "  cluster:\n"
                      << "    server: " << server << "\n"
                      << "contexts:\n"
                         "- name: fake\n"
                         "  context:\n"
                         "    cluster: fake\n"
                         "    namespace: default\n"
                         "    user: tester\n"
                         "current-context: fake\n"
                         "users:\n"
                         "- name: tester\n"
                         "  user:\n"
                         "    token: unused-token\n";
}

// The kubectl on PATH (or /usr/bin:/bin), if any.
inline std::optional<std::string> Kubectl() {
  const char* path = std::getenv("PATH");
  auto found = FindExecutable("kubectl", path != nullptr ? path : "/usr/bin:/bin");
  if (!found || ::access(found->c_str(), X_OK) != 0) return std::nullopt;
  return found;
}

// A fresh directory for one test, removed with everything in it when the object goes.
class TestDir {
 public:
  explicit TestDir(const std::string& prefix)
      : path_(fs::path(::testing::TempDir()) /
              (prefix + "_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TestDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace ramp::install::testing
