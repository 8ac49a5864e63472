#include "daemon/daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "daemon/api.h"
#include "net/event_loop.h"
#include "ramp/http_client.h"
#include "runtime/runtime_testing.h"
#include "spec/manifest.h"
#include "store/sqlite/sqlite_store.h"

namespace ramp::daemon {
namespace {

using nlohmann::json;

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
metadata: {name: shop}
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
        - pause: {}
        - analysis: {templates: [{templateName: errors}]}
)";

template <typename T, typename Call>
T Await(Call call) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  call([promise](T value) { promise->set_value(std::move(value)); });
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 20s";
    std::abort();
  }
  return future.get();
}

// Polls `done` until it holds or 20 s pass.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::NewMemoryStateStore();
    ASSERT_TRUE(store.has_value());
    store_ = std::move(*store);
    ASSERT_TRUE(providers_
                    .Register("ramp/builtin",
                              [v = error_rate_]() -> StatusOr<std::unique_ptr<MetricProvider>> {
                                return std::make_unique<runtime::FixedProvider>(v);
                              })
                    .ok());
    ASSERT_TRUE(routers_
                    .Register("ramp/proxy",
                              [log = router_log_](const RouterContext&)
                                  -> StatusOr<std::unique_ptr<TrafficRouter>> {
                                return std::make_unique<runtime::FakeRouter>(log);
                              })
                    .ok());
    loop_ = net::EventLoop::Start(2);
  }

  void TearDown() override {
    daemon_.reset();
    loop_->Stop();
  }

  void StartDaemon() {
    DaemonOptions o;
    o.loop = loop_.get();
    o.clock = clock_.get();
    o.store = store_.get();
    o.platform = &platform_;
    o.providers = &providers_;
    o.routers = &routers_;
    o.resync = std::chrono::milliseconds(20);
    o.on_event = on_event_;
    auto d = Daemon::Start(std::move(o));
    ASSERT_TRUE(d.has_value()) << d.error().message();
    daemon_ = std::move(*d);
  }

  StatusOr<std::vector<Applied>> Apply(std::string text) {
    return Await<StatusOr<std::vector<Applied>>>(
        [&](auto done) { daemon_->Apply(std::move(text), "shop.yaml", std::move(done)); });
  }

  std::string Phase() {
    auto v = daemon_->GetRollout(ObjectRef{"default", "shop"});
    return v ? v->snapshot.state.status.phase : "absent";
  }

  StatusOr<std::string> Act(engine::UserAction a) {
    return Await<StatusOr<std::string>>([&](auto done) {
      daemon_->Act(ObjectRef{"default", "shop"}, a, std::move(done));
    });
  }

  std::unique_ptr<Clock> clock_ = NewSystemClock();
  std::unique_ptr<StateStore> store_;
  runtime::FakePlatform platform_{clock_.get()};
  std::shared_ptr<runtime::RouterLog> router_log_ = std::make_shared<runtime::RouterLog>();
  std::shared_ptr<std::atomic<double>> error_rate_ = std::make_shared<std::atomic<double>>(0.0);
  Registry<MetricProvider> providers_{"metric provider"};
  RouterRegistry routers_{"traffic router"};
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<Daemon> daemon_;
  std::function<void(const StoredEvent&, const json&)> on_event_;
};

TEST_F(DaemonTest, ApplyStartsTheRolloutAndActionsMoveIt) {
  StartDaemon();
  auto applied = Apply(std::string(kManifest));
  ASSERT_TRUE(applied.has_value()) << applied.error().message();
  ASSERT_EQ(applied->size(), 2u);
  EXPECT_EQ((*applied)[0].kind, "AnalysisTemplate");
  EXPECT_EQ((*applied)[1].key, "default/shop");
  EXPECT_EQ((*applied)[1].action, "created");
  ASSERT_TRUE(Eventually([&] { return Phase() == "Healthy"; })) << Phase();

  // Applying the same text again changes nothing.
  applied = Apply(std::string(kManifest));
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ((*applied)[1].action, "unchanged");

  engine::UserAction set_image;
  set_image.kind = engine::UserActionKind::kSetImage;
  set_image.container = "shop";
  set_image.image = "shop:2";
  ASSERT_TRUE(Act(set_image).has_value());
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; })) << Phase();
  ASSERT_TRUE(Act({engine::UserActionKind::kPromote}).has_value());
  ASSERT_TRUE(Eventually([&] {
    auto v = daemon_->GetRollout(ObjectRef{"default", "shop"});
    const auto& s = v->snapshot.state.status;
    return s.phase == "Healthy" && s.stable_rs == s.current_pod_hash &&
           v->snapshot.rollout.spec.template_.containers[0].image == "shop:2";
  })) << Phase();
}

TEST_F(DaemonTest, EveryRecordedEventReachesOnEventWithTheRolloutAfterIt) {
  std::mutex mu;
  std::vector<std::pair<StoredEvent, json>> seen;
  on_event_ = [&](const StoredEvent& e, const json& rollout) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(e, rollout);
  };
  auto find = [&](const std::string& reason) -> std::optional<std::pair<StoredEvent, json>> {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& s : seen) {
      if (s.first.reason == reason) return s;
    }
    return std::nullopt;
  };
  StartDaemon();
  ASSERT_TRUE(Apply(std::string(kManifest)).has_value());
  ASSERT_TRUE(Eventually([&] { return Phase() == "Healthy"; })) << Phase();
  engine::UserAction set_image;
  set_image.kind = engine::UserActionKind::kSetImage;
  set_image.container = "shop";
  set_image.image = "shop:2";
  ASSERT_TRUE(Act(set_image).has_value());
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; })) << Phase();
  ASSERT_TRUE(Act({engine::UserActionKind::kAbort}).has_value());
  ASSERT_TRUE(Eventually([&] { return find("RolloutAborted").has_value(); }));
  auto [event, rollout] = *find("RolloutAborted");
  EXPECT_EQ(event.ref, (ObjectRef{"default", "shop"}));
  EXPECT_EQ(event.type, EventType::kWarning);
  EXPECT_EQ(rollout["kind"], "Rollout");
  EXPECT_EQ(rollout["metadata"]["name"], "shop");
  EXPECT_EQ(rollout["status"]["phase"], "Degraded");
  EXPECT_TRUE(find("RolloutPaused").has_value());
  // Every event the store holds was handed over.
  auto stored = Await<StatusOr<std::vector<StoredEvent>>>([&](auto done) {
    daemon_->Events(ObjectRef{"default", "shop"}, 0, std::move(done));
  });
  ASSERT_TRUE(stored.has_value());
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() >= stored->size();
  }));
}

TEST_F(DaemonTest, InvalidManifestsApplyNothingAndSayWhere) {
  StartDaemon();
  auto applied = Apply(
      "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\n"
      "spec:\n  replicas: many\n");
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(applied.error().message().find("shop.yaml:5:"), std::string::npos)
      << applied.error().message();
  EXPECT_TRUE(daemon_->ListRollouts("").empty());
  auto garbage = Apply("{{{ not yaml");
  ASSERT_FALSE(garbage.has_value());
  auto service = Apply("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n");
  ASSERT_FALSE(service.has_value());
  EXPECT_NE(service.error().message().find("Service"), std::string::npos);
}

TEST_F(DaemonTest, ARestartedDaemonContinuesFromTheStore) {
  StartDaemon();
  ASSERT_TRUE(Apply(std::string(kManifest)).has_value());
  ASSERT_TRUE(Eventually([&] { return Phase() == "Healthy"; }));
  engine::UserAction set_image;
  set_image.kind = engine::UserActionKind::kSetImage;
  set_image.image = "shop:2";
  ASSERT_TRUE(Act(set_image).has_value());
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; }));
  const auto counts = platform_.Counts();
  daemon_.reset();

  StartDaemon();
  ASSERT_EQ(daemon_->ListRollouts("").size(), 1u);
  EXPECT_EQ(daemon_->Templates().size(), 1u);
  auto v = daemon_->GetRollout(ObjectRef{"default", "shop"});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->snapshot.rollout.spec.template_.containers[0].image, "shop:2");
  ASSERT_TRUE(Eventually([&] { return Phase() == "Paused"; })) << Phase();
  EXPECT_EQ(platform_.Counts(), counts);
  ASSERT_TRUE(Act({engine::UserActionKind::kPromote}).has_value());
  ASSERT_TRUE(Eventually([&] {
    auto s = daemon_->GetRollout(ObjectRef{"default", "shop"})->snapshot.state.status;
    return s.phase == "Healthy" && s.stable_rs == s.current_pod_hash;
  })) << Phase();
}

TEST_F(DaemonTest, DeleteLeavesNothingRunning) {
  StartDaemon();
  ASSERT_TRUE(Apply(std::string(kManifest)).has_value());
  ASSERT_TRUE(Eventually([&] { return Phase() == "Healthy"; }));
  Status deleted = Await<Status>([&](auto done) {
    daemon_->DeleteRollout(ObjectRef{"default", "shop"}, std::move(done));
  });
  ASSERT_TRUE(deleted.ok()) << deleted.message();
  EXPECT_TRUE(platform_.Counts().empty());
  EXPECT_EQ(Phase(), "absent");
  Status again = Await<Status>([&](auto done) {
    daemon_->DeleteRollout(ObjectRef{"default", "shop"}, std::move(done));
  });
  EXPECT_EQ(again.code(), StatusCode::kNotFound);
}

// ---- the HTTP API ----

class ApiTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() /
           ("ramp-api-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    StartDaemon();
    auto tokens = LoadOrCreateTokens((dir_ / "tokens").string());
    ASSERT_TRUE(tokens.has_value()) << tokens.error().message();
    tokens_ = *tokens;
    ApiOptions o;
    o.address = "127.0.0.1:0";
    o.audit_log = (dir_ / "audit.log").string();
    o.tokens = tokens_;
    o.clock = clock_.get();
    o.max_body_bytes = 64 * 1024;
    auto api = ApiServer::Start(o, daemon_.get());
    ASSERT_TRUE(api.has_value()) << api.error().message();
    api_ = std::move(*api);
    base_ = "http://" + api_->Address();
  }

  void TearDown() override {
    api_.reset();
    DaemonTest::TearDown();
    std::filesystem::remove_all(dir_);
  }

  HttpResponse Call(std::string method, std::string path, std::string body = "",
                    std::string token = "") {
    HttpRequest req;
    req.method = std::move(method);
    req.url = base_ + path;
    req.body = std::move(body);
    if (!token.empty()) req.headers.push_back({"Authorization", "Bearer " + token});
    auto r = Await<StatusOr<HttpResponse>>([&](auto done) { http_->Send(req, std::move(done)); });
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
    return r ? *r : HttpResponse{};
  }

  std::filesystem::path dir_;
  Tokens tokens_;
  std::unique_ptr<ApiServer> api_;
  std::string base_;
  std::unique_ptr<HttpClient> http_ = NewHttpClient();
};

TEST_F(ApiTest, TokensAreCreatedOwnerOnlyAndReusedOnTheNextStart) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "tokens" / "operator.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / "tokens").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto again = LoadOrCreateTokens((dir_ / "tokens").string());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->operator_token, tokens_.operator_token);
  EXPECT_NE(tokens_.operator_token, tokens_.readonly_token);
}

TEST_F(ApiTest, NoActionWithoutTheOperatorToken) {
  const std::string manifest(kManifest);
  EXPECT_EQ(Call("POST", "/v1/apply", manifest).status, 401);
  EXPECT_EQ(Call("POST", "/v1/apply", manifest, "wrong-token-wrong-token").status, 401);
  EXPECT_EQ(Call("GET", "/v1/rollouts", "", "wrong").status, 401);
  HttpResponse ro = Call("POST", "/v1/apply", manifest, tokens_.readonly_token);
  EXPECT_EQ(ro.status, 403);
  EXPECT_TRUE(daemon_->ListRollouts("").empty());
  EXPECT_EQ(Call("GET", "/v1/rollouts", "", tokens_.readonly_token).status, 200);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  // Every refusal is in the audit log.
  std::ifstream audit(dir_ / "audit.log");
  std::string line;
  int refused = 0;
  while (std::getline(audit, line)) {
    json j = json::parse(line);
    if (j["status"] == 401 || j["status"] == 403) ++refused;
  }
  EXPECT_GE(refused, 3);
}

TEST_F(ApiTest, OperatorAppliesReadsAndActs) {
  const std::string op = tokens_.operator_token;
  HttpResponse applied = Call("POST", "/v1/apply", std::string(kManifest), op);
  ASSERT_EQ(applied.status, 200) << applied.body;
  ASSERT_TRUE(Eventually([&] { return Phase() == "Healthy"; }));
  HttpResponse got = Call("GET", "/v1/rollouts/default/shop", "", tokens_.readonly_token);
  ASSERT_EQ(got.status, 200);
  json view = json::parse(got.body);
  EXPECT_EQ(view["rollout"]["kind"], "Rollout");
  EXPECT_EQ(view["rollout"]["status"]["phase"], "Healthy");
  EXPECT_EQ(view["revisions"].size(), 1u);
  HttpResponse act = Call("POST", "/v1/rollouts/default/shop/actions/set-image",
                          R"({"container":"shop","image":"shop:2"})", op);
  ASSERT_EQ(act.status, 200) << act.body;
  EXPECT_EQ(json::parse(act.body)["message"], "image updated");
  EXPECT_EQ(Call("POST", "/v1/rollouts/default/shop/actions/explode", "", op).status, 404);
  EXPECT_EQ(Call("POST", "/v1/rollouts/default/shop/actions/promote", "{not json", op).status, 400);
  EXPECT_EQ(Call("GET", "/v1/rollouts/default/nope", "", op).status, 404);
  HttpResponse events = Call("GET", "/v1/rollouts/default/shop/events", "", op);
  ASSERT_EQ(events.status, 200);
  EXPECT_FALSE(json::parse(events.body)["items"].empty());
  HttpResponse metrics = Call("GET", "/metrics");
  EXPECT_NE(metrics.body.find("rollout_info{namespace=\"default\",name=\"shop\""),
            std::string::npos)
      << metrics.body;
}

TEST_F(ApiTest, MalformedAndOversizedRequestsAreRefused) {
  const std::string op = tokens_.operator_token;
  HttpResponse bad = Call("POST", "/v1/apply", "kind: Rollout\nspec: [unclosed", op);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("error"), std::string::npos);
  HttpResponse big = Call("POST", "/v1/apply", std::string(200 * 1024, 'x'), op);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(Call("GET", "/v2/nothing", "", op).status, 404);
}

}  // namespace
}  // namespace ramp::daemon

namespace ramp::daemon {
namespace {

spec::Rollout ParseRollout(const std::string& text) {
  spec::ManifestSet set = spec::LoadManifests(text, "rollout.yaml");
  EXPECT_EQ(set.rollouts.size(), 1u) << set.diagnostics.ErrorText();
  return set.rollouts.empty() ? spec::Rollout() : *set.rollouts[0].object;
}

constexpr char kBlueGreen[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: billing
  annotations:
    ramp.dev/traffic-router: |
      ramp/proxy: {listen: "127.0.0.1:8080", previewListen: "127.0.0.1:8081"}
spec:
  selector: {matchLabels: {app: billing}}
  template:
    metadata: {labels: {app: billing}}
    spec:
      containers: [{name: billing, image: billing:1, command: [/bin/true]}]
  strategy:
    blueGreen: {activeService: billing-active, previewService: billing-preview}
)";

TEST(RouterFor, ABlueGreenRolloutNamesItsRouterInTheAnnotation) {
  auto chosen = RouterFor(ParseRollout(kBlueGreen));
  ASSERT_TRUE(chosen.has_value()) << chosen.error().message();
  ASSERT_TRUE(chosen->has_value());
  EXPECT_EQ((*chosen)->first, "ramp/proxy");
  const RouterContext& c = (*chosen)->second;
  EXPECT_EQ(c.active_service, "billing-active");
  EXPECT_EQ(c.preview_service, "billing-preview");
  EXPECT_TRUE(c.stable_service.empty());
  EXPECT_EQ(json::parse(c.config_json),
            json({{"listen", "127.0.0.1:8080"}, {"previewListen", "127.0.0.1:8081"}}));
}

TEST(RouterFor, ACanaryMayNotUseTheAnnotation) {
  std::string text = kBlueGreen;
  text.replace(text.find("blueGreen: {activeService: billing-active, previewService: "
                         "billing-preview}"),
               std::string("blueGreen: {activeService: billing-active, previewService: "
                           "billing-preview}")
                   .size(),
               "canary: {steps: [{setWeight: 50}]}");
  auto chosen = RouterFor(ParseRollout(text));
  ASSERT_FALSE(chosen.has_value());
  EXPECT_EQ(chosen.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(chosen.error().message().find("trafficRouting.plugins"), std::string::npos)
      << chosen.error().message();
}

TEST(RouterFor, ABlueGreenRolloutWithoutTheAnnotationHasNoRouter) {
  std::string text = kBlueGreen;
  const size_t from = text.find("  annotations:");
  text.erase(from, text.find("spec:") - from);
  auto chosen = RouterFor(ParseRollout(text));
  ASSERT_TRUE(chosen.has_value());
  EXPECT_FALSE(chosen->has_value());
}

}  // namespace
}  // namespace ramp::daemon
