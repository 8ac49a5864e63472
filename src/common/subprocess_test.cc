#include "common/subprocess.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ramp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class SubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ramp-subprocess-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Polls until the process exits, bounded.
  static std::optional<int> WaitExit(Subprocess& p) {
    for (int i = 0; i < 1000; ++i) {
      if (auto st = p.Poll()) return st;
      ::usleep(10'000);
    }
    return std::nullopt;
  }
  std::string dir_;
  std::unique_ptr<Clock> clock_ = NewSystemClock();
};

TEST_F(SubprocessTest, ExactEnvArgvWorkdirAndOutputFile) {
  SubprocessOptions o;
  o.argv = {"sh", "-c", "echo \"$0|$FOO|$HOME|$(pwd)\"; echo err >&2; exit 4", "arg0"};
  o.env = {"PATH=/usr/bin:/bin", "FOO=bar baz"};
  o.working_dir = dir_;
  o.output_path = dir_ + "/out.log";
  auto p = Subprocess::Start(o);
  ASSERT_TRUE(p.has_value()) << p.error().message();
  auto st = WaitExit(**p);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(DescribeWaitStatus(*st), "exit code 4");
  EXPECT_EQ(ReadFile(o.output_path), "arg0|bar baz||" + fs::canonical(dir_).string() + "\nerr\n");
  // Poll is idempotent after the exit.
  EXPECT_EQ((*p)->Poll(), st);
}

TEST_F(SubprocessTest, MissingProgramIsNotFound) {
  SubprocessOptions o;
  o.argv = {"no-such-program-ramp"};
  o.env = {"PATH=/usr/bin:/bin"};
  auto p = Subprocess::Start(o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(p.error().message(), "cannot run no-such-program-ramp: No such file or directory");
  EXPECT_FALSE(Subprocess::Start(SubprocessOptions{}).has_value());
}

TEST_F(SubprocessTest, OwnProcessGroupAndStopKillsTheGroup) {
  SubprocessOptions o;
  // The leader ignores SIGTERM and has a background child: Stop must SIGKILL both.
  o.argv = {"sh", "-c", "trap '' TERM; sleep 30 & echo $! > child; wait"};
  o.env = {"PATH=/usr/bin:/bin"};
  o.working_dir = dir_;
  auto p = Subprocess::Start(o);
  ASSERT_TRUE(p.has_value());
  pid_t pid = (*p)->pid();
  EXPECT_EQ(::getpgid(pid), pid);
  EXPECT_EQ(::getsid(pid), pid);
  pid_t child = 0;
  for (int i = 0; i < 500 && child == 0; ++i) {
    std::ifstream f(dir_ + "/child");
    if (!(f >> child)) child = 0;
    if (child == 0) ::usleep(10'000);
  }
  ASSERT_GT(child, 0);
  int st = (*p)->Stop(*clock_, std::chrono::milliseconds(200));
  EXPECT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(WTERMSIG(st), SIGKILL);
  // The background child is gone too (it is not our child, so probe with kill 0 until it is
  // reaped by init; bounded).
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = ::kill(-pid, 0) != 0;
    if (!gone) ::usleep(10'000);
  }
  EXPECT_TRUE(gone);
}

TEST_F(SubprocessTest, StopUsesTermFirst) {
  SubprocessOptions o;
  o.argv = {"sleep", "30"};
  o.env = {"PATH=/usr/bin:/bin"};
  auto p = Subprocess::Start(o);
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE((*p)->Poll().has_value());
  int st = (*p)->Stop(*clock_, std::chrono::seconds(5));
  EXPECT_EQ(DescribeWaitStatus(st), "killed by signal SIGTERM (15)");
}

TEST_F(SubprocessTest, DestructorKills) {
  pid_t pid = 0;
  {
    SubprocessOptions o;
    o.argv = {"sleep", "30"};
    o.env = {"PATH=/usr/bin:/bin"};
    auto p = Subprocess::Start(o);
    ASSERT_TRUE(p.has_value());
    pid = (*p)->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);
}

TEST(FindExecutableTest, SearchesPath) {
  EXPECT_EQ(FindExecutable("/x/y", ""), "/x/y");
  auto sh = FindExecutable("sh", "/nonexistent:/usr/bin:/bin");
  ASSERT_TRUE(sh.has_value());
  EXPECT_EQ(sh->substr(sh->size() - 3), "/sh");
  EXPECT_FALSE(FindExecutable("sh", "/nonexistent").has_value());
  EXPECT_FALSE(FindExecutable("", "/bin").has_value());
}

}  // namespace
}  // namespace ramp
