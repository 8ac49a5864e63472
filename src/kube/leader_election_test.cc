// LeaderElector against the strict API-server fake (tests/fakes) over real HTTP, with the
// election's time on a ManualClock: acquiring an absent Lease (the record client-go writes),
// standing by behind a held one, taking over when the leader stops renewing (by local
// observation time, not the remote renewTime), 409s on renewal, losing leadership past the renew
// deadline, and the graceful Release.
#include "kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "net/event_loop.h"
#include "ramp/http_client.h"
#include "tests/fakes/kube_apiserver_fake.h"

namespace ramp::kube {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

constexpr char kNamespace[] = "argo-rollouts";
constexpr char kLock[] = "ramp-controller-lock";

// Polls `cond` (real time) until it holds or 20 s pass: only for HTTP round trips.
bool Eventually(const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return cond();
}

// Forwards to a real KubeClient and counts the requests whose callbacks have not returned yet. A
// callback that starts the next request (GET → PUT) does so before its own count drops, so zero
// means every chain of requests started by a timer has finished.
class CountingClient final : public KubeClient {
 public:
  explicit CountingClient(KubeClient* inner) : inner_(inner) {}
  int InFlight() const { return in_flight_.load(); }

  const std::string& DefaultNamespace() const override { return inner_->DefaultNamespace(); }
  void Get(const Resource& r, std::string_view ns, std::string_view name,
           StatusOrCallback<json> done) override {
    inner_->Get(r, ns, name, Wrap(std::move(done)));
  }
  void List(const Resource& r, std::string_view ns, const ListOptions& options,
            StatusOrCallback<ListResult> done) override {
    inner_->List(r, ns, options, Wrap(std::move(done)));
  }
  void Create(const Resource& r, std::string_view ns, json object,
              StatusOrCallback<json> done) override {
    inner_->Create(r, ns, std::move(object), Wrap(std::move(done)));
  }
  void Update(const Resource& r, std::string_view ns, json object, std::string_view subresource,
              StatusOrCallback<json> done) override {
    inner_->Update(r, ns, std::move(object), subresource, Wrap(std::move(done)));
  }
  void Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
             const json& patch, std::string_view subresource,
             StatusOrCallback<json> done) override {
    inner_->Patch(r, ns, name, type, patch, subresource, Wrap(std::move(done)));
  }
  void Delete(const Resource& r, std::string_view ns, std::string_view name,
              const DeleteOptions& options, StatusCallback done) override {
    inner_->Delete(r, ns, name, options, Wrap(std::move(done)));
  }
  std::unique_ptr<Subscription> Watch(const Resource& r, std::string_view ns,
                                      const WatchOptions& options,
                                      std::function<void(const WatchEvent&)> on_event,
                                      StatusCallback done) override {
    return inner_->Watch(r, ns, options, std::move(on_event), std::move(done));
  }
  void Modify(const Resource& r, std::string_view ns, std::string_view name,
              std::string_view subresource, std::function<StatusOr<bool>(nlohmann::json&)> mutate,
              StatusOrCallback<json> done) override {
    inner_->Modify(r, ns, name, subresource, std::move(mutate), Wrap(std::move(done)));
  }
  void RecordEvent(const EventRecord& event, StatusCallback done) override {
    inner_->RecordEvent(event, Wrap(std::move(done)));
  }

 private:
  template <typename Arg>
  std::function<void(Arg)> Wrap(std::function<void(Arg)> done) {
    ++in_flight_;
    return [this, done = std::move(done)](Arg v) {
      if (done) done(std::move(v));
      --in_flight_;
    };
  }

  KubeClient* inner_;
  std::atomic<int> in_flight_{0};
};

// What one candidate's callbacks saw.
struct Events {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::mutex mu;
  std::vector<std::string> logs;

  bool Logged(const std::string& part) {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& line : logs) {
      if (line.find(part) != std::string::npos) return true;
    }
    return false;
  }
};

// 2026-11-27T09:00:00.123456789Z: the sub-microsecond digits must be cut, not rounded.
Time StartTime() { return FromUnixNanos(int64_t{1795770000} * 1000000000 + 123456789); }

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = fakes::KubeApiServerFake::Start();
    ASSERT_TRUE(fake.has_value()) << fake.error().message();
    fake_ = std::move(*fake);
    loop_ = net::EventLoop::Start(1);
    http_ = NewHttpClient();
    system_clock_ = NewSystemClock();
    KubeClientOptions o;
    o.config.server = fake_->Url();
    o.http = http_.get();
    o.timers = loop_.get();
    o.clock = system_clock_.get();
    o.qps = 0;
    o.backoff_base = std::chrono::milliseconds(1);
    o.backoff_max = std::chrono::milliseconds(5);
    auto c = KubeClient::New(o);
    ASSERT_TRUE(c.has_value()) << c.error().message();
    client_ = std::move(*c);
    counting_ = std::make_unique<CountingClient>(client_.get());
  }

  void TearDown() override {
    a_.reset();
    b_.reset();
    Settle();
  }

  std::unique_ptr<LeaderElector> MakeElector(const std::string& identity, Events* events) {
    LeaderElectionOptions o;
    o.client = counting_.get();
    o.timers = &clock_;
    o.clock = &clock_;
    o.namespace_ = kNamespace;
    o.lock_name = kLock;
    o.identity = identity;
    o.on_started_leading = [events] { ++events->started; };
    o.on_stopped_leading = [events] { ++events->stopped; };
    o.log = [events](std::string_view line) {
      std::lock_guard<std::mutex> l(events->mu);
      events->logs.emplace_back(line);
    };
    auto e = LeaderElector::Start(o);
    EXPECT_TRUE(e.has_value()) << e.error().message();
    Settle();
    return e.has_value() ? std::move(*e) : nullptr;
  }

  // Waits (real time) until every request the electors started has been answered and handled.
  void Settle() {
    ASSERT_TRUE(Eventually([&] { return counting_->InFlight() == 0; }));
  }

  // Moves the election's time forward and lets the requests that fell due finish.
  void Step(Duration d) {
    clock_.Advance(d);
    Settle();
  }

  // Steps one virtual second at a time until `cond` holds, for at most `limit`.
  bool StepUntil(const std::function<bool()>& cond, Duration limit = seconds(60)) {
    for (Duration spent{0}; spent < limit; spent += seconds(1)) {
      if (cond()) return true;
      Step(seconds(1));
    }
    return cond();
  }

  json LeaseSpec() {
    auto lease = fake_->Object("leases", kNamespace, kLock);
    return lease ? (*lease)["spec"] : json();
  }

  std::unique_ptr<fakes::KubeApiServerFake> fake_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Clock> system_clock_;
  std::unique_ptr<KubeClient> client_;
  std::unique_ptr<CountingClient> counting_;
  ManualClock clock_{StartTime()};
  Events a_events_, b_events_;
  std::unique_ptr<LeaderElector> a_, b_;
};

TEST_F(LeaderElectionTest, AcquiresAnAbsentLeaseWithClientGosRecord) {
  a_ = MakeElector("host-a_1", &a_events_);
  ASSERT_NE(a_, nullptr);
  EXPECT_TRUE(a_->IsLeader());
  EXPECT_EQ(a_events_.started, 1);
  EXPECT_EQ(a_->Leader(), "host-a_1");

  // LeaderElectionRecordToLeaseSpec: all five fields, MicroTime with microseconds.
  const json golden = json::parse(R"({
    "holderIdentity": "host-a_1",
    "leaseDurationSeconds": 15,
    "acquireTime": "2026-11-27T09:00:00.123456Z",
    "renewTime": "2026-11-27T09:00:00.123456Z",
    "leaseTransitions": 0
  })");
  EXPECT_EQ(LeaseSpec(), golden) << LeaseSpec().dump();

  // The wire: GET (404), then POST of a coordination.k8s.io/v1 Lease.
  auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path,
            "/apis/coordination.k8s.io/v1/namespaces/argo-rollouts/leases/"
            "ramp-controller-lock");
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].path, "/apis/coordination.k8s.io/v1/namespaces/argo-rollouts/leases");
  const json body = json::parse(requests[1].body);
  EXPECT_EQ(body["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(body["kind"], "Lease");
  EXPECT_EQ(body["metadata"]["name"], kLock);
  EXPECT_EQ(body["metadata"]["namespace"], kNamespace);
  EXPECT_EQ(body["spec"], golden);

  // A renewal every retry period: renewTime moves, acquireTime and transitions stay; the PUT is
  // conditional on the resourceVersion read.
  fake_->ClearRequests();
  Step(seconds(2));
  json renewed = golden;
  renewed["renewTime"] = "2026-11-27T09:00:02.123456Z";
  EXPECT_EQ(LeaseSpec(), renewed) << LeaseSpec().dump();
  requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].method, "PUT");
  EXPECT_FALSE(json::parse(requests[1].body)["metadata"].value("resourceVersion", "").empty());
  EXPECT_TRUE(a_->IsLeader());
  EXPECT_EQ(a_events_.stopped, 0);
}

TEST_F(LeaderElectionTest, SecondCandidateDoesNotTakeAHeldLease) {
  a_ = MakeElector("host-a_1", &a_events_);
  ASSERT_TRUE(a_->IsLeader());
  b_ = MakeElector("host-b_2", &b_events_);
  ASSERT_NE(b_, nullptr);
  for (int i = 0; i < 60; ++i) {
    Step(seconds(1));
    ASSERT_FALSE(b_->IsLeader()) << "after " << i + 1 << " s";
  }
  EXPECT_TRUE(a_->IsLeader());
  EXPECT_EQ(b_events_.started, 0);
  EXPECT_EQ(b_->Leader(), "host-a_1");
  EXPECT_TRUE(b_events_.Logged("new leader elected: host-a_1"));
  EXPECT_EQ(LeaseSpec()["holderIdentity"], "host-a_1");
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], 0);
}

TEST_F(LeaderElectionTest, StandbyTakesOverWhenTheLeaderStopsRenewing) {
  a_ = MakeElector("host-a_1", &a_events_);
  b_ = MakeElector("host-b_2", &b_events_);
  for (int i = 0; i < 10; ++i) Step(seconds(1));
  ASSERT_TRUE(a_->IsLeader());
  ASSERT_FALSE(b_->IsLeader());

  // The destructor neither releases the Lease nor reports a stop.
  a_.reset();
  EXPECT_EQ(LeaseSpec()["holderIdentity"], "host-a_1");
  EXPECT_EQ(a_events_.stopped, 0);

  ASSERT_TRUE(StepUntil([&] { return b_->IsLeader(); }));
  EXPECT_EQ(b_events_.started, 1);
  EXPECT_EQ(b_->Leader(), "host-b_2");
  const json spec = LeaseSpec();
  EXPECT_EQ(spec["holderIdentity"], "host-b_2");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 1);
  EXPECT_EQ(spec["acquireTime"], spec["renewTime"]);
}

// client-go never compares the remote renewTime with its own clock: a record that looks long
// expired is still respected for a full lease duration after this candidate first saw it.
TEST_F(LeaderElectionTest, ExpiryCountsFromLocalObservationNotRemoteRenewTime) {
  ASSERT_TRUE(fake_
                  ->Put(json{{"apiVersion", "coordination.k8s.io/v1"},
                             {"kind", "Lease"},
                             {"metadata", {{"name", kLock}, {"namespace", kNamespace}}},
                             {"spec",
                              {{"holderIdentity", "gone_0"},
                               {"leaseDurationSeconds", 15},
                               {"acquireTime", "2020-01-01T00:00:00.000000Z"},
                               {"renewTime", "2020-01-01T00:00:00.000000Z"},
                               {"leaseTransitions", 3}}}})
                  .has_value());
  b_ = MakeElector("host-b_2", &b_events_);
  EXPECT_FALSE(b_->IsLeader());
  EXPECT_EQ(b_->Leader(), "gone_0");
  for (int i = 0; i < 14; ++i) {
    Step(seconds(1));
    ASSERT_FALSE(b_->IsLeader()) << "took a lease observed unchanged for only " << i + 1 << " s";
  }
  ASSERT_TRUE(StepUntil([&] { return b_->IsLeader(); }));
  EXPECT_EQ(LeaseSpec()["holderIdentity"], "host-b_2");
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], 4);
}

TEST_F(LeaderElectionTest, ConflictOnRenewalIsAnOrdinaryFailedAttempt) {
  a_ = MakeElector("host-a_1", &a_events_);
  ASSERT_TRUE(a_->IsLeader());
  ASSERT_TRUE(fake_->InjectConflicts("leases", 1).ok());
  Step(seconds(2));  // the PUT answers 409
  EXPECT_TRUE(a_->IsLeader());
  EXPECT_TRUE(a_events_.Logged("409")) << "the conflict is logged";
  EXPECT_EQ(LeaseSpec()["renewTime"], "2026-11-27T09:00:00.123456Z");
  Step(seconds(2));  // retried a retry period later, within the renew deadline
  EXPECT_TRUE(a_->IsLeader());
  EXPECT_EQ(LeaseSpec()["renewTime"], "2026-11-27T09:00:04.123456Z");
  EXPECT_EQ(LeaseSpec()["holderIdentity"], "host-a_1");
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], 0);
  EXPECT_EQ(a_events_.stopped, 0);
}

TEST_F(LeaderElectionTest, LosesLeadershipWhenRenewalsFailPastTheRenewDeadline) {
  a_ = MakeElector("host-a_1", &a_events_);
  ASSERT_TRUE(a_->IsLeader());
  fake_->InjectFailures(1000000, 500, R"({"kind":"Status","message":"etcd timeout"})");
  Step(seconds(2));  // the first failed renewal is well within the deadline
  EXPECT_TRUE(a_->IsLeader());
  ASSERT_TRUE(StepUntil([&] { return !a_->IsLeader(); }, seconds(30)));
  EXPECT_EQ(a_events_.started, 1);
  EXPECT_EQ(a_events_.stopped, 1);
  EXPECT_TRUE(a_events_.Logged("etcd timeout"));
  EXPECT_TRUE(a_events_.Logged("leader election lost"));

  // Stopped for good, as client-go's Run returns: no more requests, no second start.
  fake_->InjectFailures(0, 200, "");
  fake_->ClearRequests();
  for (int i = 0; i < 30; ++i) Step(seconds(1));
  EXPECT_TRUE(fake_->Requests().empty());
  EXPECT_FALSE(a_->IsLeader());
  EXPECT_EQ(a_events_.started, 1);
  EXPECT_EQ(a_events_.stopped, 1);
}

TEST_F(LeaderElectionTest, ReleaseHandsOverAtOnce) {
  a_ = MakeElector("host-a_1", &a_events_);
  b_ = MakeElector("host-b_2", &b_events_);
  Step(seconds(3));
  ASSERT_TRUE(a_->IsLeader());

  auto released = std::make_shared<std::promise<Status>>();
  auto result = released->get_future();
  a_->Release([released](Status s) { released->set_value(std::move(s)); });
  ASSERT_EQ(result.wait_for(seconds(20)), std::future_status::ready);
  const Status s = result.get();
  EXPECT_TRUE(s.ok()) << s.message();
  Settle();
  EXPECT_FALSE(a_->IsLeader());
  EXPECT_EQ(a_events_.stopped, 1);
  json spec = LeaseSpec();
  EXPECT_EQ(spec["holderIdentity"], "");
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
  EXPECT_EQ(spec["acquireTime"], "2026-11-27T09:00:03.123456Z");
  EXPECT_EQ(spec["renewTime"], "2026-11-27T09:00:03.123456Z");
  EXPECT_EQ(spec["leaseTransitions"], 0);

  // The standby's next attempt (at most one jittered retry period away) takes it.
  ASSERT_TRUE(StepUntil([&] { return b_->IsLeader(); }, seconds(5)));
  EXPECT_EQ(LeaseSpec()["holderIdentity"], "host-b_2");
  EXPECT_EQ(LeaseSpec()["leaseTransitions"], 1);

  // Releasing when not leading writes nothing.
  fake_->ClearRequests();
  auto again = std::make_shared<std::promise<Status>>();
  auto again_result = again->get_future();
  a_->Release([again](Status st) { again->set_value(std::move(st)); });
  ASSERT_EQ(again_result.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_TRUE(again_result.get().ok());
  EXPECT_TRUE(fake_->Requests().empty());
}

TEST_F(LeaderElectionTest, StartRejectsInvalidOptions) {
  LeaderElectionOptions o;
  o.client = counting_.get();
  o.timers = &clock_;
  o.clock = &clock_;
  o.namespace_ = kNamespace;
  o.lock_name = kLock;
  o.identity = "x";

  auto bad = o;
  bad.identity = "";
  EXPECT_EQ(LeaderElector::Start(bad).error().code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.client = nullptr;
  EXPECT_EQ(LeaderElector::Start(bad).error().code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.renew_deadline = seconds(15);
  EXPECT_EQ(LeaderElector::Start(bad).error().code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.retry_period = seconds(9);  // 9 s × 1.2 > 10 s
  EXPECT_EQ(LeaderElector::Start(bad).error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fake_->Requests().empty());
}

TEST(LeaderElectionNamesTest, LockNameIdentityAndMicroTime) {
  EXPECT_EQ(LeaderLockName(""), "ramp-controller-lock");
  EXPECT_EQ(LeaderLockName("blue"), "ramp-controller-lock-blue");
  const std::string id = NewLeaderIdentity("pod-7");
  EXPECT_TRUE(std::regex_match(
      id, std::regex("pod-7_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << id;
  EXPECT_NE(NewLeaderIdentity("pod-7"), id);
  EXPECT_FALSE(NewLeaderIdentity().empty());
  EXPECT_EQ(KubeMicroTime(StartTime()), "2026-11-27T09:00:00.123456Z");
  EXPECT_EQ(KubeMicroTime(FromUnixNanos(0)), "1970-01-01T00:00:00.000000Z");
}

}  // namespace
}  // namespace ramp::kube
