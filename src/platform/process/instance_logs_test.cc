#include "platform/process/instance_logs.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace ramp::platform {
namespace {

namespace fs = std::filesystem;

class InstanceLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("instance-logs-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const fs::path& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
    return (dir_ / rel).string();
  }

  fs::path dir_;
};

TEST(FileSafe, KeepsSafeCharactersAndReplacesTheRest) {
  EXPECT_EQ(FileSafe("shop-1.2_a"), "shop-1.2_a");
  EXPECT_EQ(FileSafe("a/b c"), "a_b_c");
  EXPECT_EQ(FileSafe(""), "_");
  EXPECT_EQ(FileSafe(".."), "_..");
}

TEST_F(InstanceLogsTest, ListsTheInstancesOfOneRevisionInOrder) {
  Write("instances/default/web/abc/i-2/output.log", "two\n");
  Write("instances/default/web/abc/i-1/output.log", "one\n");
  Write("instances/default/web/abc/revision.json", "{}");
  Write("instances/default/web/abc/i-3/instance.json", "{}");  // no output yet
  Write("instances/default/web/def/i-9/output.log", "other revision\n");
  Write("instances/other/web/abc/i-7/output.log", "other namespace\n");
  auto logs = ListInstanceLogs(dir_.string(), ObjectRef{"default", "web"}, "abc");
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].instance, "i-1");
  EXPECT_EQ(logs[1].instance, "i-2");
  EXPECT_EQ(logs[1].path, (dir_ / "instances/default/web/abc/i-2/output.log").string());
  EXPECT_TRUE(ListInstanceLogs(dir_.string(), ObjectRef{"default", "web"}, "zzz").empty());
  EXPECT_TRUE(ListInstanceLogs((dir_ / "missing").string(), ObjectRef{"a", "b"}, "c").empty());
}

TEST_F(InstanceLogsTest, TailTakesTheLastLinesWithinTheByteLimit) {
  const std::string path = Write("log", "first\nsecond\nthird\n");
  EXPECT_EQ(*TailFile(path, 0, 1 << 20), "first\nsecond\nthird\n");
  EXPECT_EQ(*TailFile(path, 2, 1 << 20), "second\nthird\n");
  EXPECT_EQ(*TailFile(path, 9, 1 << 20), "first\nsecond\nthird\n");
  // 10 bytes from the end cut "second" in the middle: the cut line is dropped.
  EXPECT_EQ(*TailFile(path, 0, 10), "third\n");
  const std::string open = Write("open", "a\nb");  // the last line is still being written
  EXPECT_EQ(*TailFile(open, 1, 1 << 20), "b");
  auto missing = TailFile((dir_ / "nope").string(), 1, 100);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ramp::platform
