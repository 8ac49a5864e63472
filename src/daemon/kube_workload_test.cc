// spec.workloadRef to a Deployment: ResolveWorkloadRef and DeploymentScaleDownPatch against
// documents written by hand from Argo Rollouts' behaviour (rollout/templateref.go Resolve for the
// template, selector and workload-generation annotation; rollout/sync.go and
// rollout/replicaset.go for scaleDown onsuccess/progressively, scale_utils.go scaleDeployment for
// "negative is 0, same count is no write"), and KubeWorkloads against the strict API-server fake.
#include "daemon/kube_workload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kube/kube_client.h"
#include "net/event_loop.h"
#include "ramp/http_client.h"
#include "spec/manifest.h"
#include "spec/yaml_tree.h"
#include "tests/fakes/kube_apiserver_fake.h"

namespace ramp::daemon {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

// The Deployment being migrated, as the API server returns it.
json Deployment(int64_t generation = 4) {
  json d = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "shop", "namespace": "default", "uid": "d-1", "resourceVersion": "17",
                 "labels": {"app.kubernetes.io/instance": "shop"}},
    "spec": {
      "replicas": 5,
      "selector": {"matchLabels": {"app": "shop"}},
      "template": {
        "metadata": {"labels": {"app": "shop", "tier": "web"}},
        "spec": {"containers": [{"name": "shop", "image": "shop:1.0",
                                 "ports": [{"containerPort": 8080}]}]}}},
    "status": {"replicas": 5, "readyReplicas": 5}
  })");
  d["metadata"]["generation"] = generation;
  return d;
}

// A Rollout referencing it, as stored in the API server (no template, no selector).
json Rollout(const std::string& scale_down = "onsuccess") {
  json r = json::parse(R"({
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"name": "shop", "namespace": "default", "generation": 1, "uid": "r-1"},
    "spec": {
      "replicas": 3,
      "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
      "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}}
  })");
  r["spec"]["workloadRef"]["scaleDown"] = scale_down;
  return r;
}

// ---------------------------------------------------------------------------------------------
// ResolveWorkloadRef

// templateref.go Resolve: the template comes from the Deployment's spec.template, the selector
// from its spec.selector (the Rollout has none), the annotation is the Deployment's generation as
// a decimal string; everything else of the Rollout stays.
TEST(ResolveWorkloadRef, TakesTemplateSelectorAndGeneration) {
  auto resolved = ResolveWorkloadRef(Rollout(), Deployment(4));
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message();
  const json want = json::parse(R"({
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"name": "shop", "namespace": "default", "generation": 1, "uid": "r-1",
                 "annotations": {"rollout.argoproj.io/workload-generation": "4"}},
    "spec": {
      "replicas": 3,
      "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop",
                      "scaleDown": "onsuccess"},
      "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
      "selector": {"matchLabels": {"app": "shop"}},
      "template": {
        "metadata": {"labels": {"app": "shop", "tier": "web"}},
        "spec": {"containers": [{"name": "shop", "image": "shop:1.0",
                                 "ports": [{"containerPort": 8080}]}]}}}
  })");
  EXPECT_EQ(*resolved, want) << resolved->dump(2);
}

// templateref.go only sets the selector when the Rollout has none; the Rollout's own (here
// narrower than the Deployment's) is kept. Other annotations survive; a stale generation is
// overwritten.
TEST(ResolveWorkloadRef, KeepsTheRolloutsSelectorAndAnnotations) {
  json rollout = Rollout("never");
  rollout["spec"]["selector"] = {{"matchLabels", {{"tier", "web"}}}};
  rollout["metadata"]["annotations"] = {{"team", "shop"},
                                        {"rollout.argoproj.io/workload-generation", "2"}};
  auto resolved = ResolveWorkloadRef(rollout, Deployment(7));
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message();
  EXPECT_EQ((*resolved)["spec"]["selector"], json::parse(R"({"matchLabels": {"tier": "web"}})"));
  EXPECT_EQ((*resolved)["metadata"]["annotations"],
            json::parse(R"({"team": "shop", "rollout.argoproj.io/workload-generation": "7"})"));
  EXPECT_EQ((*resolved)["spec"]["template"], Deployment()["spec"]["template"]);
}

// templateref.go Resolve without a workloadRef: RemoveRolloutWorkloadRefGeneration, nothing else.
TEST(ResolveWorkloadRef, WithoutWorkloadRefRemovesTheAnnotation) {
  json rollout = Rollout();
  rollout["spec"].erase("workloadRef");
  rollout["metadata"]["annotations"] = {{"rollout.argoproj.io/workload-generation", "3"}};
  auto resolved = ResolveWorkloadRef(rollout, json());
  ASSERT_TRUE(resolved.has_value());
  json want = rollout;
  want["metadata"].erase("annotations");
  EXPECT_EQ(*resolved, want);
}

// infoByGroupKind: a ReplicaSet has the same paths as a Deployment; a PodTemplate keeps its
// template at the top level and has no selector (the Rollout must bring one).
TEST(ResolveWorkloadRef, ReplicaSetAndPodTemplate) {
  json rs = Deployment(2);
  rs["kind"] = "ReplicaSet";
  json rollout = Rollout();
  rollout["spec"]["workloadRef"]["kind"] = "ReplicaSet";
  auto from_rs = ResolveWorkloadRef(rollout, rs);
  ASSERT_TRUE(from_rs.has_value()) << from_rs.error().message();
  EXPECT_EQ((*from_rs)["spec"]["template"], rs["spec"]["template"]);
  EXPECT_EQ((*from_rs)["metadata"]["annotations"]["rollout.argoproj.io/workload-generation"], "2");

  json pt = {{"apiVersion", "v1"},
             {"kind", "PodTemplate"},
             {"metadata", {{"name", "shop"}, {"namespace", "default"}, {"generation", 1}}},
             {"template", Deployment()["spec"]["template"]}};
  rollout["spec"]["workloadRef"] = {
      {"apiVersion", "v1"}, {"kind", "PodTemplate"}, {"name", "shop"}};
  auto no_selector = ResolveWorkloadRef(rollout, pt);
  ASSERT_FALSE(no_selector.has_value());
  EXPECT_EQ(no_selector.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(no_selector.error().message(), HasSubstr("PodTemplate default/shop provides none"));
  rollout["spec"]["selector"] = {{"matchLabels", {{"app", "shop"}}}};
  auto from_pt = ResolveWorkloadRef(rollout, pt);
  ASSERT_TRUE(from_pt.has_value()) << from_pt.error().message();
  EXPECT_EQ((*from_pt)["spec"]["template"], pt["template"]);
}

TEST(ResolveWorkloadRef, Errors) {
  // Not a kind of Argo's table (the group and kind are what it looks at).
  json sts = Rollout();
  sts["spec"]["workloadRef"]["kind"] = "StatefulSet";
  auto unsupported = ResolveWorkloadRef(sts, Deployment());
  ASSERT_FALSE(unsupported.has_value());
  EXPECT_EQ(unsupported.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unsupported.error().message(),
              HasSubstr("rollout default/shop: spec.workloadRef: workload of type "
                        "apps/StatefulSet is not supported"));

  // The Deployment does not exist.
  auto missing = ResolveWorkloadRef(Rollout(), json());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(missing.error().message(),
            "rollout default/shop: spec.workloadRef: Deployment default/shop not found");

  // A template of its own next to the workloadRef (Argo's EmptyTemplate: labels/annotations).
  json both = Rollout();
  both["spec"]["template"] = {{"metadata", {{"labels", {{"app", "shop"}}}}}};
  auto not_empty = ResolveWorkloadRef(both, Deployment());
  ASSERT_FALSE(not_empty.has_value());
  EXPECT_EQ(not_empty.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(not_empty.error().message(),
              HasSubstr("template must be empty for workload reference rollout"));

  // The Rollout's own selector does not select the Deployment's pods (Argo's validation:
  // "`selector` does not match template `labels`").
  json other = Rollout();
  other["spec"]["selector"] = {{"matchLabels", {{"app", "cart"}}}};
  auto mismatch = ResolveWorkloadRef(other, Deployment());
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_EQ(mismatch.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatch.error().message(),
              HasSubstr("rollout default/shop: spec.selector {\"matchLabels\":{\"app\":\"cart\"}} "
                        "does not match the labels"));
  EXPECT_THAT(mismatch.error().message(), HasSubstr("of Deployment default/shop's spec.template"));
  json expr = Rollout();
  expr["spec"]["selector"] = json::parse(
      R"({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]},
                               {"key": "canary", "operator": "DoesNotExist"}]})");
  EXPECT_TRUE(ResolveWorkloadRef(expr, Deployment()).has_value());
  expr["spec"]["selector"]["matchExpressions"][0]["operator"] = "NotIn";
  EXPECT_FALSE(ResolveWorkloadRef(expr, Deployment()).has_value());

  // Another object than the one named.
  json wrong = Deployment();
  wrong["metadata"]["name"] = "cart";
  auto named = ResolveWorkloadRef(Rollout(), wrong);
  ASSERT_FALSE(named.has_value());
  EXPECT_EQ(named.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(named.error().message(),
              HasSubstr("names Deployment default/shop, got Deployment default/cart"));

  // A Deployment without a template.
  json bare = Deployment();
  bare["spec"].erase("template");
  auto no_template = ResolveWorkloadRef(Rollout(), bare);
  ASSERT_FALSE(no_template.has_value());
  EXPECT_EQ(no_template.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_template.error().message(),
              HasSubstr("Deployment default/shop has no spec.template"));

  // Not a Rollout; wrong types never throw.
  EXPECT_FALSE(ResolveWorkloadRef(json::array(), Deployment()).has_value());
  json typed = Rollout();
  typed["spec"]["workloadRef"]["kind"] = 7;
  EXPECT_FALSE(ResolveWorkloadRef(typed, Deployment()).has_value());
  typed = Rollout();
  typed["spec"]["workloadRef"] = "shop";
  EXPECT_FALSE(ResolveWorkloadRef(typed, Deployment()).has_value());
  json meta = Rollout();
  meta["metadata"] = "x";
  EXPECT_FALSE(ResolveWorkloadRef(meta, Deployment()).has_value());
}

// What ResolveWorkloadRef returns is what the daemon applies: ramp's decoder accepts it (the
// template is validated as the Rollout's own), while the same template without the annotation is
// refused as Argo's lint does.
TEST(ResolveWorkloadRef, TheResolvedDocumentLoads) {
  auto resolved = ResolveWorkloadRef(Rollout(), Deployment());
  ASSERT_TRUE(resolved.has_value());
  spec::ManifestSet set = spec::LoadManifests(resolved->dump(), "resolved.json");
  EXPECT_TRUE(set.ok()) << set.diagnostics.ErrorText();
  ASSERT_EQ(set.rollouts.size(), 1u);
  ASSERT_TRUE(set.rollouts[0].object->spec.workload_ref.has_value());
  EXPECT_EQ(set.rollouts[0].object->spec.template_.containers.size(), 1u);

  // A template as a real API server returns it, with the defaults it fills in.
  json served = Deployment();
  served["spec"]["template"] = json::parse(R"({
    "metadata": {"creationTimestamp": null, "labels": {"app": "shop"}},
    "spec": {
      "containers": [{"name": "shop", "image": "shop:1.0", "imagePullPolicy": "IfNotPresent",
                      "ports": [{"containerPort": 8080, "protocol": "TCP"}], "resources": {},
                      "terminationMessagePath": "/dev/termination-log",
                      "terminationMessagePolicy": "File"}],
      "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
      "securityContext": {}, "terminationGracePeriodSeconds": 30}})");
  auto from_served = ResolveWorkloadRef(Rollout(), served);
  ASSERT_TRUE(from_served.has_value());
  spec::ManifestSet served_set = spec::LoadManifests(from_served->dump(), "served.json");
  EXPECT_TRUE(served_set.ok()) << served_set.diagnostics.ErrorText();

  json unannotated = *resolved;
  unannotated["metadata"].erase("annotations");
  spec::ManifestSet refused = spec::LoadManifests(unannotated.dump(), "by-hand.json");
  EXPECT_THAT(refused.diagnostics.ErrorText(),
              HasSubstr("template must be empty for workload reference rollout"));
}

// Argo's own example (examples/workload-ref/workload-ref.yaml, in the shared conformance inputs):
// the Deployment and the Rollout as a user applies them; the Deployment as the API server stores
// it gets generation 1.
TEST(ResolveWorkloadRef, ArgosExample) {
  std::ifstream in(std::string(RAMP_SHARED_DIR) +
                   "/conformance/argo-examples/workload-ref/workload-ref.yaml");
  if (!in) GTEST_SKIP() << "no shared conformance inputs";
  std::stringstream text;
  text << in.rdbuf();
  auto docs = spec::ParseDocuments(text.str(), "workload-ref.yaml");
  ASSERT_TRUE(docs.has_value()) << docs.error().message();
  ASSERT_EQ(docs->size(), 2u);
  json deployment = spec::ToJson((*docs)[0].root);
  json rollout = spec::ToJson((*docs)[1].root);
  for (json* o : {&deployment, &rollout}) (*o)["metadata"]["namespace"] = "default";
  deployment["metadata"]["generation"] = 1;
  auto resolved = ResolveWorkloadRef(rollout, deployment);
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message();
  EXPECT_EQ((*resolved)["spec"]["template"], deployment["spec"]["template"]);
  EXPECT_EQ((*resolved)["spec"]["selector"],
            json::parse(R"({"matchLabels": {"app": "rollout-ref-deployment"}})"));
  EXPECT_EQ((*resolved)["metadata"]["annotations"],
            json::parse(R"({"rollout.argoproj.io/workload-generation": "1"})"));
  spec::ManifestSet set = spec::LoadManifests(resolved->dump(), "resolved.json");
  EXPECT_TRUE(set.ok()) << set.diagnostics.ErrorText();
  // No scaleDown: the Deployment (already at 0 in the example) is never touched.
  EXPECT_EQ(DeploymentScaleDownPatch(*resolved, 1, deployment), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// DeploymentScaleDownPatch

json WithStatus(json rollout, const std::string& phase, int ready, bool abort = false) {
  rollout["status"] = {{"phase", phase},
                       {"currentPodHash", "6d4f8b9c7"},
                       {"stableRS", phase == "Healthy" ? "6d4f8b9c7" : ""},
                       {"replicas", 3},
                       {"readyReplicas", ready},
                       {"availableReplicas", ready}};
  if (abort) rollout["status"]["abort"] = true;
  return rollout;
}

const json kToZero = {{"spec", {{"replicas", 0}}}};

TEST(DeploymentScaleDownPatch, Never) {
  for (const char* mode : {"never", ""}) {
    SCOPED_TRACE(mode);
    EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(Rollout(mode), "Healthy", 3), 1, Deployment()),
              std::nullopt);
    EXPECT_EQ(
        DeploymentScaleDownPatch(WithStatus(Rollout(mode), "Progressing", 2), 1, Deployment()),
        std::nullopt);
  }
}

// sync.go: revision 1, status.phase Healthy, scaleDown onsuccess → scaleDeployment(0).
TEST(DeploymentScaleDownPatch, OnSuccess) {
  const json ro = Rollout("onsuccess");
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Healthy", 3), 1, Deployment()), kToZero);
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Progressing", 2), 1, Deployment()),
            std::nullopt);
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Paused", 3), 1, Deployment()), std::nullopt);
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Degraded", 0, true), 1, Deployment()),
            std::nullopt);
  EXPECT_EQ(DeploymentScaleDownPatch(ro, 1, Deployment()), std::nullopt);  // no status yet
  // Only the migration itself (revision 1) scales it.
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Healthy", 3), 2, Deployment()), std::nullopt);
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Healthy", 3), 0, Deployment()), std::nullopt);
  // scaleDeployment writes nothing when the count is already there.
  json scaled = Deployment();
  scaled["spec"]["replicas"] = 0;
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Healthy", 3), 1, scaled), std::nullopt);
  // Another Deployment, another namespace, another kind: not ours to scale.
  json other = Deployment();
  other["metadata"]["name"] = "cart";
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Healthy", 3), 1, other), std::nullopt);
  other = Deployment();
  other["metadata"]["namespace"] = "prod";
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Healthy", 3), 1, other), std::nullopt);
  json rs_ref = ro;
  rs_ref["spec"]["workloadRef"]["kind"] = "ReplicaSet";
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(rs_ref, "Healthy", 3), 1, Deployment()),
            std::nullopt);
}

// replicaset.go reconcileNewReplicaSet, revision 1 and scaleDown progressively: Healthy → 0;
// otherwise spec.replicas − status.readyReplicas (never below 0) while pods are ready or the new
// ReplicaSet shrinks (abort: the Deployment takes the pods back).
TEST(DeploymentScaleDownPatch, Progressively) {
  const json ro = Rollout("progressively");  // spec.replicas 3; the Deployment has 5
  auto patch = [&](const json& rollout, const json& deployment = Deployment()) {
    return DeploymentScaleDownPatch(rollout, 1, deployment);
  };
  EXPECT_EQ(patch(WithStatus(ro, "Progressing", 0)), std::nullopt);
  EXPECT_EQ(patch(WithStatus(ro, "Progressing", 1)), (json{{"spec", {{"replicas", 2}}}}));
  EXPECT_EQ(patch(WithStatus(ro, "Progressing", 2)), (json{{"spec", {{"replicas", 1}}}}));
  EXPECT_EQ(patch(WithStatus(ro, "Progressing", 3)), kToZero);
  EXPECT_EQ(patch(WithStatus(ro, "Progressing", 4)), kToZero);  // surge: not below 0
  EXPECT_EQ(patch(WithStatus(ro, "Healthy", 3)), kToZero);
  EXPECT_EQ(patch(WithStatus(ro, "Degraded", 0, /*abort=*/true)),
            (json{{"spec", {{"replicas", 3}}}}));
  json at_two = Deployment();
  at_two["spec"]["replicas"] = 2;
  EXPECT_EQ(patch(WithStatus(ro, "Progressing", 1), at_two), std::nullopt);
  EXPECT_EQ(DeploymentScaleDownPatch(WithStatus(ro, "Progressing", 1), 3, Deployment()),
            std::nullopt);
  // spec.replicas unset is Argo's default 1.
  json one = ro;
  one["spec"].erase("replicas");
  EXPECT_EQ(patch(WithStatus(one, "Progressing", 1)), kToZero);
}

// ---------------------------------------------------------------------------------------------
// KubeWorkloads against the API-server fake

bool Eventually(const std::function<bool()>& cond,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class KubeWorkloadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fakes::KubeFakeOptions fo;
    fo.replicaset_controller = false;
    fo.bookmark_interval = std::chrono::milliseconds(200);
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
    o.backoff_base = std::chrono::milliseconds(10);
    auto client = kube::KubeClient::New(o);
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
  }

  void TearDown() override {
    workloads_.reset();
    client_.reset();
    fake_.reset();
  }

  void StartWorkloads() {
    KubeWorkloadsOptions o;
    o.client = client_.get();
    o.timers = loop_.get();
    o.clock = clock_.get();
    o.on_workload_change = [this](const std::vector<json>& rollouts) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const json& r : rollouts) called_.push_back(r["metadata"].value("name", ""));
    };
    o.log = [this](std::string_view rollout, std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      logs_.push_back(std::string(rollout) + ": " + std::string(line));
    };
    auto w = KubeWorkloads::Start(std::move(o));
    ASSERT_TRUE(w.has_value()) << w.error().message();
    workloads_ = std::move(*w);
    ASSERT_TRUE(Eventually([&] { return workloads_->Synced(); }));
  }

  // Stores the Deployment (spec.replicas 3) and the Rollout's ReplicaSet <rollout>-6d4f8b9c7 at
  // `revision`.
  void PutObjects(const std::string& revision) {
    json d = Deployment(1);
    d["metadata"].erase("resourceVersion");
    d["metadata"].erase("generation");
    d["spec"]["replicas"] = 3;
    ASSERT_TRUE(fake_->Put(d).has_value());
    json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata",
                {{"name", "shop-6d4f8b9c7"},
                 {"namespace", "default"},
                 {"annotations", {{"rollout.argoproj.io/revision", revision}}}}},
               {"spec",
                {{"replicas", 0},
                 {"selector", {{"matchLabels", {{"app", "shop"}}}}},
                 {"template", Deployment()["spec"]["template"]}}}};
    ASSERT_TRUE(fake_->Put(rs).has_value());
  }

  int64_t DeploymentReplicas() {
    auto d = fake_->Object("deployments", "default", "shop");
    return d ? (*d)["spec"].value("replicas", int64_t{-1}) : -1;
  }

  std::vector<std::string> DeploymentPatches() {
    std::vector<std::string> out;
    for (const auto& r : fake_->Requests()) {
      if (r.method == "PATCH" && r.path == "/apis/apps/v1/namespaces/default/deployments/shop") {
        out.push_back(r.body);
      }
    }
    return out;
  }

  int ReplicaSetReads() {
    int n = 0;
    for (const auto& r : fake_->Requests()) {
      if (r.method == "GET" && r.path.find("/replicasets/shop-") != std::string::npos) n++;
    }
    return n;
  }

  // Patches the Deployment through the API (its generation moves when its spec changes).
  void PatchDeployment(const json& patch, const std::string& subresource = "") {
    std::promise<StatusOr<json>> done;
    client_->Patch(kube::Deployments(), "default", "shop", kube::PatchType::kMerge, patch,
                   subresource, [&](StatusOr<json> r) { done.set_value(std::move(r)); });
    auto r = done.get_future().get();
    ASSERT_TRUE(r.has_value()) << r.error().message();
  }

  std::vector<std::string> Called() {
    std::lock_guard<std::mutex> lock(mu_);
    return called_;
  }

  std::unique_ptr<fakes::KubeApiServerFake> fake_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<KubeWorkloads> workloads_;
  std::mutex mu_;
  std::vector<std::string> called_;
  std::vector<std::string> logs_;
};

std::string Generation(const StatusOr<json>& resolved) {
  if (!resolved) return "error: " + resolved.error().message();
  return (*resolved)["metadata"]["annotations"].value("rollout.argoproj.io/workload-generation",
                                                      "");
}

TEST_F(KubeWorkloadsTest, DeploymentChangesCallBackWithTheRollouts) {
  PutObjects("1");
  json cart = Deployment(1);
  cart["metadata"] = {{"name", "cart"}, {"namespace", "default"}};
  ASSERT_TRUE(fake_->Put(cart).has_value());
  StartWorkloads();

  auto resolved = workloads_->Resolve(Rollout());
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message();
  EXPECT_EQ(Generation(resolved), "1");
  EXPECT_EQ((*resolved)["spec"]["template"]["spec"]["containers"][0]["image"], "shop:1.0");
  EXPECT_EQ((*resolved)["spec"]["selector"], json::parse(R"({"matchLabels": {"app": "shop"}})"));

  // A Deployment no Rollout references: no call. Then a template edit of the referenced one.
  cart["spec"]["replicas"] = 9;
  ASSERT_TRUE(fake_->Put(cart).has_value());
  PatchDeployment(json::parse(R"({"spec": {"template": {"spec": {
      "containers": [{"name": "shop", "image": "shop:2.0"}]}}}})"));
  ASSERT_TRUE(Eventually([&] { return !Called().empty(); }));
  EXPECT_EQ(Called(), std::vector<std::string>{"shop"});
  auto again = workloads_->Resolve(Rollout());
  EXPECT_EQ(Generation(again), "2");
  EXPECT_EQ((*again)["spec"]["template"]["spec"]["containers"][0]["image"], "shop:2.0");

  // Status and label changes leave the generation: no call. Scaling moves it: one call.
  PatchDeployment(json{{"status", {{"replicas", 3}, {"readyReplicas", 2}}}}, "status");
  PatchDeployment(json{{"metadata", {{"labels", {{"team", "shop"}}}}}});
  PatchDeployment(json{{"spec", {{"replicas", 4}}}});
  ASSERT_TRUE(Eventually([&] { return Called().size() >= 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Called().size(), 2u);
  EXPECT_EQ(Generation(workloads_->Resolve(Rollout())), "3");

  // Deleted: a call, and the Rollout no longer resolves.
  std::promise<Status> deleted;
  client_->Delete(kube::Deployments(), "default", "shop", kube::DeleteOptions{},
                  [&](Status s) { deleted.set_value(s); });
  ASSERT_TRUE(deleted.get_future().get().ok());
  ASSERT_TRUE(Eventually([&] { return Called().size() == 3; }));
  auto gone = workloads_->Resolve(Rollout());
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(gone.error().message(),
            "rollout default/shop: spec.workloadRef: Deployment default/shop not found");

  // A forgotten Rollout is not reported any more.
  workloads_->RolloutDeleted(ObjectRef{"default", "shop"});
  PutObjects("1");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Called().size(), 3u);
}

TEST_F(KubeWorkloadsTest, ARolloutResolvedBeforeItsDeploymentExistsIsReportedWhenItComes) {
  StartWorkloads();
  auto early = workloads_->Resolve(Rollout());
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code(), StatusCode::kFailedPrecondition);
  PutObjects("1");
  ASSERT_TRUE(Eventually([&] { return Called() == std::vector<std::string>{"shop"}; }));
  EXPECT_EQ(Generation(workloads_->Resolve(Rollout())), "1");

  // Kinds ramp does not watch, and kinds Argo does not know.
  json rs_ref = Rollout();
  rs_ref["spec"]["workloadRef"]["kind"] = "ReplicaSet";
  EXPECT_EQ(workloads_->Resolve(rs_ref).error().code(), StatusCode::kUnimplemented);
  json sts = Rollout();
  sts["spec"]["workloadRef"]["kind"] = "StatefulSet";
  EXPECT_EQ(workloads_->Resolve(sts).error().code(), StatusCode::kInvalidArgument);
  // No workloadRef: the document back, without the annotation.
  json plain = Rollout();
  plain["spec"].erase("workloadRef");
  plain["metadata"]["annotations"] = {{"rollout.argoproj.io/workload-generation", "1"}};
  auto same = workloads_->Resolve(plain);
  ASSERT_TRUE(same.has_value());
  EXPECT_FALSE((*same)["metadata"].contains("annotations"));
}

TEST_F(KubeWorkloadsTest, OnSuccessScalesTheDeploymentToZeroOnceHealthy) {
  PutObjects("1");
  StartWorkloads();
  const json ro = Rollout("onsuccess");
  workloads_->RolloutChanged(WithStatus(ro, "Progressing", 1));
  workloads_->RolloutChanged(WithStatus(ro, "Paused", 3));
  // Nothing to do in these states: no request was even sent.
  EXPECT_EQ(ReplicaSetReads(), 0);
  EXPECT_TRUE(DeploymentPatches().empty());
  EXPECT_EQ(DeploymentReplicas(), 3);

  workloads_->RolloutChanged(WithStatus(ro, "Healthy", 3));
  ASSERT_TRUE(Eventually([&] { return DeploymentReplicas() == 0; }));
  EXPECT_EQ(DeploymentPatches(), std::vector<std::string>{R"({"spec":{"replicas":0}})"});
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_THAT(logs_, ::testing::Contains("default/shop: workloadRef scaleDown onsuccess: scaling "
                                           "Deployment default/shop to 0 replicas"));
  }

  // Someone scales it back up: it goes down again (as Argo's next reconcile would do).
  PatchDeployment(json{{"spec", {{"replicas", 2}}}});
  ASSERT_TRUE(Eventually([&] { return DeploymentPatches().size() == 3; }));
  EXPECT_TRUE(Eventually([&] { return DeploymentReplicas() == 0; }));
}

TEST_F(KubeWorkloadsTest, OnSuccessLeavesTheDeploymentAfterRevisionOne) {
  PutObjects("2");
  StartWorkloads();
  workloads_->RolloutChanged(WithStatus(Rollout("onsuccess"), "Healthy", 3));
  ASSERT_TRUE(Eventually([&] { return ReplicaSetReads() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(DeploymentPatches().empty());
  EXPECT_EQ(DeploymentReplicas(), 3);
}

TEST_F(KubeWorkloadsTest, ProgressivelyScalesTheDeploymentInSteps) {
  PutObjects("1");
  StartWorkloads();
  const json ro = Rollout("progressively");  // 3 replicas, like the Deployment
  workloads_->RolloutChanged(WithStatus(ro, "Progressing", 0));
  EXPECT_EQ(ReplicaSetReads(), 0);
  workloads_->RolloutChanged(WithStatus(ro, "Progressing", 1));
  ASSERT_TRUE(Eventually([&] { return DeploymentReplicas() == 2; }));
  workloads_->RolloutChanged(WithStatus(ro, "Progressing", 2));
  ASSERT_TRUE(Eventually([&] { return DeploymentReplicas() == 1; }));
  // A pod of the Rollout fails: the Deployment gets one back.
  workloads_->RolloutChanged(WithStatus(ro, "Progressing", 1));
  ASSERT_TRUE(Eventually([&] { return DeploymentReplicas() == 2; }));
  workloads_->RolloutChanged(WithStatus(ro, "Progressing", 3));
  ASSERT_TRUE(Eventually([&] { return DeploymentReplicas() == 0; }));
  workloads_->RolloutChanged(WithStatus(ro, "Healthy", 3));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(DeploymentPatches(),
            (std::vector<std::string>{R"({"spec":{"replicas":2}})", R"({"spec":{"replicas":1}})",
                                      R"({"spec":{"replicas":2}})", R"({"spec":{"replicas":0}})"}));
  EXPECT_EQ(DeploymentReplicas(), 0);
}

TEST_F(KubeWorkloadsTest, NeverLeavesTheDeployment) {
  PutObjects("1");
  StartWorkloads();
  for (const char* phase : {"Progressing", "Healthy"}) {
    workloads_->RolloutChanged(WithStatus(Rollout("never"), phase, 3));
  }
  PatchDeployment(json{{"spec", {{"replicas", 4}}}});  // a Deployment change looks again
  ASSERT_TRUE(Eventually([&] { return Called().empty() == false; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(ReplicaSetReads(), 0);
  EXPECT_EQ(DeploymentPatches().size(), 1u);  // the test's own
  EXPECT_EQ(DeploymentReplicas(), 4);
}

}  // namespace
}  // namespace ramp::daemon
