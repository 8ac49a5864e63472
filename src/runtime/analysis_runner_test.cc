#include "runtime/analysis_runner.h"

#include <atomic>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "analysis/expr_evaluator.h"
#include "spec/manifest.h"

namespace ramp::runtime {
namespace {

using ::testing::HasSubstr;

// A provider for tests, configured per metric: {"value": N} answers N (from another thread when
// "async" is set); {"running": true} stays Running until terminated; {"never": true} never
// answers. It records the configurations and secrets it was given.
// What the fake saw; outlives the provider (the runner owns and ends it).
struct Record {
  std::mutex mu;
  std::vector<std::string> configs;
  std::vector<std::string> secrets;
  std::atomic<bool> terminated{false};
};

class FakeProvider final : public MetricProvider {
 public:
  explicit FakeProvider(std::shared_ptr<Record> record) : record_(std::move(record)) {}
  std::string_view Type() const override { return "fake"; }
  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    auto config = nlohmann::json::parse(metric.provider_config_json);
    {
      std::lock_guard<std::mutex> lock(record_->mu);
      record_->configs.push_back(metric.provider_config_json);
      record_->secrets = ctx.secrets;
    }
    Measurement m;
    m.started_at = ctx.now;
    if (config.contains("never")) return;
    if (config.contains("running")) {
      done(MeasurementUpdate::Running(m, ctx.now + std::chrono::hours(1)));
      return;
    }
    m.finished_at = ctx.now;
    auto value = std::make_shared<const nlohmann::json>(config["value"]);
    m.value = value->dump();
    if (config.value("async", false)) {
      threads_.emplace_back([done, m, value] { done(MeasurementUpdate::Value(m, value)); });
    } else {
      done(MeasurementUpdate::Value(m, value));
    }
  }
  void Resume(const RunContext&, const MetricRef&, const Measurement& m,
              MeasurementCallback done) override {
    done(MeasurementUpdate::Error(m, "not resumable"));
  }
  void Terminate(const RunContext& ctx, const MetricRef&, const Measurement& m,
                 MeasurementCallback done) override {
    record_->terminated = true;
    Measurement out = m;
    out.phase = AnalysisPhase::kSuccessful;
    out.message = "metric terminated";
    out.finished_at = ctx.now;
    done(MeasurementUpdate::Judged(out));
  }
  void GarbageCollect(const RunContext&, const MetricRef&, int32_t, StatusCallback d) override {
    d(OkStatus());
  }
  std::map<std::string, std::string> Metadata(const MetricRef&) const override { return {}; }
  ~FakeProvider() override {
    for (auto& t : threads_) t.join();
  }

 private:
  std::shared_ptr<Record> record_;
  std::vector<std::thread> threads_;
};

// Builds runs from a template `t` given its `metrics:` text.
spec::AnalysisRun MakeRun(const std::string& metrics, std::vector<spec::Argument> args = {}) {
  const std::string yaml =
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: t\nspec:\n"
      "  args:\n  - name: token\n  metrics:\n" +
      metrics;
  spec::ManifestSet set = spec::LoadManifests(yaml, "t.yaml");
  EXPECT_TRUE(set.ok());
  std::vector<spec::AnalysisTemplate> templates;
  for (const auto& t : set.analysis_templates) templates.push_back(*t.object);
  analysis::TemplateRunOptions o;
  o.name = "run";
  o.namespace_ = "default";
  o.templates = {spec::AnalysisTemplateRef{"t", false}};
  o.args = std::move(args);
  auto lookup = [](std::string_view, std::string_view) -> StatusOr<std::string> {
    return std::string("hunter2");
  };
  auto made = analysis::NewAnalysisRunFromTemplates(o, templates, lookup);
  EXPECT_TRUE(made.has_value()) << (made.has_value() ? "" : made.error().message());
  return made.has_value() ? made->run : spec::AnalysisRun{};
}

spec::Argument Plain(std::string value) {
  spec::Argument a;
  a.name = "token";
  a.value = std::move(value);
  return a;
}

struct Fixture {
  Fixture() {
    EXPECT_TRUE(registry
                    .Register("fake",
                              [this]() -> StatusOr<std::unique_ptr<MetricProvider>> {
                                return std::unique_ptr<MetricProvider>(
                                    std::make_unique<FakeProvider>(record));
                              })
                    .ok());
    options.providers = &registry;
    options.clock = clock.get();
    options.evaluator.condition = analysis::ExprConditionEvaluator();
    options.timeout = std::chrono::seconds(20);
  }
  Registry<MetricProvider> registry{"metric provider"};
  std::unique_ptr<Clock> clock = NewSystemClock();
  AnalysisRunnerOptions options;
  std::shared_ptr<Record> record = std::make_shared<Record>();
};

TEST(AnalysisRunnerTest, RunsUntilTheConditionsDecide) {
  Fixture f;
  int updates = 0;
  f.options.on_update = [&](const spec::AnalysisRun&, const std::vector<engine::EmitEvent>&) {
    ++updates;
  };
  auto run =
      RunAnalysis(MakeRun("  - name: ok\n    successCondition: result > 1\n"
                          "    provider:\n      plugin:\n        fake: {value: 5}\n"
                          "  - name: bad\n    successCondition: result > 1\n"
                          "    provider:\n      plugin:\n        fake: {value: 0, async: true}\n",
                          {Plain("x")}),
                  f.options);
  ASSERT_TRUE(run.has_value()) << run.error().message();
  EXPECT_EQ(run->status.phase, spec::AnalysisPhase::kFailed);
  ASSERT_EQ(run->status.metric_results.size(), 2u);
  EXPECT_EQ(run->status.metric_results[0].phase, spec::AnalysisPhase::kSuccessful);
  EXPECT_EQ(run->status.metric_results[1].phase, spec::AnalysisPhase::kFailed);
  EXPECT_GT(updates, 0);
}

TEST(AnalysisRunnerTest, SecretArgumentsReachTheProviderOnlyAtTheCall) {
  Fixture f;
  f.options.evaluator.secrets = [](std::string_view secret,
                                   std::string_view key) -> StatusOr<std::string> {
    if (secret == "creds" && key == "token") return std::string("hunter2");
    return Fail(NotFoundError("no such secret"));
  };
  spec::Argument secret;
  secret.name = "token";
  secret.value_from = spec::ArgumentValueFrom{};
  secret.value_from->secret_key_ref = spec::SecretKeyRef{"creds", "token"};
  auto run =
      RunAnalysis(MakeRun("  - name: m\n    provider:\n      plugin:\n        fake:\n"
                          "          value: 1\n          header: \"Bearer {{args.token}}\"\n",
                          {secret}),
                  f.options);
  ASSERT_TRUE(run.has_value()) << run.error().message();
  EXPECT_EQ(run->status.phase, spec::AnalysisPhase::kSuccessful);
  ASSERT_EQ(f.record->configs.size(), 1u);
  EXPECT_THAT(f.record->configs[0], HasSubstr("Bearer hunter2"));
  EXPECT_EQ(f.record->secrets, std::vector<std::string>{"hunter2"});
  // The stored run keeps the tag, never the value.
  EXPECT_EQ(spec::ToJson(run->status).dump().find("hunter2"), std::string::npos);
}

TEST(AnalysisRunnerTest, TerminateAfterStopsARunningMeasurement) {
  Fixture f;
  f.options.terminate_after = std::chrono::milliseconds(100);
  auto run = RunAnalysis(MakeRun("  - name: long\n    provider:\n      plugin:\n"
                                 "        fake: {running: true}\n",
                                 {Plain("x")}),
                         f.options);
  ASSERT_TRUE(run.has_value()) << run.error().message();
  EXPECT_TRUE(f.record->terminated.load());
  EXPECT_TRUE(run->spec.terminate);
  EXPECT_EQ(run->status.phase, spec::AnalysisPhase::kSuccessful);
}

TEST(AnalysisRunnerTest, ARequestedTerminationStopsARunningMeasurement) {
  Fixture f;
  f.options.terminate_requested = [&] {  // once the measurement is being taken
    std::lock_guard<std::mutex> lock(f.record->mu);
    return !f.record->configs.empty();
  };
  auto run = RunAnalysis(MakeRun("  - name: long\n    provider:\n      plugin:\n"
                                 "        fake: {running: true}\n",
                                 {Plain("x")}),
                         f.options);
  ASSERT_TRUE(run.has_value()) << run.error().message();
  EXPECT_TRUE(f.record->terminated.load());
  EXPECT_TRUE(run->spec.terminate);
  EXPECT_TRUE(spec::IsCompleted(run->status.phase));
}

TEST(AnalysisRunnerTest, GivesUpAfterTheTimeoutNamingThePhase) {
  Fixture f;
  f.options.timeout = std::chrono::milliseconds(200);
  f.options.drain = std::chrono::milliseconds(50);
  auto run = RunAnalysis(MakeRun("  - name: silent\n    provider:\n      plugin:\n"
                                 "        fake: {never: true}\n",
                                 {Plain("x")}),
                         f.options);
  ASSERT_FALSE(run.has_value());
  EXPECT_EQ(run.error().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(run.error().message(), HasSubstr("phase Running"));
}

TEST(AnalysisRunnerTest, AnUnknownProviderIsAnErrorMeasurementNotACrash) {
  Fixture f;
  Registry<MetricProvider> empty{"metric provider"};
  f.options.providers = &empty;
  f.options.timeout = std::chrono::milliseconds(300);
  auto run = RunAnalysis(MakeRun("  - name: m\n    provider:\n      plugin:\n"
                                 "        fake: {value: 1}\n",
                                 {Plain("x")}),
                         f.options);
  ASSERT_FALSE(run.has_value());  // errors are retried every 10 s: the timeout comes first
  EXPECT_THAT(run.error().message(), HasSubstr("did not complete"));
}

}  // namespace
}  // namespace ramp::runtime
