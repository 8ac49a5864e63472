// The Kubernetes install end to end:
//   (a) deploy/kubernetes/{install,crds,controller}.yaml are exactly what `ramp install-manifests`
//       prints now (run scripts/gen-kube-manifests when they are not);
//   (b) `kubectl kustomize deploy/kubernetes` renders the same objects as install.yaml;
//   (c) `kubectl apply -f install.yaml` against the API-server fake creates every object, and a
//       second apply changes nothing;
//   (d) the ClusterRole and Role grant RequiredPermissions() and nothing else;
// plus what the Deployment must say (flags, probes, security) and the command's options.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "install/install_manifests.h"
#include "install/install_testing.h"
#include "install/permissions.h"
#include "kube/kube_client.h"
#include "kube/leader_election.h"
#include "tests/fakes/kube_apiserver_fake.h"

namespace ramp::install {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Key;
using testing::ReadFile;
using testing::RunResult;
using testing::YamlDocuments;

const fs::path kDeployDir = fs::path(RAMP_SOURCE_DIR) / "deploy" / "kubernetes";
const std::string kRamp = std::string(RAMP_BINARY_DIR) + "/src/cli/ramp";

std::vector<std::string> Env(const fs::path& home) {
  return {"PATH=/usr/bin:/bin", "HOME=" + home.string()};
}

RunResult Ramp(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {kRamp, "install-manifests"});
  return testing::Run(dir, args, Env(dir));
}

json Find(const std::vector<json>& objects, const std::string& kind) {
  for (const json& o : objects) {
    if (o.value("kind", "") == kind) return o;
  }
  ADD_FAILURE() << "no " << kind;
  return json::object();
}

// (a) The committed files never drift from the generator.
TEST(InstallManifestsTest, CommittedFilesAreWhatRampPrintsNow) {
  testing::TestDir tmp("install_committed");
  const fs::path& dir = tmp.path();
  const std::vector<std::pair<std::string, std::vector<std::string>>> files = {
      {"install.yaml", {}}, {"crds.yaml", {"--crds-only"}}, {"controller.yaml", {"--no-crds"}}};
  for (const auto& [file, flags] : files) {
    RunResult r = Ramp(dir, flags);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(ReadFile(kDeployDir / file) == r.out)
        << "deploy/kubernetes/" << file << " differs from `ramp install-manifests"
        << (flags.empty() ? "" : " " + flags[0])
        << "`: run scripts/gen-kube-manifests (after building ramp) and commit the result";
  }
  // install.yaml is crds.yaml's objects followed by controller.yaml's.
  std::vector<json> all = YamlDocuments(ReadFile(kDeployDir / "install.yaml"), "install.yaml");
  std::vector<json> parts = YamlDocuments(ReadFile(kDeployDir / "crds.yaml"), "crds.yaml");
  for (json& o : YamlDocuments(ReadFile(kDeployDir / "controller.yaml"), "controller.yaml")) {
    parts.push_back(std::move(o));
  }
  EXPECT_EQ(all, parts);
  EXPECT_EQ(all.size(), 13u);
}

// The YAML reads back as exactly the objects the library builds.
TEST(InstallManifestsTest, YamlIsTheObjects) {
  InstallOptions o;
  o.version = "9.9.9";
  std::vector<json> objects;
  for (const auto& obj : InstallObjects(o)) objects.push_back(json::parse(obj.dump()));
  EXPECT_EQ(YamlDocuments(InstallYaml(o), "install.yaml"), objects);
}

// (b) kubectl apply -k installs the same as kubectl apply -f install.yaml.
TEST(InstallManifestsTest, KustomizationRendersTheSameObjects) {
  auto kubectl = testing::Kubectl();
  if (!kubectl) GTEST_SKIP() << "kubectl is not on PATH (scripts/setup installs it)";
  testing::TestDir tmp("install_kustomize");
  const fs::path& dir = tmp.path();
  RunResult r = testing::Run(dir, {*kubectl, "kustomize", kDeployDir.string()}, Env(dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, json> rendered;
  for (const json& o : YamlDocuments(r.out, "kustomize output")) rendered[Key(o)] = o;
  std::map<std::string, json> installed;
  for (const json& o : YamlDocuments(ReadFile(kDeployDir / "install.yaml"), "install.yaml")) {
    installed[Key(o)] = o;
  }
  ASSERT_EQ(rendered.size(), installed.size());
  for (const auto& [key, object] : installed) {
    ASSERT_TRUE(rendered.count(key)) << key << " is not in the kustomization";
    EXPECT_EQ(rendered[key], object) << key;
  }
}

// (c) kubectl apply against the API-server fake creates every object.
class KubectlApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = testing::Kubectl();
    if (!kubectl) GTEST_SKIP() << "kubectl is not on PATH (scripts/setup installs it)";
    kubectl_ = *kubectl;
    tmp_ = std::make_unique<testing::TestDir>("install_apply");
    dir_ = tmp_->path();
    auto f = fakes::KubeApiServerFake::Start();
    ASSERT_TRUE(f.has_value()) << f.error().ToString();
    fake_ = std::move(*f);
    // What the fake does not serve by itself.
    auto add = [&](fakes::KubeResource r) {
      const std::string what = r.kind;
      Status s = fake_->RegisterResource(std::move(r));
      ASSERT_TRUE(s.ok() || s.code() == StatusCode::kAlreadyExists) << what << ": " << s.ToString();
    };
    fakes::KubeResource crd;
    crd.group = "apiextensions.k8s.io";
    crd.version = "v1";
    crd.kind = "CustomResourceDefinition";
    crd.plural = "customresourcedefinitions";
    crd.namespaced = false;
    crd.short_names = {"crd", "crds"};
    crd.status_subresource = true;
    add(crd);
    for (const auto& [kind, plural, namespaced] :
         std::vector<std::tuple<std::string, std::string, bool>>{
             {"ClusterRole", "clusterroles", false},
             {"ClusterRoleBinding", "clusterrolebindings", false},
             {"Role", "roles", true},
             {"RoleBinding", "rolebindings", true}}) {
      fakes::KubeResource r;
      r.group = "rbac.authorization.k8s.io";
      r.version = "v1";
      r.kind = kind;
      r.plural = plural;
      r.namespaced = namespaced;
      add(r);
    }
    testing::WriteKubeconfig(dir_ / "kubeconfig", fake_->Url());
  }

  RunResult Kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kubectl_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env = Env(dir_);
    env.push_back("KUBECONFIG=" + (dir_ / "kubeconfig").string());
    return testing::Run(dir_, argv, env);
  }

  std::string kubectl_;
  std::unique_ptr<testing::TestDir> tmp_;
  fs::path dir_;
  std::unique_ptr<fakes::KubeApiServerFake> fake_;
};

std::string Plural(const json& o) {
  static const std::map<std::string, std::string> kPlural = {
      {"CustomResourceDefinition", "customresourcedefinitions"},
      {"Namespace", "namespaces"},
      {"ServiceAccount", "serviceaccounts"},
      {"ClusterRole", "clusterroles"},
      {"ClusterRoleBinding", "clusterrolebindings"},
      {"Role", "roles"},
      {"RoleBinding", "rolebindings"},
      {"Service", "services"},
      {"Deployment", "deployments"}};
  auto it = kPlural.find(o.value("kind", ""));
  return it == kPlural.end() ? "" : it->second;
}

TEST_F(KubectlApplyTest, ApplyCreatesEveryObjectAndASecondApplyChangesNothing) {
  const fs::path install = kDeployDir / "install.yaml";
  RunResult r = Kubectl({"apply", "-f", install.string(), "--validate=false"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const std::vector<json> objects = YamlDocuments(ReadFile(install), "install.yaml");
  ASSERT_FALSE(objects.empty());
  for (const json& o : objects) {
    SCOPED_TRACE(Key(o));
    const std::string plural = Plural(o);
    ASSERT_FALSE(plural.empty()) << "unexpected kind";
    const std::string group = o["apiVersion"].get<std::string>().find('/') == std::string::npos
                                  ? ""
                                  : o["apiVersion"].get<std::string>().substr(
                                        0, o["apiVersion"].get<std::string>().find('/'));
    const std::string resource = group.empty() ? plural : plural + "." + group;
    auto stored = fake_->Object(resource, o["metadata"].value("namespace", ""),
                                o["metadata"]["name"].get<std::string>());
    ASSERT_TRUE(stored.has_value()) << "not created";
    EXPECT_NE(r.out.find(fmt::format("{} created", o["metadata"]["name"].get<std::string>())),
              std::string::npos)
        << r.out;
    // Stored as written (kubectl adds only its last-applied annotation).
    for (const char* part : {"spec", "rules", "roleRef", "subjects"}) {
      if (o.contains(part)) {
        EXPECT_EQ((*stored)[part], o[part]) << part;
      }
    }
    EXPECT_EQ((*stored)["metadata"]["labels"], o["metadata"]["labels"]);
  }
  RunResult again = Kubectl({"apply", "-f", install.string(), "--validate=false"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  for (const json& o : objects) {
    EXPECT_NE(again.out.find(o["metadata"]["name"].get<std::string>() + " unchanged"),
              std::string::npos)
        << Key(o) << "\n"
        << again.out;
  }
}

// (d) RBAC: exactly RequiredPermissions().
using Triple = std::tuple<std::string, std::string, std::string>;  // group, resource, verb

std::set<Triple> Expand(const json& role, std::set<Triple>* named = nullptr) {
  std::set<Triple> out;
  for (const json& rule : role["rules"]) {
    for (const json& g : rule["apiGroups"]) {
      for (const json& res : rule["resources"]) {
        for (const json& v : rule["verbs"]) {
          EXPECT_NE(g, "*");
          EXPECT_NE(res, "*");
          EXPECT_NE(v, "*");
          Triple t{g, res, v};
          out.insert(t);
          if (named != nullptr && rule.contains("resourceNames")) named->insert(t);
        }
      }
    }
  }
  return out;
}

TEST(InstallManifestsTest, RolesGrantExactlyTheRequiredPermissions) {
  const std::vector<json> objects =
      YamlDocuments(ReadFile(kDeployDir / "install.yaml"), "install.yaml");
  const json cluster_role = Find(objects, "ClusterRole");
  const json role = Find(objects, "Role");
  std::set<Triple> want_cluster;
  std::set<Triple> want_namespace;
  for (const Permission& p : RequiredPermissions()) {
    EXPECT_FALSE(p.why.empty()) << p.resource;
    for (const std::string& v : p.verbs) {
      (p.scope == PermissionScope::kCluster ? want_cluster : want_namespace)
          .insert({p.api_group, p.resource, v});
    }
  }
  EXPECT_EQ(Expand(cluster_role), want_cluster);
  std::set<Triple> named;
  EXPECT_EQ(Expand(role, &named), want_namespace);
  // The Lease is only in the controller's namespace, and only the controller's Lease is read or
  // written there (create cannot be limited by name).
  for (const Triple& t : want_namespace) {
    EXPECT_EQ(want_cluster.count(t), 0u);
    if (std::get<2>(t) != "create") {
      EXPECT_EQ(named.count(t), 1u) << std::get<1>(t);
    }
  }
  for (const json& rule : role["rules"]) {
    if (rule.contains("resourceNames")) {
      EXPECT_EQ(rule["resourceNames"], json::array({kube::LeaderLockName("")}));
    }
  }
  EXPECT_TRUE(want_namespace.count({"coordination.k8s.io", "leases", "update"}));
  // Every resource ramp's client names is in the table.
  for (const kube::Resource* r :
       {&kube::Rollouts(), &kube::AnalysisRuns(), &kube::AnalysisTemplates(),
        &kube::ClusterAnalysisTemplates(), &kube::ReplicaSets(), &kube::Deployments(),
        &kube::Pods(), &kube::Services(), &kube::ConfigMaps(), &kube::Events(), &kube::Jobs(),
        &kube::Leases()}) {
    bool found = false;
    for (const Permission& p : RequiredPermissions()) {
      found = found || (p.api_group == r->group && p.resource == r->plural);
    }
    EXPECT_TRUE(found) << r->GroupResource() << " has no permission";
  }
  // The bindings give the roles to the Deployment's ServiceAccount.
  const json deployment = Find(objects, "Deployment");
  const std::string sa = deployment["spec"]["template"]["spec"]["serviceAccountName"];
  const json sa_object = Find(objects, "ServiceAccount");
  EXPECT_EQ(sa_object["metadata"]["name"], sa);
  for (const auto& [binding, target] :
       std::vector<std::pair<json, json>>{{Find(objects, "ClusterRoleBinding"), cluster_role},
                                          {Find(objects, "RoleBinding"), role}}) {
    EXPECT_EQ(binding["roleRef"]["kind"], target["kind"]);
    EXPECT_EQ(binding["roleRef"]["name"], target["metadata"]["name"]);
    EXPECT_EQ(binding["subjects"],
              json::array({{{"kind", "ServiceAccount"},
                            {"name", sa},
                            {"namespace", sa_object["metadata"]["namespace"]}}}));
  }
  EXPECT_EQ(role["metadata"]["namespace"], deployment["metadata"]["namespace"]);
}

// The Deployment runs the controller as the brief of docs/kubernetes.md says.
TEST(InstallManifestsTest, DeploymentRunsALeaderElectedControllerSafely) {
  const std::vector<json> objects =
      YamlDocuments(ReadFile(kDeployDir / "install.yaml"), "install.yaml");
  const json d = Find(objects, "Deployment");
  EXPECT_EQ(d["metadata"]["namespace"], kDefaultNamespace);
  EXPECT_EQ(d["spec"]["replicas"], 2);
  const json& pod = d["spec"]["template"];
  EXPECT_EQ(d["spec"]["selector"]["matchLabels"],
            json({{"app.kubernetes.io/name", "ramp"}, {"app.kubernetes.io/instance", "ramp"}}));
  for (const auto& [k, v] : d["spec"]["selector"]["matchLabels"].items()) {
    EXPECT_EQ(pod["metadata"]["labels"][k], v);
  }
  const json& spec = pod["spec"];
  ASSERT_EQ(spec["containers"].size(), 1u);
  const json& c = spec["containers"][0];
  EXPECT_EQ(c["image"], DefaultImage(RAMP_TEST_VERSION));
  std::vector<std::string> args = c["args"];
  args.insert(args.begin(), c["command"].begin(), c["command"].end());
  for (const char* want : {"ramp", "serve", "--platform", "kubernetes", "--leader-elect=true",
                           "--leader-election-namespace=$(POD_NAMESPACE)", "--state", kStateDir,
                           "--listen", "--healthz=0.0.0.0:8080"}) {
    EXPECT_NE(std::find(args.begin(), args.end(), want), args.end()) << want;
  }
  EXPECT_EQ(args[0], "ramp");
  EXPECT_EQ(args[1], "serve");
  auto after = [&](const std::string& flag) {
    auto it = std::find(args.begin(), args.end(), flag);
    return it == args.end() || it + 1 == args.end() ? std::string() : *(it + 1);
  };
  EXPECT_EQ(after("--listen"), fmt::format("0.0.0.0:{}", kApiPort));
  EXPECT_EQ(after("--platform"), "kubernetes");
  EXPECT_EQ(c["env"],
            json::array({{{"name", "POD_NAMESPACE"},
                          {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}}));
  EXPECT_EQ(
      c["ports"],
      json::array({{{"name", "http"}, {"containerPort", kApiPort}, {"protocol", "TCP"}},
                   {{"name", "healthz"}, {"containerPort", kHealthzPort}, {"protocol", "TCP"}}}));
  // The probes go to --healthz, which standbys answer too.
  for (const char* probe : {"livenessProbe", "readinessProbe"}) {
    EXPECT_EQ(c[probe]["httpGet"], json({{"path", "/healthz"}, {"port", "healthz"}})) << probe;
  }
  // Non-root, nothing writable but the state directory.
  EXPECT_EQ(spec["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(spec["securityContext"]["runAsUser"], kRunAsUser);
  EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(c["volumeMounts"], json::array({{{"name", "state"}, {"mountPath", kStateDir}}}));
  EXPECT_EQ(spec["volumes"], json::array({{{"name", "state"}, {"emptyDir", json::object()}}}));
  for (const char* kind : {"requests", "limits"}) {
    EXPECT_TRUE(c["resources"][kind].contains("cpu")) << kind;
    EXPECT_TRUE(c["resources"][kind].contains("memory")) << kind;
  }
  // Replicas on different nodes where there are several.
  const json& term =
      spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
  EXPECT_EQ(term["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname");
  EXPECT_EQ(term["podAffinityTerm"]["labelSelector"]["matchLabels"],
            d["spec"]["selector"]["matchLabels"]);
  // The metrics Service reaches the API port.
  const json svc = Find(objects, "Service");
  EXPECT_EQ(svc["spec"]["selector"], d["spec"]["selector"]["matchLabels"]);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], "http");
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], kApiPort);
  const json ns = Find(objects, "Namespace");
  EXPECT_EQ(ns["metadata"]["name"], kDefaultNamespace);
  EXPECT_EQ(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
}

TEST(InstallManifestsTest, FlagsNameTheObjects) {
  testing::TestDir tmp("install_flags");
  const fs::path& dir = tmp.path();
  RunResult r = Ramp(dir, {"--namespace", "team-a", "--image", "registry.example/ramp:1.2",
                           "--replicas", "3", "--instance-id", "blue"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<json> objects = YamlDocuments(r.out, "stdout");
  EXPECT_EQ(objects.size(), 13u);
  const json d = Find(objects, "Deployment");
  EXPECT_EQ(d["metadata"]["name"], "ramp-blue");
  EXPECT_EQ(d["metadata"]["namespace"], "team-a");
  EXPECT_EQ(d["spec"]["replicas"], 3);
  const json& c = d["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "registry.example/ramp:1.2");
  std::vector<std::string> args = c["args"];
  EXPECT_NE(std::find(args.begin(), args.end(), "--instance-id=blue"), args.end());
  const json role = Find(objects, "Role");
  EXPECT_EQ(role["metadata"]["namespace"], "team-a");
  EXPECT_EQ(role["rules"][1]["resourceNames"], json::array({kube::LeaderLockName("blue")}));
  EXPECT_EQ(Find(objects, "ClusterRoleBinding")["subjects"][0]["namespace"], "team-a");
  EXPECT_EQ(Find(objects, "Namespace")["metadata"]["name"], "team-a");
  EXPECT_NE(r.out.find("Generated by `ramp install-manifests --namespace team-a --image "
                       "registry.example/ramp:1.2 --replicas 3 --instance-id blue`"),
            std::string::npos)
      << r.out.substr(0, 300);

  r = Ramp(dir, {"--crds-only"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const json& o : YamlDocuments(r.out, "stdout")) {
    EXPECT_EQ(o["kind"], "CustomResourceDefinition");
  }
  r = Ramp(dir, {"--no-crds"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const json& o : YamlDocuments(r.out, "stdout")) {
    EXPECT_NE(o["kind"], "CustomResourceDefinition");
  }
}

TEST(InstallManifestsTest, BadFlagsAreRefused) {
  testing::TestDir tmp("install_bad_flags");
  const fs::path& dir = tmp.path();
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--namespace", "Team_A"}, "--namespace \"Team_A\": must be a DNS label"},
           {{"--instance-id", "9x"}, "--instance-id \"9x\": must start with a letter"},
           {{"--instance-id", std::string(50, 'a')}, "--instance-id"},
           {{"--replicas", "0"}, "--replicas 0: must be at least 1"},
           {{"--crds-only", "--no-crds"}, "excludes"}}) {
    RunResult r = Ramp(dir, args);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  InstallOptions o;
  o.version = "1";
  o.crds = false;
  o.controller = false;
  EXPECT_EQ(ValidateInstallOptions(o).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ramp::install
