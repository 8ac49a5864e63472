// Runs the real `ramp lint` binary on every conformance fixture of ../shared/conformance and
// checks the exit code and output against tests/conformance/lint_expectations.tsv.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Expectation {
  std::string fixture;
  int exit_code = 0;
  std::string substring;  // empty: output must be empty
};

std::vector<Expectation> LoadTable() {
  std::vector<Expectation> out;
  std::ifstream in(std::string(RAMP_SOURCE_DIR) + "/tests/conformance/lint_expectations.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    Expectation e;
    std::string code;
    std::getline(ss, e.fixture, '\t');
    std::getline(ss, code, '\t');
    std::getline(ss, e.substring);
    e.exit_code = std::stoi(code);
    if (e.substring == "-") e.substring.clear();
    out.push_back(e);
  }
  return out;
}

// Readable test names in failures instead of a byte dump.
void PrintTo(const Expectation& e, std::ostream* os) { *os << e.fixture; }

struct Result {
  int exit_code = -1;
  std::string output;
};

Result RunLint(const std::string& file) {
  std::string cmd = std::string(RAMP_BINARY_DIR) + "/src/cli/ramp lint -f '" + file + "' 2>&1";
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Conformance() { return std::string(RAMP_SHARED_DIR) + "/conformance"; }

class LintConformance : public testing::TestWithParam<Expectation> {};

TEST_P(LintConformance, MatchesExpectation) {
  const Expectation& e = GetParam();
  std::string path = Conformance() + "/" + e.fixture;
  ASSERT_TRUE(fs::exists(path)) << path;
  Result r = RunLint(path);
  EXPECT_EQ(r.exit_code, e.exit_code) << r.output;
  if (e.substring.empty()) {
    EXPECT_EQ(r.output, "") << "a valid file must lint silently";
  } else {
    EXPECT_NE(r.output.find(e.substring), std::string::npos)
        << "expected to find: " << e.substring << "\nin:\n"
        << r.output;
    // Every error line names the file and a position.
    std::istringstream lines(r.output);
    std::string line;
    while (std::getline(lines, line)) {
      EXPECT_EQ(line.rfind(path + ":", 0), 0u) << line;
    }
  }
}

std::string Name(const testing::TestParamInfo<Expectation>& info) {
  std::string n;
  for (char c : info.param.fixture) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LintConformance, testing::ValuesIn(LoadTable()), Name);

// The table must cover every lint fixture and every example shipped in the conformance folder.
TEST(LintConformanceTable, CoversEveryFixture) {
  std::set<std::string> listed;
  for (const auto& e : LoadTable()) listed.insert(e.fixture);
  for (const char* dir :
       {"argo-lint", "argo-examples", "argo-e2e-functional", "argo-e2e-expectedfailures"}) {
    for (const auto& entry : fs::recursive_directory_iterator(Conformance() + "/" + dir)) {
      if (!entry.is_regular_file()) continue;
      std::string rel = fs::relative(entry.path(), Conformance()).string();
      EXPECT_TRUE(listed.count(rel)) << rel << " is missing from lint_expectations.tsv";
    }
  }
}

TEST(LintCli, UnreadableFileExitsTwo) {
  Result r = RunLint("/nonexistent/ramp-lint-test.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("cannot read /nonexistent/ramp-lint-test.yaml"), std::string::npos);
}

}  // namespace
