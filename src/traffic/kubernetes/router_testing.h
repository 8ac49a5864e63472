// Test harness for the Kubernetes traffic routers (kube_router.h): the strict API-server fake of
// tests/fakes with a real KubeClient over ramp's HttpClient, a Rollout object to own what routers
// create, blocking wrappers around the asynchronous router calls, the events routers record, and
// golden comparison (golden_testing.h) for the objects they write. Goldens live beside each
// router's test, in src/traffic/<router>/testdata/. Test-only; link ramp_traffic_kube_testing.
//
// Thread-safety: one test thread drives it; router callbacks arrive on the client's threads and
// only fulfil promises.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"
#include "net/event_loop.h"
#include "platform/kubernetes/golden_testing.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/traffic_router.h"
#include "tests/fakes/kube_apiserver_fake.h"
#include "traffic/kubernetes/kube_router.h"

namespace ramp::kube_traffic::testing {

using nlohmann::json;

// Waits for a callback-style call's answer (20 s at most; a missing answer fails the test).
template <typename T>
T Await(const std::function<void(std::function<void(T)>)>& start) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T v) { promise->set_value(std::move(v)); });
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 20 s";
    std::abort();
  }
  return future.get();
}

// The path of a golden file of router `router`: src/traffic/<router>/testdata/<name>.
inline std::string RouterGolden(const std::string& router, const std::string& name) {
  return std::string(RAMP_SOURCE_DIR) + "/src/traffic/" + router + "/testdata/" + name;
}

class KubeRouterTest : public ::testing::Test {
 protected:
  static constexpr char kNs[] = "shop";
  static constexpr char kRollout[] = "web";

  void SetUp() override {
    fakes::KubeFakeOptions fo;
    fo.replicaset_controller = false;
    auto fake = fakes::KubeApiServerFake::Start(fo);
    ASSERT_TRUE(fake.has_value()) << fake.error().message();
    fake_ = std::move(*fake);
    loop_ = net::EventLoop::Start(1);
    http_ = NewHttpClient();
    clock_ = NewSystemClock();
    kube::KubeClientOptions o;
    o.config.server = fake_->Url();
    o.http = http_.get();
    o.timers = loop_.get();
    o.clock = clock_.get();
    o.qps = 0;
    o.read_retries = 1;
    o.backoff_base = std::chrono::milliseconds(10);
    auto c = kube::KubeClient::New(o);
    ASSERT_TRUE(c.has_value()) << c.error().message();
    client_ = std::move(*c);
    auto ro = fake_->Put(json{{"apiVersion", "argoproj.io/v1alpha1"},
                              {"kind", "Rollout"},
                              {"metadata", {{"name", kRollout}, {"namespace", kNs}}},
                              {"spec", {{"replicas", 1}}}});
    ASSERT_TRUE(ro.has_value()) << ro.error().message();
    rollout_uid_ = (*ro)["metadata"]["uid"].get<std::string>();
  }

  void TearDown() override {
    http_.reset();  // no callbacks after this
  }

  // The RouterContext of the Rollout shop/web: Services web-stable and web-canary.
  static RouterContext Context(int32_t max_weight = 100,
                               std::vector<std::string> managed_routes = {}) {
    RouterContext c;
    c.rollout = ObjectRef{kNs, kRollout};
    c.stable_service = "web-stable";
    c.canary_service = "web-canary";
    c.max_weight = max_weight;
    c.managed_routes = std::move(managed_routes);
    return c;
  }

  // An Env for a router configured with `config` (its trafficRouting section); events it
  // records are collected in Events().
  Env MakeEnv(json config, RouterContext context = Context(), ApiVersions versions = {}) {
    Env env;
    env.client = client_.get();
    env.context = std::move(context);
    env.config = std::move(config);
    env.versions = std::move(versions);
    env.timers = loop_.get();
    env.clock = clock_.get();
    env.owner = std::make_shared<RolloutOwner>(client_.get(), env.context.rollout);
    env.changed_outside = [this](std::string message) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(message));
    };
    return env;
  }

  // The messages of the "changed outside" events recorded so far.
  std::vector<std::string> Events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

  // Stores an object in the fake (setup, or an edit made behind the router's back).
  json Put(json object) {
    auto r = fake_->Put(std::move(object));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? *r : json();
  }

  // A stored object, or null.
  json Object(std::string_view resource, std::string_view name, std::string_view ns = kNs) {
    auto o = fake_->Object(resource, ns, name);
    return o ? *o : json();
  }

  // Blocking router calls.
  static Status SetWeight(Router& r, int32_t w, std::vector<WeightDestination> additional = {}) {
    return Await<Status>([&](auto done) { r.SetWeight(w, additional, done); });
  }
  static Status UpdateHash(Router& r, std::string canary, std::string stable,
                           std::vector<WeightDestination> additional = {}) {
    return Await<Status>([&](auto done) { r.UpdateHash(canary, stable, additional, done); });
  }
  static Status SetHeaderRoute(Router& r, const HeaderRoute& route) {
    return Await<Status>([&](auto done) { r.SetHeaderRoute(route, done); });
  }
  static Status SetMirrorRoute(Router& r, const MirrorRoute& route) {
    return Await<Status>([&](auto done) { r.SetMirrorRoute(route, done); });
  }
  static Status RemoveManagedRoutes(Router& r) {
    return Await<Status>([&](auto done) { r.RemoveManagedRoutes(done); });
  }
  static StatusOr<WeightCheck> VerifyWeight(Router& r, int32_t w,
                                            std::vector<WeightDestination> additional = {}) {
    return Await<StatusOr<WeightCheck>>([&](auto done) { r.VerifyWeight(w, additional, done); });
  }

  // Whether `actual` is the golden src/traffic/<router>/testdata/<name> exactly, after replacing
  // the placeholders $UID (the Rollout's uid) and `values` ({"$HASH", "6d4f8b"}) in its text.
  ::testing::AssertionResult MatchesGolden(const json& actual, const std::string& router,
                                           const std::string& name,
                                           std::map<std::string, std::string> values = {}) const {
    const std::string path = RouterGolden(router, name);
    std::ifstream in(path, std::ios::binary);
    if (!in) return ::testing::AssertionFailure() << "golden " << path << " cannot be opened";
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    values.emplace("$UID", rollout_uid_);
    for (const auto& [key, value] : values) {
      for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
        text.replace(at, key.size(), value);
        at += value.size();
      }
    }
    auto docs = spec::ParseDocuments(text, path);
    if (!docs || docs->size() != 1) {
      return ::testing::AssertionFailure() << "golden " << path << ": not one YAML document";
    }
    const json golden = spec::ToJson(docs->front().root);
    const auto diffs = platform::kube_objects::testing::DiffAgainstGolden(golden, actual);
    if (diffs.empty()) return ::testing::AssertionSuccess();
    ::testing::AssertionResult r = ::testing::AssertionFailure();
    r << "differs from golden " << path << " at " << diffs.size() << " path(s):";
    for (const std::string& d : diffs) r << "\n  " << d;
    return r;
  }

  // How many PUT/PATCH/POST/DELETE requests the fake saw since the last ClearRequests.
  int Writes() const {
    int n = 0;
    for (const auto& r : fake_->Requests()) {
      if (r.method != "GET") ++n;
    }
    return n;
  }

  std::unique_ptr<fakes::KubeApiServerFake> fake_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<kube::KubeClient> client_;
  std::string rollout_uid_;
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

}  // namespace ramp::kube_traffic::testing
