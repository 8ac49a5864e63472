// KubeClient and Informer against the strict API-server fake (tests/fakes): every verb, the
// error mapping, optimistic concurrency, retries of garbage and failing answers, watches with
// bookmarks, dropped streams and 410 expiry, Events, and the client-side rate limit.
#include "kube/kube_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/informer.h"
#include "net/event_loop.h"
#include "ramp/http_client.h"
#include "tests/fakes/kube_apiserver_fake.h"

namespace ramp::kube {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

template <typename T>
T Wait(std::function<void(std::function<void(T)>)> start) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T v) { promise->set_value(std::move(v)); });
  if (future.wait_for(seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 20 s";
    std::abort();
  }
  return future.get();
}

// Polls `cond` until it holds or 20 s pass.
bool Eventually(const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

json Rollout(const std::string& name, const std::string& app = "web") {
  return json{{"apiVersion", "argoproj.io/v1alpha1"},
              {"kind", "Rollout"},
              {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", app}}}}},
              {"spec", {{"replicas", 3}}}};
}

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fakes::KubeFakeOptions fo;
    fo.bearer_token = "sekret";
    fo.bookmark_interval = std::chrono::milliseconds(100);
    auto fake = fakes::KubeApiServerFake::Start(fo);
    ASSERT_TRUE(fake.has_value()) << fake.error().message();
    fake_ = std::move(*fake);
    loop_ = net::EventLoop::Start(1);
    http_ = NewHttpClient();
    clock_ = NewSystemClock();
    client_ = MakeClient("sekret");
  }

  std::unique_ptr<KubeClient> MakeClient(const std::string& token, double qps = 0) {
    KubeClientOptions o;
    o.config.server = fake_->Url();
    o.config.token = token;
    o.http = http_.get();
    o.timers = loop_.get();
    o.clock = clock_.get();
    o.qps = qps;
    o.backoff_base = std::chrono::milliseconds(10);
    auto c = KubeClient::New(o);
    EXPECT_TRUE(c.has_value());
    return std::move(*c);
  }

  StatusOr<json> Get(const Resource& r, const std::string& name) {
    return Wait<StatusOr<json>>([&](auto done) { client_->Get(r, "default", name, done); });
  }
  StatusOr<json> Create(const Resource& r, json object) {
    return Wait<StatusOr<json>>(
        [&](auto done) { client_->Create(r, "default", std::move(object), done); });
  }

  std::unique_ptr<fakes::KubeApiServerFake> fake_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<KubeClient> client_;
};

TEST_F(KubeClientTest, CreateGetListPatchDelete) {
  auto made = Create(Rollouts(), Rollout("a"));
  ASSERT_TRUE(made.has_value()) << made.error().message();
  EXPECT_FALSE((*made)["metadata"].value("uid", "").empty());
  ASSERT_TRUE(Create(Rollouts(), Rollout("b", "api")).has_value());

  auto got = Get(Rollouts(), "a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ((*got)["spec"]["replicas"], 3);

  auto listed = Wait<StatusOr<ListResult>>([&](auto done) {
    client_->List(Rollouts(), "default", ListOptions{"app=api", ""}, done);
  });
  ASSERT_TRUE(listed.has_value()) << listed.error().message();
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0]["metadata"]["name"], "b");
  EXPECT_EQ(listed->items[0]["kind"], "Rollout");
  EXPECT_FALSE(listed->resource_version.empty());

  auto patched = Wait<StatusOr<json>>([&](auto done) {
    client_->Patch(Rollouts(), "default", "a", PatchType::kMerge,
                   json{{"spec", {{"paused", true}}}}, "", done);
  });
  ASSERT_TRUE(patched.has_value()) << patched.error().message();
  EXPECT_EQ((*patched)["spec"]["paused"], true);
  EXPECT_EQ((*fake_->Object("rollouts", "default", "a"))["spec"]["paused"], true);

  auto status = Wait<StatusOr<json>>([&](auto done) {
    client_->Patch(Rollouts(), "default", "a", PatchType::kMerge,
                   json{{"status", {{"abort", true}}}}, "status", done);
  });
  ASSERT_TRUE(status.has_value()) << status.error().message();
  EXPECT_EQ((*fake_->Object("rollouts", "default", "a"))["status"]["abort"], true);

  Status deleted = Wait<Status>(
      [&](auto done) { client_->Delete(Rollouts(), "default", "a", DeleteOptions{}, done); });
  EXPECT_TRUE(deleted.ok()) << deleted.message();
  EXPECT_EQ(Get(Rollouts(), "a").error().code(), StatusCode::kNotFound);
}

TEST_F(KubeClientTest, ErrorsMapToStatusCodesAndNameThePath) {
  ASSERT_TRUE(Create(Rollouts(), Rollout("a")).has_value());
  auto again = Create(Rollouts(), Rollout("a"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.error().message().find("POST /apis/argoproj.io/v1alpha1/namespaces/default/"
                                         "rollouts: 409"),
            std::string::npos)
      << again.error().message();

  json stale = *Get(Rollouts(), "a");
  json fresh = stale;
  fresh["spec"]["replicas"] = 4;
  ASSERT_TRUE(Wait<StatusOr<json>>([&](auto done) {
                client_->Update(Rollouts(), "default", fresh, "", done);
              }).has_value());
  stale["spec"]["replicas"] = 5;
  auto conflict = Wait<StatusOr<json>>(
      [&](auto done) { client_->Update(Rollouts(), "default", stale, "", done); });
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code(), StatusCode::kAborted);
  EXPECT_NE(conflict.error().message().find("the object has been modified"), std::string::npos);

  auto strategic = Wait<StatusOr<json>>([&](auto done) {
    client_->Patch(Rollouts(), "default", "a", PatchType::kStrategicMerge, json::object(), "",
                   done);
  });
  EXPECT_EQ(strategic.error().code(), StatusCode::kUnimplemented);

  auto unauthenticated = MakeClient("wrong");
  auto denied = Wait<StatusOr<json>>(
      [&](auto done) { unauthenticated->Get(Rollouts(), "default", "a", done); });
  EXPECT_EQ(denied.error().code(), StatusCode::kUnauthenticated);
}

TEST_F(KubeClientTest, ReadsRetryFailuresAndGarbageWritesDoNot) {
  ASSERT_TRUE(Create(Rollouts(), Rollout("a")).has_value());
  fake_->InjectFailures(2, 503, "upstream connect error");
  auto got = Get(Rollouts(), "a");
  EXPECT_TRUE(got.has_value()) << got.error().message();

  fake_->InjectFailures(1, 200, "<html>not json</html>", "text/html");
  auto write = Wait<StatusOr<json>>([&](auto done) {
    client_->Patch(Rollouts(), "default", "a", PatchType::kMerge, json{{"spec", {{"x", 1}}}}, "",
                   done);
  });
  ASSERT_FALSE(write.has_value());
  EXPECT_EQ(write.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(write.error().message().find("garbage from the API server"), std::string::npos);

  // More failures than retries: the read reports the last one.
  fake_->InjectFailures(20, 500, "{\"kind\":\"Status\",\"message\":\"etcd timeout\"}");
  auto failed = Get(Rollouts(), "a");
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.error().message().find("etcd timeout"), std::string::npos);
  fake_->InjectFailures(0, 200, "");
}

TEST_F(KubeClientTest, ModifyRereadsAndRetriesOnConflict) {
  ASSERT_TRUE(Create(Rollouts(), Rollout("a")).has_value());
  ASSERT_TRUE(fake_->InjectConflicts("rollouts", 2).ok());
  int calls = 0;
  auto done = Wait<StatusOr<json>>([&](auto cb) {
    client_->Modify(
        Rollouts(), "default", "a", "status",
        [&calls](json& o) -> StatusOr<bool> {
          ++calls;
          o["status"]["phase"] = "Progressing";
          return true;
        },
        cb);
  });
  ASSERT_TRUE(done.has_value()) << done.error().message();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ((*fake_->Object("rollouts", "default", "a"))["status"]["phase"], "Progressing");
}

TEST_F(KubeClientTest, WatchDeliversEventsAndBookmarks) {
  std::mutex mu;
  std::vector<std::string> seen;
  bool bookmark = false;
  auto watch = client_->Watch(
      Rollouts(), "default", WatchOptions{"", "", "", true, seconds(30)},
      [&](const WatchEvent& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (e.type == WatchEvent::Type::kBookmark) {
          bookmark = true;
          return;
        }
        seen.push_back(std::to_string(static_cast<int>(e.type)) + ":" +
                       e.object["metadata"].value("name", ""));
      },
      [](Status) {});
  ASSERT_TRUE(Create(Rollouts(), Rollout("a")).has_value());
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !seen.empty() && bookmark;
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen[0], "0:a");
}

TEST_F(KubeClientTest, WatchFromAnExpiredVersionEndsWithOutOfRange) {
  ASSERT_TRUE(Create(Rollouts(), Rollout("a")).has_value());
  ASSERT_TRUE(Create(Rollouts(), Rollout("b")).has_value());
  fake_->Compact();
  auto result = Wait<Status>([&](auto done) {
    auto* keep = new std::unique_ptr<Subscription>();
    *keep = client_->Watch(
        Rollouts(), "default", WatchOptions{"1", "", "", true, seconds(30)},
        [](const WatchEvent&) {}, done);
    // Leaked on purpose until the end of the test process: the stream must outlive `done`.
    (void)keep;
  });
  EXPECT_EQ(result.code(), StatusCode::kOutOfRange) << result.message();
}

TEST_F(KubeClientTest, InformerSurvivesDroppedWatchesAndRelistsAfterExpiry) {
  std::mutex mu;
  std::vector<std::string> events;
  InformerOptions o{Rollouts(), "default", ""};
  o.backoff_base = std::chrono::milliseconds(10);
  auto informer =
      Informer::Start(client_.get(), loop_.get(), clock_.get(), o, [&](const InformerEvent& e) {
        std::lock_guard<std::mutex> lock(mu);
        events.push_back(std::to_string(static_cast<int>(e.type)) + ":" + ObjectKey(e.object));
      });
  ASSERT_TRUE(Create(Rollouts(), Rollout("a")).has_value());
  ASSERT_TRUE(Eventually([&] { return informer->Get("default", "a").has_value(); }));
  EXPECT_TRUE(informer->Synced());

  // A dropped watch is watched again from where it was: nothing missed, nothing repeated.
  ASSERT_TRUE(Eventually([&] { return fake_->OpenWatches() > 0; }));
  fake_->DropWatches();
  ASSERT_TRUE(Create(Rollouts(), Rollout("b")).has_value());
  ASSERT_TRUE(Eventually([&] { return informer->Get("default", "b").has_value(); }));

  // Expiry while disconnected: the informer lists again and reports what vanished meanwhile.
  ASSERT_TRUE(Eventually([&] { return fake_->OpenWatches() > 0; }));
  fake_->InjectFailures(1000, 503, "down");  // keep it disconnected
  fake_->DropWatches();
  ASSERT_TRUE(fake_->Objects("rollouts").has_value());
  json b = *fake_->Object("rollouts", "default", "b");
  // Delete "a" behind the informer's back, then compact the history it would replay from.
  fake_->InjectFailures(0, 200, "");
  Status deleted = Wait<Status>(
      [&](auto done) { client_->Delete(Rollouts(), "default", "a", DeleteOptions{}, done); });
  ASSERT_TRUE(deleted.ok());
  fake_->Compact();
  fake_->DropWatches();
  ASSERT_TRUE(Eventually([&] { return !informer->Get("default", "a").has_value(); }));
  EXPECT_TRUE(informer->Get("default", "b").has_value());
  EXPECT_GE(informer->Stats().lists, 1);
  informer->Stop();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "2:default/a");
  EXPECT_EQ(std::count(events.begin(), events.end(), "0:default/b"), 1);
}

TEST_F(KubeClientTest, InformerRetriesGarbageWithBackoff) {
  ASSERT_TRUE(Create(Rollouts(), Rollout("a")).has_value());
  fake_->InjectFailures(8, 200, "garbage{");  // more than the client's own read retries
  InformerOptions o{Rollouts(), "default", ""};
  o.backoff_base = std::chrono::milliseconds(10);
  auto informer =
      Informer::Start(client_.get(), loop_.get(), clock_.get(), o, [](const InformerEvent&) {});
  ASSERT_TRUE(Eventually([&] { return informer->Synced(); }));
  EXPECT_TRUE(informer->Get("default", "a").has_value());
  EXPECT_GE(informer->Stats().errors, 1);
}

TEST_F(KubeClientTest, EventsNameTheInvolvedObject) {
  auto made = Create(Rollouts(), Rollout("a"));
  ASSERT_TRUE(made.has_value());
  EventRecord e;
  e.resource = Rollouts();
  e.involved = *made;
  e.type = EventType::kWarning;
  e.reason = "RolloutAborted";
  e.message = "Rollout aborted update to revision 2";
  Status s = Wait<Status>([&](auto done) { client_->RecordEvent(e, done); });
  ASSERT_TRUE(s.ok()) << s.message();
  auto events = fake_->Objects("events", "default");
  ASSERT_TRUE(events.has_value());
  ASSERT_EQ(events->size(), 1u);
  const json& ev = (*events)[0];
  EXPECT_EQ(ev["involvedObject"]["kind"], "Rollout");
  EXPECT_EQ(ev["involvedObject"]["name"], "a");
  EXPECT_EQ(ev["involvedObject"]["uid"], (*made)["metadata"]["uid"]);
  EXPECT_EQ(ev["type"], "Warning");
  EXPECT_EQ(ev["reason"], "RolloutAborted");
  EXPECT_EQ(ev["source"]["component"], "rollouts-controller");
}

TEST(KubeRateLimitTest, RequestsOverTheBurstWaitForTokens) {
  auto fake = fakes::KubeApiServerFake::Start();
  ASSERT_TRUE(fake.has_value());
  auto http = NewHttpClient();
  ManualClock clock(FromUnixNanos(int64_t{1'000'000'000} * 1'700'000'000));
  KubeClientOptions o;
  o.config.server = (*fake)->Url();
  o.http = http.get();
  o.timers = &clock;
  o.clock = &clock;
  o.qps = 2;
  o.burst = 1;
  auto client = KubeClient::New(o);
  ASSERT_TRUE(client.has_value());
  std::atomic<int> answered{0};
  for (int i = 0; i < 3; ++i) {
    (*client)->Get(Rollouts(), "default", "x", [&](StatusOr<json>) { answered++; });
  }
  ASSERT_TRUE(Eventually([&] { return answered.load() == 1; }));
  EXPECT_EQ((*fake)->Requests().size(), 1u);
  clock.Advance(std::chrono::milliseconds(500));  // one token
  ASSERT_TRUE(Eventually([&] { return answered.load() == 2; }));
  EXPECT_EQ((*fake)->Requests().size(), 2u);
  clock.Advance(std::chrono::milliseconds(500));
  ASSERT_TRUE(Eventually([&] { return answered.load() == 3; }));
}

TEST(KubePathTest, ResourcePaths) {
  EXPECT_EQ(ResourcePath(Pods(), "ns", "p"), "/api/v1/namespaces/ns/pods/p");
  EXPECT_EQ(ResourcePath(Rollouts(), "ns", "r", "status"),
            "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r/status");
  EXPECT_EQ(ResourcePath(ClusterAnalysisTemplates(), "ns", "t"),
            "/apis/argoproj.io/v1alpha1/clusteranalysistemplates/t");
  EXPECT_EQ(ResourcePath(ReplicaSets(), ""), "/apis/apps/v1/replicasets");
}

TEST(KubeTimeTest, FormatsAndParses) {
  const Time t = FromUnixNanos(int64_t{1'700'000'000} * 1'000'000'000);
  EXPECT_EQ(KubeTime(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(*ParseKubeTime("2023-11-14T22:13:20Z"), t);
  EXPECT_EQ(*ParseKubeTime("2023-11-14T23:13:20+01:00"), t);
  EXPECT_EQ(ToUnixNanos(*ParseKubeTime("2023-11-14T22:13:20.250000Z")) - ToUnixNanos(t),
            250'000'000);
  EXPECT_FALSE(ParseKubeTime("yesterday").has_value());
}

}  // namespace
}  // namespace ramp::kube
