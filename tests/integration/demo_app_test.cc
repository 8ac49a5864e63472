// ramp-demo-app end to end: the built binary on a free loopback port, its answers, its injected
// errors, its metrics and its stop on SIGTERM.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/prometheus_server.h"

extern char** environ;

namespace ramp::testing {
namespace {

using ::testing::HasSubstr;

// The app started with `args` (plus --port 0); its port is read from its first output line.
class DemoApp {
 public:
  explicit DemoApp(std::vector<std::string> args) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    std::vector<std::string> argv_s = {RAMP_BINARY_DIR "/src/demo_app/ramp-demo-app", "--port",
                                       "0"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    out_ = fds[0];
    // Read the "listening on 127.0.0.1:PORT" line, bounded by a deadline.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string line;
    while (pid_ > 0 && line.find('\n') == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) != 1) continue;
      char buf[256];
      ssize_t n = read(out_, buf, sizeof(buf));
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    first_line_ = line;
    auto colon = line.rfind(':');
    if (colon != std::string::npos) port_ = std::atoi(line.c_str() + colon + 1);
  }
  ~DemoApp() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }
  int port() const { return port_; }
  const std::string& first_line() const { return first_line_; }

  // SIGTERM, then waits (bounded) for the exit; the exit status, or -1 when it did not exit.
  int Stop() {
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      pollfd p{out_, POLLIN, 0};
      poll(&p, 1, 20);  // a bounded wait between checks of the child's exit
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
  std::string first_line_;
};

constexpr auto kTimeout = std::chrono::seconds(5);

TEST(DemoAppTest, AnswersWithItsVersionAndStopsOnSigterm) {
  DemoApp app({"--version", "v2"});
  ASSERT_GT(app.port(), 0) << app.first_line();
  EXPECT_THAT(app.first_line(), HasSubstr("ramp-demo-app v2 listening on 127.0.0.1:"));

  auto health = PlainGet(app.port(), "/healthz", kTimeout);
  ASSERT_TRUE(health.has_value()) << health.error().message();
  EXPECT_EQ(health->status, 200);
  auto version = PlainGet(app.port(), "/version", kTimeout);
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(version->body, "v2\n");
  auto page = PlainGet(app.port(), "/shop", kTimeout);
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body, "{\"version\":\"v2\",\"path\":\"/shop\"}\n");
  EXPECT_EQ(app.Stop(), 0);
}

TEST(DemoAppTest, ErrorRateOneFailsEveryAppRequestAndCountsIt) {
  DemoApp app({"--error-rate", "1"});
  ASSERT_GT(app.port(), 0) << app.first_line();
  for (int i = 0; i < 3; ++i) {
    auto r = PlainGet(app.port(), "/", kTimeout);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 500);
  }
  auto health = PlainGet(app.port(), "/healthz", kTimeout);
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);
  auto metrics = PlainGet(app.port(), "/metrics", kTimeout);
  ASSERT_TRUE(metrics.has_value());
  EXPECT_THAT(metrics->body, HasSubstr("ramp_demo_requests_total{code=\"5xx\",version=\"v1\"} 3"));
}

TEST(DemoAppTest, RefusesABadOption) {
  DemoApp app({"--error-rate", "2"});
  EXPECT_EQ(app.port(), 0);
  EXPECT_EQ(app.Stop(), 2);
}

}  // namespace
}  // namespace ramp::testing
