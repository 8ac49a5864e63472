// KubeApiServerFake over real HTTP: ramp's HttpClient for requests, a plain socket for watch
// streams. Every rule the fake's header promises is exercised here; kubectl_wire_test.cc checks
// the same server against an independent client.
#include "tests/fakes/kube_apiserver_fake.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/subprocess.h"
#include "tests/fakes/kube_test_util.h"

namespace ramp::fakes {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using testing::Escape;
using testing::Eventually;
using testing::KubeApi;
using ::testing::UnorderedElementsAre;
using testing::WatchReader;
using namespace std::chrono_literals;

constexpr char kRollouts[] = "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts";
constexpr char kConfigMaps[] = "/api/v1/namespaces/default/configmaps";
constexpr char kServices[] = "/api/v1/namespaces/default/services";
constexpr char kDeployments[] = "/apis/apps/v1/namespaces/default/deployments";
constexpr char kReplicaSets[] = "/apis/apps/v1/namespaces/default/replicasets";

json Rollout(const std::string& name, json labels = nullptr, int replicas = 3) {
  json r = {{"apiVersion", "argoproj.io/v1alpha1"},
            {"kind", "Rollout"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"replicas", replicas},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"strategy",
               {{"canary", {{"steps", {{{"setWeight", 20}}, {{"pause", json::object()}}}}}}}}}}};
  if (!labels.is_null()) r["metadata"]["labels"] = labels;
  return r;
}

json ConfigMap(const std::string& name, json owners = nullptr) {
  json c = {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}}},
            {"data", {{"k", "v"}}}};
  if (!owners.is_null()) c["metadata"]["ownerReferences"] = owners;
  return c;
}

json OwnerRef(const json& owner) {
  return {{"apiVersion", owner["apiVersion"]},
          {"kind", owner["kind"]},
          {"name", owner["metadata"]["name"]},
          {"uid", owner["metadata"]["uid"]}};
}

int64_t Rv(const json& obj) {
  return std::stoll(obj["metadata"]["resourceVersion"].get<std::string>());
}

std::vector<std::string> Names(const json& list) {
  std::vector<std::string> out;
  for (const json& item : list["items"]) out.push_back(item["metadata"]["name"]);
  return out;
}

// Checks the metav1 Status shape of an error answer.
void ExpectStatus(const testing::ApiReply& r, int code, const std::string& reason) {
  EXPECT_EQ(r.status, code) << r.raw;
  ASSERT_TRUE(r.body.is_object()) << r.raw;
  EXPECT_EQ(r.body["kind"], "Status");
  EXPECT_EQ(r.body["apiVersion"], "v1");
  EXPECT_EQ(r.body["metadata"], json::object());
  EXPECT_EQ(r.body["status"], "Failure");
  EXPECT_EQ(r.body["reason"], reason) << r.raw;
  EXPECT_EQ(r.body["code"], code);
  EXPECT_TRUE(r.body["message"].is_string());
}

class KubeApiServerFakeTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart({}); }

  void Restart(KubeFakeOptions options) {
    fake_.reset();
    auto f = KubeApiServerFake::Start(options);
    ASSERT_TRUE(f.has_value()) << f.error().ToString();
    fake_ = std::move(*f);
    api_ = std::make_unique<KubeApi>(fake_->Url(), options.bearer_token);
  }

  json MustCreate(const std::string& collection, const json& obj) {
    auto r = api_->Post(collection, obj);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body;
  }

  std::unique_ptr<WatchReader> Watch(const std::string& target) {
    auto w = std::make_unique<WatchReader>(fake_->Port(), target);
    EXPECT_TRUE(w->ReadHead());
    return w;
  }

  std::unique_ptr<KubeApiServerFake> fake_;
  std::unique_ptr<KubeApi> api_;
};

// ---- discovery ----

const json* FindResource(const json& list, const std::string& name) {
  for (const json& r : list["resources"]) {
    if (r["name"] == name) return &r;
  }
  return nullptr;
}

TEST_F(KubeApiServerFakeTest, DiscoveryServesTheLegacyDocuments) {
  auto version = api_->Get("/version");
  ASSERT_EQ(version.status, 200);
  EXPECT_EQ(version.body["major"], "1");
  EXPECT_TRUE(version.body["gitVersion"].get<std::string>().starts_with("v1."));

  auto api = api_->Get("/api");
  ASSERT_EQ(api.status, 200);
  EXPECT_EQ(api.body["kind"], "APIVersions");
  EXPECT_EQ(api.body["versions"], json({"v1"}));

  auto core = api_->Get("/api/v1");
  ASSERT_EQ(core.status, 200);
  EXPECT_EQ(core.body["kind"], "APIResourceList");
  EXPECT_EQ(core.body["groupVersion"], "v1");
  const json* pods = FindResource(core.body, "pods");
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ((*pods)["namespaced"], true);
  EXPECT_EQ((*pods)["kind"], "Pod");
  EXPECT_EQ((*pods)["singularName"], "pod");
  EXPECT_EQ((*pods)["shortNames"], json({"po"}));
  EXPECT_EQ((*pods)["verbs"], json({"create", "delete", "deletecollection", "get", "list", "patch",
                                    "update", "watch"}));
  ASSERT_NE(FindResource(core.body, "pods/status"), nullptr);
  const json* ns = FindResource(core.body, "namespaces");
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ((*ns)["namespaced"], false);
  for (const char* name :
       {"services", "configmaps", "secrets", "events", "serviceaccounts", "endpoints"}) {
    EXPECT_NE(FindResource(core.body, name), nullptr) << name;
  }

  auto groups = api_->Get("/apis");
  ASSERT_EQ(groups.status, 200);
  EXPECT_EQ(groups.body["kind"], "APIGroupList");
  std::map<std::string, json> by_name;
  for (const json& g : groups.body["groups"]) by_name[g["name"]] = g;
  for (const char* g :
       {"apps", "batch", "coordination.k8s.io", "events.k8s.io", "networking.k8s.io", "argoproj.io",
        "networking.istio.io", "split.smi-spec.io", "gateway.networking.k8s.io", "traefik.io",
        "getambassador.io", "apisix.apache.org"}) {
    EXPECT_TRUE(by_name.count(g)) << g;
  }
  EXPECT_EQ(by_name["argoproj.io"]["preferredVersion"],
            json({{"groupVersion", "argoproj.io/v1alpha1"}, {"version", "v1alpha1"}}));

  auto argo = api_->Get("/apis/argoproj.io");
  ASSERT_EQ(argo.status, 200);
  EXPECT_EQ(argo.body["kind"], "APIGroup");
  EXPECT_EQ(argo.body["name"], "argoproj.io");

  auto list = api_->Get("/apis/argoproj.io/v1alpha1");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["groupVersion"], "argoproj.io/v1alpha1");
  const json* ro = FindResource(list.body, "rollouts");
  ASSERT_NE(ro, nullptr);
  EXPECT_EQ((*ro)["kind"], "Rollout");
  EXPECT_EQ((*ro)["shortNames"], json({"ro"}));
  const json* status = FindResource(list.body, "rollouts/status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ((*status)["kind"], "Rollout");
  EXPECT_EQ((*status)["verbs"], json({"get", "patch", "update"}));
  const json* scale = FindResource(list.body, "rollouts/scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ((*scale)["group"], "autoscaling");
  EXPECT_EQ((*scale)["version"], "v1");
  EXPECT_EQ((*scale)["kind"], "Scale");
  const json* cat = FindResource(list.body, "clusteranalysistemplates");
  ASSERT_NE(cat, nullptr);
  EXPECT_EQ((*cat)["namespaced"], false);
  EXPECT_EQ((*cat)["shortNames"], json({"cat"}));
  EXPECT_NE(FindResource(list.body, "analysisruns/status"), nullptr);
  EXPECT_NE(FindResource(list.body, "experiments/status"), nullptr);
  EXPECT_EQ(FindResource(list.body, "analysistemplates/status"), nullptr);
  EXPECT_NE(FindResource(api_->Get("/apis/apps/v1").body, "deployments/scale"), nullptr);
}

TEST_F(KubeApiServerFakeTest, AggregatedDiscoveryRequestsGetLegacyJson) {
  // What kubectl >= 1.27 sends: the legacy answer with a plain application/json type makes it
  // fall back to per-group discovery.
  const HttpHeaders accept = {
      {"Accept",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/"
       "json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"}};
  for (const char* path : {"/api", "/apis"}) {
    auto r = api_->Get(path, accept);
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.content_type, "application/json") << path;
  }
  EXPECT_EQ(api_->Get("/apis", accept).body["kind"], "APIGroupList");
  EXPECT_EQ(api_->Get("/openapi/v2").status, 404);
  EXPECT_EQ(api_->Get("/openapi/v3").status, 404);
  ExpectStatus(api_->Get("/apis/nope.example.com"), 404, "NotFound");
  ExpectStatus(api_->Get("/apis/argoproj.io/v9"), 404, "NotFound");
}

// ---- create ----

TEST_F(KubeApiServerFakeTest, CreateFillsServerFields) {
  json in = Rollout("web");
  in["status"] = {{"phase", "Healthy"}};  // ignored: rollouts have a status subresource
  auto r = api_->Post(kRollouts, in);
  ASSERT_EQ(r.status, 201) << r.raw;
  const json& m = r.body["metadata"];
  EXPECT_EQ(m["name"], "web");
  EXPECT_EQ(m["namespace"], "default");
  EXPECT_EQ(m["generation"], 1);
  EXPECT_TRUE(std::regex_match(m["uid"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                          "[0-9a-f]{12}")))
      << m["uid"];
  EXPECT_TRUE(std::regex_match(m["creationTimestamp"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << m["creationTimestamp"];
  EXPECT_TRUE(std::regex_match(m["resourceVersion"].get<std::string>(), std::regex("[1-9][0-9]*")));
  EXPECT_FALSE(r.body.contains("status"));
  EXPECT_EQ(r.body["kind"], "Rollout");
  EXPECT_EQ(r.body["apiVersion"], "argoproj.io/v1alpha1");
  EXPECT_EQ(r.body["spec"], in["spec"]);
  EXPECT_EQ(Rv(r.body), fake_->CurrentResourceVersion());

  // generateName, and the global counter moving on.
  json gen = Rollout("");
  gen["metadata"] = {{"generateName", "web-"}};
  auto g = api_->Post(kRollouts, gen);
  ASSERT_EQ(g.status, 201) << g.raw;
  EXPECT_TRUE(std::regex_match(g.body["metadata"]["name"].get<std::string>(),
                               std::regex("web-[a-z0-9]{5}")));
  EXPECT_GT(Rv(g.body), Rv(r.body));

  // A body without kind and apiVersion takes them from the URL.
  auto cm = api_->Post(kConfigMaps, {{"metadata", {{"name", "plain"}}}, {"data", {{"a", "b"}}}});
  ASSERT_EQ(cm.status, 201) << cm.raw;
  EXPECT_EQ(cm.body["kind"], "ConfigMap");
  EXPECT_EQ(cm.body["apiVersion"], "v1");

  // Cluster-scoped objects have no namespace.
  json cat = {{"apiVersion", "argoproj.io/v1alpha1"},
              {"kind", "ClusterAnalysisTemplate"},
              {"metadata", {{"name", "success-rate"}}},
              {"spec", {{"metrics", json::array()}}}};
  auto c = api_->Post("/apis/argoproj.io/v1alpha1/clusteranalysistemplates", cat);
  ASSERT_EQ(c.status, 201) << c.raw;
  EXPECT_FALSE(c.body["metadata"].contains("namespace"));
  EXPECT_EQ(
      api_->Post("/apis/argoproj.io/v1alpha1/namespaces/default/clusteranalysistemplates", cat)
          .status,
      404);
}

TEST_F(KubeApiServerFakeTest, CreateErrors) {
  MustCreate(kRollouts, Rollout("web"));
  auto dup = api_->Post(kRollouts, Rollout("web"));
  ExpectStatus(dup, 409, "AlreadyExists");
  EXPECT_EQ(dup.body["message"], "rollouts.argoproj.io \"web\" already exists");
  EXPECT_EQ(dup.body["details"],
            json({{"name", "web"}, {"group", "argoproj.io"}, {"kind", "rollouts"}}));

  json nameless = Rollout("x");
  nameless["metadata"].erase("name");
  auto missing = api_->Post(kRollouts, nameless);
  ExpectStatus(missing, 422, "Invalid");
  EXPECT_THAT(missing.body["message"].get<std::string>(),
              ::testing::HasSubstr("metadata.name: Required value"));

  json wrong_kind = Rollout("x");
  wrong_kind["kind"] = "Deployment";
  ExpectStatus(api_->Post(kRollouts, wrong_kind), 422, "Invalid");
  json wrong_version = Rollout("x");
  wrong_version["apiVersion"] = "argoproj.io/v1";
  ExpectStatus(api_->Post(kRollouts, wrong_version), 422, "Invalid");
  json wrong_ns = Rollout("x");
  wrong_ns["metadata"]["namespace"] = "other";
  ExpectStatus(api_->Post(kRollouts, wrong_ns), 422, "Invalid");
  json bad_name = Rollout("Not_A_Name");
  ExpectStatus(api_->Post(kRollouts, bad_name), 422, "Invalid");
  ExpectStatus(api_->Call("POST", kRollouts, "{not json"), 400, "BadRequest");
  ExpectStatus(api_->Call("POST", kRollouts, "[1,2]"), 400, "BadRequest");
  // JSON only: protobuf (what kubectl sends for built-in types) and YAML bodies are 415.
  ExpectStatus(api_->Call("POST", kConfigMaps, "k8s\x00", "application/vnd.kubernetes.protobuf"),
               415, "UnsupportedMediaType");
  ExpectStatus(api_->Call("POST", kRollouts, "metadata: {name: y}\n", "application/yaml"), 415,
               "UnsupportedMediaType");
  ExpectStatus(api_->Post("/apis/argoproj.io/v1alpha1/namespaces/default/widgets", Rollout("x")),
               404, "NotFound");
  // Only list and watch exist across all namespaces; a name in a create URL is not a create.
  ExpectStatus(api_->Post("/apis/argoproj.io/v1alpha1/rollouts", Rollout("x")), 405,
               "MethodNotAllowed");
  ExpectStatus(api_->Post(std::string(kRollouts) + "/web", Rollout("web")), 405,
               "MethodNotAllowed");
  EXPECT_FALSE(fake_->Object("rollouts", "default", "x").has_value());
}

// ---- get and list ----

TEST_F(KubeApiServerFakeTest, GetAndListWithSelectors) {
  MustCreate(kRollouts, Rollout("a", {{"app", "web"}, {"tier", "front"}}));
  MustCreate(kRollouts, Rollout("b", {{"app", "web"}, {"tier", "back"}}));
  MustCreate(kRollouts, Rollout("c", {{"app", "api"}}));
  MustCreate("/apis/argoproj.io/v1alpha1/namespaces/other/rollouts",
             Rollout("d", {{"app", "web"}}));

  auto got = api_->Get(std::string(kRollouts) + "/a");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["metadata"]["labels"]["tier"], "front");
  auto missing = api_->Get(std::string(kRollouts) + "/zzz");
  ExpectStatus(missing, 404, "NotFound");
  EXPECT_EQ(missing.body["message"], "rollouts.argoproj.io \"zzz\" not found");
  auto core_missing = api_->Get(std::string(kConfigMaps) + "/zzz");
  EXPECT_EQ(core_missing.body["message"], "configmaps \"zzz\" not found");
  EXPECT_EQ(core_missing.body["details"], json({{"name", "zzz"}, {"kind", "configmaps"}}));

  auto list = api_->Get(kRollouts);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["kind"], "RolloutList");
  EXPECT_EQ(list.body["apiVersion"], "argoproj.io/v1alpha1");
  EXPECT_EQ(list.body["metadata"]["resourceVersion"],
            std::to_string(fake_->CurrentResourceVersion()));
  EXPECT_THAT(Names(list.body), ElementsAre("a", "b", "c"));
  for (const json& item : list.body["items"]) {
    EXPECT_EQ(item["kind"], "Rollout");
    EXPECT_EQ(item["apiVersion"], "argoproj.io/v1alpha1");
  }
  EXPECT_EQ(Names(api_->Get("/apis/argoproj.io/v1alpha1/rollouts").body).size(), 4u);

  const std::vector<std::pair<std::string, std::vector<std::string>>> label_cases = {
      {"app=web", {"a", "b"}},
      {"app==web", {"a", "b"}},
      {"app!=web", {"c"}},
      {"tier in (front,back)", {"a", "b"}},
      {"tier notin (front)", {"b", "c"}},
      {"tier", {"a", "b"}},
      {"!tier", {"c"}},
      {"app=web,tier=back", {"b"}},
      {"app in (web, api),!tier", {"c"}},
      {"", {"a", "b", "c"}},
  };
  for (const auto& [selector, want] : label_cases) {
    auto r = api_->Get(std::string(kRollouts) + "?labelSelector=" + Escape(selector));
    ASSERT_EQ(r.status, 200) << selector << ": " << r.raw;
    EXPECT_EQ(Names(r.body), want) << selector;
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> field_cases = {
      {"metadata.name=a", {"a"}},
      {"metadata.name==b", {"b"}},
      {"metadata.name!=a", {"b", "c"}},
      {"metadata.name!=a,metadata.name!=b", {"c"}},
  };
  for (const auto& [selector, want] : field_cases) {
    auto r = api_->Get(std::string(kRollouts) + "?fieldSelector=" + Escape(selector));
    ASSERT_EQ(r.status, 200) << selector << ": " << r.raw;
    EXPECT_EQ(Names(r.body), want) << selector;
  }
  auto other = api_->Get("/apis/argoproj.io/v1alpha1/rollouts?fieldSelector=" +
                         Escape("metadata.namespace=other"));
  EXPECT_THAT(Names(other.body), ElementsAre("d"));

  for (const char* bad : {"app in (web", "=web", "app=we b", "app=web,", "app in web", "Bad Key=1",
                          "app="
                          "-leading-dash"}) {
    ExpectStatus(api_->Get(std::string(kRollouts) + "?labelSelector=" + Escape(bad)), 400,
                 "BadRequest");
  }
  for (const char* bad : {"spec.replicas=3", "metadata.name", "metadata.name=a\\x"}) {
    ExpectStatus(api_->Get(std::string(kRollouts) + "?fieldSelector=" + Escape(bad)), 400,
                 "BadRequest");
  }
  // Resource-specific fields where the real server has them.
  EXPECT_EQ(api_->Get("/api/v1/pods?fieldSelector=" + Escape("status.phase=Running")).status, 200);

  // Pages.
  auto page = api_->Get(std::string(kRollouts) + "?limit=2");
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(Names(page.body), ElementsAre("a", "b"));
  EXPECT_EQ(page.body["metadata"]["remainingItemCount"], 1);
  const std::string token = page.body["metadata"]["continue"];
  auto rest = api_->Get(std::string(kRollouts) + "?limit=2&continue=" + Escape(token));
  EXPECT_THAT(Names(rest.body), ElementsAre("c"));
  EXPECT_FALSE(rest.body["metadata"].contains("continue"));
}

// ---- update ----

TEST_F(KubeApiServerFakeTest, UpdateHonoursResourceVersionAndStatusRules) {
  json created = MustCreate(kRollouts, Rollout("web"));
  const std::string url = std::string(kRollouts) + "/web";

  json stale = created;
  stale["metadata"]["resourceVersion"] = std::to_string(Rv(created) - 1);
  stale["spec"]["replicas"] = 9;
  auto conflict = api_->Put(url, stale);
  ExpectStatus(conflict, 409, "Conflict");
  EXPECT_EQ(conflict.body["message"],
            "Operation cannot be fulfilled on rollouts.argoproj.io \"web\": the object has been "
            "modified; please apply your changes to the latest version and try again");
  EXPECT_EQ(conflict.body["details"],
            json({{"name", "web"}, {"group", "argoproj.io"}, {"kind", "rollouts"}}));

  json next = created;
  next["spec"]["replicas"] = 5;
  next["status"] = {{"phase", "Healthy"}};
  auto updated = api_->Put(url, next);
  ASSERT_EQ(updated.status, 200) << updated.raw;
  EXPECT_EQ(updated.body["spec"]["replicas"], 5);
  EXPECT_FALSE(updated.body.contains("status"));  // the main resource ignores .status
  EXPECT_EQ(updated.body["metadata"]["generation"], 2);
  EXPECT_GT(Rv(updated.body), Rv(created));

  // An empty resourceVersion is unconditional; a label change keeps the generation.
  json labels = updated.body;
  labels["metadata"].erase("resourceVersion");
  labels["metadata"]["labels"] = {{"team", "a"}};
  auto relabeled = api_->Put(url, labels);
  ASSERT_EQ(relabeled.status, 200) << relabeled.raw;
  EXPECT_EQ(relabeled.body["metadata"]["generation"], 2);
  EXPECT_EQ(relabeled.body["metadata"]["labels"]["team"], "a");

  // /status changes only .status.
  json status_body = relabeled.body;
  status_body["status"] = {{"phase", "Healthy"}, {"HPAReplicas", 5}};
  status_body["spec"]["replicas"] = 42;
  status_body["metadata"]["labels"] = {{"team", "b"}};
  auto status = api_->Put(url + "/status", status_body);
  ASSERT_EQ(status.status, 200) << status.raw;
  EXPECT_EQ(status.body["status"]["phase"], "Healthy");
  EXPECT_EQ(status.body["spec"]["replicas"], 5);
  EXPECT_EQ(status.body["metadata"]["labels"]["team"], "a");
  EXPECT_EQ(status.body["metadata"]["generation"], 2);

  // Writing what is stored changes nothing: same resourceVersion, no event.
  const int64_t before = fake_->CurrentResourceVersion();
  auto same = api_->Put(url, status.body);
  ASSERT_EQ(same.status, 200) << same.raw;
  EXPECT_EQ(Rv(same.body), Rv(status.body));
  EXPECT_EQ(fake_->CurrentResourceVersion(), before);

  // uid and creationTimestamp stay as stored.
  json immutable = status.body;
  immutable["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000";
  immutable["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z";
  immutable["spec"]["replicas"] = 6;
  auto kept = api_->Put(url, immutable);
  ASSERT_EQ(kept.status, 200) << kept.raw;
  EXPECT_EQ(kept.body["metadata"]["uid"], created["metadata"]["uid"]);
  EXPECT_EQ(kept.body["metadata"]["creationTimestamp"], created["metadata"]["creationTimestamp"]);

  ExpectStatus(api_->Put(std::string(kRollouts) + "/nope", Rollout("nope")), 404, "NotFound");
  ExpectStatus(api_->Put(url, Rollout("other")), 400, "BadRequest");
}

// ---- patch ----

TEST_F(KubeApiServerFakeTest, MergePatchFollowsRfc7386) {
  json in = Rollout("web");
  in["metadata"]["annotations"] = {{"a", "1"}, {"b", "2"}};
  MustCreate(kRollouts, in);
  const json patch = {
      {"metadata", {{"annotations", {{"a", nullptr}, {"c", "3"}}}}},
      {"spec", {{"replicas", 4}, {"strategy", {{"canary", {{"steps", {{{"setWeight", 50}}}}}}}}}}};
  auto r = api_->Call("PATCH", std::string(kRollouts) + "/web", patch.dump(),
                      "application/merge-patch+json; charset=utf-8");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["metadata"]["annotations"], json({{"b", "2"}, {"c", "3"}}));
  EXPECT_EQ(r.body["spec"]["strategy"]["canary"]["steps"], json::parse(R"([{"setWeight":50}])"));
  EXPECT_EQ(r.body["spec"]["replicas"], 4);
  EXPECT_EQ(r.body["spec"]["selector"], in["spec"]["selector"]);
  EXPECT_EQ(r.body["metadata"]["generation"], 2);
  EXPECT_EQ(*fake_->Object("rollouts", "default", "web"), r.body);

  ExpectStatus(api_->Merge(std::string(kRollouts) + "/nope", patch), 404, "NotFound");
  ExpectStatus(
      api_->Call("PATCH", std::string(kRollouts) + "/web", "{oops", "application/merge-patch+json"),
      400, "BadRequest");
}

TEST_F(KubeApiServerFakeTest, JsonPatchFollowsRfc6902) {
  json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata",
               {{"name", "web"},
                {"labels", {{"app", "web"}, {"new", "x"}}},
                {"annotations", {{"example.com/a", "x"}}}}},
              {"spec",
               {{"type", "ClusterIP"},
                {"selector", {{"app", "web"}}},
                {"ports", {{{"port", 80}, {"targetPort", 8080}}}}}}};
  json created = MustCreate(kServices, svc);
  const std::string url = std::string(kServices) + "/web";
  const json ops = json::parse(R"([
    {"op": "test", "path": "/spec/type", "value": "ClusterIP"},
    {"op": "add", "path": "/metadata/labels/added", "value": "v"},
    {"op": "remove", "path": "/metadata/annotations/example.com~1a"},
    {"op": "add", "path": "/metadata/annotations/a~0b", "value": "tilde"},
    {"op": "replace", "path": "/spec/ports/0/port", "value": 8080},
    {"op": "add", "path": "/spec/ports/-", "value": {"port": 9090}},
    {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
    {"op": "move", "from": "/metadata/labels/new", "path": "/metadata/labels/moved"}
  ])");
  auto r = api_->JsonPatch(url, ops);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["metadata"]["labels"],
            json({{"app", "web"}, {"added", "v"}, {"copied", "web"}, {"moved", "x"}}));
  EXPECT_EQ(r.body["metadata"]["annotations"], json({{"a~b", "tilde"}}));
  EXPECT_EQ(r.body["spec"]["ports"][0]["port"], 8080);
  EXPECT_EQ(r.body["spec"]["ports"][1]["port"], 9090);

  const int64_t rv = Rv(r.body);
  auto failed_test =
      api_->JsonPatch(url, json::parse(R"([{"op":"test","path":"/spec/type","value":"NodePort"},
                           {"op":"replace","path":"/spec/type","value":"NodePort"}])"));
  ExpectStatus(failed_test, 422, "Invalid");
  auto missing_path =
      api_->JsonPatch(url, json::parse(R"([{"op":"remove","path":"/spec/nothing"}])"));
  ExpectStatus(missing_path, 422, "Invalid");
  EXPECT_EQ(Rv(*fake_->Object("services", "default", "web")), rv);
  EXPECT_EQ((*fake_->Object("services", "default", "web"))["spec"]["type"], "ClusterIP");
  ExpectStatus(api_->JsonPatch(url, json::object()), 400, "BadRequest");
  ExpectStatus(api_->Call("PATCH", url, "nope", "application/json-patch+json"), 400, "BadRequest");
}

TEST_F(KubeApiServerFakeTest, StrategicMergeAndApplyPatches) {
  MustCreate(kRollouts, Rollout("web"));
  const json deploy = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}}}}})");
  MustCreate(kDeployments, deploy);
  const std::string patch = R"({"spec":{"replicas":2}})";
  auto custom = api_->Call("PATCH", std::string(kRollouts) + "/web", patch,
                           "application/strategic-merge-patch+json");
  ExpectStatus(custom, 415, "UnsupportedMediaType");
  auto builtin = api_->Call("PATCH", std::string(kDeployments) + "/web", patch,
                            "application/strategic-merge-patch+json");
  ASSERT_EQ(builtin.status, 200) << builtin.raw;
  EXPECT_EQ(builtin.body["spec"]["replicas"], 2);
  EXPECT_EQ(builtin.body["spec"]["selector"], deploy["spec"]["selector"]);
  ExpectStatus(api_->Call("PATCH", std::string(kDeployments) + "/web", "spec:\n  replicas: 3\n",
                          "application/apply-patch+yaml"),
               415, "UnsupportedMediaType");
  ExpectStatus(api_->Call("PATCH", std::string(kDeployments) + "/web", patch, "text/plain"), 415,
               "UnsupportedMediaType");
  // Scale is a built-in type even under a custom resource.
  auto scale = api_->Call("PATCH", std::string(kRollouts) + "/web/scale",
                          R"({"spec":{"replicas":7}})", "application/strategic-merge-patch+json");
  ASSERT_EQ(scale.status, 200) << scale.raw;
  EXPECT_EQ((*fake_->Object("rollouts", "default", "web"))["spec"]["replicas"], 7);
}

TEST_F(KubeApiServerFakeTest, PatchPreconditionsAndStatusSubresource) {
  json created = MustCreate(kRollouts, Rollout("web"));
  const std::string url = std::string(kRollouts) + "/web";
  auto stale =
      api_->Merge(url, {{"metadata", {{"resourceVersion", std::to_string(Rv(created) - 1)}}},
                        {"spec", {{"replicas", 1}}}});
  ExpectStatus(stale, 409, "Conflict");
  auto fresh = api_->Merge(url, {{"metadata", {{"resourceVersion", std::to_string(Rv(created))}}},
                                 {"spec", {{"replicas", 1}}}});
  ASSERT_EQ(fresh.status, 200) << fresh.raw;
  EXPECT_EQ(fresh.body["spec"]["replicas"], 1);

  auto status = api_->Merge(url + "/status",
                            {{"status", {{"phase", "Degraded"}}}, {"spec", {{"replicas", 99}}}});
  ASSERT_EQ(status.status, 200) << status.raw;
  EXPECT_EQ(status.body["status"]["phase"], "Degraded");
  EXPECT_EQ(status.body["spec"]["replicas"], 1);
  auto main = api_->Merge(url, {{"status", {{"phase", "Healthy"}}}});
  ASSERT_EQ(main.status, 200) << main.raw;
  EXPECT_EQ(main.body["status"]["phase"], "Degraded");
  EXPECT_EQ(Rv(main.body), Rv(status.body));  // nothing changed
  auto json_status = api_->JsonPatch(
      url + "/status", json::parse(R"([{"op":"add","path":"/status/message","value":"hi"}])"));
  ASSERT_EQ(json_status.status, 200) << json_status.raw;
  EXPECT_EQ(json_status.body["status"]["message"], "hi");
}

// ---- scale ----

TEST_F(KubeApiServerFakeTest, ScaleSubresourceMapsThroughTheResourcePaths) {
  MustCreate(kRollouts, Rollout("web"));
  const std::string url = std::string(kRollouts) + "/web";
  auto st =
      api_->Merge(url + "/status", {{"status", {{"HPAReplicas", 2}, {"selector", "app=web"}}}});
  ASSERT_EQ(st.status, 200) << st.raw;

  auto scale = api_->Get(url + "/scale");
  ASSERT_EQ(scale.status, 200) << scale.raw;
  EXPECT_EQ(scale.body["kind"], "Scale");
  EXPECT_EQ(scale.body["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(scale.body["metadata"]["name"], "web");
  EXPECT_EQ(scale.body["metadata"]["namespace"], "default");
  EXPECT_EQ(scale.body["metadata"]["resourceVersion"], st.body["metadata"]["resourceVersion"]);
  EXPECT_EQ(scale.body["spec"], json({{"replicas", 3}}));
  EXPECT_EQ(scale.body["status"], json({{"replicas", 2}, {"selector", "app=web"}}));

  json put = scale.body;
  put["spec"]["replicas"] = 5;
  auto scaled = api_->Put(url + "/scale", put);
  ASSERT_EQ(scaled.status, 200) << scaled.raw;
  EXPECT_EQ(scaled.body["spec"]["replicas"], 5);
  json ro = *fake_->Object("rollouts", "default", "web");
  EXPECT_EQ(ro["spec"]["replicas"], 5);
  EXPECT_EQ(ro["metadata"]["generation"], 2);

  ExpectStatus(api_->Put(url + "/scale", put), 409, "Conflict");  // put's resourceVersion is old
  auto patched = api_->Merge(url + "/scale", {{"spec", {{"replicas", 1}}}});
  ASSERT_EQ(patched.status, 200) << patched.raw;
  EXPECT_EQ((*fake_->Object("rollouts", "default", "web"))["spec"]["replicas"], 1);
  ExpectStatus(api_->Merge(url + "/scale", {{"spec", {{"replicas", -1}}}}), 422, "Invalid");

  // A Deployment's selector object becomes the string form; zero replicas are omitted.
  const json deploy = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
    "spec": {"replicas": 0,
             "selector": {"matchLabels": {"tier": "x", "app": "api"},
                          "matchExpressions": [{"key": "env", "operator": "In",
                                                "values": ["prod", "dev"]}]}}})");
  MustCreate(kDeployments, deploy);
  auto ds = api_->Get(std::string(kDeployments) + "/api/scale");
  ASSERT_EQ(ds.status, 200) << ds.raw;
  EXPECT_EQ(ds.body["spec"], json::object());
  EXPECT_EQ(ds.body["status"]["selector"], "app=api,env in (dev,prod),tier=x");
  MustCreate(kConfigMaps, ConfigMap("cm"));
  ExpectStatus(api_->Get(std::string(kConfigMaps) + "/cm/scale"), 404, "NotFound");
  ExpectStatus(api_->Get(std::string(kConfigMaps) + "/cm/status"), 404, "NotFound");
}

// ---- delete ----

TEST_F(KubeApiServerFakeTest, DeleteHonoursPreconditionsAndCollectsGarbage) {
  json parent = MustCreate(kConfigMaps, ConfigMap("parent"));
  json other = MustCreate(kConfigMaps, ConfigMap("other"));
  json child = MustCreate(kConfigMaps, ConfigMap("child", {OwnerRef(parent)}));
  MustCreate(kConfigMaps, ConfigMap("grandchild", {OwnerRef(child)}));
  MustCreate(kConfigMaps, ConfigMap("shared", {OwnerRef(parent), OwnerRef(other)}));
  json ro_child = Rollout("owned");
  ro_child["metadata"]["ownerReferences"] = {OwnerRef(parent)};
  MustCreate(kRollouts, ro_child);

  const std::string url = std::string(kConfigMaps) + "/parent";
  auto stale =
      api_->Delete(url, {{"preconditions", {{"resourceVersion", std::to_string(Rv(parent) - 1)}}}});
  ExpectStatus(stale, 409, "Conflict");
  ExpectStatus(api_->Delete(url, {{"preconditions", {{"uid", "nope"}}}}), 409, "Conflict");
  EXPECT_TRUE(fake_->Object("configmaps", "default", "parent").has_value());

  auto deleted =
      api_->Delete(url, {{"kind", "DeleteOptions"},
                         {"apiVersion", "v1"},
                         {"propagationPolicy", "Background"},
                         {"preconditions", {{"resourceVersion", std::to_string(Rv(parent))}}}});
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body["kind"], "ConfigMap");
  EXPECT_EQ(deleted.body["metadata"]["name"], "parent");
  for (const char* gone : {"parent", "child", "grandchild"}) {
    EXPECT_FALSE(fake_->Object("configmaps", "default", gone).has_value()) << gone;
  }
  EXPECT_FALSE(fake_->Object("rollouts", "default", "owned").has_value());
  auto shared = fake_->Object("configmaps", "default", "shared");
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ((*shared)["metadata"]["ownerReferences"], json::array({OwnerRef(other)}));
  ExpectStatus(api_->Delete(url), 404, "NotFound");

  // Orphan keeps dependents and drops their owner reference.
  json p2 = MustCreate(kConfigMaps, ConfigMap("p2"));
  MustCreate(kConfigMaps, ConfigMap("c2", {OwnerRef(p2)}));
  ASSERT_EQ(
      api_->Delete(std::string(kConfigMaps) + "/p2", {{"propagationPolicy", "Orphan"}}).status,
      200);
  auto c2 = fake_->Object("configmaps", "default", "c2");
  ASSERT_TRUE(c2.has_value());
  EXPECT_FALSE((*c2)["metadata"].contains("ownerReferences"));

  // Finalizers hold the object until they are removed.
  json held = ConfigMap("held");
  held["metadata"]["finalizers"] = {"example.com/hold"};
  MustCreate(kConfigMaps, held);
  auto pending = api_->Delete(std::string(kConfigMaps) + "/held");
  ASSERT_EQ(pending.status, 202) << pending.raw;
  EXPECT_TRUE(pending.body["metadata"].contains("deletionTimestamp"));
  ASSERT_TRUE(fake_->Object("configmaps", "default", "held").has_value());
  auto released =
      api_->Merge(std::string(kConfigMaps) + "/held", {{"metadata", {{"finalizers", nullptr}}}});
  ASSERT_EQ(released.status, 200) << released.raw;
  EXPECT_FALSE(fake_->Object("configmaps", "default", "held").has_value());

  // A namespace takes its contents with it; deletecollection honours selectors.
  MustCreate("/api/v1/namespaces", {{"metadata", {{"name", "team"}}}});
  MustCreate("/apis/argoproj.io/v1alpha1/namespaces/team/rollouts", Rollout("web"));
  ASSERT_EQ(api_->Delete("/api/v1/namespaces/team").status, 200);
  EXPECT_FALSE(fake_->Object("rollouts", "team", "web").has_value());
  MustCreate(kRollouts, Rollout("x1", {{"sweep", "yes"}}));
  MustCreate(kRollouts, Rollout("x2", {{"sweep", "no"}}));
  auto swept = api_->Delete(std::string(kRollouts) + "?labelSelector=" + Escape("sweep=yes"));
  ASSERT_EQ(swept.status, 200) << swept.raw;
  EXPECT_THAT(Names(swept.body), ElementsAre("x1"));
  EXPECT_THAT(Names(api_->Get(kRollouts).body), ElementsAre("x2"));
  ExpectStatus(api_->Delete(std::string(kRollouts) + "/x2/status"), 405, "MethodNotAllowed");
}

// ---- watch ----

TEST_F(KubeApiServerFakeTest, WatchFromNowStartsWithSyntheticAdds) {
  MustCreate(kRollouts, Rollout("a"));
  MustCreate(kRollouts, Rollout("b"));
  auto w = Watch(std::string(kRollouts) + "?watch=true");
  EXPECT_EQ(w->status(), 200);
  EXPECT_EQ(w->Header("content-type"), "application/json");
  EXPECT_EQ(w->Header("transfer-encoding"), "chunked");
  auto a = w->Next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)["type"], "ADDED");
  EXPECT_EQ((*a)["object"]["metadata"]["name"], "a");
  EXPECT_EQ((*a)["object"]["kind"], "Rollout");
  EXPECT_EQ((*a)["object"]["apiVersion"], "argoproj.io/v1alpha1");
  auto b = w->Next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ((*b)["type"], "ADDED");
  EXPECT_EQ((*b)["object"]["metadata"]["name"], "b");

  auto patched = api_->Merge(std::string(kRollouts) + "/a", {{"spec", {{"replicas", 1}}}});
  auto modified = w->Next();
  ASSERT_TRUE(modified.has_value());
  EXPECT_EQ((*modified)["type"], "MODIFIED");
  EXPECT_EQ((*modified)["object"], patched.body);
  ASSERT_EQ(api_->Delete(std::string(kRollouts) + "/b").status, 200);
  auto deleted = w->Next();
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ((*deleted)["type"], "DELETED");
  EXPECT_EQ((*deleted)["object"]["metadata"]["name"], "b");
  EXPECT_EQ(Rv((*deleted)["object"]), fake_->CurrentResourceVersion());
  MustCreate(kConfigMaps, ConfigMap("unrelated"));
  MustCreate(kRollouts, Rollout("c"));
  auto c = w->Next();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ((*c)["object"]["metadata"]["name"], "c");  // the ConfigMap is another resource

  // resourceVersion=0 is the same as unset.
  auto zero = Watch(std::string(kRollouts) + "?watch=1&resourceVersion=0");
  auto first = zero->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ((*first)["type"], "ADDED");
}

TEST_F(KubeApiServerFakeTest, SelectedWatchesSeeObjectsLeaveAndEnter) {
  auto w = Watch(std::string(kRollouts) + "?watch=true&labelSelector=" + Escape("app=web"));
  auto names =
      Watch(std::string(kRollouts) + "?watch=true&fieldSelector=" + Escape("metadata.name=y"));
  ASSERT_TRUE(Eventually([&] { return fake_->OpenWatches() == 2; }));
  const std::string url = std::string(kRollouts) + "/x";
  MustCreate(kRollouts, Rollout("other", {{"app", "api"}}));
  MustCreate(kRollouts, Rollout("x", {{"app", "web"}}));
  auto added = w->Next();
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ((*added)["type"], "ADDED");
  EXPECT_EQ((*added)["object"]["metadata"]["name"], "x");

  api_->Merge(url, {{"metadata", {{"labels", {{"app", "api"}}}}}});
  auto left = w->Next();
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ((*left)["type"], "DELETED");
  EXPECT_EQ((*left)["object"]["metadata"]["labels"]["app"], "api");

  api_->Merge(url, {{"spec", {{"replicas", 2}}}});  // not selected before or after: nothing
  api_->Merge(url, {{"metadata", {{"labels", {{"app", "web"}}}}}});
  auto entered = w->Next();
  ASSERT_TRUE(entered.has_value());
  EXPECT_EQ((*entered)["type"], "ADDED");
  EXPECT_EQ((*entered)["object"]["spec"]["replicas"], 2);
  api_->Merge(url, {{"spec", {{"replicas", 3}}}});
  auto modified = w->Next();
  ASSERT_TRUE(modified.has_value());
  EXPECT_EQ((*modified)["type"], "MODIFIED");

  MustCreate(kRollouts, Rollout("y"));
  auto y = names->Next();
  ASSERT_TRUE(y.has_value());
  EXPECT_EQ((*y)["object"]["metadata"]["name"], "y");
}

TEST_F(KubeApiServerFakeTest, WatchFromAResourceVersionReplaysTheHistory) {
  json a = MustCreate(kRollouts, Rollout("a"));
  api_->Merge(std::string(kRollouts) + "/a", {{"spec", {{"replicas", 1}}}});
  MustCreate(kRollouts, Rollout("b"));
  auto w = Watch(std::string(kRollouts) + "?watch=true&resourceVersion=" + std::to_string(Rv(a)));
  auto first = w->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ((*first)["type"], "MODIFIED");
  EXPECT_EQ((*first)["object"]["spec"]["replicas"], 1);
  auto second = w->Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ((*second)["type"], "ADDED");
  EXPECT_EQ((*second)["object"]["metadata"]["name"], "b");
  api_->Delete(std::string(kRollouts) + "/a");
  auto live = w->Next();
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ((*live)["type"], "DELETED");
}

TEST_F(KubeApiServerFakeTest, WatchFromBeforeTheWindowIsExpired) {
  json a = MustCreate(kRollouts, Rollout("a"));
  MustCreate(kRollouts, Rollout("b"));
  fake_->Compact();
  auto w = Watch(std::string(kRollouts) + "?watch=true&resourceVersion=" + std::to_string(Rv(a)));
  auto error = w->Next();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ((*error)["type"], "ERROR");
  const json& status = (*error)["object"];
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["code"], 410);
  EXPECT_EQ(status["reason"], "Expired");
  EXPECT_EQ(status["message"], fmt::format("too old resource version: {} ({})", Rv(a),
                                           fake_->CurrentResourceVersion()));
  EXPECT_FALSE(w->Next().has_value());
  EXPECT_EQ(w->end(), WatchReader::End::kClean);
  // The current version itself is still good.
  auto ok = Watch(std::string(kRollouts) +
                  "?watch=true&resourceVersion=" + std::to_string(fake_->CurrentResourceVersion()));
  api_->Merge(std::string(kRollouts) + "/a", {{"spec", {{"replicas", 1}}}});
  auto modified = ok->Next();
  ASSERT_TRUE(modified.has_value());
  EXPECT_EQ((*modified)["type"], "MODIFIED");

  // A window of three events.
  KubeFakeOptions small;
  small.history = 3;
  Restart(small);
  json first = MustCreate(kRollouts, Rollout("a"));
  for (int i = 1; i <= 4; ++i) {
    api_->Merge(std::string(kRollouts) + "/a", {{"spec", {{"replicas", i}}}});
  }
  auto expired =
      Watch(std::string(kRollouts) + "?watch=true&resourceVersion=" + std::to_string(Rv(first)));
  auto err = expired->Next();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ((*err)["type"], "ERROR");
  EXPECT_EQ((*err)["object"]["code"], 410);
  const int64_t now = fake_->CurrentResourceVersion();
  auto within =
      Watch(std::string(kRollouts) + "?watch=true&resourceVersion=" + std::to_string(now - 3));
  for (int64_t want = now - 2; want <= now; ++want) {
    auto ev = within->Next();
    ASSERT_TRUE(ev.has_value());
    EXPECT_EQ((*ev)["type"], "MODIFIED");
    EXPECT_EQ(Rv((*ev)["object"]), want);
  }
}

TEST_F(KubeApiServerFakeTest, BookmarksCarryTheCurrentResourceVersion) {
  KubeFakeOptions options;
  options.bookmark_interval = 20ms;
  Restart(options);
  MustCreate(kRollouts, Rollout("a"));
  auto w = Watch(std::string(kRollouts) + "?watch=true&allowWatchBookmarks=true&resourceVersion=" +
                 std::to_string(fake_->CurrentResourceVersion()));
  auto bookmark = w->NextOfType("BOOKMARK");
  ASSERT_TRUE(bookmark.has_value());
  const json& obj = (*bookmark)["object"];
  EXPECT_EQ(obj["kind"], "Rollout");
  EXPECT_EQ(obj["apiVersion"], "argoproj.io/v1alpha1");
  EXPECT_EQ(obj["metadata"]["resourceVersion"], std::to_string(fake_->CurrentResourceVersion()));
  MustCreate(kConfigMaps, ConfigMap("moves-the-counter"));
  ASSERT_TRUE(Eventually([&] {
    auto next = w->NextOfType("BOOKMARK");
    return next && (*next)["object"]["metadata"]["resourceVersion"] ==
                       std::to_string(fake_->CurrentResourceVersion());
  }));

  // sendInitialEvents: the initial ADDED events end with the initial-events-end bookmark.
  auto list = Watch(std::string(kRollouts) +
                    "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&"
                    "resourceVersionMatch=NotOlderThan");
  auto added = list->Next();
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ((*added)["type"], "ADDED");
  auto end = list->Next();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ((*end)["type"], "BOOKMARK");
  EXPECT_EQ((*end)["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

TEST_F(KubeApiServerFakeTest, TimeoutSecondsEndsTheStreamCleanly) {
  auto w = Watch(std::string(kRollouts) + "?watch=true&timeoutSeconds=1");
  EXPECT_EQ(w->WaitForEnd(20s), WatchReader::End::kClean);
}

TEST_F(KubeApiServerFakeTest, DropWatchesClosesStreamsAbruptly) {
  MustCreate(kRollouts, Rollout("a"));
  auto one = Watch(std::string(kRollouts) + "?watch=true");
  auto two = Watch("/api/v1/pods?watch=true");
  ASSERT_TRUE(one->Next().has_value());
  ASSERT_TRUE(Eventually([&] { return fake_->OpenWatches() == 2; }));
  EXPECT_EQ(fake_->DropWatches(), 2);
  EXPECT_EQ(one->WaitForEnd(), WatchReader::End::kAbrupt);
  EXPECT_EQ(two->WaitForEnd(), WatchReader::End::kAbrupt);
  EXPECT_EQ(fake_->OpenWatches(), 0);
  // The server keeps serving.
  EXPECT_EQ(api_->Get(kRollouts).status, 200);
}

// ---- auth and TLS ----

TEST_F(KubeApiServerFakeTest, BearerTokenIsRequired) {
  KubeFakeOptions options;
  options.bearer_token = "s3cret";
  Restart(options);
  EXPECT_EQ(api_->Get("/api/v1").status, 200);
  KubeApi anonymous(fake_->Url());
  auto denied = anonymous.Get("/api/v1");
  ExpectStatus(denied, 401, "Unauthorized");
  KubeApi wrong(fake_->Url(), "nope");
  ExpectStatus(wrong.Get(kRollouts), 401, "Unauthorized");
  WatchReader w(fake_->Port(), std::string(kRollouts) + "?watch=true");
  ASSERT_TRUE(w.ReadHead());
  EXPECT_EQ(w.status(), 401);
  // The control API needs no token.
  EXPECT_EQ(anonymous.Get("/fake/watches").status, 200);
}

TEST_F(KubeApiServerFakeTest, ServesHttpsWithTheGivenCertificate) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the openssl CLI is not installed: cannot make a test certificate";
  }
  const auto dir =
      std::filesystem::path(::testing::TempDir()) / ("kube_fake_tls_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cmd = fmt::format(
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '{0}/key.pem' -out '{0}/cert.pem' "
      ">/dev/null 2>&1",
      dir.string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  KubeFakeOptions options;
  options.tls_cert_file = (dir / "cert.pem").string();
  options.tls_key_file = (dir / "key.pem").string();
  options.bearer_token = "tok";
  Restart(options);
  EXPECT_TRUE(fake_->Url().starts_with("https://127.0.0.1:")) << fake_->Url();
  KubeApi tls(fake_->Url(), "tok", (dir / "cert.pem").string());
  auto r = tls.Get("/version");
  ASSERT_EQ(r.status, 200) << r.error << r.raw;
  EXPECT_EQ(r.body["major"], "1");
  std::filesystem::remove_all(dir);
}

// ---- control API ----

TEST_F(KubeApiServerFakeTest, InjectedConflictsAndFailures) {
  MustCreate(kRollouts, Rollout("web"));
  const std::string url = std::string(kRollouts) + "/web";
  ASSERT_TRUE(fake_->InjectConflicts("rollouts", 2).ok());
  EXPECT_EQ(api_->Get(url).status, 200);  // reads are not affected
  ExpectStatus(api_->Merge(url, {{"spec", {{"replicas", 1}}}}), 409, "Conflict");
  auto second = api_->Merge(url + "/status", {{"status", {{"phase", "x"}}}});
  ExpectStatus(second, 409, "Conflict");
  EXPECT_EQ(second.body["message"],
            "Operation cannot be fulfilled on rollouts.argoproj.io \"web\": the object has been "
            "modified; please apply your changes to the latest version and try again");
  EXPECT_EQ(api_->Merge(url, {{"spec", {{"replicas", 1}}}}).status, 200);
  EXPECT_EQ(fake_->InjectConflicts("widgets", 1).code(), StatusCode::kNotFound);

  fake_->InjectFailures(2, 503, "<html>upstream gone", "text/html");
  for (int i = 0; i < 2; ++i) {
    auto r = api_->Get(url);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.raw, "<html>upstream gone");
    EXPECT_EQ(r.content_type, "text/html");
  }
  EXPECT_EQ(api_->Get(url).status, 200);

  // The same over HTTP.
  auto inj = api_->Call("POST", "/fake/inject?status=500&count=1", "garbage{", "text/plain");
  ASSERT_EQ(inj.status, 200) << inj.raw;
  auto r = api_->Get(kRollouts);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.raw, "garbage{");
  ASSERT_EQ(
      api_->Call("POST", "/fake/inject-conflicts?resource=rollouts.argoproj.io&count=1").status,
      200);
  ExpectStatus(api_->Put(url, *fake_->Object("rollouts", "default", "web")), 409, "Conflict");
}

TEST_F(KubeApiServerFakeTest, RequestLogAndObjectSnapshots) {
  MustCreate(kRollouts, Rollout("web"));
  fake_->ClearRequests();
  api_->Call("PATCH", std::string(kRollouts) + "/web?fieldManager=test", R"({"spec":{}})",
             "application/merge-patch+json");
  api_->Get("/fake/watches");
  auto log = fake_->Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "PATCH");
  EXPECT_EQ(log[0].path, std::string(kRollouts) + "/web");
  EXPECT_EQ(log[0].query, "fieldManager=test");
  EXPECT_EQ(log[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(log[0].body, R"({"spec":{}})");
  auto http_log = api_->Get("/fake/requests");
  ASSERT_EQ(http_log.status, 200);
  EXPECT_EQ(http_log.body["requests"].size(), 1u);
  EXPECT_EQ(http_log.body["requests"][0]["method"], "PATCH");

  // Put bypasses the API rules (status is kept) but still emits the watch event.
  const int64_t before = fake_->CurrentResourceVersion();
  json direct = Rollout("direct");
  direct["status"] = {{"phase", "Healthy"}};
  auto stored = fake_->Put(direct);
  ASSERT_TRUE(stored.has_value()) << stored.error().ToString();
  EXPECT_EQ((*stored)["status"]["phase"], "Healthy");
  EXPECT_EQ((*stored)["metadata"]["namespace"], "default");
  auto w = Watch(std::string(kRollouts) + "?watch=true&resourceVersion=" + std::to_string(before));
  auto ev = w->Next();
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ((*ev)["type"], "ADDED");
  EXPECT_EQ((*ev)["object"]["metadata"]["name"], "direct");
  auto objects = fake_->Objects("rollouts");
  ASSERT_TRUE(objects.has_value());
  EXPECT_EQ(objects->size(), 2u);
  EXPECT_EQ(fake_->Objects("rollouts", "elsewhere")->size(), 0u);
  EXPECT_EQ(fake_->Objects("widgets").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(fake_->Put({{"apiVersion", "v9"}, {"kind", "Nope"}, {"metadata", {{"name", "x"}}}})
                .error()
                .code(),
            StatusCode::kInvalidArgument);
  auto via_http = api_->Get("/fake/objects?resource=rollouts&namespace=default");
  ASSERT_EQ(via_http.status, 200);
  EXPECT_EQ(via_http.body["items"].size(), 2u);
  auto put_http = api_->Post("/fake/objects", Rollout("third"));
  ASSERT_EQ(put_http.status, 200) << put_http.raw;
  EXPECT_TRUE(fake_->Object("rollouts", "default", "third").has_value());
  EXPECT_FALSE(fake_->Object("widgets", "default", "third").has_value());
}

TEST_F(KubeApiServerFakeTest, RegisteredResourcesAreServed) {
  KubeResource widget;
  widget.group = "example.com";
  widget.version = "v1";
  widget.kind = "Widget";
  widget.plural = "widgets";
  widget.short_names = {"wd"};
  widget.status_subresource = true;
  widget.custom = true;
  ASSERT_TRUE(fake_->RegisterResource(widget).ok());
  EXPECT_EQ(fake_->RegisterResource(widget).code(), StatusCode::kAlreadyExists);
  auto list = api_->Get("/apis/example.com/v1");
  ASSERT_EQ(list.status, 200);
  const json* w = FindResource(list.body, "widgets");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ((*w)["singularName"], "widget");
  auto created = api_->Post(
      "/apis/example.com/v1/namespaces/default/widgets",
      {{"apiVersion", "example.com/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w"}}}});
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(api_->Get("/apis/example.com/v1/namespaces/default/widgets").body["kind"],
            "WidgetList");
}

TEST_F(KubeApiServerFakeTest, UnsupportedMethodsAndPaths) {
  MustCreate(kRollouts, Rollout("web"));
  ExpectStatus(api_->Call("POST", std::string(kRollouts) + "/web/status", "{}"), 405,
               "MethodNotAllowed");
  ExpectStatus(api_->Get("/api/v1/namespaces/default/pods/x/log"), 404, "NotFound");
  ExpectStatus(api_->Get("/apis/argoproj.io/v1alpha1/rollouts/web"), 404, "NotFound");
  ExpectStatus(api_->Get("/api/v2"), 404, "NotFound");
  EXPECT_EQ(api_->Get("/healthz").status, 200);
  EXPECT_EQ(api_->Get("/fake/nothing-here").status, 404);
}

// ---- the simulated ReplicaSet controller ----

json ReplicaSet(const std::string& name, int replicas) {
  json rs = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "ReplicaSet",
    "metadata": {"labels": {"app": "web"}},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"},
                                       "annotations": {"note": "from-template"}},
                          "spec": {"containers": [{"name": "app", "image": "demo:v1"}]}}}})");
  rs["metadata"]["name"] = name;
  rs["spec"]["replicas"] = replicas;
  for (json* labels : {&rs["metadata"]["labels"], &rs["spec"]["selector"]["matchLabels"],
                       &rs["spec"]["template"]["metadata"]["labels"]}) {
    (*labels)["hash"] = name;
  }
  return rs;
}

std::vector<json> PodsOf(const KubeApiServerFake& fake, const std::string& rs) {
  std::vector<json> out;
  const std::vector<json> pods = fake.Objects("pods", "default").value();
  for (const json& pod : pods) {
    if (pod["metadata"]["ownerReferences"][0]["name"] == rs) out.push_back(pod);
  }
  return out;
}

bool Ready(const json& pod) {
  for (const json& c : pod["status"]["conditions"]) {
    if (c["type"] == "Ready") return c["status"] == "True";
  }
  return false;
}

TEST_F(KubeApiServerFakeTest, ReplicaSetControllerKeepsPodsAtSpecReplicas) {
  json rs = MustCreate(kReplicaSets, ReplicaSet("web-abc", 3));
  EXPECT_FALSE(rs.contains("status"));  // the answer precedes the controller
  ASSERT_TRUE(Eventually([&] { return PodsOf(*fake_, "web-abc").size() == 3; }));
  std::vector<json> pods = PodsOf(*fake_, "web-abc");
  std::set<std::string> ips;
  for (const json& pod : pods) {
    EXPECT_TRUE(std::regex_match(pod["metadata"]["name"].get<std::string>(),
                                 std::regex("web-abc-[a-z0-9]{5}")));
    EXPECT_EQ(pod["metadata"]["labels"], json({{"app", "web"}, {"hash", "web-abc"}}));
    EXPECT_EQ(pod["metadata"]["annotations"]["note"], "from-template");
    const json& ref = pod["metadata"]["ownerReferences"][0];
    EXPECT_EQ(ref["kind"], "ReplicaSet");
    EXPECT_EQ(ref["uid"], rs["metadata"]["uid"]);
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(pod["spec"]["containers"][0]["image"], "demo:v1");
    EXPECT_EQ(pod["status"]["phase"], "Running");
    EXPECT_TRUE(pod["status"]["startTime"].is_string());
    EXPECT_TRUE(Ready(pod));
    ips.insert(pod["status"]["podIP"].get<std::string>());
    EXPECT_TRUE(pod["status"]["podIP"].get<std::string>().starts_with("10.0."));
  }
  EXPECT_EQ(ips.size(), 3u);
  auto status = [&] { return (*fake_->Object("replicasets", "default", "web-abc"))["status"]; };
  ASSERT_TRUE(Eventually([&] { return status()["readyReplicas"] == 3; }));
  EXPECT_EQ(status(), json({{"replicas", 3},
                            {"fullyLabeledReplicas", 3},
                            {"readyReplicas", 3},
                            {"availableReplicas", 3},
                            {"observedGeneration", 1}}));

  // Scaling down removes the newest pods.
  std::sort(pods.begin(), pods.end(), [](const json& a, const json& b) { return Rv(a) < Rv(b); });
  const std::string oldest = pods[0]["metadata"]["name"];
  auto scaled =
      api_->Merge(std::string(kReplicaSets) + "/web-abc/scale", {{"spec", {{"replicas", 1}}}});
  ASSERT_EQ(scaled.status, 200) << scaled.raw;
  ASSERT_TRUE(Eventually([&] { return PodsOf(*fake_, "web-abc").size() == 1; }));
  EXPECT_EQ(PodsOf(*fake_, "web-abc")[0]["metadata"]["name"], oldest);
  ASSERT_TRUE(
      Eventually([&] { return status()["replicas"] == 1 && status()["observedGeneration"] == 2; }));

  // A deleted pod is replaced.
  ASSERT_EQ(api_->Delete("/api/v1/namespaces/default/pods/" + oldest).status, 200);
  ASSERT_TRUE(Eventually([&] {
    auto now = PodsOf(*fake_, "web-abc");
    return now.size() == 1 && now[0]["metadata"]["name"] != oldest;
  }));

  // Held pods start (and turn) not ready; readiness can be set per pod and released.
  ASSERT_TRUE(fake_->HoldPodsNotReady("hash=web-abc").ok());
  ASSERT_TRUE(Eventually([&] { return !status().contains("readyReplicas"); }));
  ASSERT_EQ(
      api_->Merge(std::string(kReplicaSets) + "/web-abc", {{"spec", {{"replicas", 2}}}}).status,
      200);
  ASSERT_TRUE(Eventually([&] { return PodsOf(*fake_, "web-abc").size() == 2; }));
  for (const json& pod : PodsOf(*fake_, "web-abc")) EXPECT_FALSE(Ready(pod));
  const std::string first = PodsOf(*fake_, "web-abc")[0]["metadata"]["name"];
  ASSERT_TRUE(fake_->SetPodReady("default", first, true).ok());
  ASSERT_TRUE(Eventually([&] { return status()["readyReplicas"] == 1; }));
  EXPECT_EQ(fake_->SetPodReady("default", "nope", true).code(), StatusCode::kNotFound);
  ASSERT_TRUE(fake_->ReleasePods("hash=web-abc").ok());
  ASSERT_TRUE(Eventually([&] { return status()["readyReplicas"] == 2; }));
  EXPECT_EQ(fake_->HoldPodsNotReady("in (").code(), StatusCode::kInvalidArgument);

  // The same over HTTP: hold, mark one pod not ready, release.
  ASSERT_EQ(api_->Call("POST", "/fake/hold-pods?selector=" + Escape("hash=web-abc")).status, 200);
  ASSERT_TRUE(Eventually([&] { return !status().contains("readyReplicas"); }));
  ASSERT_EQ(api_->Call("POST", "/fake/release-pods?selector=" + Escape("hash=web-abc")).status,
            200);
  ASSERT_TRUE(Eventually([&] { return status()["readyReplicas"] == 2; }));
  ASSERT_EQ(
      api_->Call("POST", "/fake/pod-ready?namespace=default&ready=false&name=" + first).status,
      200);
  ASSERT_TRUE(Eventually([&] { return status()["readyReplicas"] == 1; }));

  // Deleting the ReplicaSet takes its pods.
  ASSERT_EQ(api_->Delete(std::string(kReplicaSets) + "/web-abc").status, 200);
  ASSERT_TRUE(Eventually([&] { return fake_->Objects("pods")->empty(); }));
}

TEST_F(KubeApiServerFakeTest, ReplicaSetControllerCanBeOff) {
  KubeFakeOptions options;
  options.replicaset_controller = false;
  Restart(options);
  MustCreate(kReplicaSets, ReplicaSet("web-abc", 2));
  MustCreate(kConfigMaps, ConfigMap("after"));  // a later write: the controller had its chance
  EXPECT_TRUE(fake_->Objects("pods")->empty());
  EXPECT_FALSE(fake_->Object("replicasets", "default", "web-abc")->contains("status"));
}

// ---- the ramp-kube-fake binary ----

TEST(KubeFakeBinaryTest, ServesTheApiAndTheControlApiUntilSigterm) {
  const auto dir =
      std::filesystem::path(::testing::TempDir()) / ("kube_fake_bin_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string out = (dir / "out.txt").string();
  SubprocessOptions opts;
  opts.argv = {std::string(RAMP_BINARY_DIR) + "/tests/fakes/ramp-kube-fake",
               "--port",
               "0",
               "--token",
               "tok",
               "--bookmark-interval-ms",
               "50",
               "--history",
               "10"};
  opts.env = {"PATH=/usr/bin:/bin"};
  opts.output_path = out;
  auto proc = Subprocess::Start(opts);
  ASSERT_TRUE(proc.has_value()) << proc.error().ToString();
  std::string url;
  ASSERT_TRUE(Eventually([&] {
    std::ifstream in(out);
    std::getline(in, url);
    return url.starts_with("http://127.0.0.1:") && in.good();
  })) << url;
  KubeApi api(url, "tok");
  auto core = api.Get("/api/v1");
  ASSERT_EQ(core.status, 200) << core.error;
  auto put = api.Post("/fake/objects", Rollout("web"));
  ASSERT_EQ(put.status, 200) << put.raw;
  auto got = api.Get(std::string(kRollouts) + "/web");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["metadata"]["uid"], put.body["metadata"]["uid"]);
  ASSERT_EQ(api.Call("POST", "/fake/inject?status=502&count=1", "bad gateway").status, 200);
  EXPECT_EQ(api.Get(kRollouts).status, 502);
  EXPECT_EQ(api.Get("/fake/requests").body["requests"].size(), 3u);
  (*proc)->SignalGroup(SIGTERM);
  std::optional<int> status;
  ASSERT_TRUE(Eventually([&] { return (status = (*proc)->Poll()).has_value(); }));
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << DescribeWaitStatus(*status);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ramp::fakes
