// Argo's analysis manifests (../shared/conformance) that use the prometheus, web and job
// providers, run by ramp's analysis runner with the real providers against loopback fakes; the
// expected outcome of each is stated in provider-outcomes.yaml beside this file.
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "analysis/analysis.h"
#include "analysis/expr_evaluator.h"
#include "metrics/register.h"
#include "net/testing/http_test_server.h"
#include "ramp/http_client.h"
#include "runtime/analysis_runner.h"
#include "spec/common.h"
#include "spec/manifest.h"
#include "tests/integration/prometheus_server.h"

namespace ramp {
namespace {

const std::string kTable =
    std::string(RAMP_SOURCE_DIR) + "/tests/conformance/provider-outcomes.yaml";
const std::string kShared = std::string(RAMP_SHARED_DIR) + "/conformance/";

struct Row {
  size_t index = 0;
  std::string file;
  std::string template_name;
  bool run = false;
  std::map<std::string, std::string> args, secrets, rewrite, metrics;
  bool https = false;
  bool fake = false;
  int fake_status = 200;
  std::string fake_body;
  std::optional<Duration> terminate_after;
  std::string phase;
  std::string rejected;
};

std::map<std::string, std::string> StringMap(const YAML::Node& n) {
  std::map<std::string, std::string> out;
  if (n) {
    for (const auto& kv : n) out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  }
  return out;
}

std::vector<Row> LoadRows() {
  std::vector<Row> rows;
  YAML::Node root;
  try {
    root = YAML::LoadFile(kTable);
  } catch (const std::exception& e) {
    ADD_FAILURE() << kTable << ": " << e.what();
    return rows;
  }
  for (const auto& r : root["rows"]) {
    Row row;
    row.index = rows.size();
    row.file = r["file"].as<std::string>();
    if (r["template"]) row.template_name = r["template"].as<std::string>();
    row.run = r["run"] && r["run"].as<bool>();
    row.args = StringMap(r["args"]);
    row.secrets = StringMap(r["secrets"]);
    row.rewrite = StringMap(r["rewrite"]);
    row.metrics = StringMap(r["metrics"]);
    row.https = r["https"] && r["https"].as<bool>();
    if (r["fake"]) {
      row.fake = true;
      row.fake_status = r["fake"]["status"].as<int>();
      row.fake_body = r["fake"]["body"].as<std::string>();
    }
    if (r["terminateAfter"]) {
      row.terminate_after = Duration(*spec::ParseGoDuration(r["terminateAfter"].as<std::string>()));
    }
    if (r["phase"]) row.phase = r["phase"].as<std::string>();
    if (r["rejected"]) row.rejected = r["rejected"].as<std::string>();
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ReplaceAll(std::string* text, const std::string& from, const std::string& to) {
  for (size_t at = text->find(from); at != std::string::npos;
       at = text->find(from, at + to.size())) {
    text->replace(at, from.size(), to);
  }
}

// A loopback URL that refuses connections: a free port nothing listens on.
std::string ClosedUrl() {
  auto port = testing::FreeLoopbackPort();
  return "http://127.0.0.1:" + std::to_string(port.has_value() ? *port : 1);
}

void PrintTo(const Row& row, std::ostream* os) {
  *os << row.file << (row.template_name.empty() ? "" : " " + row.template_name);
}

class ProviderConformanceTest : public ::testing::TestWithParam<Row> {};

TEST_P(ProviderConformanceTest, RunsAsTheTableSays) {
  const Row& row = GetParam();
  std::unique_ptr<testing::HttpTestServer> fake;
  if (row.fake) {
    fake = std::make_unique<testing::HttpTestServer>(
        [&row](const testing::TestRequest&) {
          testing::TestResponse r;
          r.status = row.fake_status;
          r.headers = {{"Content-Type", "application/json"}};
          r.body = row.fake_body;
          return r;
        },
        testing::HttpTestServerOptions{.tls = row.https});
  }
  const std::string closed = ClosedUrl();
  auto fill = [&](std::string value) {
    if (fake) ReplaceAll(&value, "{{fake}}", fake->Url());
    ReplaceAll(&value, "{{closed}}", closed);
    return value;
  };

  std::string text = ReadFile(kShared + row.file);
  ASSERT_FALSE(text.empty()) << "cannot read " << kShared + row.file;
  for (const auto& [from, to] : row.rewrite) {
    ASSERT_NE(text.find(from), std::string::npos) << "rewrite: \"" << from << "\" not in the file";
    ReplaceAll(&text, from, fill(to));
  }
  spec::ManifestSet set = spec::LoadManifests(text, row.file);
  std::string diagnostics;
  for (const auto& d : set.diagnostics.items()) diagnostics += d.ToString() + "\n";
  if (!row.rejected.empty()) {
    EXPECT_FALSE(set.ok()) << "expected the file to be rejected";
    EXPECT_THAT(diagnostics, ::testing::HasSubstr(row.rejected));
    return;
  }
  ASSERT_TRUE(set.ok()) << diagnostics;

  std::vector<spec::AnalysisTemplate> templates;
  std::map<std::string, bool> cluster;
  std::string namespace_ = "default";
  for (const auto& t : set.analysis_templates) {
    templates.push_back(*t.object);
    cluster[t.object->metadata.name] = false;
    if (t.object->metadata.name == row.template_name && !t.object->metadata.namespace_.empty()) {
      namespace_ = t.object->metadata.namespace_;
    }
  }
  for (const auto& t : set.cluster_analysis_templates) {
    templates.push_back(*t.object);
    cluster[t.object->metadata.name] = true;
  }
  analysis::SecretLookup secrets = [&](std::string_view name,
                                       std::string_view key) -> StatusOr<std::string> {
    auto it = row.secrets.find(std::string(name) + "/" + std::string(key));
    if (it == row.secrets.end()) {
      return Fail(NotFoundError("secrets \"" + std::string(name) + "\" not found"));
    }
    return fill(it->second);
  };

  spec::AnalysisRun run;
  if (row.run) {
    ASSERT_EQ(set.analysis_runs.size(), 1u);
    run = *set.analysis_runs[0].object;
    if (run.metadata.name.empty()) run.metadata.name = run.metadata.generate_name + "conformance";
    if (run.metadata.namespace_.empty()) run.metadata.namespace_ = "default";
  } else {
    ASSERT_TRUE(cluster.contains(row.template_name)) << "no template " << row.template_name;
    analysis::TemplateRunOptions o;
    o.name = row.template_name + "-conformance";
    o.namespace_ = namespace_;
    o.templates = {spec::AnalysisTemplateRef{row.template_name, cluster[row.template_name]}};
    for (const auto& [name, value] : row.args) {
      spec::Argument a;
      a.name = name;
      a.value = fill(value);
      o.args.push_back(std::move(a));
    }
    auto made = analysis::NewAnalysisRunFromTemplates(o, templates, secrets);
    ASSERT_TRUE(made.has_value()) << made.error().message();
    run = made->run;
  }
  run.metadata.uid = "conformance-" + std::to_string(row.index);

  std::unique_ptr<Clock> clock = NewSystemClock();
  std::unique_ptr<HttpClient> http = NewHttpClient();
  Registry<MetricProvider> providers("metric provider");
  ASSERT_TRUE(metrics::RegisterHttpMetricProviders(providers, http.get(), secrets).ok());
  ASSERT_TRUE(metrics::RegisterJobMetricProvider(providers, clock.get(), secrets).ok());
  runtime::AnalysisRunnerOptions options;
  options.providers = &providers;
  options.clock = clock.get();
  options.evaluator.condition = analysis::ExprConditionEvaluator();
  options.evaluator.secrets = secrets;
  options.terminate_after = row.terminate_after;
  options.timeout = std::chrono::seconds(80);
  auto done = runtime::RunAnalysis(run, options);
  ASSERT_TRUE(done.has_value()) << done.error().message();
  const std::string status = spec::ToJson(done->status).dump(2);
  EXPECT_EQ(spec::AnalysisPhaseName(done->status.phase), row.phase) << status;
  for (const auto& [metric, phase] : row.metrics) {
    bool found = false;
    for (const auto& r : done->status.metric_results) {
      if (r.name != metric) continue;
      found = true;
      EXPECT_EQ(spec::AnalysisPhaseName(r.phase), phase) << metric << "\n" << status;
    }
    EXPECT_TRUE(found) << "no result for metric " << metric << "\n" << status;
  }
}

std::string RowName(const ::testing::TestParamInfo<Row>& info) {
  std::string name = info.param.template_name.empty()
                         ? std::filesystem::path(info.param.file).stem().string()
                         : info.param.template_name;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  char prefix[8];
  std::snprintf(prefix, sizeof prefix, "r%02zu_", info.param.index);
  return prefix + name;
}

INSTANTIATE_TEST_SUITE_P(Table, ProviderConformanceTest, ::testing::ValuesIn(LoadRows()), RowName);

// Every conformance file whose analysis uses one of these providers has a row.
TEST(ProviderConformanceTableTest, EveryFileUsingTheProvidersHasARow) {
  std::set<std::string> in_table;
  for (const Row& row : LoadRows()) in_table.insert(row.file);
  const std::regex uses(R"((^|\n)\s*(prometheus|web|job):\s*\n)");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kShared)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".yaml") continue;
    std::string text = ReadFile(entry.path().string());
    if (text.find("AnalysisTemplate") == std::string::npos &&
        text.find("AnalysisRun") == std::string::npos) {
      continue;
    }
    if (!std::regex_search(text, uses)) continue;
    const std::string rel = std::filesystem::relative(entry.path(), kShared).string();
    EXPECT_TRUE(in_table.contains(rel)) << rel << " has no row in " << kTable;
  }
}

}  // namespace
}  // namespace ramp
