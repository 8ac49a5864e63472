#include "platform/process/instance_record.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "platform/process/instance_process.h"

namespace ramp::platform {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    ::poll(nullptr, 0, 10);
  }
  return cond();
}

class InstanceProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ramp-record-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST(InstanceRecordTest, RevisionRecordRoundTrip) {
  RevisionRecord r;
  r.rollout = {"prod", "shop"};
  r.hash = "abc123";
  r.revision = 7;
  r.desired_replicas = 3;
  auto back = DecodeRevisionRecord(EncodeRevisionRecord(r));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, r);
  EXPECT_FALSE(DecodeRevisionRecord("{").has_value());
  EXPECT_FALSE(DecodeRevisionRecord(R"({"version": 2})").has_value());
  EXPECT_FALSE(
      DecodeRevisionRecord(R"({"version":1,"rollout":{"namespace":"a","name":"b"},"hash":"h",)"
                           R"("desired_replicas":1,"template_file":"../x"})")
          .has_value());
}

TEST(InstanceRecordTest, InstanceRecordRoundTrip) {
  InstanceRecord r;
  r.rollout = {"default", "shop"};
  r.hash = "abc123";
  r.revision = 2;
  r.id = "shop-abc123-4";
  r.ordinal = 4;
  r.pid = 4242;
  r.pgid = 4242;
  r.start_time = 123456789;
  r.boot_id = "b00t";
  r.port = 20004;
  r.created_at = FromUnixNanos(1'700'000'000'123'456'789);
  r.ready_since = FromUnixNanos(1'700'000'001'000'000'000);
  r.restarts = 3;
  r.crashes = 1;
  r.stopping = true;
  r.restart_after_stop = true;
  auto back = DecodeInstanceRecord(EncodeInstanceRecord(r));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, r);
  r.ready_since.reset();
  r.pid = 0;
  back = DecodeInstanceRecord(EncodeInstanceRecord(r));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, r);
  EXPECT_FALSE(DecodeInstanceRecord(R"({"version":1,"rollout":{}})").has_value());
}

TEST_F(InstanceProcessTest, AtomicWriteReplacesAndRemoveIsIdempotent) {
  std::string path = dir_ + "/r.json";
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  auto text = ReadWholeFile(path);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "two");
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
  EXPECT_TRUE(RemoveFileDurably(path).ok());
  EXPECT_TRUE(RemoveFileDurably(path).ok());
  EXPECT_EQ(ReadWholeFile(path).error().code(), StatusCode::kNotFound);
  EXPECT_FALSE(WriteFileAtomically(dir_ + "/missing/r.json", "x").ok());
}

TEST(ProcStatTest, OwnStartTimeAndBootId) {
  auto me = ReadProcStat(::getpid());
  ASSERT_TRUE(me.has_value());
  EXPECT_GT(me->start_time, 0u);
  EXPECT_EQ(me->ppid, ::getppid());
  EXPECT_EQ(ReadProcStat(::getpid())->start_time, me->start_time);
  EXPECT_FALSE(ReadProcStat(0).has_value());
  EXPECT_FALSE(ReadBootId().empty());
}

TEST_F(InstanceProcessTest, LaunchRecordsBeforeExecAndRefusalRunsNothing) {
  SubprocessOptions so;
  so.argv = {"sh", "-c", "echo ran > ran; exec sleep 30"};
  so.env = {"PATH=/usr/bin:/bin"};
  so.working_dir = dir_;
  so.output_path = dir_ + "/out.log";
  // Refused: the child exits without running the program.
  pid_t refused_pid = 0;
  auto refused = TrackedProcess::Launch(so, [&](pid_t pid, uint64_t start) {
    refused_pid = pid;
    auto st = ReadProcStat(pid);
    EXPECT_TRUE(st.has_value());
    EXPECT_EQ(st ? st->start_time : 0, start);
    return InternalError("no record");
  });
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message(), "no record");
  EXPECT_GT(refused_pid, 0);
  EXPECT_FALSE(ReadProcStat(refused_pid).has_value());  // reaped
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "ran"));

  // Accepted: the program runs in its own session and group, after the callback.
  bool ran_before = true;
  auto p = TrackedProcess::Launch(so, [&](pid_t, uint64_t) {
    ran_before = fs::exists(fs::path(dir_) / "ran");
    return OkStatus();
  });
  ASSERT_TRUE(p.has_value()) << p.error().message();
  EXPECT_FALSE(ran_before);
  EXPECT_TRUE((*p)->child());
  EXPECT_TRUE(WaitUntil([&] { return fs::exists(fs::path(dir_) / "ran"); }, 5s));
  auto st = ReadProcStat((*p)->pid());
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->pgrp, (*p)->pid());
  EXPECT_EQ(st->start_time, (*p)->start_time());
  EXPECT_FALSE((*p)->Poll().has_value());

  // Adopting it again (as a new platform in this process would) finds the same process.
  auto again = TrackedProcess::Adopt((*p)->pid(), (*p)->start_time());
  EXPECT_EQ(again.found, TrackedProcess::Found::kRunning);
  ASSERT_NE(again.process, nullptr);
  EXPECT_TRUE(again.process->child());
  // Another start time is another process: reported as reused, nothing adopted.
  auto reused = TrackedProcess::Adopt((*p)->pid(), (*p)->start_time() + 1);
  EXPECT_EQ(reused.found, TrackedProcess::Found::kReused);
  EXPECT_EQ(reused.process, nullptr);
  EXPECT_FALSE((*p)->Poll().has_value());  // not signalled

  // Dropping a TrackedProcess never stops it.
  again.process.reset();
  EXPECT_FALSE((*p)->Poll().has_value());
  (*p)->SignalGroup(SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return (*p)->Poll().has_value(); }, 5s));
  EXPECT_EQ(*(*p)->Poll(), "killed by signal SIGTERM (15)");
  (*p)->Kill();
  EXPECT_FALSE(ReadProcStat((*p)->pid()).has_value());
  auto gone = TrackedProcess::Adopt((*p)->pid(), (*p)->start_time());
  EXPECT_NE(gone.found, TrackedProcess::Found::kRunning);
}

TEST_F(InstanceProcessTest, LaunchReportsAMissingProgram) {
  SubprocessOptions so;
  so.argv = {"/nonexistent/program"};
  so.env = {"PATH=/usr/bin:/bin"};
  bool called = false;
  auto p = TrackedProcess::Launch(so, [&](pid_t, uint64_t) {
    called = true;
    return OkStatus();
  });
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(called);
  so.working_dir = dir_ + "/missing";
  so.argv = {"true"};
  p = TrackedProcess::Launch(so, [](pid_t, uint64_t) { return OkStatus(); });
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message().find("cannot run true"), std::string::npos);
}

}  // namespace
}  // namespace ramp::platform
