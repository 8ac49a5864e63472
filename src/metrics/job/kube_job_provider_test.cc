// The Kubernetes `job` provider against the strict API-server fake (tests/fakes), through a real
// KubeClient. The fake has no Job controller: the tests play it, writing the Job's status (and
// its pods) with KubeApiServerFake::Put. The Job created is checked field by field against a
// golden written by hand from Argo Rollouts' metricproviders/job/job.go.
#include "metrics/job/kube_job_provider.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_client.h"
#include "metrics/job/job_config.h"
#include "metrics/register.h"
#include "net/event_loop.h"
#include "platform/kubernetes/golden_testing.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/registry.h"
#include "tests/fakes/kube_apiserver_fake.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;
using platform::kube_objects::testing::MatchesGolden;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr char kUid[] = "0d7a7c1e-3b5e-4a8e-9f47-2a1c6d5e8b90";
constexpr char kRun[] = "canary-analysis-7f9d";
constexpr char kNs[] = "shop";
constexpr char kJob1[] = "0d7a7c1e-3b5e-4a8e-9f47-2a1c6d5e8b90.smoke-test.1";

// 2026-11-27T09:00:00Z.
const Time kT0 = FromUnixNanos(1'795'770'000LL * 1'000'000'000LL);

std::string Golden(const std::string& name) {
  return std::string(RAMP_SOURCE_DIR) + "/src/metrics/job/testdata/" + name;
}

RunContext Ctx(int64_t number = 1, Time now = kT0) {
  RunContext ctx;
  ctx.run = ObjectRef{kNs, kRun};
  ctx.run_uid = kUid;
  ctx.rollout = ObjectRef{kNs, "web"};
  ctx.now = now;
  ctx.measurement_number = number;
  return ctx;
}

// The provider.job of the golden kube-job-smoke-test.yaml.
MetricRef SmokeTestMetric(const std::string& name = "smoke-test") {
  MetricRef m;
  m.name = name;
  m.provider_type = "job";
  m.provider_config_json = R"({
    "metadata": {"labels": {"team": "payments"}, "annotations": {"example.com/owner": "sre"}},
    "spec": {
      "backoffLimit": 0,
      "activeDeadlineSeconds": 120,
      "template": {
        "metadata": {"labels": {"app": "smoke"}},
        "spec": {
          "restartPolicy": "Never",
          "containers": [{
            "name": "smoke",
            "image": "curlimages/curl:8.5.0",
            "command": ["sh", "-c"],
            "args": ["curl -sf http://web-canary.shop.svc/healthz"]
          }]
        }
      }
    }
  })";
  return m;
}

// A metav1 Status body as the API server answers a failure.
std::string ApiStatus(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"},   {"apiVersion", "v1"}, {"status", "Failure"},
              {"message", message}, {"reason", reason},   {"code", code}}
      .dump();
}

template <typename T>
T Await(const std::function<void(std::function<void(T)>)>& start) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T v) { promise->set_value(std::move(v)); });
  if (future.wait_for(seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 20 s";
    std::abort();
  }
  return future.get();
}

class KubeJobProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fakes::KubeFakeOptions fo;
    fo.replicaset_controller = false;
    fo.clock = &fake_clock_;
    auto fake = fakes::KubeApiServerFake::Start(fo);
    ASSERT_TRUE(fake.has_value()) << fake.error().message();
    fake_ = std::move(*fake);
    loop_ = net::EventLoop::Start(1);
    http_ = NewHttpClient();
    clock_ = NewSystemClock();
    client_ = MakeClient();
    provider_ = MakeProvider(client_.get());
  }

  std::unique_ptr<kube::KubeClient> MakeClient(double qps = 0, int burst = 80) {
    kube::KubeClientOptions o;
    o.config.server = fake_->Url();
    o.http = http_.get();
    o.timers = loop_.get();
    o.clock = clock_.get();
    o.qps = qps;
    o.burst = burst;
    o.read_retries = 1;
    o.backoff_base = std::chrono::milliseconds(10);
    auto c = kube::KubeClient::New(o);
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return std::move(*c);
  }

  static std::unique_ptr<MetricProvider> MakeProvider(kube::KubeClient* client,
                                                      std::string job_namespace = "") {
    auto p = NewKubeJobProvider(KubeJobProviderOptions{client, std::move(job_namespace)});
    EXPECT_TRUE(p.has_value()) << p.error().message();
    return std::move(*p);
  }

  MeasurementUpdate Run(const RunContext& ctx, const MetricRef& metric,
                        MetricProvider* provider = nullptr) {
    MetricProvider* p = provider != nullptr ? provider : provider_.get();
    return Await<MeasurementUpdate>([&](auto done) { p->Run(ctx, metric, done); });
  }
  MeasurementUpdate Resume(const RunContext& ctx, const Measurement& m,
                           const MetricRef& metric = SmokeTestMetric()) {
    return Await<MeasurementUpdate>([&](auto done) { provider_->Resume(ctx, metric, m, done); });
  }
  MeasurementUpdate Terminate(const RunContext& ctx, const Measurement& m,
                              const MetricRef& metric = SmokeTestMetric()) {
    return Await<MeasurementUpdate>([&](auto done) { provider_->Terminate(ctx, metric, m, done); });
  }
  Status GarbageCollect(const RunContext& ctx, const MetricRef& metric, int32_t limit) {
    return Await<Status>([&](auto done) { provider_->GarbageCollect(ctx, metric, limit, done); });
  }

  // Plays the job controller: writes `status` into the stored Job.
  void SetJobStatus(const std::string& ns, const std::string& name, json status) {
    std::optional<json> job = fake_->Object("jobs", ns, name);
    ASSERT_TRUE(job.has_value()) << ns << "/" << name;
    (*job)["status"] = std::move(status);
    ASSERT_TRUE(fake_->Put(*job).has_value());
  }

  // The names of the Jobs stored in `ns`.
  std::vector<std::string> JobNames(const std::string& ns = kNs) {
    std::vector<std::string> out;
    auto jobs = fake_->Objects("jobs", ns);
    EXPECT_TRUE(jobs.has_value());
    for (const json& j : *jobs) out.push_back(j["metadata"]["name"].get<std::string>());
    return out;
  }

  std::vector<fakes::KubeRequestRecord> RequestsWith(const std::string& method) {
    std::vector<fakes::KubeRequestRecord> out;
    for (auto& r : fake_->Requests()) {
      if (r.method == method) out.push_back(r);
    }
    return out;
  }

  ManualClock fake_clock_{kT0};
  std::unique_ptr<fakes::KubeApiServerFake> fake_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<MetricProvider> provider_;
};

TEST_F(KubeJobProviderTest, RunCreatesTheJobArgoCreates) {
  MeasurementUpdate u = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kRunning) << u.measurement.message;
  EXPECT_EQ(u.measurement.phase, AnalysisPhase::kRunning);
  EXPECT_EQ(u.measurement.started_at, kT0);
  EXPECT_EQ(u.measurement.resume_at, kT0);  // resumed at once, as Argo
  EXPECT_FALSE(u.measurement.finished_at.has_value());
  EXPECT_EQ(u.measurement.metadata,
            (std::map<std::string, std::string>{{"job-name", kJob1}, {"job-namespace", kNs}}));

  // What was sent, and what the API server stored, is the golden Job.
  std::vector<fakes::KubeRequestRecord> posts = RequestsWith("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].path, "/apis/batch/v1/namespaces/shop/jobs");
  json sent = json::parse(posts[0].body);
  EXPECT_TRUE(MatchesGolden(sent, Golden("kube-job-smoke-test.yaml")));
  std::optional<json> stored = fake_->Object("jobs", kNs, kJob1);
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(MatchesGolden(*stored, Golden("kube-job-smoke-test.yaml")));
  EXPECT_EQ(provider_->Type(), "job");
  EXPECT_TRUE(provider_->Metadata(SmokeTestMetric()).empty());
}

TEST_F(KubeJobProviderTest, CompleteJobIsSuccessful) {
  MeasurementUpdate run = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;

  // No status yet: still Running, looked at again after √(2·50 s) = 10 s.
  MeasurementUpdate r1 = Resume(Ctx(1, kT0 + seconds(50)), run.measurement);
  ASSERT_EQ(r1.kind, MeasurementUpdate::Kind::kRunning) << r1.measurement.message;
  EXPECT_EQ(r1.measurement.resume_at, kT0 + seconds(60));
  EXPECT_EQ(r1.measurement.metadata, run.measurement.metadata);

  // Started, one pod active: still Running; a Complete condition that is not True counts not.
  SetJobStatus(
      kNs, kJob1,
      {{"active", 1}, {"conditions", json::array({{{"type", "Complete"}, {"status", "False"}}})}});
  MeasurementUpdate r2 = Resume(Ctx(1, kT0 + seconds(60)), r1.measurement);
  EXPECT_EQ(r2.kind, MeasurementUpdate::Kind::kRunning);

  SetJobStatus(kNs, kJob1,
               {{"succeeded", 1},
                {"conditions", json::array({{{"type", "SuccessCriteriaMet"}, {"status", "True"}},
                                            {{"type", "Complete"}, {"status", "True"}}})}});
  MeasurementUpdate done = Resume(Ctx(1, kT0 + seconds(70)), r2.measurement);
  ASSERT_EQ(done.kind, MeasurementUpdate::Kind::kJudged) << done.measurement.message;
  EXPECT_EQ(done.measurement.phase, AnalysisPhase::kSuccessful);
  EXPECT_EQ(done.measurement.finished_at, kT0 + seconds(70));
  EXPECT_EQ(done.measurement.started_at, kT0);
  EXPECT_FALSE(done.measurement.resume_at.has_value());
  EXPECT_EQ(done.measurement.message, "");
  EXPECT_EQ(done.measurement.metadata.at("job-name"), kJob1);
}

TEST_F(KubeJobProviderTest, FailedJobIsFailedWithTheConditionsMessage) {
  MeasurementUpdate run = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;
  // FailureTarget comes before Failed (Kubernetes ≥ 1.31): not yet a verdict.
  json target = {{"type", "FailureTarget"},
                 {"status", "True"},
                 {"reason", "BackoffLimitExceeded"},
                 {"message", "Job has reached the specified backoff limit"}};
  SetJobStatus(kNs, kJob1, {{"failed", 1}, {"conditions", json::array({target})}});
  MeasurementUpdate r1 = Resume(Ctx(1, kT0 + seconds(2)), run.measurement);
  ASSERT_EQ(r1.kind, MeasurementUpdate::Kind::kRunning) << r1.measurement.message;

  json failed = target;
  failed["type"] = "Failed";
  SetJobStatus(kNs, kJob1, {{"failed", 1}, {"conditions", json::array({target, failed})}});
  MeasurementUpdate r2 = Resume(Ctx(1, kT0 + seconds(4)), r1.measurement);
  ASSERT_EQ(r2.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(r2.measurement.phase, AnalysisPhase::kFailed);
  EXPECT_EQ(r2.measurement.message, "Job has reached the specified backoff limit");
  EXPECT_EQ(r2.measurement.finished_at, kT0 + seconds(4));
}

TEST_F(KubeJobProviderTest, JobDeletedBehindOurBackIsAnError) {
  MeasurementUpdate run = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;
  Status deleted = Await<Status>(
      [&](auto done) { client_->Delete(kube::Jobs(), kNs, kJob1, kube::DeleteOptions{}, done); });
  ASSERT_TRUE(deleted.ok()) << deleted.message();

  MeasurementUpdate r = Resume(Ctx(1, kT0 + seconds(5)), run.measurement);
  ASSERT_EQ(r.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(r.measurement.phase, AnalysisPhase::kError);
  EXPECT_NE(r.measurement.message.find(std::string("job shop/") + kJob1 + " no longer exists"),
            std::string::npos)
      << r.measurement.message;
  EXPECT_NE(r.measurement.message.find("not found"), std::string::npos) << r.measurement.message;
  EXPECT_EQ(r.measurement.finished_at, kT0 + seconds(5));

  // A measurement that names no job.
  Measurement bare;
  bare.phase = AnalysisPhase::kRunning;
  MeasurementUpdate none = Resume(Ctx(), bare);
  ASSERT_EQ(none.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(none.measurement.message, "job metadata reference missing");
}

TEST_F(KubeJobProviderTest, ApiFailuresAreErrorsWithTheApiMessage) {
  RunContext ctx = Ctx();
  ctx.secrets = {"s3cr3t"};
  fake_->InjectFailures(
      1, 403,
      ApiStatus(
          403, "Forbidden",
          "jobs.batch is forbidden: User \"system:serviceaccount:argo-rollouts:argo-rollouts\" "
          "cannot create resource \"jobs\" in API group \"batch\" (token s3cr3t)"));
  MeasurementUpdate refused = Run(ctx, SmokeTestMetric());
  ASSERT_EQ(refused.kind, MeasurementUpdate::Kind::kError);
  EXPECT_NE(refused.measurement.message.find("cannot create resource \"jobs\""), std::string::npos)
      << refused.measurement.message;
  EXPECT_EQ(refused.measurement.message.find("s3cr3t"), std::string::npos);
  EXPECT_NE(refused.measurement.message.find("*****"), std::string::npos);
  EXPECT_EQ(refused.measurement.finished_at, kT0);
  EXPECT_TRUE(JobNames().empty());

  MeasurementUpdate run = Run(ctx, SmokeTestMetric());
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;
  const std::string etcd = ApiStatus(500, "InternalError", "etcdserver: request timed out");

  fake_->InjectFailures(10, 500, etcd);  // more than the client's read retries
  MeasurementUpdate resumed = Resume(ctx, run.measurement);
  fake_->InjectFailures(0, 200, "");
  ASSERT_EQ(resumed.kind, MeasurementUpdate::Kind::kError);
  EXPECT_NE(resumed.measurement.message.find("etcdserver: request timed out"), std::string::npos)
      << resumed.measurement.message;

  fake_->InjectFailures(1, 500, etcd);
  MeasurementUpdate terminated = Terminate(ctx, run.measurement);
  ASSERT_EQ(terminated.kind, MeasurementUpdate::Kind::kError);
  EXPECT_NE(terminated.measurement.message.find("etcdserver: request timed out"),
            std::string::npos);
  EXPECT_EQ(JobNames(), std::vector<std::string>{kJob1});

  fake_->InjectFailures(10, 500, etcd);
  Status gc = GarbageCollect(ctx, SmokeTestMetric(), 0);
  fake_->InjectFailures(0, 200, "");
  EXPECT_FALSE(gc.ok());
  EXPECT_NE(gc.message().find("etcdserver: request timed out"), std::string::npos) << gc.message();
  EXPECT_EQ(JobNames(), std::vector<std::string>{kJob1});

  // A configuration the API server rejects is an Error with its message.
  MetricRef bad = SmokeTestMetric("Smoke_Test");
  fake_->InjectFailures(
      1, 422,
      ApiStatus(422, "Invalid", "Job.batch \"x\" is invalid: metadata.name: Invalid value"));
  MeasurementUpdate invalid = Run(ctx, bad);
  ASSERT_EQ(invalid.kind, MeasurementUpdate::Kind::kError);
  EXPECT_NE(invalid.measurement.message.find("is invalid"), std::string::npos);
}

TEST_F(KubeJobProviderTest, TerminateDeletesTheJobAndIsInconclusive) {
  MeasurementUpdate run = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;
  fake_->ClearRequests();

  MeasurementUpdate t = Terminate(Ctx(1, kT0 + seconds(5)), run.measurement);
  ASSERT_EQ(t.kind, MeasurementUpdate::Kind::kJudged) << t.measurement.message;
  EXPECT_EQ(t.measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(t.measurement.message, "job terminated");
  EXPECT_EQ(t.measurement.finished_at, kT0 + seconds(5));
  EXPECT_EQ(t.measurement.metadata.at("job-name"), kJob1);
  EXPECT_FALSE(fake_->Object("jobs", kNs, kJob1).has_value());

  std::vector<fakes::KubeRequestRecord> deletes = RequestsWith("DELETE");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0].path, std::string("/apis/batch/v1/namespaces/shop/jobs/") + kJob1);
  json options = json::parse(deletes[0].body);
  EXPECT_EQ(options["propagationPolicy"], "Foreground");  // as Argo's deleteJob

  // Already gone: still Inconclusive.
  MeasurementUpdate again = Terminate(Ctx(1, kT0 + seconds(6)), run.measurement);
  ASSERT_EQ(again.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(again.measurement.phase, AnalysisPhase::kInconclusive);

  // A measurement already finished is reported as it is.
  Measurement finished = run.measurement;
  finished.phase = AnalysisPhase::kSuccessful;
  MeasurementUpdate kept = Terminate(Ctx(), finished);
  EXPECT_EQ(kept.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(kept.measurement.phase, AnalysisPhase::kSuccessful);
}

TEST_F(KubeJobProviderTest, TerminateDuringTheCreateDeletesTheJobOnceCreated) {
  // One request a second: the token goes to a read, so the Job's create waits about a second.
  std::unique_ptr<kube::KubeClient> slow = MakeClient(/*qps=*/1, /*burst=*/1);
  std::unique_ptr<MetricProvider> provider = MakeProvider(slow.get());
  Await<StatusOr<json>>(
      [&](auto done) { slow->Get(kube::Jobs(), kNs, "nothing", std::move(done)); });
  fake_->ClearRequests();

  auto run = std::make_shared<std::promise<MeasurementUpdate>>();
  provider->Run(Ctx(), SmokeTestMetric(), [run](MeasurementUpdate u) { run->set_value(u); });
  Measurement placeholder;  // what the core holds while the Run's answer is out
  placeholder.phase = AnalysisPhase::kRunning;
  placeholder.started_at = kT0;
  MeasurementUpdate t = Await<MeasurementUpdate>([&](auto done) {
    provider->Terminate(Ctx(1, kT0 + seconds(1)), SmokeTestMetric(), placeholder, done);
  });
  ASSERT_EQ(t.kind, MeasurementUpdate::Kind::kJudged) << t.measurement.message;
  EXPECT_EQ(t.measurement.phase, AnalysisPhase::kInconclusive);
  auto answered = run->get_future();
  ASSERT_EQ(answered.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_EQ(answered.get().kind, MeasurementUpdate::Kind::kRunning);

  EXPECT_FALSE(fake_->Object("jobs", kNs, kJob1).has_value());
  std::vector<fakes::KubeRequestRecord> log = fake_->Requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[1].method, "DELETE");
  EXPECT_EQ(log[1].path, std::string("/apis/batch/v1/namespaces/shop/jobs/") + kJob1);
}

TEST_F(KubeJobProviderTest, GarbageCollectDeletesTheOldestJobsOfTheRunAndMetric) {
  // Four measurements of smoke-test a minute apart, two of another metric, one of another run.
  for (int n = 1; n <= 4; ++n) {
    ASSERT_EQ(Run(Ctx(n), SmokeTestMetric()).kind, MeasurementUpdate::Kind::kRunning);
    fake_clock_.Advance(minutes(1));
  }
  for (int n = 1; n <= 2; ++n) {
    ASSERT_EQ(Run(Ctx(n), SmokeTestMetric("error-rate")).kind, MeasurementUpdate::Kind::kRunning);
  }
  RunContext other = Ctx();
  other.run = ObjectRef{kNs, "canary-analysis-0001"};
  other.run_uid = "9a0e6a43-5a8b-4c1e-8d9d-3f0b2f7e6c11";
  ASSERT_EQ(Run(other, SmokeTestMetric()).kind, MeasurementUpdate::Kind::kRunning);
  ASSERT_EQ(JobNames().size(), 7u);

  fake_->ClearRequests();
  ASSERT_TRUE(GarbageCollect(Ctx(5), SmokeTestMetric(), 5).ok());
  EXPECT_TRUE(RequestsWith("DELETE").empty());

  ASSERT_TRUE(GarbageCollect(Ctx(5), SmokeTestMetric(), 2).ok());
  const std::string u = kUid;
  EXPECT_EQ(JobNames(), (std::vector<std::string>{
                            u + ".error-rate.1",
                            u + ".error-rate.2",
                            u + ".smoke-test.3",
                            u + ".smoke-test.4",
                            "9a0e6a43-5a8b-4c1e-8d9d-3f0b2f7e6c11.smoke-test.1",
                        }));
  std::vector<fakes::KubeRequestRecord> deletes = RequestsWith("DELETE");
  ASSERT_EQ(deletes.size(), 2u);
  EXPECT_NE(deletes[0].path.find(".smoke-test.1"), std::string::npos);  // oldest first
  EXPECT_NE(deletes[1].path.find(".smoke-test.2"), std::string::npos);
  EXPECT_EQ(json::parse(deletes[0].body)["propagationPolicy"], "Foreground");
  // The list asked the API server for this run's Jobs only.
  std::vector<fakes::KubeRequestRecord> lists = RequestsWith("GET");
  ASSERT_FALSE(lists.empty());
  EXPECT_NE(lists[0].query.find("labelSelector=analysisrun.argoproj.io"), std::string::npos)
      << lists[0].query;

  // Created in the same second (creationTimestamp has whole seconds): the measurement number
  // decides, as a number (9 < 10 < 11).
  for (int n : {9, 10, 11}) {
    ASSERT_EQ(Run(Ctx(n), SmokeTestMetric("latency")).kind, MeasurementUpdate::Kind::kRunning);
  }
  ASSERT_TRUE(GarbageCollect(Ctx(12), SmokeTestMetric("latency"), 1).ok());
  std::vector<std::string> left = JobNames();
  EXPECT_EQ(std::count(left.begin(), left.end(), u + ".latency.11"), 1);
  EXPECT_EQ(std::count(left.begin(), left.end(), u + ".latency.10"), 0);
  EXPECT_EQ(std::count(left.begin(), left.end(), u + ".latency.9"), 0);
}

TEST_F(KubeJobProviderTest, PodThatCannotPullItsImageIsInconclusive) {
  MeasurementUpdate run = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;
  // Play the API server's defaulting: the Job's selector names its controller uid.
  std::optional<json> job = fake_->Object("jobs", kNs, kJob1);
  ASSERT_TRUE(job.has_value());
  const std::string job_uid = (*job)["metadata"]["uid"];
  (*job)["spec"]["selector"] = {
      {"matchLabels", {{"batch.kubernetes.io/controller-uid", job_uid}}},
      {"matchExpressions",
       json::array({{{"key", "batch.kubernetes.io/job-name"}, {"operator", "Exists"}}})}};
  ASSERT_TRUE(fake_->Put(*job).has_value());
  auto pod = [&](const std::string& name, const std::string& controller_uid,
                 const std::string& reason) {
    return json{
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", name},
          {"namespace", kNs},
          {"labels",
           {{"batch.kubernetes.io/controller-uid", controller_uid},
            {"batch.kubernetes.io/job-name", kJob1}}}}},
        {"spec", {{"containers", json::array({{{"name", "smoke"}}})}}},
        {"status",
         {{"phase", "Pending"},
          {"containerStatuses",
           json::array(
               {{{"name", "smoke"},
                 {"state",
                  {{"waiting",
                    {{"reason", reason},
                     {"message", "Back-off pulling image \"curlimages/curl:8.5.0\""}}}}}}})}}}};
  };
  // Another Job's pod that cannot pull does not count; ours still creating its container.
  ASSERT_TRUE(fake_->Put(pod("someone-else-x1", "11111111-2222", "ImagePullBackOff")).has_value());
  ASSERT_TRUE(fake_->Put(pod("smoke-abcde", job_uid, "ContainerCreating")).has_value());
  MeasurementUpdate r1 = Resume(Ctx(1, kT0 + seconds(8)), run.measurement);
  ASSERT_EQ(r1.kind, MeasurementUpdate::Kind::kRunning) << r1.measurement.message;
  EXPECT_EQ(r1.measurement.resume_at, kT0 + seconds(12));  // √(2·8) = 4 s

  ASSERT_TRUE(fake_->Put(pod("smoke-abcde", job_uid, "ImagePullBackOff")).has_value());
  MeasurementUpdate r2 = Resume(Ctx(1, kT0 + seconds(12)), r1.measurement);
  ASSERT_EQ(r2.kind, MeasurementUpdate::Kind::kJudged) << r2.measurement.message;
  EXPECT_EQ(r2.measurement.phase, AnalysisPhase::kInconclusive);
  EXPECT_EQ(r2.measurement.message,
            "pod smoke-abcde, container smoke has a terminal error (ImagePullBackOff): Back-off "
            "pulling image \"curlimages/curl:8.5.0\"");
}

TEST_F(KubeJobProviderTest, JobNamespaceOptionPutsJobsElsewhereWithoutAnOwner) {
  std::unique_ptr<MetricProvider> provider = MakeProvider(client_.get(), "analysis-jobs");
  MeasurementUpdate run = Run(Ctx(), SmokeTestMetric(), provider.get());
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;
  EXPECT_EQ(run.measurement.metadata.at("job-namespace"), "analysis-jobs");
  std::optional<json> job = fake_->Object("jobs", "analysis-jobs", kJob1);
  ASSERT_TRUE(job.has_value());
  // The golden, but in analysis-jobs and without the owner reference (Argo: an owner must be in
  // the same namespace); the run's namespace is still recorded.
  StatusOr<json> golden =
      platform::kube_objects::testing::LoadGolden(Golden("kube-job-smoke-test.yaml"));
  ASSERT_TRUE(golden.has_value());
  (*golden)["metadata"]["namespace"] = "analysis-jobs";
  (*golden)["metadata"].erase("ownerReferences");
  std::vector<std::string> diffs =
      platform::kube_objects::testing::DiffAgainstGolden(*golden, *job);
  EXPECT_TRUE(diffs.empty()) << ::testing::PrintToString(diffs);
  EXPECT_EQ((*job)["metadata"]["annotations"]["analysisrun.argoproj.io/namespace"], kNs);

  // Resume and GarbageCollect look there too.
  SetJobStatus("analysis-jobs", kJob1,
               {{"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}});
  MeasurementUpdate done = Await<MeasurementUpdate>([&](auto cb) {
    provider->Resume(Ctx(1, kT0 + seconds(3)), SmokeTestMetric(), run.measurement, cb);
  });
  EXPECT_EQ(done.measurement.phase, AnalysisPhase::kSuccessful) << done.measurement.message;
  Status gc =
      Await<Status>([&](auto cb) { provider->GarbageCollect(Ctx(2), SmokeTestMetric(), 0, cb); });
  ASSERT_TRUE(gc.ok()) << gc.message();
  EXPECT_TRUE(JobNames("analysis-jobs").empty());
}

TEST_F(KubeJobProviderTest, RerunAdoptsItsOwnJobAndRefusesAnotherRunsJob) {
  MeasurementUpdate first = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(first.kind, MeasurementUpdate::Kind::kRunning) << first.measurement.message;
  MeasurementUpdate again = Run(Ctx(), SmokeTestMetric());
  ASSERT_EQ(again.kind, MeasurementUpdate::Kind::kRunning) << again.measurement.message;
  EXPECT_EQ(again.measurement.metadata, first.measurement.metadata);

  // Measurement 2's name is taken by a Job another run owns.
  std::optional<json> job = fake_->Object("jobs", kNs, kJob1);
  ASSERT_TRUE(job.has_value());
  json foreign = *job;
  foreign["metadata"]["name"] = std::string(kUid) + ".smoke-test.2";
  foreign["metadata"].erase("uid");
  foreign["metadata"]["ownerReferences"][0]["uid"] = "ffffffff-0000-0000-0000-000000000000";
  ASSERT_TRUE(fake_->Put(foreign).has_value());
  MeasurementUpdate taken = Run(Ctx(2), SmokeTestMetric());
  ASSERT_EQ(taken.kind, MeasurementUpdate::Kind::kError);
  EXPECT_NE(taken.measurement.message.find("already exists"), std::string::npos)
      << taken.measurement.message;
  EXPECT_NE(taken.measurement.message.find("belongs to another AnalysisRun"), std::string::npos);
}

TEST_F(KubeJobProviderTest, LongMetricNamesAreCutToFitALabel) {
  EXPECT_EQ(ArgoJobName(kUid, "smoke-test", 1), kJob1);
  const std::string cut = ArgoJobName(kUid, "a-very-long-metric-name-that-does-not-fit", 12);
  EXPECT_EQ(cut, std::string(kUid) + ".a-very-long-metric-name.12");
  EXPECT_EQ(cut.size(), 63u);

  MetricRef long_metric = SmokeTestMetric("a-very-long-metric-name-that-does-not-fit");
  MeasurementUpdate run = Run(Ctx(12), long_metric);
  ASSERT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;
  EXPECT_EQ(run.measurement.metadata.at("job-name"), cut);
  std::optional<json> job = fake_->Object("jobs", kNs, cut);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ((*job)["metadata"]["annotations"]["analysisrun.argoproj.io/metric-name"],
            "a-very-long-metric-name-that-does-not-fit");
}

TEST_F(KubeJobProviderTest, UnusableConfigurationIsAnErrorWithoutARequest) {
  MetricRef no_spec = SmokeTestMetric();
  no_spec.provider_config_json = R"({"metadata": {"labels": {"a": "b"}}})";
  MeasurementUpdate u = Run(Ctx(), no_spec);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(u.measurement.message, "job has no spec");

  MetricRef bad_template = SmokeTestMetric();
  bad_template.provider_config_json = R"({"spec": {"template": "pod"}})";
  u = Run(Ctx(), bad_template);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(u.measurement.message, "job spec.template is not an object");

  MetricRef bad_labels = SmokeTestMetric();
  bad_labels.provider_config_json = R"({"metadata": {"labels": {"a": 1}}, "spec": {}})";
  u = Run(Ctx(), bad_labels);
  ASSERT_EQ(u.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(u.measurement.message, "job metadata.labels must map names to strings");
  EXPECT_TRUE(fake_->Requests().empty());
}

TEST_F(KubeJobProviderTest, RegisteredAsJob) {
  Registry<MetricProvider> registry("metric provider");
  ASSERT_TRUE(
      RegisterKubeJobMetricProvider(registry, KubeJobProviderOptions{client_.get(), ""}).ok());
  auto provider = registry.Create("job");
  ASSERT_TRUE(provider.has_value()) << provider.error().message();
  EXPECT_EQ((*provider)->Type(), "job");
  MeasurementUpdate run = Run(Ctx(), SmokeTestMetric(), provider->get());
  EXPECT_EQ(run.kind, MeasurementUpdate::Kind::kRunning) << run.measurement.message;

  // The local provider and this one share the name: one or the other.
  EXPECT_EQ(RegisterJobMetricProvider(registry, clock_.get()).code(), StatusCode::kAlreadyExists);
  Registry<MetricProvider> empty("metric provider");
  EXPECT_EQ(RegisterKubeJobMetricProvider(empty, KubeJobProviderOptions{}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(NewKubeJobProvider(KubeJobProviderOptions{}).has_value());
}

}  // namespace
}  // namespace ramp::metrics
