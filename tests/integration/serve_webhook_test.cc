// Flagger's webhook scenarios (reference/flagger.md §7.4: gates that hold and release, failing
// pre-rollout and rollout hooks, the rollback hook) end to end: `ramp serve` runs the canary with
// `ramp/webhook` steps, and a loopback HTTP receiver in the test plays the hook endpoints the way
// Flagger's loadtester does (`/gate/…`, task hooks). Every action is a `ramp` command.
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/testing/http_test_server.h"
#include "tests/integration/serve_testing.h"

namespace ramp::serve_testing {
namespace {

// The hook endpoints: each path answers the status set for it (200 by default) and keeps the
// payloads it was sent.
class HookReceiver {
 public:
  HookReceiver()
      : server_([this](const ramp::testing::TestRequest& r) {
          std::lock_guard<std::mutex> lock(mu_);
          calls_[r.target].push_back(json::parse(r.body, nullptr, false));
          ramp::testing::TestResponse out;
          auto it = status_.find(r.target);
          out.status = it == status_.end() ? 200 : it->second;
          if (out.status > 202) out.body = "closed by the test";
          return out;
        }) {}

  void Answer(const std::string& path, int status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_[path] = status;
  }
  std::vector<json> Calls(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_[path];
  }
  std::string Url(const std::string& path) const { return server_.Url() + path; }

 private:
  std::mutex mu_;
  std::map<std::string, int> status_;
  std::map<std::string, std::vector<json>> calls_;
  ramp::testing::HttpTestServer server_;
};

class ServeWebhookTest : public ServeFixture {
 protected:
  void SetUp() override {
    ServeFixture::SetUp();
    listen_port_ = FreePort();
  }

  // A hook step of `type` calling `path`.
  std::string Hook(const std::string& name, const std::string& type, const std::string& path) {
    return fmt::format(
        "        - plugin:\n"
        "            name: ramp/webhook\n"
        "            config: {{name: {}, type: {}, url: \"{}\", timeout: 2s{}, metadata: "
        "{{team: shop}}}}\n",
        name, type, hooks_.Url(path), type.rfind("confirm-", 0) == 0 ? ", interval: 1s" : "");
  }

  CliResult Roll(const std::string& version, const std::string& steps) {
    AppSpec a;
    a.version = version;
    a.port = listen_port_;
    a.steps = steps;
    return Apply(Manifest(a));
  }

  json Status() { return Rollout("web").value("status", json::object()); }
  std::map<std::string, int> Traffic(int n) { return serve_testing::Traffic(listen_port_, n); }

  HookReceiver hooks_;
  int listen_port_ = 0;
};

TEST_F(ServeWebhookTest, GatesHoldUntilTheyAnswerYesThenRelease) {
  const std::string steps = Hook("more-traffic", "confirm-traffic-increase", "/gate/traffic") +
                            "        - setWeight: 50\n" +
                            Hook("go-live", "confirm-promotion", "/gate/promote");
  ASSERT_EQ(Roll("v1", steps).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return Traffic(1)["v1"] == 1; }, std::chrono::seconds(20)));

  hooks_.Answer("/gate/traffic", 403);
  hooks_.Answer("/gate/promote", 403);
  ASSERT_EQ(Roll("v2", steps).exit_code, 0);

  // The closed traffic gate holds the weight at 0: called again and again, no v2 request.
  ASSERT_TRUE(Eventually([&] { return hooks_.Calls("/gate/traffic").size() >= 3; },
                         std::chrono::seconds(60)))
      << Log("serve.log");
  json s = Status();
  EXPECT_EQ(s.value("phase", ""), "Progressing") << s.dump();
  EXPECT_NE(s.value("message", "").find("waiting for confirm-traffic-increase"), std::string::npos)
      << s.dump();
  EXPECT_EQ(Traffic(40)["v2"], 0);
  // Flagger's payload: the rollout, its phase, the revision being rolled out, the metadata.
  const json call = hooks_.Calls("/gate/traffic").back();
  EXPECT_EQ(call.value("name", ""), "web");
  EXPECT_EQ(call.value("namespace", ""), "default");
  EXPECT_EQ(call.value("phase", ""), "Progressing");
  EXPECT_EQ(call.value("checksum", ""), s.value("currentPodHash", "?"));
  EXPECT_EQ(call["metadata"].value("team", ""), "shop");
  EXPECT_TRUE(hooks_.Calls("/gate/promote").empty());

  // Opening it applies the weight; then the promotion gate holds at 50 %.
  hooks_.Answer("/gate/traffic", 200);
  ASSERT_TRUE(Eventually([&] { return hooks_.Calls("/gate/promote").size() >= 2; },
                         std::chrono::seconds(60)))
      << Log("serve.log");
  s = Status();
  EXPECT_NE(s.value("message", "").find("waiting for confirm-promotion"), std::string::npos)
      << s.dump();
  ASSERT_TRUE(Eventually(
      [&] {
        auto seen = Traffic(40);
        return seen["v1"] > 0 && seen["v2"] > 0;
      },
      std::chrono::seconds(20)));
  EXPECT_NE(Status().value("stableRS", ""), Status().value("currentPodHash", ""));

  // Opening the promotion gate promotes.
  hooks_.Answer("/gate/promote", 202);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return Traffic(10)["v2"] == 10; }, std::chrono::seconds(30)));
}

TEST_F(ServeWebhookTest, FailingPreRolloutAndRolloutHooksAndTheRollbackHookAbort) {
  // Each update of the rollout puts one hook in front; v1 deploys without running steps.
  auto steps = [&](const std::string& hook) { return hook + "        - setWeight: 50\n"; };
  ASSERT_EQ(Roll("v1", steps(Hook("smoke", "pre-rollout", "/pre"))).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  EXPECT_TRUE(hooks_.Calls("/pre").empty()) << "the first deploy skips the steps";

  struct Case {
    std::string version, type, path;
    int status;
    std::string message;  // in the aborted rollout's message
  };
  const std::vector<Case> cases = {
      {"v2", "pre-rollout", "/pre", 500, "pre-rollout webhook smoke-v2 failed"},
      {"v3", "rollout", "/load-test", 400, "rollout webhook smoke-v3 failed"},
      {"v4", "rollback", "/rollback/check", 200, "rollback webhook smoke-v4"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.version);
    hooks_.Answer(c.path, c.status);
    ASSERT_EQ(Roll(c.version, steps(Hook("smoke-" + c.version, c.type, c.path))).exit_code, 0);
    CliResult status = RunRamp("status", "web --timeout 60s " + state_);
    EXPECT_EQ(status.exit_code, 1) << status.out << Log("serve.log");
    json s = Status();
    EXPECT_EQ(s.value("phase", ""), "Degraded") << s.dump();
    EXPECT_NE(s.value("message", "").find(c.message), std::string::npos) << s.dump();
    ASSERT_FALSE(hooks_.Calls(c.path).empty());
    EXPECT_EQ(hooks_.Calls(c.path).back().value("phase", ""), "Progressing");
    // Aborted before any canary traffic: the stable version serves everything.
    ASSERT_TRUE(Eventually([&] { return Traffic(10)["v1"] == 10; }, std::chrono::seconds(30)));
  }
  // A failed pre-rollout hook answered with 5xx is not retried without `retries`.
  EXPECT_EQ(hooks_.Calls("/pre").size(), 1u);

  // The rollback hook answering "no" lets the update through.
  hooks_.Answer("/rollback/check", 403);
  ASSERT_EQ(Roll("v5", steps(Hook("smoke-v5", "rollback", "/rollback/check"))).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_TRUE(Eventually([&] { return Traffic(10)["v5"] == 10; }, std::chrono::seconds(30)));
}

// The RolloutWebhooks kind: hooks attached to an unchanged Rollout from a separate object.
TEST_F(ServeWebhookTest, RolloutWebhooksAttachHooksToAnUnchangedRollout) {
  const std::string hooks = fmt::format(
      R"(apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata: {{name: web-hooks}}
spec:
  rolloutRef: {{name: web}}
  interval: 1s
  webhooks:
    - {{name: smoke, type: pre-rollout, url: "{pre}"}}
    - {{name: load, type: rollout, url: "{load}"}}
    - {{name: go-live, type: confirm-promotion, url: "{promote}"}}
    - {{name: report, type: post-rollout, url: "{post}"}}
    - {{name: feed, type: event, url: "{events}", metadata: {{team: shop}}}}
)",
      fmt::arg("pre", hooks_.Url("/rw/pre")), fmt::arg("load", hooks_.Url("/rw/load")),
      fmt::arg("promote", hooks_.Url("/rw/promote")), fmt::arg("post", hooks_.Url("/rw/post")),
      fmt::arg("events", hooks_.Url("/rw/events")));
  const std::string steps = "        - setWeight: 50\n";
  ASSERT_EQ(Roll("v1", steps).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  CliResult attached = Apply(hooks);
  ASSERT_EQ(attached.exit_code, 0) << attached.err;
  EXPECT_NE(attached.out.find("RolloutWebhooks default/web-hooks created"), std::string::npos)
      << attached.out;

  hooks_.Answer("/rw/promote", 403);
  ASSERT_EQ(Roll("v2", steps).exit_code, 0);
  // pre-rollout, then the weight; the closed promotion gate holds while rollout hooks repeat.
  ASSERT_TRUE(Eventually(
      [&] {
        return hooks_.Calls("/rw/promote").size() >= 2 && hooks_.Calls("/rw/load").size() >= 2;
      },
      std::chrono::seconds(60)))
      << Log("serve.log");
  EXPECT_EQ(hooks_.Calls("/rw/pre").size(), 1u);
  json s = Status();
  EXPECT_EQ(s.value("phase", ""), "Progressing") << s.dump();
  EXPECT_NE(s.value("message", "").find("waiting for confirm-promotion"), std::string::npos)
      << s.dump();
  EXPECT_NE(s.value("stableRS", ""), s.value("currentPodHash", ""));
  ASSERT_TRUE(Eventually(
      [&] {
        auto seen = Traffic(40);
        return seen["v1"] > 0 && seen["v2"] > 0;
      },
      std::chrono::seconds(20)));
  EXPECT_TRUE(hooks_.Calls("/rw/post").empty());

  hooks_.Answer("/rw/promote", 200);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  ASSERT_TRUE(
      Eventually([&] { return !hooks_.Calls("/rw/post").empty(); }, std::chrono::seconds(30)));
  EXPECT_EQ(hooks_.Calls("/rw/post").front().value("phase", ""), "Healthy");
  // Every event went to the feed, with Flagger's event metadata.
  const std::vector<json> events = hooks_.Calls("/rw/events");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front()["metadata"].value("team", ""), "shop");
  EXPECT_FALSE(events.front()["metadata"].value("eventMessage", "").empty());
  EXPECT_FALSE(events.front()["metadata"].value("eventType", "").empty());

  // Deleted, the hooks no longer run: v3 goes through with no further gate call.
  CliResult deleted = RunRamp("delete", "rolloutwebhooks web-hooks " + state_);
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  const size_t gate_calls = hooks_.Calls("/rw/promote").size();
  hooks_.Answer("/rw/promote", 403);
  ASSERT_EQ(Roll("v3", steps).exit_code, 0);
  ASSERT_EQ(RunRamp("status", "web --timeout 60s " + state_).exit_code, 0) << Log("serve.log");
  EXPECT_EQ(hooks_.Calls("/rw/promote").size(), gate_calls);
}

}  // namespace
}  // namespace ramp::serve_testing
