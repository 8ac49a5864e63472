#include "platform/kubernetes/kube_objects.h"

#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/reconcile.h"
#include "platform/kubernetes/golden_testing.h"
#include "spec/analysis.h"

namespace ramp::platform::kube_objects {
namespace {

using json = nlohmann::json;
using testing::DiffAgainstGolden;
using ::testing::HasSubstr;
using testing::LoadGolden;
using testing::MatchesGolden;

// Argo's hashes of the two templates of rollout-demo.yaml (see the file's header).
constexpr char kHashV1[] = "5f57cccc76";
constexpr char kHashV2[] = "55c8d5f555";

json Load(std::string_view name) {
  StatusOr<json> j = LoadGolden(name);
  EXPECT_TRUE(j.has_value()) << j.error().ToString();
  return j.value_or(json());
}

json DemoRollout() { return Load("rollout-demo.yaml"); }

// The Rollout as it was at the first deploy (revision 1): no status yet, template :1.0.
json DemoRolloutV1() {
  json r = DemoRollout();
  r.erase("status");
  r["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/demo:1.0";
  return r;
}

RevisionSpec Revision(const json& rollout, std::string hash, int64_t number,
                      std::map<std::string, std::string> labels = {}) {
  RevisionSpec r;
  r.rollout = ObjectRef{"shop", "demo"};
  r.hash = std::move(hash);
  r.revision = number;
  r.pod_template_json = rollout["spec"]["template"].dump();
  r.labels = std::move(labels);
  return r;
}

json BuildOrDie(const RevisionSpec& revision, int32_t replicas, const json& rollout) {
  StatusOr<json> rs = BuildReplicaSet(revision, replicas, rollout);
  EXPECT_TRUE(rs.has_value()) << rs.error().ToString();
  return rs.value_or(json());
}

Time At(std::string_view rfc3339) { return FromUnixNanos(spec::ParseMetaTime(rfc3339).value()); }

// ---- ReplicaSets against their goldens ----

TEST(BuildReplicaSet, CanaryRevisionMatchesGolden) {
  const json rollout = DemoRollout();
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 2, {{"role", "canary"}}), 1, rollout);
  EXPECT_TRUE(MatchesGolden(rs, "replicaset-canary-v2.yaml"));

  // The comparison is strict both ways.
  json changed = rs;
  changed["metadata"]["annotations"].erase(kDesiredReplicasAnnotation);
  changed["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always";
  const ::testing::AssertionResult r = MatchesGolden(changed, "replicaset-canary-v2.yaml");
  EXPECT_FALSE(r);
  EXPECT_THAT(r.message(),
              HasSubstr("metadata.annotations[\"rollout.argoproj.io/desired-replicas\"]: missing"));
  EXPECT_THAT(r.message(), HasSubstr("spec.template.spec.containers[0].imagePullPolicy: "
                                     "unexpected field \"Always\""));
}

TEST(BuildReplicaSet, ScaledDownOldRevisionMatchesGolden) {
  // Revision 1 as created at the first deploy (stable metadata, 5 replicas) …
  const json v1 = DemoRolloutV1();
  json rs = BuildOrDie(Revision(v1, kHashV1, 1, {{"role", "stable"}}), 5, v1);
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["labels"]["role"], "stable");
  EXPECT_EQ(rs["metadata"]["annotations"][kEphemeralMetadataAnnotation],
            R"({"labels":{"role":"stable"}})");
  EXPECT_FALSE(rs["spec"]["template"]["spec"].contains("affinity"));
  // … after revision 2's promotion: ephemeral metadata removed, scale-down delay, scaled to 0.
  rs.merge_patch(EphemeralMetadataPatch(rs, {}, {}));
  rs.merge_patch(SetScaleDownDeadlinePatch(At("2026-03-01T12:00:30Z")));
  EXPECT_EQ(ScaleDownDeadline(rs), At("2026-03-01T12:00:30Z"));
  rs.merge_patch(ScalePatch(0, 5));
  EXPECT_EQ(ScaleDownDeadline(rs), std::nullopt);
  EXPECT_TRUE(MatchesGolden(rs, "replicaset-scaled-down.yaml"));
}

TEST(BuildReplicaSet, ArgoCreateBodyHasZeroReplicas) {
  const json rollout = DemoRollout();
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 2), 0, rollout);
  EXPECT_EQ(rs["spec"]["replicas"], 0);
  EXPECT_EQ(rs["metadata"]["annotations"][kDesiredReplicasAnnotation], "5");
}

TEST(BuildReplicaSet, NoEphemeralMetadataWithoutLabels) {
  const json rollout = DemoRollout();
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 2), 1, rollout);
  EXPECT_FALSE(rs["metadata"]["annotations"].contains(kEphemeralMetadataAnnotation));
  EXPECT_FALSE(rs["spec"]["template"]["metadata"]["labels"].contains("role"));
}

TEST(BuildReplicaSet, EphemeralMetadataAlreadyInTemplateIsNotRecorded) {
  // SyncEphemeralPodMetadata reports no change, so Argo writes no annotation.
  json rollout = DemoRollout();
  rollout["spec"]["template"]["metadata"]["labels"]["role"] = "canary";
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 2, {{"role", "canary"}}), 1, rollout);
  EXPECT_FALSE(rs["metadata"]["annotations"].contains(kEphemeralMetadataAnnotation));
}

TEST(BuildReplicaSet, EphemeralMetadataIsMarshalledAsGoDoes) {
  const json rollout = DemoRollout();
  RevisionSpec rev = Revision(rollout, kHashV2, 2, {{"z", "1"}, {"a", "x<y>&z"}});
  rev.annotations = {{"note", "line\nbreak \"quoted\" é"}};
  const json rs = BuildOrDie(rev, 1, rollout);
  EXPECT_EQ(rs["metadata"]["annotations"][kEphemeralMetadataAnnotation],
            "{\"labels\":{\"a\":\"x\\u003cy\\u003e\\u0026z\",\"z\":\"1\"},"
            "\"annotations\":{\"note\":\"line\\nbreak \\\"quoted\\\" \xC3\xA9\"}}");
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["annotations"]["note"],
            "line\nbreak \"quoted\" \xC3\xA9");
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"], "true");
}

TEST(BuildReplicaSet, EphemeralMetadataEscapesLikeGo) {
  const json rollout = DemoRollout();
  RevisionSpec rev = Revision(rollout, kHashV2, 2);
  rev.annotations = {{"a", "bad\xff-sep\xE2\x80\xA8-ctl\x01\b"}};
  const json rs = BuildOrDie(rev, 1, rollout);
  EXPECT_EQ(rs["metadata"]["annotations"][kEphemeralMetadataAnnotation],
            R"({"annotations":{"a":"bad\ufffd-sep\u2028-ctl\u0001\b"}})");
}

TEST(BuildReplicaSet, RequiredAntiAffinityIsAppendedToTheTemplatesOwn) {
  json rollout = DemoRollout();
  rollout["spec"]["strategy"]["canary"]["antiAffinity"] =
      json{{"requiredDuringSchedulingIgnoredDuringExecution", json::object()}};
  const json own = {{"labelSelector", {{"matchLabels", {{"app", "db"}}}}},
                    {"topologyKey", "kubernetes.io/hostname"}};
  rollout["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
         ["requiredDuringSchedulingIgnoredDuringExecution"] = json::array({own});
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 2), 1, rollout);
  const json& terms = rs["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
                        ["requiredDuringSchedulingIgnoredDuringExecution"];
  ASSERT_EQ(terms.size(), 2u);
  EXPECT_EQ(terms[0], own);
  EXPECT_EQ(terms[1], json::parse(R"({"labelSelector":{"matchExpressions":[
      {"key":"rollouts-pod-template-hash","operator":"In","values":["5f57cccc76"]}]},
      "namespaces":["shop"],"topologyKey":"kubernetes.io/hostname"})"));
}

TEST(BuildReplicaSet, NoAntiAffinityForTheStableRevisionOrWithoutStable) {
  const json rollout = DemoRollout();
  json rs = BuildOrDie(Revision(rollout, kHashV1, 1), 5, rollout);  // hash == status.stableRS
  EXPECT_FALSE(rs["spec"]["template"]["spec"].contains("affinity"));
  json fresh = rollout;
  fresh.erase("status");
  rs = BuildOrDie(Revision(fresh, kHashV2, 1), 5, fresh);
  EXPECT_FALSE(rs["spec"]["template"]["spec"].contains("affinity"));
}

TEST(BuildReplicaSet, SelectorKeepsMatchExpressionsAndDefaults) {
  json rollout = DemoRollout();
  rollout["spec"]["selector"]["matchExpressions"] =
      json::parse(R"([{"key":"tier","operator":"Exists"}])");
  rollout["spec"].erase("replicas");
  rollout["spec"].erase("minReadySeconds");
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 7), 1, rollout);
  EXPECT_EQ(rs["spec"]["selector"],
            json::parse(R"({"matchLabels":{"app":"demo","rollouts-pod-template-hash":"55c8d5f555"},
                             "matchExpressions":[{"key":"tier","operator":"Exists"}]})"));
  EXPECT_EQ(rs["metadata"]["annotations"][kDesiredReplicasAnnotation], "1");
  EXPECT_EQ(rs["metadata"]["annotations"][kRevisionAnnotation], "7");
  EXPECT_FALSE(rs["spec"].contains("minReadySeconds"));
}

TEST(BuildReplicaSet, TemplateHashLabelIsReplaced) {
  json rollout = DemoRollout();
  rollout["spec"]["template"]["metadata"]["labels"][kPodTemplateHashLabel] = "stale";
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 2), 1, rollout);
  EXPECT_EQ(rs["metadata"]["labels"][kPodTemplateHashLabel], kHashV2);
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["labels"][kPodTemplateHashLabel], kHashV2);
}

// ---- Bad inputs ----

void ExpectInvalid(const StatusOr<json>& got, std::string_view substring) {
  ASSERT_FALSE(got.has_value()) << got->dump();
  EXPECT_EQ(got.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(got.error().message(), HasSubstr(std::string(substring)));
}

TEST(BuildReplicaSet, BadTemplatesAreClearErrors) {
  const json rollout = DemoRollout();
  RevisionSpec rev = Revision(rollout, kHashV2, 2);
  rev.pod_template_json = "{not json";
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout),
                "rollout shop/demo: revision 55c8d5f555: pod template is not valid JSON");
  rev.pod_template_json = "[1, 2]";
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout),
                "revision 55c8d5f555: pod template must be a JSON object, got array");
  rev.pod_template_json = R"({"metadata": "x"})";
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout), "pod template metadata must be an object");
  rev.pod_template_json = R"({"metadata": {"labels": {"app": 5}}})";
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout),
                "template.metadata.labels[\"app\"]: must be a string, got number");
  rev.pod_template_json = R"({"metadata": {"labels": {"app": "other"}}, "spec": {}})";
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout),
                "spec.selector.matchLabels[\"app\"]=demo does not match the pod template's labels");
  rev.pod_template_json = R"({"metadata": {"labels": {"app": "demo"}}, "spec": []})";
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout), "pod template spec must be an object");
}

TEST(BuildReplicaSet, BadRolloutsAreClearErrors) {
  const json good = DemoRollout();
  const RevisionSpec rev = Revision(good, kHashV2, 2);
  json r = good;
  r["metadata"].erase("uid");
  ExpectInvalid(BuildReplicaSet(rev, 1, r), "rollout shop/demo: metadata.uid: required");
  r = good;
  r["metadata"].erase("namespace");
  ExpectInvalid(BuildReplicaSet(rev, 1, r), "metadata.namespace: required");
  r = good;
  r["metadata"].erase("name");
  ExpectInvalid(BuildReplicaSet(rev, 1, r), "metadata.name: required");
  r = good;
  r["spec"].erase("selector");
  ExpectInvalid(BuildReplicaSet(rev, 1, r), "rollout shop/demo: spec.selector: required");
  r["spec"]["selector"] = json::object();
  ExpectInvalid(BuildReplicaSet(rev, 1, r), "spec.selector: empty");
  r = good;
  r["spec"]["replicas"] = -2;
  ExpectInvalid(BuildReplicaSet(rev, 1, r), "spec.replicas: must be a non-negative integer");
  r = good;
  r["spec"]["minReadySeconds"] = "10";
  ExpectInvalid(BuildReplicaSet(rev, 1, r), "spec.minReadySeconds: must be a non-negative");
  ExpectInvalid(BuildReplicaSet(rev, 1, json::array()), "rollout: must be a JSON object");
}

TEST(BuildReplicaSet, BadRevisionsAreClearErrors) {
  const json rollout = DemoRollout();
  RevisionSpec rev = Revision(rollout, kHashV2, 2);
  ExpectInvalid(BuildReplicaSet(rev, -1, rollout), "revision 55c8d5f555: replicas -1 must be >= 0");
  rev.revision = 0;
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout), "revision number 0 must be >= 1");
  rev = Revision(rollout, "", 2);
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout), "hash \"\" is not a label value");
  rev = Revision(rollout, "bad/hash", 2);
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout), "hash \"bad/hash\" is not a label value");
  rev = Revision(rollout, kHashV2, 2);
  rev.rollout.name = "other";
  ExpectInvalid(BuildReplicaSet(rev, 1, rollout), "the revision belongs to rollout shop/other");
  json long_name = rollout;
  long_name["metadata"]["name"] = std::string(250, 'a');
  rev = Revision(rollout, kHashV2, 2);
  rev.rollout.name.clear();
  ExpectInvalid(BuildReplicaSet(rev, 1, long_name), "is longer than 253 characters");
}

// ---- Patches ----

TEST(Patches, ScaleToZeroMatchesGolden) {
  EXPECT_TRUE(MatchesGolden(ScalePatch(0, 5), "replicaset-scale-to-zero-patch.yaml"));
}

TEST(Patches, ScaleKeepsDeadlineWhenAskedOrScalingUp) {
  EXPECT_EQ(ScalePatch(3, 5),
            json::parse(R"({"metadata":{"annotations":{"rollout.argoproj.io/desired-replicas":"5"}},
                            "spec":{"replicas":3}})"));
  EXPECT_FALSE(
      ScalePatch(0, 5, /*keep_scale_down_deadline=*/true)["metadata"]["annotations"].contains(
          kScaleDownDeadlineAnnotation));
}

TEST(Patches, ScaleDownDeadlineMatchesGolden) {
  const Time now = At("2026-03-01T12:00:00.750Z");
  const json patch = SetScaleDownDeadlinePatch(now + std::chrono::seconds(30));
  EXPECT_TRUE(MatchesGolden(patch, "replicaset-scale-down-deadline-patch.yaml"));
  EXPECT_EQ(FormatScaleDownDeadline(now), "2026-03-01T12:00:00Z");
  EXPECT_EQ(ClearScaleDownDeadlinePatch(),
            json::parse(R"({"metadata":{"annotations":{"scale-down-deadline":null}}})"));
  json rs = {{"metadata", {{"annotations", {{kScaleDownDeadlineAnnotation, "garbage"}}}}}};
  EXPECT_EQ(ScaleDownDeadline(rs), std::nullopt);
  rs["metadata"]["annotations"][kScaleDownDeadlineAnnotation] = "2026-03-01T13:00:30+01:00";
  EXPECT_EQ(ScaleDownDeadline(rs), At("2026-03-01T12:00:30Z"));
}

TEST(Patches, RevisionReuseMatchesGolden) {
  const json v1 = DemoRolloutV1();
  const json rs = BuildOrDie(Revision(v1, kHashV1, 1), 0, v1);
  StatusOr<json> patch = RevisionUpdatePatch(rs, 3, DemoRollout());
  ASSERT_TRUE(patch.has_value()) << patch.error().ToString();
  EXPECT_TRUE(MatchesGolden(*patch, "replicaset-revision-reuse-patch.yaml"));

  // A second reuse appends to the history.
  json reused = rs;
  reused.merge_patch(*patch);
  patch = RevisionUpdatePatch(reused, 5, DemoRollout());
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ((*patch)["metadata"]["annotations"][kRevisionHistoryAnnotation], "1,3");
  EXPECT_EQ((*patch)["metadata"]["annotations"][kRevisionAnnotation], "5");
}

TEST(Patches, RevisionUpdateNeverLowersAndKeepsArgosHistoryQuirk) {
  const json rollout = DemoRollout();
  json rs = BuildOrDie(Revision(rollout, kHashV2, 4), 1, rollout);
  // Nothing to change: an empty patch.
  StatusOr<json> patch = RevisionUpdatePatch(rs, 3, rollout);
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ(*patch, json::object());
  // Only a Rollout annotation changed: Argo still records the unchanged revision as history.
  json changed = rollout;
  changed["metadata"]["annotations"]["team"] = "checkout";
  changed["spec"]["minReadySeconds"] = 20;
  patch = RevisionUpdatePatch(rs, 3, changed);
  ASSERT_TRUE(patch.has_value());
  EXPECT_EQ(*patch, json::parse(R"({"metadata":{"annotations":{"team":"checkout",
      "rollout.argoproj.io/revision-history":"4"}},"spec":{"minReadySeconds":20}})"));
  // A revision annotation that is not a number.
  rs["metadata"]["annotations"][kRevisionAnnotation] = "x";
  ExpectInvalid(RevisionUpdatePatch(rs, 5, rollout), "annotation rollout.argoproj.io/revision");
  ExpectInvalid(RevisionUpdatePatch(rs, 0, rollout), "revision number 0 must be >= 1");
}

TEST(Patches, EphemeralPromoteMatchesGolden) {
  const json rollout = DemoRollout();
  json rs = BuildOrDie(Revision(rollout, kHashV2, 2, {{"role", "canary"}}), 1, rollout);
  const json patch = EphemeralMetadataPatch(rs, {{"role", "stable"}}, {});
  EXPECT_TRUE(MatchesGolden(patch, "replicaset-ephemeral-promote-patch.yaml"));
  rs.merge_patch(patch);
  EXPECT_EQ(EphemeralMetadataPatch(rs, {{"role", "stable"}}, {}), json::object());
}

TEST(Patches, EphemeralMetadataRemovesOnlyWhatWasInjected) {
  const json rollout = DemoRollout();
  RevisionSpec rev = Revision(rollout, kHashV2, 2, {{"role", "canary"}});
  rev.annotations = {{"canary", "yes"}};
  json rs = BuildOrDie(rev, 1, rollout);
  rs["spec"]["template"]["metadata"]["labels"]["added-by-someone"] = "x";
  const json patch = EphemeralMetadataPatch(rs, {}, {});
  EXPECT_EQ(patch, json::parse(R"({
      "metadata":{"annotations":{"rollout.argoproj.io/ephemeral-metadata":null}},
      "spec":{"template":{"metadata":{"labels":{"role":null},"annotations":{"canary":null}}}}})"));
  rs.merge_patch(patch);
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["labels"]["added-by-someone"], "x");
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["annotations"],
            json::parse(R"({"prometheus.io/scrape":"true"})"));
}

// ---- Services ----

json UserService(std::string name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", std::move(name)}, {"namespace", "shop"}}},
          {"spec", {{"selector", {{"app", "demo"}}}, {"ports", json::parse(R"([{"port":80}])")}}}};
}

TEST(Services, StableSelectorMatchesGolden) {
  json svc = UserService("demo-stable");
  const json patch = ServiceSelectorPatchFor(svc, "demo", kHashV1);
  EXPECT_TRUE(MatchesGolden(patch, "service-stable-selector.yaml"));
  EXPECT_EQ(patch, ServiceSelectorPatch("demo", kHashV1));
  svc.merge_patch(patch);
  EXPECT_EQ(ServiceSelectedHash(svc), kHashV1);
  EXPECT_EQ(ServiceManagedBy(svc), "demo");
  EXPECT_EQ(svc["spec"]["selector"]["app"], "demo");
  EXPECT_EQ(ServiceSelectorPatchFor(svc, "demo", kHashV1), json::object());
}

TEST(Services, CanarySelectorMatchesGolden) {
  json svc = UserService("demo-canary");
  svc.merge_patch(ServiceSelectorPatch("demo", kHashV1));
  const json patch = ServiceSelectorPatchFor(svc, "demo", kHashV2);
  EXPECT_TRUE(MatchesGolden(patch, "service-canary-selector.yaml"));
  svc.merge_patch(patch);
  EXPECT_EQ(ServiceSelectedHash(svc), kHashV2);
}

TEST(Services, UnpointMatchesGolden) {
  EXPECT_TRUE(MatchesGolden(ServiceSelectorPatch("demo", ""), "service-unpoint.yaml"));
  json svc = UserService("demo-stable");
  EXPECT_EQ(ServiceSelectorPatchFor(svc, "demo", ""), json::object());
  EXPECT_EQ(ServiceSelectedHash(svc), "");
  EXPECT_EQ(ServiceManagedBy(svc), std::nullopt);
  // Only the selector (a Service from an Argo without managed-by): both keys go anyway.
  svc["spec"]["selector"][kPodTemplateHashLabel] = kHashV1;
  const json patch = ServiceSelectorPatchFor(svc, "demo", "");
  EXPECT_TRUE(MatchesGolden(patch, "service-unpoint.yaml"));
  svc.merge_patch(patch);
  EXPECT_EQ(ServiceSelectedHash(svc), "");
  EXPECT_EQ(svc["spec"]["selector"], json::parse(R"({"app":"demo"})"));
}

// ---- Pods → instances ----

json Pod(std::string_view phase) {
  return {{"metadata",
           {{"name", "demo-55c8d5f555-x7k2p"},
            {"creationTimestamp", "2026-03-01T12:00:00Z"},
            {"labels", {{"app", "demo"}, {kPodTemplateHashLabel, kHashV2}}}}},
          {"spec", {{"containers", json::parse(R"([{"name":"demo","ports":[{"containerPort":8080}]},
                             {"name":"sidecar","ports":[{"containerPort":9090}]}])")}}},
          {"status", {{"phase", phase}}}};
}

void SetReady(json* pod, std::string_view status, std::string_view transition) {
  (*pod)["status"]["conditions"] = json::array(
      {json{{"type", "PodScheduled"}, {"status", "True"}},
       json{{"type", "Ready"},
            {"status", status},
            {"lastTransitionTime", transition},
            {"reason", status == "True" ? "" : "ContainersNotReady"},
            {"message", status == "True" ? "" : "containers with unready status: [demo]"}}});
}

void SetRunning(json* pod, std::string_view started_at, int restarts = 0) {
  (*pod)["status"]["podIP"] = "10.0.0.7";
  (*pod)["status"]["containerStatuses"] =
      json::array({json{{"name", "demo"},
                        {"restartCount", restarts},
                        {"state", {{"running", {{"startedAt", started_at}}}}}},
                   json{{"name", "sidecar"},
                        {"restartCount", 1},
                        {"state", {{"running", {{"startedAt", started_at}}}}}}});
}

TEST(InstanceFromPod, PendingUnschedulable) {
  json pod = Pod("Pending");
  pod["status"]["conditions"] = json::parse(R"([{"type":"PodScheduled","status":"False",
      "reason":"Unschedulable","message":"0/3 nodes are available: 3 Insufficient cpu."}])");
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kPending);
  EXPECT_EQ(in.message, "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.");
  EXPECT_EQ(in.id, "demo-55c8d5f555-x7k2p");
  EXPECT_EQ(in.address, "");
  EXPECT_EQ(in.created_at, At("2026-03-01T12:00:00Z"));
  EXPECT_EQ(in.ready_since, std::nullopt);
}

TEST(InstanceFromPod, PendingContainerCreating) {
  json pod = Pod("Pending");
  pod["status"]["podIP"] = "10.0.0.7";
  pod["status"]["containerStatuses"] = json::parse(
      R"([{"name":"demo","restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}])");
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kPending);
  EXPECT_EQ(in.message, "ContainerCreating");
  EXPECT_EQ(in.address, "10.0.0.7:8080");
}

TEST(InstanceFromPod, StartingRunningNotReadyYet) {
  json pod = Pod("Running");
  SetRunning(&pod, "2026-03-01T12:00:05Z", 2);
  SetReady(&pod, "False", "2026-03-01T12:00:01Z");  // False since before the containers started
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kStarting);
  EXPECT_EQ(in.message, "containers with unready status: [demo]");
  EXPECT_EQ(in.restarts, 3);
  EXPECT_EQ(in.address, "10.0.0.7:8080");
}

TEST(InstanceFromPod, ReadyWithReadySince) {
  json pod = Pod("Running");
  SetRunning(&pod, "2026-03-01T12:00:05Z");
  SetReady(&pod, "True", "2026-03-01T12:00:09Z");
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kReady);
  EXPECT_EQ(in.ready_since, At("2026-03-01T12:00:09Z"));
  EXPECT_EQ(in.message, "");
  EXPECT_EQ(in.restarts, 1);
}

TEST(InstanceFromPod, UnreadyAfterHavingBeenReady) {
  json pod = Pod("Running");
  SetRunning(&pod, "2026-03-01T12:00:05Z");
  SetReady(&pod, "False", "2026-03-01T12:10:00Z");  // went False after the containers started
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kUnready);
  EXPECT_EQ(in.message, "containers with unready status: [demo]");
  EXPECT_EQ(in.ready_since, std::nullopt);
}

TEST(InstanceFromPod, UnknownPhaseIsUnready) {
  json pod = Pod("Unknown");
  pod["status"]["reason"] = "NodeLost";
  EXPECT_EQ(InstanceFromPod(pod).state, InstanceState::kUnready);
  EXPECT_THAT(InstanceFromPod(pod).message, HasSubstr("NodeLost"));
}

TEST(InstanceFromPod, Terminating) {
  json pod = Pod("Running");
  SetRunning(&pod, "2026-03-01T12:00:05Z");
  SetReady(&pod, "True", "2026-03-01T12:00:09Z");
  pod["metadata"]["deletionTimestamp"] = "2026-03-01T12:30:00Z";
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kTerminating);
  EXPECT_EQ(in.ready_since, std::nullopt);
}

TEST(InstanceFromPod, CrashLoopBackOffIsFailed) {
  json pod = Pod("Running");
  SetRunning(&pod, "2026-03-01T12:00:05Z", 4);
  pod["status"]["containerStatuses"][0]["state"] = json::parse(R"({"waiting":{
      "reason":"CrashLoopBackOff",
      "message":"back-off 40s restarting failed container=demo pod=demo-55c8d5f555-x7k2p"}})");
  SetReady(&pod, "False", "2026-03-01T12:00:01Z");
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kFailed);
  EXPECT_EQ(in.message,
            "container demo: CrashLoopBackOff: back-off 40s restarting failed container=demo "
            "pod=demo-55c8d5f555-x7k2p");
  EXPECT_EQ(in.restarts, 5);
}

TEST(InstanceFromPod, ImagePullBackOffWhilePendingIsFailed) {
  json pod = Pod("Pending");
  pod["status"]["containerStatuses"] = json::parse(R"([{"name":"demo","restartCount":0,
      "state":{"waiting":{"reason":"ImagePullBackOff",
                          "message":"Back-off pulling image \"ghcr.io/example/demo:2.0\""}}}])");
  const InstanceStatus in = InstanceFromPod(pod);
  EXPECT_EQ(in.state, InstanceState::kFailed);
  EXPECT_EQ(
      in.message,
      "container demo: ImagePullBackOff: Back-off pulling image \"ghcr.io/example/demo:2.0\"");
}

TEST(InstanceFromPod, FailedPhase) {
  json pod = Pod("Failed");
  pod["status"]["reason"] = "Evicted";
  pod["status"]["message"] = "The node was low on resource: memory.";
  EXPECT_EQ(InstanceFromPod(pod).state, InstanceState::kFailed);
  EXPECT_EQ(InstanceFromPod(pod).message,
            "pod Failed: Evicted: The node was low on resource: memory.");
  json exited = Pod("Succeeded");
  exited["status"]["containerStatuses"] = json::parse(R"([{"name":"demo","restartCount":0,
      "state":{"terminated":{"exitCode":0,"reason":"Completed"}}}])");
  EXPECT_EQ(InstanceFromPod(exited).state, InstanceState::kFailed);
  EXPECT_EQ(InstanceFromPod(exited).message,
            "pod Succeeded: container demo exited with code 0: Completed");
}

TEST(InstanceFromPod, AddressForms) {
  json pod = Pod("Running");
  pod["status"]["podIP"] = "fd00::7";
  EXPECT_EQ(InstanceFromPod(pod).address, "[fd00::7]:8080");
  pod["spec"]["containers"][0].erase("ports");
  pod["status"]["podIP"] = "10.0.0.8";
  EXPECT_EQ(InstanceFromPod(pod).address, "10.0.0.8");
  EXPECT_EQ(InstanceFromPod(json::object()).state, InstanceState::kPending);
}

TEST(RevisionFromReplicaSet, ReadsTheReplicaSetAndItsPods) {
  const json rollout = DemoRollout();
  json rs = BuildOrDie(Revision(rollout, kHashV2, 2), 3, rollout);
  rs["metadata"]["uid"] = "rs-uid-2";
  json ready = Pod("Running");
  SetRunning(&ready, "2026-03-01T12:00:05Z");
  SetReady(&ready, "True", "2026-03-01T12:00:09Z");
  ready["metadata"]["ownerReferences"] =
      json::parse(R"([{"kind":"ReplicaSet","uid":"rs-uid-2","controller":true}])");
  json pending = Pod("Pending");
  pending["metadata"]["name"] = "demo-55c8d5f555-aaaaa";
  json other_hash = Pod("Running");
  other_hash["metadata"]["labels"][kPodTemplateHashLabel] = kHashV1;
  json other_owner = Pod("Running");
  other_owner["metadata"]["ownerReferences"] =
      json::parse(R"([{"kind":"ReplicaSet","uid":"rs-uid-1","controller":true}])");

  const RevisionStatus got = RevisionFromReplicaSet(rs, {ready, pending, other_hash, other_owner});
  EXPECT_EQ(got.hash, kHashV2);
  EXPECT_EQ(got.revision, 2);
  EXPECT_EQ(got.desired_replicas, 3);
  ASSERT_EQ(got.instances.size(), 2u);
  EXPECT_EQ(got.instances[0], InstanceFromPod(ready));
  EXPECT_EQ(got.instances[1].id, "demo-55c8d5f555-aaaaa");
  EXPECT_EQ(got.Ready(), 1);
  EXPECT_EQ(got.Current(), 2);

  json bare = {{"metadata", {{"labels", {{kPodTemplateHashLabel, "h"}}}}}};
  const RevisionStatus b = RevisionFromReplicaSet(bare, {});
  EXPECT_EQ(b.hash, "h");
  EXPECT_EQ(b.revision, 0);
  EXPECT_EQ(b.desired_replicas, 1);
}

// ---- Adoption ----

// The template of an Argo-created ReplicaSet for rollout-demo.yaml's revision 2 as the API server
// returns it: another hash (Argo ≤ 1.8's), canary metadata and the injected anti-affinity term,
// and every server default.
json ServerStoredArgoReplicaSet() {
  return json::parse(R"({
    "metadata": {"name": "demo-77cc4b55d8", "annotations": {
      "rollout.argoproj.io/revision": "2",
      "rollout.argoproj.io/ephemeral-metadata": "{\"labels\":{\"role\":\"canary\"}}"}},
    "spec": {"template": {
      "metadata": {"creationTimestamp": null,
                   "labels": {"app": "demo", "role": "canary",
                              "rollouts-pod-template-hash": "77cc4b55d8"},
                   "annotations": {"prometheus.io/scrape": "true"}},
      "spec": {
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
          {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
            {"key": "rollouts-pod-template-hash", "operator": "In", "values": ["5f57cccc76"]}]},
            "namespaces": ["shop"], "topologyKey": "kubernetes.io/hostname"}}]}},
        "containers": [{
          "name": "demo", "image": "ghcr.io/example/demo:2.0", "imagePullPolicy": "IfNotPresent",
          "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
          "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                             "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                             "failureThreshold": 3},
          "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
          "terminationMessagePath": "/dev/termination-log",
          "terminationMessagePolicy": "File"}],
        "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
        "schedulerName": "default-scheduler", "securityContext": {},
        "terminationGracePeriodSeconds": 30}}}})");
}

TEST(Adoption, ArgoReplicaSetWithAnotherHashIsAdopted) {
  const json rollout_template = DemoRollout()["spec"]["template"];
  const json rs = ServerStoredArgoReplicaSet();
  EXPECT_TRUE(ReplicaSetMatchesTemplate(rs, rollout_template));
  // Without stripping the injected metadata and anti-affinity, the templates differ.
  EXPECT_FALSE(TemplatesMatchForAdoption(rs["spec"]["template"], rollout_template));
}

TEST(Adoption, OurOwnReplicaSetMatches) {
  const json rollout = DemoRollout();
  const json rs = BuildOrDie(Revision(rollout, kHashV2, 2, {{"role", "canary"}}), 1, rollout);
  EXPECT_TRUE(ReplicaSetMatchesTemplate(rs, rollout["spec"]["template"]));
  EXPECT_FALSE(ReplicaSetMatchesTemplate(rs, DemoRolloutV1()["spec"]["template"]));
}

TEST(Adoption, DefaultsAndQuantitiesCompareByMeaning) {
  json desired = json::parse(R"({"metadata":{"labels":{"app":"demo"}},"spec":{
      "serviceAccountName":"demo",
      "volumes":[{"name":"cfg","configMap":{"name":"demo"}}],
      "containers":[{"name":"demo","image":"nginx","env":[{"name":"POD",
        "valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"E","value":""}],
        "lifecycle":{"preStop":{"httpGet":{"port":8080}}},
        "livenessProbe":{"tcpSocket":{"port":8080},"periodSeconds":0},
        "resources":{"limits":{"cpu":"0.5","memory":"1Gi"},"requests":{"cpu":0.25}}}]}})");
  json live = json::parse(R"({"metadata":{"labels":{"app":"demo",
      "rollouts-pod-template-hash":"abc"}},"spec":{
      "serviceAccountName":"demo","serviceAccount":"demo",
      "volumes":[{"name":"cfg","configMap":{"name":"demo","defaultMode":420}}],
      "containers":[{"name":"demo","image":"nginx","imagePullPolicy":"Always",
        "env":[{"name":"POD","valueFrom":{"fieldRef":{"apiVersion":"v1",
          "fieldPath":"metadata.name"}}},{"name":"E"}],
        "lifecycle":{"preStop":{"httpGet":{"port":8080,"path":"/","scheme":"HTTP"}}},
        "livenessProbe":{"tcpSocket":{"port":8080},"timeoutSeconds":1,"periodSeconds":10,
                         "successThreshold":1,"failureThreshold":3},
        "resources":{"limits":{"cpu":"500m","memory":"1024Mi"},"requests":{"cpu":"250m"}},
        "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
      "dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",
      "securityContext":{},"terminationGracePeriodSeconds":30}})");
  EXPECT_TRUE(TemplatesMatchForAdoption(live, desired));
}

TEST(Adoption, RealDifferencesAreNotAdopted) {
  const json desired = DemoRollout()["spec"]["template"];
  const json base = ServerStoredArgoReplicaSet();
  ASSERT_TRUE(ReplicaSetMatchesTemplate(base, desired));
  auto differs = [&](auto mutate) {
    json rs = base;
    mutate(rs["spec"]["template"]);
    return !ReplicaSetMatchesTemplate(rs, desired);
  };
  EXPECT_TRUE(differs([](json& t) { t["spec"]["containers"][0]["image"] = "demo:3.0"; }));
  EXPECT_TRUE(differs([](json& t) { t["spec"]["containers"][0]["imagePullPolicy"] = "Always"; }));
  EXPECT_TRUE(differs([](json& t) { t["spec"]["securityContext"]["runAsUser"] = 0; }));
  EXPECT_TRUE(differs([](json& t) { t["spec"]["hostNetwork"] = false; }));
  EXPECT_TRUE(differs([](json& t) { t["metadata"]["labels"]["extra"] = "x"; }));
  EXPECT_TRUE(differs(
      [](json& t) { t["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "101m"; }));
  EXPECT_TRUE(differs([](json& t) { t["spec"]["terminationGracePeriodSeconds"] = 0; }));
  EXPECT_TRUE(differs([](json& t) {
    t["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
     ["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["key"] = "app";
  }));
  // A term on the hash label that the Rollout's template has itself is kept, not stripped.
  json with_own = desired;
  with_own["spec"]["affinity"] = base["spec"]["template"]["spec"]["affinity"];
  EXPECT_TRUE(ReplicaSetMatchesTemplate(base, with_own));
  EXPECT_FALSE(ReplicaSetMatchesTemplate(json{{"spec", {{"template", desired}}}}, with_own));
  EXPECT_FALSE(TemplatesMatchForAdoption(json::array(), desired));
  EXPECT_FALSE(ReplicaSetMatchesTemplate(json::object(), desired));
}

// ---- Pod-template hash: ramp's and Argo's (see kube_objects.h) ----

TEST(PodTemplateHash, DiffersFromArgosForTheDocumentedExample) {
  const json example = json::parse(R"({"metadata":{"labels":{"app":"demo"}},"spec":{
      "containers":[{"name":"demo","image":"ghcr.io/example/demo:2.0",
                     "ports":[{"name":"http","containerPort":8080}]}]}})");
  EXPECT_EQ(engine::PodTemplateHash(example, std::nullopt), "bb66fd4dc");
  EXPECT_NE(engine::PodTemplateHash(example, std::nullopt), "5974d4668d");  // Argo v1.9's
  // The same for the demo Rollout's templates (Argo's are kHashV1/kHashV2).
  EXPECT_EQ(engine::PodTemplateHash(DemoRolloutV1()["spec"]["template"], std::nullopt),
            "69bb69c546");
  EXPECT_EQ(engine::PodTemplateHash(DemoRollout()["spec"]["template"], std::nullopt), "c4b89d47c");
}

// ---- The golden comparison itself ----

TEST(GoldenTesting, ReportsEveryDifferingPath) {
  const json golden = json::parse(R"({"metadata":{"name":"a","labels":{"app.kubernetes.io/x":"1"}},
      "spec":{"items":[1,2,3]}})");
  const json actual = json::parse(R"({"metadata":{"name":"b","uid":"u","labels":{},"extra":true},
      "spec":{"items":[1,5]},"status":{"replicas":1}})");
  EXPECT_THAT(DiffAgainstGolden(golden, actual),
              ::testing::ElementsAre(
                  "metadata.labels[\"app.kubernetes.io/x\"]: missing (golden has \"1\")",
                  "metadata.name: golden \"a\", got \"b\"",
                  "metadata.extra: unexpected field true (not in the golden)",
                  "spec.items: golden has 3 items, got 2", "spec.items[1]: golden 2, got 5"));
  EXPECT_THAT(DiffAgainstGolden(json{{"a", json::array({json::object()})}},
                                json{{"a", json::array({json{{"t", 1}}})}}, {"a[*].t"}),
              ::testing::IsEmpty());
  EXPECT_FALSE(MatchesGolden(json::object(), "does-not-exist.yaml"));
}

}  // namespace
}  // namespace ramp::platform::kube_objects
