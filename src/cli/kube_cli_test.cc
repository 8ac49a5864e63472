// The CLI's verbs in Kubernetes mode. Two halves:
//   * the pure plans of cli/kube_actions.h against patches written by hand from Argo's plugin
//     (argoproj/argo-rollouts, pkg/kubectl-argo-rollouts/cmd/…; each test names the file and
//     function it follows);
//   * the built `ramp` binary with a temporary kubeconfig against the API-server fake: for each
//     verb the exact requests (method, path, Content-Type, body) the fake received and the
//     object that resulted.
#include "cli/kube_actions.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_testing.h"
#include "kube/kube_client.h"
#include "tests/fakes/kube_apiserver_fake.h"

namespace ramp::cli {
namespace {

using nlohmann::json;
using testing_util::CliResult;
using testing_util::RunRamp;
using testing_util::WriteTemp;

const char* kRollouts = "/apis/argoproj.io/v1alpha1/namespaces/team/rollouts";
const char* kMerge = "application/merge-patch+json";
const char* kJsonPatch = "application/json-patch+json";

// A canary Rollout with four steps (the second an indefinite pause).
json CanaryRollout() {
  return json::parse(R"({
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "team", "uid": "uid-web"},
    "spec": {
      "replicas": 2,
      "selector": {"matchLabels": {"app": "web"}},
      "template": {"metadata": {"labels": {"app": "web"}},
                   "spec": {"containers": [{"name": "app", "image": "web:v3"}]}},
      "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50},
                                        {"pause": {"duration": "1h"}}]}}
    },
    "status": {"currentPodHash": "h3", "stableRS": "h2", "currentStepIndex": 1}
  })");
}

json BlueGreenRollout() {
  json ro = CanaryRollout();
  ro["spec"]["strategy"] = {{"blueGreen", {{"activeService", "web"}}}};
  ro["status"].erase("currentStepIndex");
  return ro;
}

KubePatch Expected(const kube::Resource& r, const std::string& name, bool status,
                   kube::PatchType type, json body) {
  KubePatch p;
  p.resource = r;
  p.name = name;
  p.status_subresource = status;
  p.type = type;
  p.body = std::move(body);
  return p;
}

KubePatch StatusMerge(json body) {
  return Expected(kube::Rollouts(), "web", true, kube::PatchType::kMerge, std::move(body));
}
KubePatch MainMerge(json body) {
  return Expected(kube::Rollouts(), "web", false, kube::PatchType::kMerge, std::move(body));
}

void ExpectPatches(const std::vector<KubePatch>& got, const std::vector<KubePatch>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("patch " + std::to_string(i));
    EXPECT_EQ(got[i].resource.plural, want[i].resource.plural);
    EXPECT_EQ(got[i].resource.group, want[i].resource.group);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].status_subresource, want[i].status_subresource);
    EXPECT_EQ(got[i].type, want[i].type);
    EXPECT_EQ(got[i].body, want[i].body) << got[i].body.dump();
  }
}

// --- promote: promote/promote.go getPatches ---------------------------------------------------

// default case, "len(PauseConditions) > 0": clearPauseConditionsPatch to status, and unpausePatch
// to the spec because spec.paused is set; unified = unpauseAndClearPauseConditionsPatch.
TEST(PromotePlanTest, ClearsPauseConditionsAndUnpauses) {
  json ro = CanaryRollout();
  ro["spec"]["paused"] = true;
  ro["status"]["pauseConditions"] =
      json::parse(R"([{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}])");
  ro["status"]["controllerPause"] = true;
  auto plan = PromotePlan(ro, {});
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  ExpectPatches(plan->patches, {StatusMerge(json::parse(R"({"status":{"pauseConditions":null}})")),
                                MainMerge(json::parse(R"({"spec":{"paused":false}})"))});
  ExpectPatches(
      plan->without_status_subresource,
      {MainMerge(json::parse(R"({"spec":{"paused":false},"status":{"pauseConditions":null}})"))});
  EXPECT_EQ(plan->message, "rollout 'web' promoted");
}

// default case, canary without pause conditions (mid-step): clearPauseConditionsPatchWithStep
// with index+1; unified = unpauseAndClearPauseConditionsPatchWithStep. No spec patch (not
// paused).
TEST(PromotePlanTest, CanaryMidStepMovesToTheNextStep) {
  json ro = CanaryRollout();
  ro["status"]["currentStepIndex"] = 2;
  auto plan = PromotePlan(ro, {});
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(
      plan->patches,
      {StatusMerge(json::parse(R"({"status":{"pauseConditions":null,"currentStepIndex":3}})"))});
  ExpectPatches(plan->without_status_subresource,
                {MainMerge(json::parse(R"({"spec":{"paused":false},
                                           "status":{"pauseConditions":null,
                                                     "currentStepIndex":3}})"))});
}

// GetCurrentCanaryStep: an unset currentStepIndex reads as 0.
TEST(PromotePlanTest, UnsetStepIndexCountsAsZero) {
  json ro = CanaryRollout();
  ro["status"].erase("currentStepIndex");
  auto plan = PromotePlan(ro, {});
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(
      plan->patches,
      {StatusMerge(json::parse(R"({"status":{"pauseConditions":null,"currentStepIndex":1}})"))});
}

// "if *index < len(steps) { *index++ }": a finished canary keeps index len(steps).
TEST(PromotePlanTest, IndexNeverPassesTheLastStep) {
  json ro = CanaryRollout();
  ro["status"]["currentStepIndex"] = 4;
  auto plan = PromotePlan(ro, {});
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(
      plan->patches,
      {StatusMerge(json::parse(R"({"status":{"pauseConditions":null,"currentStepIndex":4}})"))});
}

// isInconclusive && pause conditions && controllerPause:
// clearPauseConditionsAndControllerPausePatch with index+1; the unified patch stays the default
// unpauseAndClearPauseConditionsPatch.
TEST(PromotePlanTest, InconclusiveStepAnalysisClearsControllerPauseAndMovesOn) {
  json ro = CanaryRollout();
  ro["status"]["currentStepIndex"] = 2;
  ro["status"]["controllerPause"] = true;
  ro["status"]["pauseConditions"] = json::parse(
      R"([{"reason": "InconclusiveAnalysisRun", "startTime": "2026-01-01T00:00:00Z"}])");
  ro["status"]["canary"] = json::parse(
      R"({"currentStepAnalysisRunStatus": {"name": "web-h3-3-2", "status": "Inconclusive"}})");
  auto plan = PromotePlan(ro, {});
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches, {StatusMerge(json::parse(R"({"status":{"pauseConditions":null,
                                                       "controllerPause":false,
                                                       "currentStepIndex":3}})"))});
  ExpectPatches(
      plan->without_status_subresource,
      {MainMerge(json::parse(R"({"spec":{"paused":false},"status":{"pauseConditions":null}})"))});
}

// Inconclusive without controllerPause falls to the "len(PauseConditions) > 0" branch.
TEST(PromotePlanTest, InconclusiveWithoutControllerPauseOnlyClearsConditions) {
  json ro = CanaryRollout();
  ro["status"]["pauseConditions"] = json::parse(R"([{"reason": "InconclusiveAnalysisRun"}])");
  ro["status"]["canary"] = json::parse(R"({"currentStepAnalysisRunStatus": {"status":
                                           "Inconclusive"}})");
  auto plan = PromotePlan(ro, {});
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches,
                {StatusMerge(json::parse(R"({"status":{"pauseConditions":null}})"))});
}

// Blue-green with BlueGreenPause: clearPauseConditionsPatch.
TEST(PromotePlanTest, BlueGreenPauseIsCleared) {
  json ro = BlueGreenRollout();
  ro["status"]["pauseConditions"] = json::parse(R"([{"reason": "BlueGreenPause"}])");
  auto plan = PromotePlan(ro, {});
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches,
                {StatusMerge(json::parse(R"({"status":{"pauseConditions":null}})"))});
}

// Blue-green, not paused, no conditions: neither patch is set; Argo still prints "promoted".
TEST(PromotePlanTest, NothingToPromoteWritesNothing) {
  auto plan = PromotePlan(BlueGreenRollout(), {});
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->patches.empty());
  EXPECT_TRUE(plan->without_status_subresource.empty());
  EXPECT_EQ(plan->message, "rollout 'web' promoted");
}

// case full: promoteFullPatch when currentPodHash != stableRS, unpausePatch when paused; unified
// = unpauseAndPromoteFullPatch; the command prints "fully promoted".
TEST(PromotePlanTest, FullPromotion) {
  json ro = CanaryRollout();
  ro["spec"]["paused"] = true;
  PromoteOptions full;
  full.full = true;
  auto plan = PromotePlan(ro, full);
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches, {StatusMerge(json::parse(R"({"status":{"promoteFull":true}})")),
                                MainMerge(json::parse(R"({"spec":{"paused":false}})"))});
  ExpectPatches(
      plan->without_status_subresource,
      {MainMerge(json::parse(R"({"spec":{"paused":false},"status":{"promoteFull":true}})"))});
  EXPECT_EQ(plan->message, "rollout 'web' fully promoted");
}

// case full on a rollout already at stable and not paused: nothing to write.
TEST(PromotePlanTest, FullPromotionOfAPromotedRolloutWritesNothing) {
  json ro = CanaryRollout();
  ro["status"]["stableRS"] = "h3";
  PromoteOptions full;
  full.full = true;
  auto plan = PromotePlan(ro, full);
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->patches.empty());
}

// case skipCurrentStep: setCurrentStepIndex index+1; unified = the same patch.
TEST(PromotePlanTest, DeprecatedSkipCurrentStep) {
  PromoteOptions o;
  o.skip_current_step = true;
  auto plan = PromotePlan(CanaryRollout(), o);
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches, {StatusMerge(json::parse(R"({"status":{"currentStepIndex":2}})"))});
  ExpectPatches(plan->without_status_subresource,
                {MainMerge(json::parse(R"({"status":{"currentStepIndex":2}})"))});
}

// case skipAllStep: setCurrentStepIndex len(steps).
TEST(PromotePlanTest, DeprecatedSkipAllSteps) {
  PromoteOptions o;
  o.skip_all_steps = true;
  auto plan = PromotePlan(CanaryRollout(), o);
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches, {StatusMerge(json::parse(R"({"status":{"currentStepIndex":4}})"))});
}

// PromoteRollout / NewCmdPromote: the skip flags' errors, word for word.
TEST(PromotePlanTest, SkipFlagErrors) {
  PromoteOptions both;
  both.skip_current_step = both.skip_all_steps = true;
  auto r = PromotePlan(CanaryRollout(), both);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "Cannot use skip-current-step and skip-all-steps flags at the same time");
  PromoteOptions skip;
  skip.skip_current_step = true;
  r = PromotePlan(BlueGreenRollout(), skip);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "Cannot skip steps of a bluegreen rollout. Run without a flags");
  json no_steps = CanaryRollout();
  no_steps["spec"]["strategy"]["canary"].erase("steps");
  r = PromotePlan(no_steps, skip);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "Cannot skip steps of a rollout without steps");
}

// --- abort, retry, pause, resume, restart ------------------------------------------------------

// abort/abort.go AbortRollout: abortPatch to status; on NotFound the same on the main resource.
TEST(ActionPlanTest, Abort) {
  KubeActionPlan plan = AbortPlan("web");
  ExpectPatches(plan.patches, {StatusMerge(json::parse(R"({"status":{"abort":true}})"))});
  ExpectPatches(plan.without_status_subresource,
                {MainMerge(json::parse(R"({"status":{"abort":true}})"))});
  EXPECT_EQ(plan.message, "rollout 'web' aborted");
}

// retry/retry.go RetryRollout: retryRolloutPatch, status first then the main resource.
TEST(ActionPlanTest, RetryRollout) {
  KubeActionPlan plan = RetryRolloutPlan("web");
  ExpectPatches(plan.patches, {StatusMerge(json::parse(R"({"status":{"abort":false}})"))});
  ExpectPatches(plan.without_status_subresource,
                {MainMerge(json::parse(R"({"status":{"abort":false}})"))});
  EXPECT_EQ(plan.message, "rollout 'web' retried");
}

// retry/retry.go RetryExperiment: retryExperimentPatch, a merge patch on the Experiment itself.
TEST(ActionPlanTest, RetryExperiment) {
  KubeActionPlan plan = RetryExperimentPlan("exp-1");
  ExpectPatches(plan.patches,
                {Expected(ExperimentsResource(), "exp-1", false, kube::PatchType::kMerge,
                          json::parse(R"({"status":null})"))});
  EXPECT_TRUE(plan.without_status_subresource.empty());
  EXPECT_EQ(plan.message, "experiment 'exp-1' retried");
}

// pause/pause.go: {"spec":{"paused":true}} merge patch on the Rollout.
TEST(ActionPlanTest, Pause) {
  KubeActionPlan plan = PausePlan("web");
  ExpectPatches(plan.patches, {MainMerge(json::parse(R"({"spec":{"paused":true}})"))});
  EXPECT_EQ(plan.message, "rollout 'web' paused");
}

// ramp's resume: promote.go's unpausePatch alone; refused when not paused, as ramp's daemon.
TEST(ActionPlanTest, Resume) {
  json ro = CanaryRollout();
  auto refused = ResumePlan(ro);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.error().message(), "rollout is not manually paused");
  ro["spec"]["paused"] = true;
  auto plan = ResumePlan(ro);
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches, {MainMerge(json::parse(R"({"spec":{"paused":false}})"))});
  EXPECT_EQ(plan->message, "rollout 'web' resumed");
}

// restart/restart.go: restartPatch with now().UTC() + --in formatted time.RFC3339 (whole
// seconds); "rollout '%s' restarts in %s" with "0s" when --in is not given.
TEST(ActionPlanTest, Restart) {
  auto now = kube::ParseKubeTime("2026-11-27T09:00:00Z");
  ASSERT_TRUE(now.has_value());
  const Time t = *now + std::chrono::milliseconds(700);
  KubeActionPlan plan = RestartPlan("web", t, std::chrono::seconds(10), "10s");
  ExpectPatches(plan.patches,
                {MainMerge(json::parse(R"({"spec":{"restartAt":"2026-11-27T09:00:10Z"}})"))});
  EXPECT_EQ(plan.message, "rollout 'web' restarts in 10s");
  plan = RestartPlan("web", t, Duration(0), "");
  ExpectPatches(plan.patches,
                {MainMerge(json::parse(R"({"spec":{"restartAt":"2026-11-27T09:00:00Z"}})"))});
  EXPECT_EQ(plan.message, "rollout 'web' restarts in 0s");
}

// --in is v1alpha1.DurationString.Duration(): Go's time.ParseDuration.
TEST(ActionPlanTest, GoDurations) {
  using std::chrono::milliseconds;
  EXPECT_EQ(ParseGoDuration("10s").value(), std::chrono::seconds(10));
  EXPECT_EQ(ParseGoDuration("1m30s").value(), std::chrono::seconds(90));
  EXPECT_EQ(ParseGoDuration("1.5h").value(), std::chrono::minutes(90));
  EXPECT_EQ(ParseGoDuration("300ms").value(), milliseconds(300));
  EXPECT_EQ(ParseGoDuration("-2m").value(), -std::chrono::minutes(2));
  EXPECT_EQ(ParseGoDuration("0").value(), Duration(0));
  EXPECT_FALSE(ParseGoDuration("").has_value());
  EXPECT_FALSE(ParseGoDuration("10").has_value());
  EXPECT_FALSE(ParseGoDuration("5x").has_value());
  EXPECT_FALSE(ParseGoDuration("s").has_value());
}

// --- undo: undo/undo.go ---------------------------------------------------------------------

json ReplicaSet(const std::string& hash, const std::string& revision, const std::string& image,
                const std::string& owner_uid = "uid-web") {
  json rs = {
      {"apiVersion", "apps/v1"},
      {"kind", "ReplicaSet"},
      {"metadata",
       {{"name", "web-" + hash},
        {"namespace", "team"},
        {"labels", {{"app", "web"}, {"rollouts-pod-template-hash", hash}}},
        {"annotations", {{"rollout.argoproj.io/revision", revision}}},
        {"ownerReferences",
         {{{"apiVersion", "argoproj.io/v1alpha1"},
           {"kind", "Rollout"},
           {"name", "web"},
           {"uid", owner_uid},
           {"controller", true},
           {"blockOwnerDeletion", true}}}}}},
      {"spec",
       {{"replicas", 0},
        {"selector", {{"matchLabels", {{"app", "web"}, {"rollouts-pod-template-hash", hash}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}, {"rollouts-pod-template-hash", hash}}}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", image}}}}}}}}}}};
  return rs;
}

std::vector<json> History() {
  return {ReplicaSet("h1", "1", "web:v1"), ReplicaSet("h3", "3", "web:v3"),
          ReplicaSet("h2", "2", "web:v2"),
          // Not the Rollout's (another controller): never a candidate, however new.
          ReplicaSet("hx", "9", "other:v9", "uid-other")};
}

// getRolloutPatch: one "replace /spec/template" op whose value is the typed PodTemplateSpec of the
// ReplicaSet (metadata.creationTimestamp null, resources {}) without rollouts-pod-template-hash.
json UndoPatchTo(const std::string& image) {
  return json::parse(R"([{"op":"replace","path":"/spec/template","value":{
      "metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
      "spec":{"containers":[{"name":"app","image":")" +
                     image + R"(","resources":{}}]}}}])");
}

// rolloutRevision with toRevision 0: the second newest revision the Rollout controls.
TEST(UndoPlanTest, PreviousRevision) {
  auto plan = UndoPlan(CanaryRollout(), History(), 0);
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  ExpectPatches(plan->patches, {Expected(kube::Rollouts(), "web", false, kube::PatchType::kJson,
                                         UndoPatchTo("web:v2"))});
  EXPECT_TRUE(plan->without_status_subresource.empty());
  EXPECT_EQ(plan->message, "rollout 'web' undo");
}

TEST(UndoPlanTest, ToRevision) {
  auto plan = UndoPlan(CanaryRollout(), History(), 1);
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches, {Expected(kube::Rollouts(), "web", false, kube::PatchType::kJson,
                                         UndoPatchTo("web:v1"))});
}

// equalIgnoreHash → "skipped rollback (current template already matches revision %d)", with
// toRevision as given (0 for the default).
TEST(UndoPlanTest, SameTemplateIsSkipped) {
  auto plan = UndoPlan(CanaryRollout(), History(), 3);
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->patches.empty());
  EXPECT_EQ(plan->message, "skipped rollback (current template already matches revision 3)");
  json ro = CanaryRollout();
  ro["spec"]["template"]["spec"]["containers"][0]["image"] = "web:v2";
  plan = UndoPlan(ro, History(), 0);
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->patches.empty());
  EXPECT_EQ(plan->message, "skipped rollback (current template already matches revision 0)");
}

TEST(UndoPlanTest, Errors) {
  auto r = UndoPlan(CanaryRollout(), History(), 7);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "unable to find specified revision 7 in history");
  r = UndoPlan(CanaryRollout(), {ReplicaSet("h3", "3", "web:v3")}, 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "no revision found for rollout \"web\"");
}

// undoWorkloadRef: the same JSON patch on the referenced Deployment.
TEST(UndoPlanTest, WorkloadRefDeployment) {
  json ro = CanaryRollout();
  ro["spec"].erase("template");
  ro["spec"]["workloadRef"] = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "dep"}};
  auto plan = UndoPlan(ro, History(), 0);
  ASSERT_TRUE(plan.has_value());
  ExpectPatches(plan->patches, {Expected(kube::Deployments(), "dep", false, kube::PatchType::kJson,
                                         UndoPatchTo("web:v2"))});
}

// equalIgnoreHash uses Semantic.DeepDerivative(rollout, rs) (apimachinery
// third_party/forked/golang/reflect deepValueDerive): what the Rollout leaves unset (a nil, an
// empty string, map or list) does not count, but every key it has must exist in the ReplicaSet's
// typed template (ToUnstructured: creationTimestamp null, resources {}), and values must be equal.
TEST(UndoPlanTest, TemplateComparisonIsDerivative) {
  const json rs = json::parse(R"({
      "metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": "h2"}},
      "spec": {"containers": [{"name": "app", "image": "web:v2",
                               "terminationMessagePath": "/dev/termination-log"}],
               "dnsPolicy": "ClusterFirst", "restartPolicy": "Always"}})");
  EXPECT_TRUE(TemplateMatchesIgnoringHash(json::parse(R"({"metadata": {"labels": {"app": "web"}},
                      "spec": {"containers": [{"name": "app", "image": "web:v2"}]}})"),
                                          rs));
  EXPECT_TRUE(TemplateMatchesIgnoringHash(
      json::parse(R"({"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                      "spec": {"containers": [{"name": "app", "image": "web:v2",
                                               "resources": {}}]}})"),
      rs));
  // A key the ReplicaSet's template lacks: a mismatch even though the value is empty.
  EXPECT_FALSE(TemplateMatchesIgnoringHash(
      json::parse(R"({"spec": {"containers": [{"name": "app", "image": "web:v2",
                                               "args": []}]}})"),
      rs));
  EXPECT_FALSE(TemplateMatchesIgnoringHash(
      json::parse(R"({"spec": {"containers": [{"name": "app", "image": "web:v3"}]}})"), rs));
  EXPECT_FALSE(TemplateMatchesIgnoringHash(
      json::parse(R"({"spec": {"containers": [{"name": "app", "image": "web:v2",
                                               "command": ["x"]}]}})"),
      rs));
}

// Listing ReplicaSets: metav1.LabelSelectorAsSelector(...).String() of spec.selector.
TEST(UndoPlanTest, SelectorText) {
  auto text = SelectorText(json::parse(R"({
      "matchLabels": {"tier": "fe", "app": "web"},
      "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                           {"key": "zone", "operator": "Exists"},
                           {"key": "canary", "operator": "DoesNotExist"}]})"));
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, "app=web,!canary,env in (dev,prod),tier=fe,zone");
}

// --- set image: set/set_image.go newRolloutSetImage -------------------------------------------

TEST(SetImageTest, ChangesEveryMatchingContainer) {
  json ro = CanaryRollout();
  ro["spec"]["template"]["spec"]["initContainers"] = {{{"name", "app"}, {"image", "init:v1"}}};
  ro["spec"]["template"]["spec"]["containers"].push_back({{"name", "side"}, {"image", "s:v1"}});
  ASSERT_TRUE(SetImageInObject(ro, "app", "web:v4").ok());
  EXPECT_EQ(ro["spec"]["template"]["spec"]["initContainers"][0]["image"], "web:v4");
  EXPECT_EQ(ro["spec"]["template"]["spec"]["containers"][0]["image"], "web:v4");
  EXPECT_EQ(ro["spec"]["template"]["spec"]["containers"][1]["image"], "s:v1");
  ASSERT_TRUE(SetImageInObject(ro, "*", "all:v5").ok());
  EXPECT_EQ(ro["spec"]["template"]["spec"]["containers"][1]["image"], "all:v5");
  Status s = SetImageInObject(ro, "nope", "x");
  EXPECT_EQ(s.message(), "unable to find container named \"nope\"");
}

// SetImage: a workloadRef Rollout's image lives in the Deployment it names.
TEST(SetImageTest, Target) {
  auto t = SetImageTarget(CanaryRollout());
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->first.plural, "rollouts");
  EXPECT_EQ(t->second, "web");
  json ro = CanaryRollout();
  ro["spec"]["workloadRef"] = {{"kind", "Deployment"}, {"name", "dep"}};
  t = SetImageTarget(ro);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->first.plural, "deployments");
  EXPECT_EQ(t->second, "dep");
}

// --- the built binary against the API-server fake ---------------------------------------------

class KubeCliE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = fakes::KubeApiServerFake::Start();
    ASSERT_TRUE(fake.has_value()) << fake.error().ToString();
    fake_ = std::move(*fake);
    // The context's namespace is "team": verbs without -n act there.
    kubeconfig_ = WriteTemp("kube", "kubeconfig", R"(apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: )" + fake_->Url() + R"(
contexts:
- name: fake
  context:
    cluster: fake
    user: me
    namespace: team
current-context: fake
users:
- name: me
  user:
    token: t0ken
)");
  }

  json Put(json object) {
    auto stored = fake_->Put(std::move(object));
    EXPECT_TRUE(stored.has_value()) << stored.error().ToString();
    return stored.has_value() ? *stored : json();
  }

  json SeedRollout(json ro = CanaryRollout()) {
    json stored = Put(std::move(ro));
    fake_->ClearRequests();
    return stored;
  }

  CliResult Ramp(const std::string& verb, const std::string& args) {
    return RunRamp(verb, args + " --kubeconfig '" + kubeconfig_ + "'");
  }

  // The requests ramp made, in order.
  std::vector<fakes::KubeRequestRecord> Requests() { return fake_->Requests(); }

  json Rollout() { return fake_->Object("rollouts", "team", "web").value_or(json()); }

  static void ExpectGet(const fakes::KubeRequestRecord& r, const std::string& path) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.path, path);
  }
  static void ExpectPatch(const fakes::KubeRequestRecord& r, const std::string& path,
                          const std::string& content_type, const json& body) {
    EXPECT_EQ(r.method, "PATCH");
    EXPECT_EQ(r.path, path);
    EXPECT_EQ(r.content_type, content_type);
    EXPECT_EQ(json::parse(r.body, nullptr, false), body) << r.body;
  }

  std::unique_ptr<fakes::KubeApiServerFake> fake_;
  std::string kubeconfig_;
};

TEST_F(KubeCliE2ETest, PromoteUnpausesAndClearsPauseConditions) {
  json ro = CanaryRollout();
  ro["spec"]["paused"] = true;
  ro["status"]["pauseConditions"] = json::parse(R"([{"reason": "CanaryPauseStep",
                                                     "startTime": "2026-01-01T00:00:00Z"}])");
  ro["status"]["controllerPause"] = true;
  SeedRollout(ro);
  CliResult r = Ramp("promote", "web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' promoted\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 3u);
  ExpectGet(reqs[0], std::string(kRollouts) + "/web");
  ExpectPatch(reqs[1], std::string(kRollouts) + "/web/status", kMerge,
              json::parse(R"({"status":{"pauseConditions":null}})"));
  ExpectPatch(reqs[2], std::string(kRollouts) + "/web", kMerge,
              json::parse(R"({"spec":{"paused":false}})"));
  const json after = Rollout();
  EXPECT_EQ(after["spec"]["paused"], false);
  EXPECT_FALSE(after["status"].contains("pauseConditions"));
  EXPECT_EQ(after["status"]["controllerPause"], true);
}

TEST_F(KubeCliE2ETest, PromoteMidStepAdvancesTheIndex) {
  SeedRollout();
  CliResult r = Ramp("promote", "web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  ExpectPatch(reqs[1], std::string(kRollouts) + "/web/status", kMerge,
              json::parse(R"({"status":{"pauseConditions":null,"currentStepIndex":2}})"));
  EXPECT_EQ(Rollout()["status"]["currentStepIndex"], 2);
}

TEST_F(KubeCliE2ETest, PromoteFull) {
  SeedRollout();
  CliResult r = Ramp("promote", "web --full");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' fully promoted\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  ExpectPatch(reqs[1], std::string(kRollouts) + "/web/status", kMerge,
              json::parse(R"({"status":{"promoteFull":true}})"));
  EXPECT_EQ(Rollout()["status"]["promoteFull"], true);
}

TEST_F(KubeCliE2ETest, PromoteSkipAllStepsIsDeprecatedButWorks) {
  SeedRollout();
  CliResult r = Ramp("promote", "web -a");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("deprecated"), std::string::npos) << r.err;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  ExpectPatch(reqs[1], std::string(kRollouts) + "/web/status", kMerge,
              json::parse(R"({"status":{"currentStepIndex":4}})"));
}

TEST_F(KubeCliE2ETest, Abort) {
  SeedRollout();
  CliResult r = Ramp("abort", "web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' aborted\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  ExpectPatch(reqs[0], std::string(kRollouts) + "/web/status", kMerge,
              json::parse(R"({"status":{"abort":true}})"));
  EXPECT_EQ(Rollout()["status"]["abort"], true);
}

// abort.go: a 404 from the status subresource (a CRD without it) → the same patch on the
// Rollout itself.
TEST_F(KubeCliE2ETest, AbortFallsBackWithoutStatusSubresource) {
  SeedRollout();
  fake_->InjectFailures(1, 404, R"({"kind":"Status","apiVersion":"v1","status":"Failure",
      "message":"the server could not find the requested resource","reason":"NotFound",
      "code":404})");
  CliResult r = Ramp("abort", "web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  ExpectPatch(reqs[0], std::string(kRollouts) + "/web/status", kMerge,
              json::parse(R"({"status":{"abort":true}})"));
  ExpectPatch(reqs[1], std::string(kRollouts) + "/web", kMerge,
              json::parse(R"({"status":{"abort":true}})"));
}

TEST_F(KubeCliE2ETest, RetryRollout) {
  json ro = CanaryRollout();
  ro["status"]["abort"] = true;
  SeedRollout(ro);
  CliResult r = Ramp("retry", "rollout web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' retried\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  ExpectPatch(reqs[0], std::string(kRollouts) + "/web/status", kMerge,
              json::parse(R"({"status":{"abort":false}})"));
  EXPECT_EQ(Rollout()["status"]["abort"], false);
}

TEST_F(KubeCliE2ETest, RetryExperiment) {
  Put(json::parse(R"({"apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
                      "metadata": {"name": "exp-1", "namespace": "team"},
                      "spec": {"templates": []}, "status": {"phase": "Failed"}})"));
  fake_->ClearRequests();
  CliResult r = Ramp("retry", "exp exp-1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "experiment 'exp-1' retried\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  ExpectPatch(reqs[0], "/apis/argoproj.io/v1alpha1/namespaces/team/experiments/exp-1", kMerge,
              json::parse(R"({"status":null})"));
}

TEST_F(KubeCliE2ETest, PauseAndResume) {
  SeedRollout();
  CliResult r = Ramp("pause", "web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' paused\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  ExpectPatch(reqs[0], std::string(kRollouts) + "/web", kMerge,
              json::parse(R"({"spec":{"paused":true}})"));
  EXPECT_EQ(Rollout()["spec"]["paused"], true);

  fake_->ClearRequests();
  r = Ramp("resume", "web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' resumed\n");
  reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  ExpectGet(reqs[0], std::string(kRollouts) + "/web");
  ExpectPatch(reqs[1], std::string(kRollouts) + "/web", kMerge,
              json::parse(R"({"spec":{"paused":false}})"));
  EXPECT_EQ(Rollout()["spec"]["paused"], false);

  fake_->ClearRequests();
  r = Ramp("resume", "web");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("rollout is not manually paused"), std::string::npos) << r.err;
  EXPECT_EQ(Requests().size(), 1u);  // the read only
}

TEST_F(KubeCliE2ETest, RestartIn) {
  SeedRollout();
  const auto before = std::chrono::system_clock::now();
  CliResult r = Ramp("restart", "web --in 1h");
  const auto after = std::chrono::system_clock::now();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' restarts in 1h\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PATCH");
  EXPECT_EQ(reqs[0].path, std::string(kRollouts) + "/web");
  EXPECT_EQ(reqs[0].content_type, kMerge);
  const json body = json::parse(reqs[0].body, nullptr, false);
  ASSERT_TRUE(body.is_object());
  ASSERT_EQ(body.size(), 1u);
  ASSERT_EQ(body["spec"].size(), 1u);
  const std::string at = body["spec"]["restartAt"];
  EXPECT_EQ(at.size(), 20u) << at;  // 2026-11-27T09:00:00Z
  auto t = kube::ParseKubeTime(at);
  ASSERT_TRUE(t.has_value()) << at;
  EXPECT_GE(*t, std::chrono::time_point_cast<std::chrono::seconds>(before) + std::chrono::hours(1));
  EXPECT_LE(*t, after + std::chrono::hours(1));
  EXPECT_EQ(Rollout()["spec"]["restartAt"], at);
}

TEST_F(KubeCliE2ETest, UndoPatchesTheTemplateOfThePreviousRevision) {
  SeedRollout();
  for (json rs : History()) Put(std::move(rs));
  fake_->ClearRequests();
  CliResult r = Ramp("undo", "web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' undo\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 3u);
  ExpectGet(reqs[0], std::string(kRollouts) + "/web");
  ExpectGet(reqs[1], "/apis/apps/v1/namespaces/team/replicasets");
  EXPECT_NE(reqs[1].query.find("labelSelector=app%3Dweb"), std::string::npos) << reqs[1].query;
  ExpectPatch(reqs[2], std::string(kRollouts) + "/web", kJsonPatch, UndoPatchTo("web:v2"));
  EXPECT_EQ(Rollout()["spec"]["template"], UndoPatchTo("web:v2")[0]["value"]);
}

TEST_F(KubeCliE2ETest, UndoToTheCurrentTemplateIsSkipped) {
  SeedRollout();
  for (json rs : History()) Put(std::move(rs));
  fake_->ClearRequests();
  CliResult r = Ramp("undo", "web --to-revision 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "skipped rollback (current template already matches revision 3)\n");
  for (const auto& req : Requests()) EXPECT_EQ(req.method, "GET") << req.path;
}

TEST_F(KubeCliE2ETest, SetImageUpdatesTheRollout) {
  const json seeded = SeedRollout();
  CliResult r = Ramp("set", "image web app=web:v4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout \"web\" image updated\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 2u);
  ExpectGet(reqs[0], std::string(kRollouts) + "/web");
  EXPECT_EQ(reqs[1].method, "PUT");
  EXPECT_EQ(reqs[1].path, std::string(kRollouts) + "/web");
  const json body = json::parse(reqs[1].body, nullptr, false);
  EXPECT_EQ(body["metadata"]["resourceVersion"], seeded["metadata"]["resourceVersion"]);
  json expected_spec = seeded["spec"];
  expected_spec["template"]["spec"]["containers"][0]["image"] = "web:v4";
  EXPECT_EQ(body["spec"], expected_spec);
  EXPECT_EQ(Rollout()["spec"]["template"]["spec"]["containers"][0]["image"], "web:v4");
}

TEST_F(KubeCliE2ETest, SetImageOfAWorkloadRefRolloutUpdatesTheDeployment) {
  json ro = CanaryRollout();
  ro["spec"].erase("template");
  ro["spec"]["workloadRef"] = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "dep"}};
  SeedRollout(ro);
  Put(json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "dep", "namespace": "team"},
                      "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                               "template": {"metadata": {"labels": {"app": "web"}},
                                            "spec": {"containers": [{"name": "app",
                                                                     "image": "web:v1"}]}}}})"));
  fake_->ClearRequests();
  CliResult r = Ramp("set", "image web '*=web:v9'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "deployment \"dep\" image updated\n");
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 3u);
  ExpectGet(reqs[0], std::string(kRollouts) + "/web");
  ExpectGet(reqs[1], "/apis/apps/v1/namespaces/team/deployments/dep");
  EXPECT_EQ(reqs[2].method, "PUT");
  EXPECT_EQ(reqs[2].path, "/apis/apps/v1/namespaces/team/deployments/dep");
  auto dep = fake_->Object("deployments", "team", "dep");
  ASSERT_TRUE(dep.has_value());
  EXPECT_EQ((*dep)["spec"]["template"]["spec"]["containers"][0]["image"], "web:v9");
}

TEST_F(KubeCliE2ETest, NamespaceFlagWinsOverTheContext) {
  json ro = CanaryRollout();
  ro["metadata"]["namespace"] = "other";
  Put(ro);
  fake_->ClearRequests();
  CliResult r = Ramp("pause", "web -n other");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto reqs = Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/apis/argoproj.io/v1alpha1/namespaces/other/rollouts/web");
  EXPECT_EQ(fake_->Object("rollouts", "other", "web").value_or(json())["spec"]["paused"], true);
}

// RAMP_KUBE=1 selects Kubernetes mode with the kubeconfig of KUBECONFIG.
TEST_F(KubeCliE2ETest, RampKubeEnvironment) {
  SeedRollout();
  ::setenv("RAMP_KUBE", "1", 1);
  ::setenv("KUBECONFIG", kubeconfig_.c_str(), 1);
  CliResult r = RunRamp("abort", "web");
  ::unsetenv("RAMP_KUBE");
  ::unsetenv("KUBECONFIG");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "rollout 'web' aborted\n");
  EXPECT_EQ(Rollout()["status"]["abort"], true);
}

TEST_F(KubeCliE2ETest, MissingRolloutIsAnError) {
  CliResult r = Ramp("promote", "ghost");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  for (const auto& req : Requests()) EXPECT_EQ(req.method, "GET") << req.path;
}

TEST_F(KubeCliE2ETest, GetAndListRollout) {
  json ro = CanaryRollout();
  ro["status"]["phase"] = "Paused";
  SeedRollout(ro);
  json rs = ReplicaSet("h3", "3", "web:v3");
  rs["spec"]["replicas"] = 1;
  Put(rs);
  Put(ReplicaSet("h2", "2", "web:v2"));
  CliResult r = Ramp("get", "rollout web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Name:            web\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Namespace:       team\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Status:          ॥ Paused\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("web:v3 (canary)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("web:v2 (stable)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# revision:3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("□ web-h3-"), std::string::npos) << r.out;  // its pod

  r = Ramp("get", "rollout web -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out, nullptr, false)["metadata"]["uid"], "uid-web");

  r = Ramp("list", "rollouts");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("web "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Paused"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1/4"), std::string::npos) << r.out;
}

TEST_F(KubeCliE2ETest, StatusReadsTheRolloutPhase) {
  json ro = CanaryRollout();
  ro["metadata"]["generation"] = 1;
  ro["status"]["phase"] = "Healthy";
  ro["status"]["observedGeneration"] = "1";
  SeedRollout(ro);
  CliResult r = Ramp("status", "web");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Healthy\n");
}

}  // namespace
}  // namespace ramp::cli
