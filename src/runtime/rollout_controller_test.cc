#include "runtime/rollout_controller.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "analysis/expr_evaluator.h"
#include "engine/state_codec.h"
#include "runtime/provider_set.h"
#include "runtime/runtime_testing.h"
#include "spec/manifest.h"
#include "spec/yaml_tree.h"
#include "store/sqlite/sqlite_store.h"

namespace ramp::runtime {
namespace {

using nlohmann::json;

// A serial executor the test drains itself; tasks may be posted from any thread.
class Executor {
 public:
  void Post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mu_);
    q_.push_back(std::move(task));
    cv_.notify_all();
  }
  // Runs one task, waiting up to `wait` for one; false when none came.
  bool RunOne(std::chrono::milliseconds wait) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, wait, [&] { return !q_.empty(); })) return false;
      task = std::move(q_.front());
      q_.pop_front();
    }
    task();
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
};

constexpr std::string_view kManifest = R"(
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors}
spec:
  metrics:
    - name: error-rate
      successCondition: result < 0.05
      provider:
        plugin:
          ramp/builtin: {signal: errorRate}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          image: shop:1
          command: [shop]
  strategy:
    canary:
      canaryService: shop-canary
      stableService: shop-stable
      trafficRouting:
        plugins:
          ramp/proxy: {listen: "127.0.0.1:8000"}
      steps:
        - setWeight: 20
        - pause: {duration: 10s}
        - analysis: {templates: [{templateName: errors}]}
        - setWeight: 60
        - pause: {}
)";

class RolloutControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::NewMemoryStateStore();
    ASSERT_TRUE(store.has_value()) << store.error().message();
    store_ = std::move(*store);
    ASSERT_TRUE(registry_
                    .Register("ramp/builtin",
                              [v = error_rate_]() -> StatusOr<std::unique_ptr<MetricProvider>> {
                                return std::make_unique<FixedProvider>(v);
                              })
                    .ok());
    providers_ = std::make_unique<ProviderSet>(&registry_, nullptr);
    spec::ManifestSet set = spec::LoadManifests(kManifest, "shop.yaml");
    ASSERT_TRUE(set.ok()) << set.diagnostics.ErrorText();
    ASSERT_EQ(set.rollouts.size(), 1u);
    rollout_ = *set.rollouts[0].object;
    templates_ = std::make_shared<std::vector<spec::AnalysisTemplate>>();
    for (const auto& t : set.analysis_templates) templates_->push_back(*t.object);
    auto docs = spec::ParseDocuments(kManifest, "shop.yaml");
    ASSERT_TRUE(docs.has_value());
    manifest_ = spec::ToJson((*docs)[1].root);
  }

  RolloutControllerDeps Deps() {
    RolloutControllerDeps d;
    d.platform = &platform_;
    d.store = store_.get();
    d.providers = providers_.get();
    d.clock = &clock_;
    d.timers = &clock_;
    d.post = [this](std::function<void()> t) { exec_.Post(std::move(t)); };
    d.evaluator.condition = analysis::ExprConditionEvaluator();
    d.templates = [t = templates_] { return t; };
    return d;
  }

  std::shared_ptr<RolloutController> Start(std::optional<engine::RolloutState> restored = {}) {
    return RolloutController::Start(Deps(), rollout_, manifest_,
                                    std::make_unique<FakeRouter>(router_), std::move(restored));
  }

  // Runs the controller (advancing the manual clock when nothing is left to do now) until `done`
  // holds; false after `virtual_limit` of manual time or 20 s of real time.
  bool RunUntil(const std::function<bool()>& done,
                Duration virtual_limit = std::chrono::minutes(10)) {
    const Time give_up = clock_.Now() + virtual_limit;
    const auto real_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < real_deadline) {
      if (done()) return true;
      if (exec_.RunOne(std::chrono::milliseconds(5))) continue;
      std::optional<Time> next = clock_.NextDue();
      if (!next || *next > give_up) return done();
      clock_.AdvanceTo(*next);
    }
    return done();
  }

  std::string Phase(const std::shared_ptr<RolloutController>& c) {
    return c->Snapshot().state.status.phase;
  }

  // The phase and message, for failure output.
  std::string Describe(const std::shared_ptr<RolloutController>& c) {
    const RolloutSnapshot s = c->Snapshot();
    return s.state.status.phase + ": " + s.state.status.message + " (" +
           std::to_string(s.reconciles) + " reconciles, " + std::to_string(s.revisions.size()) +
           " revisions)";
  }

  StatusOr<std::string> Act(const std::shared_ptr<RolloutController>& c, engine::UserAction a) {
    std::optional<StatusOr<std::string>> answer;
    c->Act(std::move(a), [&](StatusOr<std::string> r) { answer = std::move(r); });
    EXPECT_TRUE(RunUntil([&] { return answer.has_value(); }));
    if (!answer) return Fail(InternalError("no answer"));
    return *answer;
  }

  void SetImage(const std::shared_ptr<RolloutController>& c, const std::string& image) {
    engine::UserAction a;
    a.kind = engine::UserActionKind::kSetImage;
    a.container = "shop";
    a.image = image;
    auto r = Act(c, a);
    ASSERT_TRUE(r.has_value()) << r.error().message();
  }

  void StopController(const std::shared_ptr<RolloutController>& c, bool remove) {
    std::optional<Status> stopped;
    c->Stop(remove, [&](Status s) { stopped = s; });
    ASSERT_TRUE(RunUntil([&] { return stopped.has_value(); }));
    EXPECT_TRUE(stopped->ok()) << stopped->message();
  }

  std::optional<StoredObject> Stored() {
    std::optional<StatusOr<StoredObject>> got;
    store_->Get(kKindRollout, ObjectRef{"default", "shop"},
                [&](StatusOr<StoredObject> r) { got = std::move(r); });
    RunUntil([&] { return got.has_value(); });
    if (!got || !got->has_value()) return std::nullopt;
    return **got;
  }

  ManualClock clock_{FromUnixNanos(int64_t{1767225600} * 1'000'000'000)};
  Executor exec_;
  FakePlatform platform_{&clock_};
  std::shared_ptr<RouterLog> router_ = std::make_shared<RouterLog>();
  std::unique_ptr<StateStore> store_;
  Registry<MetricProvider> registry_{"metric provider"};
  std::shared_ptr<std::atomic<double>> error_rate_ = std::make_shared<std::atomic<double>>(0.0);
  std::unique_ptr<ProviderSet> providers_;
  spec::Rollout rollout_;
  json manifest_;
  std::shared_ptr<std::vector<spec::AnalysisTemplate>> templates_;
};

TEST_F(RolloutControllerTest, FirstDeployBecomesHealthyAndRoutesToStable) {
  auto c = Start();
  ASSERT_TRUE(RunUntil([&] { return Phase(c) == "Healthy"; })) << Describe(c);
  const std::string stable = c->Snapshot().state.status.stable_rs;
  ASSERT_FALSE(stable.empty());
  EXPECT_EQ(platform_.Counts()[stable], 2);
  // The router learns it once the stored status's intents have run.
  EXPECT_TRUE(RunUntil([&] {
    std::lock_guard<std::mutex> lock(router_->mu);
    return router_->roles["stable"] == stable && router_->endpoints[stable].size() == 2u;
  }));
  // The status is stored, and decodes to the state the controller holds.
  std::optional<StoredObject> stored = Stored();
  ASSERT_TRUE(stored.has_value());
  auto decoded = engine::DecodeRolloutState(json::parse(stored->status_json));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message();
  EXPECT_EQ(decoded->status.stable_rs, stable);
  StopController(c, false);
}

TEST_F(RolloutControllerTest, HealthyCanaryIsPromotedThroughItsSteps) {
  auto c = Start();
  ASSERT_TRUE(RunUntil([&] { return Phase(c) == "Healthy"; }));
  const std::string v1 = c->Snapshot().state.status.stable_rs;
  SetImage(c, "shop:2");
  // Runs to the indefinite pause at the last step with weight 60 after a passed analysis.
  ASSERT_TRUE(RunUntil([&] {
    auto s = c->Snapshot().state.status;
    return s.phase == "Paused" && s.current_step_index == 4;
  })) << Phase(c);
  {
    std::lock_guard<std::mutex> lock(router_->mu);
    EXPECT_EQ(router_->weight, 60);
  }
  auto promoted = Act(c, {engine::UserActionKind::kPromote});
  ASSERT_TRUE(promoted.has_value()) << promoted.error().message();
  ASSERT_TRUE(RunUntil([&] {
    auto s = c->Snapshot().state.status;
    return s.phase == "Healthy" && s.stable_rs == s.current_pod_hash && s.stable_rs != v1;
  })) << Phase(c);
  const std::string v2 = c->Snapshot().state.status.stable_rs;
  EXPECT_TRUE(RunUntil([&] {
    std::lock_guard<std::mutex> lock(router_->mu);
    return router_->roles["stable"] == v2 && router_->weight == 0;
  }));
  // The old revision is scaled down after its delay.
  ASSERT_TRUE(RunUntil([&] { return platform_.Counts()[v1] == 0; }));
  EXPECT_EQ(platform_.Counts()[v2], 2);
  StopController(c, false);
}

TEST_F(RolloutControllerTest, FailedAnalysisAbortsAndReturnsTrafficToStable) {
  auto c = Start();
  ASSERT_TRUE(RunUntil([&] { return Phase(c) == "Healthy"; }));
  const std::string v1 = c->Snapshot().state.status.stable_rs;
  error_rate_->store(0.2);
  SetImage(c, "shop:3");
  ASSERT_TRUE(RunUntil([&] { return Phase(c) == "Degraded"; })) << Phase(c);
  const auto s = c->Snapshot().state.status;
  EXPECT_TRUE(s.abort);
  EXPECT_EQ(s.stable_rs, v1);
  EXPECT_NE(s.message.find("RolloutAborted"), std::string::npos) << s.message;
  ASSERT_TRUE(RunUntil([&] {
    std::lock_guard<std::mutex> lock(router_->mu);
    return router_->weight == 0;
  }));
  StopController(c, false);
}

TEST_F(RolloutControllerTest, RestartFromTheStoredStateResumesWithoutDuplicates) {
  auto c = Start();
  ASSERT_TRUE(RunUntil([&] { return Phase(c) == "Healthy"; }));
  SetImage(c, "shop:2");
  ASSERT_TRUE(RunUntil([&] {
    auto s = c->Snapshot().state.status;
    return s.current_step_index == 1;  // in the timed pause
  }));
  StopController(c, false);
  const std::map<std::string, int> before = platform_.Counts();

  // A new controller (a restarted daemon) with a fresh router, from the stored state.
  std::optional<StoredObject> stored = Stored();
  ASSERT_TRUE(stored.has_value());
  auto restored = engine::DecodeRolloutState(json::parse(stored->status_json));
  ASSERT_TRUE(restored.has_value()) << restored.error().message();
  // The stored spec carries the new image.
  auto docs = spec::LoadManifests(stored->spec_json, "stored");
  ASSERT_TRUE(docs.ok()) << docs.diagnostics.ErrorText();
  rollout_ = *docs.rollouts[0].object;
  manifest_ = json::parse(stored->spec_json);
  router_ = std::make_shared<RouterLog>();
  auto again = Start(*restored);
  // The router is told again where the roles point and what the weight is.
  ASSERT_TRUE(RunUntil([&] {
    std::lock_guard<std::mutex> lock(router_->mu);
    return router_->weight == 20 && !router_->roles["canary"].empty();
  }));
  EXPECT_EQ(platform_.Counts(), before);  // nothing started twice
  ASSERT_TRUE(RunUntil([&] {
    auto s = again->Snapshot().state.status;
    return s.phase == "Paused" && s.current_step_index == 4;
  })) << Phase(again);
  StopController(again, false);
}

TEST_F(RolloutControllerTest, DeleteStopsEveryInstanceAndForgetsTheRollout) {
  auto c = Start();
  ASSERT_TRUE(RunUntil([&] { return Phase(c) == "Healthy"; }));
  SetImage(c, "shop:2");
  ASSERT_TRUE(RunUntil([&] { return c->Snapshot().state.status.current_step_index == 1; }));
  StopController(c, true);
  EXPECT_TRUE(platform_.Counts().empty());
  EXPECT_FALSE(Stored().has_value());
}

TEST_F(RolloutControllerTest, ActionErrorsAreAnswered) {
  auto c = Start();
  ASSERT_TRUE(RunUntil([&] { return Phase(c) == "Healthy"; }));
  engine::UserAction a;
  a.kind = engine::UserActionKind::kSetImage;
  a.container = "nope";
  a.image = "x";
  auto r = Act(c, a);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("nope"), std::string::npos);
  StopController(c, false);
}

}  // namespace
}  // namespace ramp::runtime
