// Kubernetes mode end to end: a real `ramp serve --platform kubernetes` against the strict
// API-server fake (tests/fakes), driven the way users drive Argo Rollouts — objects applied
// through the API, image updates as spec patches, promote/abort/retry as the status patches
// `kubectl argo rollouts` writes, undo as a JSON patch of spec.template — through a basic canary
// and a blue-green rollout, with a dropped watch, an expired watch history and 409 conflicts
// mid-rollout. Every object ramp writes is compared with a golden file written by hand from the
// reference (testdata/kube/), never captured from ramp's output.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ramp/clock.h"
#include "tests/integration/kube_e2e_testing.h"

namespace ramp {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using kube_e2e::BlueGreenRollout;
using kube_e2e::CanaryRollout;
using kube_e2e::Eventually;
using kube_e2e::EventuallyMatches;
using kube_e2e::Golden;
using kube_e2e::Hash;
using kube_e2e::kRollouts;
using kube_e2e::kServices;
using kube_e2e::ObjectMatches;
using kube_e2e::Service;
using kube_e2e::StatusMatches;
using kube_e2e::Template;

// These tests use the fake's fault injection and read its stores directly: they run on the fake
// only (kube_router_e2e_test also runs on a real cluster).
class KubeE2eTest : public kube_e2e::KubeE2eFixture {
 protected:
  void SetUp() override {
    if (!kube_e2e::RealClusterKubeconfig().empty()) {
      GTEST_SKIP() << "kube_e2e_test runs on the API-server fake only";
    }
    KubeE2eFixture::SetUp();
  }
};

TEST_F(KubeE2eTest, BasicCanaryThroughItsStepsWithADroppedWatchAndConflicts) {
  const std::string h1 = Hash("web", "ghcr.io/example/web:1.0");
  const std::string h2 = Hash("web", "ghcr.io/example/web:2.0");
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create(kRollouts, CanaryRollout());
  const std::string uid = Rollout("web")["metadata"].value("uid", "");

  // Initial deploy: revision 1 at full size, both Services on it.
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  EXPECT_TRUE(EventuallyMatches([&] {
    return ObjectMatches(ReplicaSet("web-" + h1), "replicaset-web-v1.yaml",
                         {{"HASH1", h1}, {"ROLLOUT_UID", uid}});
  }));
  for (const char* svc : {"web-stable", "web-canary"}) {
    EXPECT_TRUE(EventuallyMatches([&] {
      return ObjectMatches(Svc(svc), "service-pointed.yaml",
                           {{"SERVICE", svc}, {"APP", "web"}, {"HASH", h1}, {"ROLLOUT", "web"}});
    }));
  }

  // A new image: setWeight 50 (2 of 4 pods), then the indefinite pause.
  SetImage("web", "ghcr.io/example/web:2.0");
  ASSERT_TRUE(WaitFor("web", "Paused", 1));
  EXPECT_TRUE(EventuallyMatches([&] {
    return ObjectMatches(ReplicaSet("web-" + h2), "replicaset-web-v2-canary.yaml",
                         {{"HASH2", h2}, {"ROLLOUT_UID", uid}});
  }));
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h1)["spec"]["replicas"] == 2; }));
  EXPECT_TRUE(Eventually([&] { return Selected("web-canary") == h2; })) << Selected("web-canary");
  EXPECT_TRUE(Eventually([&] { return Selected("web-stable") == h1; })) << Selected("web-stable");
  EXPECT_TRUE(EventuallyMatches([&] {
    return StatusMatches(Status("web"), "rollout-status-paused.yaml",
                         {{"HASH1", h1}, {"HASH2", h2}});
  }));

  // The controller loses its watches (and the history it would resume from) and its next status
  // writes conflict; a promote written meanwhile is still seen and acted on.
  fake_->Compact();
  ASSERT_GT(fake_->DropWatches(), 0);
  PatchStatus("web", json{{"pauseConditions", nullptr}});
  fake_->ClearRequests();
  ASSERT_TRUE(fake_->InjectConflicts("rollouts", 2).ok());
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  // Both conflicts were answered to ramp's status writes, which it read again and retried.
  int status_writes = 0;
  for (const auto& r : fake_->Requests()) {
    if (r.method == "PUT" && r.path == std::string(kRollouts) + "/web/status") ++status_writes;
  }
  EXPECT_GE(status_writes, 3);
  EXPECT_TRUE(EventuallyMatches([&] {
    return StatusMatches(Status("web"), "rollout-status-healthy.yaml", {{"HASH2", h2}});
  }));
  EXPECT_TRUE(Eventually([&] { return Selected("web-stable") == h2; }));
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h1)["spec"]["replicas"] == 0; }));
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h2)["spec"]["replicas"] == 4; }));

  // Argo's events on the Rollout, as core/v1 Events.
  auto events = fake_->Objects("events", "default");
  ASSERT_TRUE(events.has_value());
  std::set<std::string> reasons;
  for (const json& e : *events) {
    if (e["involvedObject"].value("name", "") == "web") reasons.insert(e.value("reason", ""));
  }
  for (const char* want :
       {"RolloutUpdated", "NewReplicaSetCreated", "ScalingReplicaSet", "RolloutStepCompleted",
        "RolloutPaused", "SwitchService", "RolloutCompleted"}) {
    EXPECT_TRUE(reasons.count(want)) << want;
  }
}

TEST_F(KubeE2eTest, AbortRetryAndUndo) {
  const std::string h1 = Hash("web", "ghcr.io/example/web:1.0");
  const std::string h2 = Hash("web", "ghcr.io/example/web:2.0");
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create(kRollouts, CanaryRollout());
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  SetImage("web", "ghcr.io/example/web:2.0");
  ASSERT_TRUE(WaitFor("web", "Paused", 1));

  // abort: back to the stable revision, Degraded until retried or reverted.
  PatchStatus("web", json{{"abort", true}});
  ASSERT_TRUE(WaitFor("web", "Degraded"));
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h2)["spec"]["replicas"] == 0; }));
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h1)["spec"]["replicas"] == 4; }));
  EXPECT_TRUE(Eventually([&] { return Selected("web-canary") == h1; })) << Selected("web-canary");
  EXPECT_TRUE(EventuallyMatches([&] {
    return StatusMatches(Status("web"), "rollout-status-aborted.yaml",
                         {{"HASH1", h1}, {"HASH2", h2}});
  }));

  // retry: the steps again from the first.
  PatchStatus("web", json{{"abort", false}});
  ASSERT_TRUE(WaitFor("web", "Paused", 1));
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h2)["spec"]["replicas"] == 2; }));
  EXPECT_TRUE(Eventually([&] { return Selected("web-canary") == h2; })) << Selected("web-canary");

  // undo: spec.template back to revision 1's, which is the stable one — no steps.
  json rs1 = ReplicaSet("web-" + h1);
  json tmpl = rs1["spec"]["template"];
  tmpl["metadata"]["labels"].erase("rollouts-pod-template-hash");
  auto r = api_->JsonPatch(
      std::string(kRollouts) + "/web",
      json::array({{{"op", "replace"}, {"path", "/spec/template"}, {"value", tmpl}}}));
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_TRUE(Eventually([&] {
    json s = Status("web");
    return s.value("phase", "") == "Healthy" && s.value("stableRS", "") == h1 &&
           s.value("currentPodHash", "") == h1;
  })) << Status("web").dump();
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h2)["spec"]["replicas"] == 0; }));
  EXPECT_TRUE(Eventually([&] { return Selected("web-canary") == h1; })) << Selected("web-canary");
  EXPECT_TRUE(Eventually([&] { return Selected("web-stable") == h1; })) << Selected("web-stable");
}

TEST_F(KubeE2eTest, BlueGreenWithManualPromotion) {
  const std::string h1 = Hash("shop", "ghcr.io/example/shop:1.0");
  const std::string h2 = Hash("shop", "ghcr.io/example/shop:2.0");
  Create(kServices, Service("shop-active", "shop"));
  Create(kServices, Service("shop-preview", "shop"));
  Create(kRollouts, BlueGreenRollout());
  ASSERT_TRUE(WaitFor("shop", "Healthy"));
  EXPECT_TRUE(EventuallyMatches([&] {
    return ObjectMatches(
        Svc("shop-active"), "service-pointed.yaml",
        {{"SERVICE", "shop-active"}, {"APP", "shop"}, {"HASH", h1}, {"ROLLOUT", "shop"}});
  }));

  SetImage("shop", "ghcr.io/example/shop:2.0");
  ASSERT_TRUE(WaitFor("shop", "Paused"));
  json paused = Status("shop");
  ASSERT_TRUE(paused.contains("pauseConditions")) << paused.dump();
  EXPECT_EQ(paused["pauseConditions"][0]["reason"], "BlueGreenPause");
  EXPECT_EQ(paused["blueGreen"].value("activeSelector", ""), h1);
  EXPECT_EQ(paused["blueGreen"].value("previewSelector", ""), h2);
  EXPECT_TRUE(EventuallyMatches([&] {
    return ObjectMatches(
        Svc("shop-preview"), "service-pointed.yaml",
        {{"SERVICE", "shop-preview"}, {"APP", "shop"}, {"HASH", h2}, {"ROLLOUT", "shop"}});
  }));
  EXPECT_TRUE(Eventually([&] { return Selected("shop-active") == h1; })) << Selected("shop-active");
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("shop-" + h2)["spec"]["replicas"] == 2; }));

  PatchStatus("shop", json{{"pauseConditions", nullptr}});
  ASSERT_TRUE(Eventually([&] {
    json s = Status("shop");
    return s.value("phase", "") == "Healthy" && s.value("stableRS", "") == h2;
  })) << Status("shop").dump();
  EXPECT_TRUE(Eventually([&] { return Selected("shop-active") == h2; })) << Selected("shop-active");
  // The old revision waits out scaleDownDelaySeconds with Argo's scale-down-deadline annotation
  // on its ReplicaSet (RFC 3339 at whole seconds), then goes to zero, which removes it.
  EXPECT_TRUE(Eventually([&] {
    for (const auto& r : fake_->Requests()) {
      if (r.method == "PATCH" && r.path.find("/replicasets/shop-" + h1) != std::string::npos &&
          r.body.find("\"scale-down-deadline\":\"20") != std::string::npos) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("shop-" + h1)["spec"]["replicas"] == 0; }));
  EXPECT_FALSE(ReplicaSet("shop-" + h1)["metadata"]
                   .value("annotations", json::object())
                   .contains("scale-down-deadline"));
}

TEST_F(KubeE2eTest, ARestartedControllerContinuesFromTheCluster) {
  const std::string h2 = Hash("web", "ghcr.io/example/web:2.0");
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create(kRollouts, CanaryRollout());
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  SetImage("web", "ghcr.io/example/web:2.0");
  ASSERT_TRUE(WaitFor("web", "Paused", 1));

  // A new controller process: nothing but the cluster to resume from.
  auto clock = NewSystemClock();
  serve_->Stop(*clock, std::chrono::seconds(10));
  fs::remove_all(dir_ / "state");
  StartServe();
  PatchStatus("web", json{{"pauseConditions", nullptr}});
  ASSERT_TRUE(Eventually([&] {
    json s = Status("web");
    return s.value("phase", "") == "Healthy" && s.value("stableRS", "") == h2;
  })) << Status("web").dump();
  // One ReplicaSet per revision: the restart created nothing new.
  auto sets = fake_->Objects("replicasets", "default");
  ASSERT_TRUE(sets.has_value());
  EXPECT_EQ(sets->size(), 2u);
}

// An analysis step whose metric is a Kubernetes Job (the job provider in Kubernetes mode): the
// AnalysisRun is an object in the cluster, its Job is owned by it under the uid the API server
// gave the run, and the step passes when the Job completes. Promotion goes through `ramp
// promote --kubeconfig`, which writes the patch `kubectl argo rollouts promote` writes.
TEST_F(KubeE2eTest, AnalysisStepRunsAKubernetesJobAndTheCliPromotes) {
  const std::string h2 = Hash("web", "ghcr.io/example/web:2.0");
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create(
      "/apis/argoproj.io/v1alpha1/namespaces/default/analysistemplates",
      json{{"apiVersion", "argoproj.io/v1alpha1"},
           {"kind", "AnalysisTemplate"},
           {"metadata", {{"name", "smoke"}, {"namespace", "default"}}},
           {"spec",
            {{"metrics",
              json::array({{{"name", "smoke"},
                            {"provider",
                             {{"job",
                               {{"spec",
                                 {{"backoffLimit", 0},
                                  {"template",
                                   {{"spec",
                                     {{"restartPolicy", "Never"},
                                      {"containers",
                                       json::array({{{"name", "smoke"},
                                                     {"image", "curlimages/curl:8.5.0"},
                                                     {"command",
                                                      json::array({"true"})}}})}}}}}}}}}}}}})}}}});
  json rollout = CanaryRollout();
  rollout["spec"]["strategy"]["canary"]["steps"] =
      json::array({{{"setWeight", 50}},
                   {{"analysis", {{"templates", json::array({{{"templateName", "smoke"}}})}}}},
                   {{"pause", json::object()}}});
  Create(kRollouts, rollout);
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  SetImage("web", "ghcr.io/example/web:2.0");

  // The step's AnalysisRun appears in the cluster, and its Job, owned by it.
  json run;
  ASSERT_TRUE(Eventually([&] {
    auto runs = fake_->Objects("analysisruns", "default");
    if (!runs || runs->empty()) return false;
    run = runs->front();
    return true;
  }));
  const std::string run_uid = run["metadata"].value("uid", "");
  const std::string rollout_uid = Rollout("web")["metadata"].value("uid", "");
  EXPECT_TRUE(EventuallyMatches([&] {
    auto r = fake_->Object("analysisruns", "default", run["metadata"].value("name", ""));
    return ObjectMatches(r.value_or(json()), "analysisrun-web-step.yaml",
                         {{"HASH2", h2}, {"ROLLOUT_UID", rollout_uid}});
  }));
  const json labels = run["metadata"].value("labels", json::object());
  EXPECT_EQ(labels.value("rollouts-pod-template-hash", ""), h2) << run.dump();
  EXPECT_EQ(labels.value("rollout-type", ""), "Step") << run.dump();
  const json owners = run["metadata"].value("ownerReferences", json::array());
  ASSERT_FALSE(owners.empty()) << run.dump();
  EXPECT_EQ(owners[0].value("kind", ""), "Rollout");
  EXPECT_EQ(owners[0].value("uid", ""), Rollout("web")["metadata"].value("uid", ""));
  json job;
  ASSERT_TRUE(Eventually([&] {
    auto jobs = fake_->Objects("jobs", "default");
    if (!jobs || jobs->empty()) return false;
    job = jobs->front();
    return true;
  })) << Status("web").dump();
  EXPECT_EQ(job["metadata"]["name"], run_uid + ".smoke.1");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0].value("uid", ""), run_uid);
  EXPECT_EQ(job["metadata"]["labels"].value("analysisrun.argoproj.io/uid", ""), run_uid);

  // The cluster's Job controller finishes it.
  job["status"] = {{"succeeded", 1},
                   {"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}};
  ASSERT_TRUE(fake_->Put(job).has_value());
  ASSERT_TRUE(WaitFor("web", "Paused", 2));
  EXPECT_TRUE(Eventually([&] {
    auto r = fake_->Object("analysisruns", "default", run["metadata"].value("name", ""));
    return r && (*r)["status"].value("phase", "") == "Successful";
  }));

  // `ramp promote` against the cluster.
  cli::testing_util::CliResult promoted =
      cli::testing_util::RunRamp("promote", "web --kubeconfig " + (dir_ / "kubeconfig").string());
  EXPECT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  EXPECT_NE(promoted.out.find("rollout 'web' promoted"), std::string::npos) << promoted.out;
  ASSERT_TRUE(Eventually([&] {
    json s = Status("web");
    return s.value("phase", "") == "Healthy" && s.value("stableRS", "") == h2;
  })) << Status("web").dump();
}

// Migrating a Deployment: the Rollout names it in workloadRef and carries no template; ramp runs
// the Deployment's template, never writes it into the Rollout, scales the Deployment down once
// the Rollout is Healthy (scaleDown: onsuccess), and rolls a change of the Deployment's template
// through the Rollout's steps.
TEST_F(KubeE2eTest, WorkloadRefTakesOverADeployment) {
  const std::string h1 = Hash("web", "ghcr.io/example/web:1.0");
  const std::string h2 = Hash("web", "ghcr.io/example/web:2.0");
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create("/apis/apps/v1/namespaces/default/deployments",
         json{{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", "web"}, {"namespace", "default"}}},
              {"spec",
               {{"replicas", 4},
                {"selector", {{"matchLabels", {{"app", "web"}}}}},
                {"template", Template("web", "ghcr.io/example/web:1.0")}}}});
  json rollout = CanaryRollout();
  rollout["spec"].erase("template");
  rollout["spec"].erase("selector");
  rollout["spec"]["workloadRef"] = {{"apiVersion", "apps/v1"},
                                    {"kind", "Deployment"},
                                    {"name", "web"},
                                    {"scaleDown", "onsuccess"}};
  Create(kRollouts, rollout);
  ASSERT_TRUE(Eventually([&] {
    json s = Status("web");
    return s.value("phase", "") == "Healthy" && s.value("stableRS", "") == h1;
  })) << Status("web").dump();
  EXPECT_TRUE(Eventually([&] { return Selected("web-stable") == h1; })) << Selected("web-stable");
  EXPECT_TRUE(Eventually([&] {
    auto d = fake_->Object("deployments", "default", "web");
    return d && (*d)["spec"].value("replicas", -1) == 0;
  }));
  // The Rollout in the cluster still has no template or selector of its own.
  json stored = Rollout("web");
  EXPECT_FALSE(stored["spec"].contains("template")) << stored.dump();
  EXPECT_FALSE(stored["spec"].contains("selector")) << stored.dump();

  // A new image in the Deployment is a new revision of the Rollout.
  auto r = api_->JsonPatch("/apis/apps/v1/namespaces/default/deployments/web",
                           json::array({{{"op", "replace"},
                                         {"path", "/spec/template/spec/containers/0/image"},
                                         {"value", "ghcr.io/example/web:2.0"}}}));
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_TRUE(WaitFor("web", "Paused", 1));
  EXPECT_EQ(Status("web").value("currentPodHash", ""), h2);
  EXPECT_TRUE(Eventually([&] { return Selected("web-canary") == h2; })) << Selected("web-canary");
}

// Taking over from Argo Rollouts: a ReplicaSet Argo created runs the Rollout's template under
// Argo's own hash. ramp does not start a second copy of the same pods silently; once the Rollout
// is annotated ramp.dev/replace-replicasets=true it replaces that ReplicaSet.
TEST_F(KubeE2eTest, AnArgoReplicaSetIsNeverReRolledSilently) {
  const std::string h1 = Hash("web", "ghcr.io/example/web:1.0");
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  // Stop ramp while "Argo" sets the scene, so it meets the cluster as a new controller would.
  auto clock = NewSystemClock();
  serve_->Stop(*clock, std::chrono::seconds(10));
  Create(kRollouts, CanaryRollout());
  const json rollout = Rollout("web");
  json template_with_hash = Template("web", "ghcr.io/example/web:1.0");
  template_with_hash["metadata"]["labels"]["rollouts-pod-template-hash"] = "5f57cccc76";
  json argo_rs = {
      {"apiVersion", "apps/v1"},
      {"kind", "ReplicaSet"},
      {"metadata",
       {{"name", "web-5f57cccc76"},
        {"namespace", "default"},
        {"labels", {{"app", "web"}, {"rollouts-pod-template-hash", "5f57cccc76"}}},
        {"annotations", {{"rollout.argoproj.io/revision", "1"}}},
        {"ownerReferences", json::array({{{"apiVersion", "argoproj.io/v1alpha1"},
                                          {"kind", "Rollout"},
                                          {"name", "web"},
                                          {"uid", rollout["metadata"]["uid"]},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}})}}},
      {"spec",
       {{"replicas", 4},
        {"selector",
         {{"matchLabels", {{"app", "web"}, {"rollouts-pod-template-hash", "5f57cccc76"}}}}},
        {"template", template_with_hash}}}};
  Create("/apis/apps/v1/namespaces/default/replicasets", argo_rs);
  StartServe();

  // Refused, and said so on the Rollout; nothing new runs.
  ASSERT_TRUE(Eventually([&] {
    auto events = fake_->Objects("events", "default");
    if (!events) return false;
    for (const json& e : *events) {
      if (e.value("message", "").find("web-5f57cccc76 already runs this pod template") !=
          std::string::npos) {
        return true;
      }
    }
    return false;
  }));
  EXPECT_FALSE(fake_->Object("replicasets", "default", "web-" + h1).has_value());

  // The user lets ramp replace it.
  auto r = api_->Merge(
      std::string(kRollouts) + "/web",
      json{{"metadata", {{"annotations", {{"ramp.dev/replace-replicasets", "true"}}}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_TRUE(Eventually([&] {
    json s = Status("web");
    return s.value("phase", "") == "Healthy" && s.value("stableRS", "") == h1;
  })) << Status("web").dump();
  EXPECT_TRUE(Eventually([&] { return Selected("web-stable") == h1; }));
}

// High availability: two controller processes share one Lease. The leader drives a canary to
// its pause and dies without a word (SIGKILL); the standby takes the lease once it expires,
// resumes the rollout from the cluster and, promoted, finishes it with the same outcome.
TEST_F(KubeE2eTest, AStandbyTakesOverMidCanaryAndFinishesIt) {
  const std::string h1 = Hash("web", "ghcr.io/example/web:1.0");
  const std::string h2 = Hash("web", "ghcr.io/example/web:2.0");
  const std::vector<std::string> fast = {"--leader-election-lease-duration", "2",
                                         "--leader-election-renew-deadline", "1.5",
                                         "--leader-election-retry-period",   "0.3"};
  auto clock = NewSystemClock();
  serve_->Stop(*clock, std::chrono::seconds(10));  // hands its lease over (graceful stop)
  StartServe(fast);
  ASSERT_TRUE(Eventually([&] { return !LeaseHolder().empty(); }));
  const std::string first = LeaseHolder();
  std::vector<std::string> with_health = fast;
  with_health.insert(with_health.end(), {"--healthz", "127.0.0.1:0"});
  auto standby = StartController("state-standby", with_health);
  ASSERT_TRUE(standby);
  // The standby answers the kubelet's probes while it waits (--healthz), and says what it is.
  std::string health;
  ASSERT_TRUE(Eventually([&] {
    std::ifstream log(dir_ / "serve.log");
    for (std::string line; std::getline(log, line);) {
      const size_t at = line.find("health on http://");
      if (at != std::string::npos) {
        health = line.substr(at + 10, line.find("/healthz", at) - at - 10);
      }
    }
    return !health.empty();
  }));
  kube_e2e::KubeApi probe(health);
  auto answer = probe.Call("GET", "/healthz");
  EXPECT_EQ(answer.status, 200) << answer.raw;
  EXPECT_EQ(answer.body.value("role", ""), "standby") << answer.raw;

  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create(kRollouts, CanaryRollout());
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  SetImage("web", "ghcr.io/example/web:2.0");
  ASSERT_TRUE(WaitFor("web", "Paused", 1));
  EXPECT_EQ(LeaseHolder(), first);

  serve_.reset();  // SIGKILL: no release, the standby must wait the lease out
  PatchStatus("web", json{{"pauseConditions", nullptr}});
  ASSERT_TRUE(Eventually([&] {
    json s = Status("web");
    return s.value("phase", "") == "Healthy" && s.value("stableRS", "") == h2;
  })) << Status("web").dump();
  EXPECT_NE(LeaseHolder(), first);
  EXPECT_FALSE(LeaseHolder().empty());
  EXPECT_EQ(probe.Call("GET", "/healthz").body.value("role", ""), "leader");
  EXPECT_TRUE(Eventually([&] { return ReplicaSet("web-" + h1)["spec"]["replicas"] == 0; }));
  EXPECT_EQ(ReplicaSet("web-" + h2)["spec"]["replicas"], 4);
  EXPECT_TRUE(Eventually([&] { return Selected("web-stable") == h2; }));
  auto sets = fake_->Objects("replicasets", "default");
  ASSERT_TRUE(sets.has_value());
  EXPECT_EQ(sets->size(), 2u);  // one per revision: the standby created nothing twice
  standby->Stop(*clock, std::chrono::seconds(10));
}

// Argo's controller sharding: a Rollout labelled for another controller instance
// (argo-rollouts.argoproj.io/controller-instance-id) is left alone by a ramp without that
// --instance-id, while the Rollouts without the label are driven as usual.
TEST_F(KubeE2eTest, RolloutsOfAnotherControllerInstanceAreLeftAlone) {
  json other = CanaryRollout();
  other["metadata"]["name"] = "other";
  other["metadata"]["labels"] = {{"argo-rollouts.argoproj.io/controller-instance-id", "team-b"}};
  Create(kRollouts, other);
  Create(kServices, Service("web-stable", "web"));
  Create(kServices, Service("web-canary", "web"));
  Create(kRollouts, CanaryRollout());
  // Applied after "other", so once "web" is Healthy "other" has been seen and skipped.
  ASSERT_TRUE(WaitFor("web", "Healthy"));
  EXPECT_FALSE(Rollout("other").contains("status")) << Rollout("other").dump();
  auto sets = fake_->Objects("replicasets", "default");
  ASSERT_TRUE(sets.has_value());
  for (const json& rs : *sets) {
    EXPECT_EQ(rs["metadata"]["name"].get<std::string>().rfind("other-", 0), std::string::npos);
  }
}

}  // namespace
}  // namespace ramp
