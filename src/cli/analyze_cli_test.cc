// Runs the built `ramp analyze` binary on job templates (local processes, no network), and checks
// the exit codes (0 Successful, 1 otherwise, 2 on bad input), the text and JSON output, secret
// arguments from --secrets-dir and that secret values never appear in the output.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/cli_testing.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Result = ramp::cli::testing_util::CliResult;

std::string WriteTemp(const std::string& name, const std::string& text) {
  return ramp::cli::testing_util::WriteTemp("analyze", name, text);
}

Result Ramp(const std::string& args) { return ramp::cli::testing_util::RunRamp("analyze", args); }

// A template whose job runs `sh -c SCRIPT` with the given args and env.
std::string JobTemplate(const std::string& name, const std::string& script,
                        const std::string& args_block, const std::string& env_block = "") {
  return "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: " + name +
         "\nspec:\n" + args_block +
         "  metrics:\n  - name: check\n    provider:\n      job:\n        spec:\n"
         "          backoffLimit: 0\n          template:\n            spec:\n"
         "              restartPolicy: Never\n              containers:\n"
         "              - name: c\n                image: busybox\n"
         "                command: [sh, -c, '" +
         script + "']\n" + env_block;
}

TEST(AnalyzeCliTest, ASuccessfulJobExitsZeroAndPrintsTheMeasurement) {
  std::string file = WriteTemp("ok.yaml", JobTemplate("exit-with", "echo hello; exit {{args.code}}",
                                                      "  args:\n  - name: code\n"));
  Result r = Ramp("-f " + file + " --arg code=0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("check #1: Successful"));
  EXPECT_THAT(r.out, HasSubstr("hello"));
  EXPECT_THAT(r.out, HasSubstr("AnalysisRun exit-with-analyze: Successful"));

  Result failed = Ramp("-f " + file + " --arg code=3 -o json");
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  auto j = nlohmann::json::parse(failed.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << failed.out;
  EXPECT_EQ(j["kind"], "AnalysisRun");
  EXPECT_EQ(j["status"]["phase"], "Failed");
  EXPECT_EQ(j["status"]["metricResults"][0]["measurements"][0]["phase"], "Failed");
}

TEST(AnalyzeCliTest, AnInterruptTerminatesTheRunAndStopsItsJob) {
  // The job interrupts ramp itself (its parent), then would sleep for 10 minutes.
  const std::string pid_file = WriteTemp("job.pid", "");
  std::string file = WriteTemp(
      "interrupt.yaml",
      JobTemplate("interrupted",
                  "sh -c \"echo \\$PPID\" > " + pid_file + "; kill -INT $PPID; exec sleep 600",
                  ""));
  Result r = Ramp("-f " + file + " --timeout 60s");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("interrupted; the run was terminated"));
  EXPECT_THAT(r.out, HasSubstr("check #1: Inconclusive"));
  std::ifstream in(pid_file);
  pid_t job = 0;
  ASSERT_TRUE(in >> job) << "the job did not start";
  ASSERT_GT(job, 1);
  // Nothing of the job is left running (reaped by ramp or, at worst, by init right after).
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ::kill(job, 0) != 0 && errno == ESRCH;
    if (!gone) ::poll(nullptr, 0, 50);
  }
  EXPECT_TRUE(gone) << "job process " << job << " still exists";
}

TEST(AnalyzeCliTest, SecretArgumentsComeFromTheSecretsDirAndAreNeverPrinted) {
  const std::string dir = testing::TempDir() + "ramp-analyze-cli-secrets";
  std::filesystem::create_directories(dir + "/db");
  std::ofstream(dir + "/db/password") << "s3cr3t-value";
  std::string file = WriteTemp(
      "secret.yaml",
      JobTemplate("uses-secret", "echo password is $PASSWORD; exit 0",
                  "  args:\n  - name: pw\n    valueFrom:\n      secretKeyRef: {name: db, key: "
                  "password}\n",
                  "                env:\n                - name: PASSWORD\n"
                  "                  value: '{{args.pw}}'\n"));
  Result r = Ramp("-f " + file + " --secrets-dir " + dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("password is *****"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("s3cr3t-value")));

  Result missing = Ramp("-f " + file + " --secrets-dir " + dir + "/nowhere");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.out + missing.err, HasSubstr("RAMP_SECRET_DB_PASSWORD"));
}

TEST(AnalyzeCliTest, BadInputExitsTwoAndSaysWhy) {
  Result none = Ramp("");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("no manifest given"));

  std::string two = WriteTemp(
      "two.yaml", JobTemplate("a", "exit 0", "") + "---\n" + JobTemplate("b", "exit 0", ""));
  Result ambiguous = Ramp("-f " + two);
  EXPECT_EQ(ambiguous.exit_code, 2);
  EXPECT_THAT(ambiguous.err, HasSubstr("several templates (a, b)"));
  Result unknown = Ramp("-f " + two + " --template c");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("no template named \"c\""));

  std::string needs_arg = WriteTemp(
      "arg.yaml", JobTemplate("needs", "exit {{args.code}}", "  args:\n  - name: code\n"));
  Result unresolved = Ramp("-f " + needs_arg);
  EXPECT_EQ(unresolved.exit_code, 2);
  EXPECT_THAT(unresolved.err, HasSubstr("args.code was not resolved"));

  std::string broken = WriteTemp("broken.yaml", "kind: AnalysisTemplate\nspec: [\n");
  Result syntax = Ramp("-f " + broken);
  EXPECT_EQ(syntax.exit_code, 2);
  EXPECT_THAT(syntax.err, HasSubstr("broken.yaml:"));

  Result bad_flag = Ramp("-f " + needs_arg + " --timeout soon");
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_THAT(bad_flag.err, HasSubstr("--timeout"));
}

}  // namespace
