// The harness of the Kubernetes-mode end-to-end tests: a real `ramp serve --platform kubernetes`
// process against the strict API-server fake (tests/fakes) with a kubeconfig and bearer token,
// blocking API calls, golden files of tests/integration/testdata/kube/ with $PLACEHOLDERs, and
// polling with deadlines. Test-only (kube_e2e_test, kube_router_e2e_test).
//
// Thread-safety: one test thread drives a fixture.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_testing.h"
#include "common/subprocess.h"
#include "engine/reconcile.h"
#include "install/permissions.h"
#include "platform/kubernetes/golden_testing.h"
#include "ramp/clock.h"
#include "spec/yaml_tree.h"
#include "tests/fakes/kube_apiserver_fake.h"
#include "tests/fakes/kube_test_util.h"

namespace ramp::kube_e2e {

namespace fs = std::filesystem;
using json = nlohmann::json;
using fakes::testing::KubeApi;
using platform::kube_objects::testing::DefaultIgnoredPaths;
using platform::kube_objects::testing::DiffAgainstGolden;

inline constexpr char kRollouts[] = "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts";
inline constexpr char kServices[] = "/api/v1/namespaces/default/services";

// RAMP_E2E_KUBECONFIG: the suite runs against that cluster (kind, k3s) instead of the fake,
// each test in a namespace of its own (docs/kubernetes.md, "Running the suite on a real
// cluster"). Empty: the fake.
inline std::string RealClusterKubeconfig() {
  const char* k = std::getenv("RAMP_E2E_KUBECONFIG");
  return k != nullptr ? k : "";
}

// The namespace tests run in: "default" on the fake, the test's own on a real cluster.
inline std::string& TestNamespace() {
  static std::string ns = "default";
  return ns;
}

inline bool Eventually(const std::function<bool()>& cond,
                       std::chrono::seconds limit = std::chrono::seconds(30)) {
  return fakes::testing::Eventually(cond, limit);
}

// A golden of testdata/kube/ with its $PLACEHOLDERs replaced.
inline json Golden(const std::string& name, const std::map<std::string, std::string>& values) {
  const std::string path =
      std::string(RAMP_SOURCE_DIR) + "/tests/integration/testdata/kube/" + name;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  // Longest names first, so $HASH does not eat $HASH1.
  std::vector<std::pair<std::string, std::string>> ordered(values.begin(), values.end());
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [key, value] : ordered) {
    for (size_t at = s.find("$" + key); at != std::string::npos; at = s.find("$" + key, at)) {
      s.replace(at, key.size() + 1, value);
    }
  }
  if (TestNamespace() != "default") {
    const std::string from = "namespace: default", to = "namespace: " + TestNamespace();
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }
  auto docs = spec::ParseDocuments(s, path);
  EXPECT_TRUE(docs.has_value()) << path;
  for (const spec::Document& d : *docs) {
    if (!d.root.IsNull()) return spec::ToJson(d.root);
  }
  ADD_FAILURE() << path << ": empty";
  return json();
}

// Conditions in type order, so a status compares whatever order the writer kept them in.
inline json SortConditions(json status) {
  if (status.contains("conditions") && status["conditions"].is_array()) {
    auto& c = status["conditions"];
    std::sort(c.begin(), c.end(), [](const json& a, const json& b) {
      return a.value("type", "") < b.value("type", "");
    });
  }
  return status;
}

inline ::testing::AssertionResult StatusMatches(const json& status, const std::string& golden,
                                                const std::map<std::string, std::string>& values) {
  // Times, and the step-list hash (the engine's, tested there), are not compared.
  std::vector<std::string> ignored = {
      "conditions[*].lastTransitionTime", "conditions[*].lastUpdateTime",
      "pauseConditions[*].startTime", "abortedAt", "currentStepHash"};
  auto diffs =
      DiffAgainstGolden(SortConditions(Golden(golden, values)), SortConditions(status), ignored);
  if (diffs.empty()) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure() << "status differs from " << golden << ":";
  for (const auto& d : diffs) r << "\n  " << d;
  return r << "\n  status: " << status.dump();
}

inline ::testing::AssertionResult ObjectMatches(const json& object, const std::string& golden,
                                                const std::map<std::string, std::string>& values) {
  auto diffs = DiffAgainstGolden(Golden(golden, values), object, DefaultIgnoredPaths());
  if (diffs.empty()) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure() << "object differs from " << golden << ":";
  for (const auto& d : diffs) r << "\n  " << d;
  return r << "\n  object: " << object.dump();
}

// Polls until `check` succeeds (an object reaches its golden) or the deadline passes; the last
// failure says what still differs.
inline ::testing::AssertionResult EventuallyMatches(
    const std::function<::testing::AssertionResult()>& check) {
  ::testing::AssertionResult last = check();
  fakes::testing::Eventually(
      [&] {
        last = check();
        return static_cast<bool>(last);
      },
      std::chrono::seconds(30));
  return last;
}

// The images of revisions 1 and 2. The fake never pulls them; a real cluster gets images that
// exist (RAMP_E2E_IMAGE_V1/V2, default the pause image) for the ghcr.io/example ones.
inline std::string ClusterImage(const std::string& image) {
  if (RealClusterKubeconfig().empty() || image.rfind("ghcr.io/example/", 0) != 0) return image;
  const bool v1 = image.size() >= 4 && image.compare(image.size() - 4, 4, ":1.0") == 0;
  const char* env = std::getenv(v1 ? "RAMP_E2E_IMAGE_V1" : "RAMP_E2E_IMAGE_V2");
  if (env != nullptr && *env != '\0') return env;
  return v1 ? "registry.k8s.io/pause:3.9" : "registry.k8s.io/pause:3.10";
}

inline json Template(const std::string& app, const std::string& raw_image) {
  const std::string image = ClusterImage(raw_image);
  return json{
      {"metadata", {{"labels", {{"app", app}}}}},
      {"spec",
       {{"containers", json::array({{{"name", app},
                                     {"image", image},
                                     {"ports", json::array({{{"containerPort", 8080}}})}}})}}}};
}

inline std::string Hash(const std::string& app, const std::string& image) {
  return engine::PodTemplateHash(Template(app, image), std::nullopt);
}

inline json Service(const std::string& name, const std::string& app) {
  return json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec",
               {{"selector", {{"app", app}}},
                {"ports", json::array({{{"port", 80}, {"targetPort", 8080}}})}}}};
}

inline json CanaryRollout() {
  return json{
      {"apiVersion", "argoproj.io/v1alpha1"},
      {"kind", "Rollout"},
      {"metadata", {{"name", "web"}, {"namespace", "default"}}},
      {"spec",
       {{"replicas", 4},
        {"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template", Template("web", "ghcr.io/example/web:1.0")},
        {"strategy",
         {{"canary",
           {{"stableService", "web-stable"},
            {"canaryService", "web-canary"},
            {"steps", json::array({{{"setWeight", 50}}, {{"pause", json::object()}}})}}}}}}}};
}

inline json BlueGreenRollout() {
  return json{{"apiVersion", "argoproj.io/v1alpha1"},
              {"kind", "Rollout"},
              {"metadata", {{"name", "shop"}, {"namespace", "default"}}},
              {"spec",
               {{"replicas", 2},
                {"selector", {{"matchLabels", {{"app", "shop"}}}}},
                {"template", Template("shop", "ghcr.io/example/shop:1.0")},
                {"strategy",
                 {{"blueGreen",
                   {{"activeService", "shop-active"},
                    {"previewService", "shop-preview"},
                    {"autoPromotionEnabled", false},
                    {"scaleDownDelaySeconds", 1}}}}}}}};
}

class KubeE2eFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           fmt::format("ramp-kube-e2e-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    real_kubeconfig_ = RealClusterKubeconfig();
    if (!real_kubeconfig_.empty()) {
      static int n = 0;
      TestNamespace() = fmt::format("ramp-e2e-{}-{}", ::getpid(), ++n);
      auto made =
          Kubectl({"create", "--validate=false"}, json{{"apiVersion", "v1"},
                                                       {"kind", "Namespace"},
                                                       {"metadata", {{"name", TestNamespace()}}}});
      ASSERT_EQ(made.code, 0) << made.out;
      std::vector<std::string> args = ServeArgs();
      for (const char* a : {"--namespace", "--leader-election-namespace"}) {
        args.push_back(a);
        args.push_back(TestNamespace());
      }
      StartServe(args);
      return;
    }
    fakes::KubeFakeOptions fo;
    fo.bearer_token = "e2e-token";
    fo.bookmark_interval = std::chrono::milliseconds(200);
    auto fake = fakes::KubeApiServerFake::Start(fo);
    ASSERT_TRUE(fake.has_value()) << fake.error().message();
    fake_ = std::move(*fake);
    api_ = std::make_unique<KubeApi>(fake_->Url(), "e2e-token");
    std::ofstream(dir_ / "kubeconfig") << fmt::format(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        "clusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\n"
        "users: [{{name: e2e, user: {{token: e2e-token}}}}]\n"
        "contexts: [{{name: fake, context: {{cluster: fake, user: e2e, namespace: default}}}}]\n",
        fake_->Url());
    StartServe(ServeArgs());
  }

  void TearDown() override {
    auto clock = NewSystemClock();
    if (serve_) serve_->Stop(*clock, std::chrono::seconds(10));
    if (HasFailure()) {
      std::ifstream log(dir_ / "serve.log");
      std::stringstream text;
      text << log.rdbuf();
      std::cerr << "---- ramp serve log ----\n" << text.str() << "------------------------\n";
    }
    if (!Real() && fake_ != nullptr) {
      EXPECT_TRUE(InstallRbacCoversTheController());
    }
    if (Real() && TestNamespace() != "default") {
      Kubectl({"delete", "namespace", TestNamespace(), "--wait=false"});
      TestNamespace() = "default";
    }
  }

  bool Real() const { return !real_kubeconfig_.empty(); }

  // Whether every request the controller sent the fake (User-Agent ramp/rollouts-controller) is
  // one the install's ClusterRole and Role grant (install/permissions.h): least privilege that
  // is still enough.
  ::testing::AssertionResult InstallRbacCoversTheController() {
    std::set<std::string> missing;
    for (const auto& r : fake_->Requests()) {
      auto ua = r.headers.find("user-agent");
      if (ua == r.headers.end() || ua->second != "ramp/rollouts-controller") continue;
      // /api/v1/[namespaces/NS/]RES[/NAME[/SUB]] or /apis/G/V/[namespaces/NS/]RES[/NAME[/SUB]]
      std::vector<std::string> parts;
      for (size_t at = 1; at <= r.path.size();) {
        size_t next = r.path.find('/', at);
        if (next == std::string::npos) next = r.path.size();
        parts.push_back(r.path.substr(at, next - at));
        at = next + 1;
      }
      size_t i = 0;
      std::string group;
      if (!parts.empty() && parts[0] == "api") {
        i = 2;
      } else if (parts.size() > 2 && parts[0] == "apis") {
        group = parts[1];
        i = 3;
      } else {
        continue;  // discovery
      }
      if (i + 1 < parts.size() && parts[i] == "namespaces" && i + 2 < parts.size()) i += 2;
      if (i >= parts.size()) continue;
      std::string resource = parts[i];
      const bool named = i + 1 < parts.size();
      if (i + 2 < parts.size()) resource += "/" + parts[i + 2];
      std::string verb;
      if (r.method == "GET") {
        verb = named ? "get"
               : r.query.find("watch=true") != std::string::npos ||
                       r.query.find("watch=1") != std::string::npos
                   ? "watch"
                   : "list";
      } else if (r.method == "POST") {
        verb = "create";
      } else if (r.method == "PUT") {
        verb = "update";
      } else if (r.method == "PATCH") {
        verb = "patch";
      } else if (r.method == "DELETE") {
        verb = named ? "delete" : "deletecollection";
      }
      bool granted = false;
      for (const install::Permission& p : install::RequiredPermissions()) {
        if (p.api_group == group && p.resource == resource &&
            std::find(p.verbs.begin(), p.verbs.end(), verb) != p.verbs.end()) {
          granted = true;
        }
      }
      if (!granted) missing.insert(fmt::format("{} {} ({} {})", verb, resource, r.method, r.path));
    }
    if (missing.empty()) return ::testing::AssertionSuccess();
    auto out = ::testing::AssertionFailure()
               << "the install's RBAC (src/install/permissions.h) does not grant:";
    for (const std::string& m : missing) out << "\n  " << m;
    return out;
  }

  struct KubectlOutput {
    int code = -1;
    std::string out;  // stdout and stderr
  };

  // Runs kubectl on the real cluster (`input`, when given, is passed as -f FILE).
  KubectlOutput Kubectl(std::vector<std::string> args, const json& input = json()) {
    static int n = 0;
    if (!input.is_null()) {
      const fs::path file = dir_ / fmt::format("kubectl-input-{}.json", ++n);
      std::ofstream(file) << input.dump();
      args.push_back("-f");
      args.push_back(file.string());
    }
    std::string cmd = "kubectl --request-timeout=30s --kubeconfig '" + real_kubeconfig_ +
                      "' --cache-dir '" + (dir_ / "kubectl-cache").string() + "'";
    for (const std::string& a : args) cmd += " '" + a + "'";
    cmd += " 2>&1";
    KubectlOutput r;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return r;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), pipe)) > 0) r.out.append(buf, got);
    const int status = pclose(pipe);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  // An object of the test's namespace by the fake's plural ("virtualservices"), or null.
  json Get(const std::string& resource, const std::string& name) {
    if (!Real()) return fake_->Object(resource, TestNamespace(), name).value_or(json());
    auto r = Kubectl({"get", resource, name, "-n", TestNamespace(), "-o", "json"});
    if (r.code != 0) return json();
    json j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json() : j;
  }

  // The objects of the test's namespace.
  std::vector<json> List(const std::string& resource) {
    if (!Real()) return fake_->Objects(resource, TestNamespace()).value_or(std::vector<json>{});
    auto r = Kubectl({"get", resource, "-n", TestNamespace(), "-o", "json"});
    json j = r.code == 0 ? json::parse(r.out, nullptr, false) : json();
    if (!j.is_object() || !j.contains("items")) return {};
    return j["items"].get<std::vector<json>>();
  }

  // Creates or replaces an object as a user would (an edit made behind ramp's back, too).
  void Put(json object) {
    if (!Real()) {
      auto r = fake_->Put(std::move(object));
      ASSERT_TRUE(r.has_value()) << r.error().message();
      return;
    }
    object["metadata"]["namespace"] = TestNamespace();
    object["metadata"].erase("resourceVersion");
    const bool exists =
        !Get(object.value("kind", ""), object["metadata"].value("name", "")).is_null();
    auto r = Kubectl({exists ? "replace" : "create", "--validate=false"}, object);
    ASSERT_EQ(r.code, 0) << r.out;
  }

  // Flags the fixture's controller starts with, besides the kubeconfig, state and listen ones.
  virtual std::vector<std::string> ServeArgs() const { return {}; }

  void StartServe(const std::vector<std::string>& extra = {}) {
    auto p = StartController("state", extra);
    ASSERT_TRUE(p) << "ramp serve did not start";
    serve_ = std::move(p);
  }

  // One `ramp serve --platform kubernetes` process with its own state directory and log.
  std::unique_ptr<Subprocess> StartController(const std::string& name,
                                              const std::vector<std::string>& extra) {
    SubprocessOptions o;
    o.argv = {std::string(RAMP_BINARY_DIR) + "/src/cli/ramp",
              "serve",
              "--platform",
              "kubernetes",
              "--kubeconfig",
              Real() ? real_kubeconfig_ : (dir_ / "kubeconfig").string(),
              "--state",
              (dir_ / name).string(),
              "--listen",
              "127.0.0.1:0",
              "--resync",
              "0.2"};
    o.argv.insert(o.argv.end(), extra.begin(), extra.end());
    o.env = {"PATH=/usr/bin:/bin", "HOME=" + dir_.string()};
    o.output_path = (dir_ / "serve.log").string();
    auto p = Subprocess::Start(o);
    EXPECT_TRUE(p.has_value()) << p.error().message();
    return p ? std::move(*p) : nullptr;
  }

  // The holder of ramp's leader Lease, "" when none.
  std::string LeaseHolder() {
    json lease = Get("leases", "ramp-controller-lock");
    if (lease.is_null()) return "";
    return lease["spec"].value("holderIdentity", "");
  }

  json Rollout(const std::string& name) {
    if (Real()) return Get("rollouts.argoproj.io", name);
    return api_->Get(std::string(kRollouts) + "/" + name).body;
  }
  json Status(const std::string& name) { return Rollout(name).value("status", json::object()); }
  json ReplicaSet(const std::string& name) { return Get("replicasets", name); }
  json Svc(const std::string& name) { return Get("services", name); }
  std::string Selected(const std::string& service) {
    return Svc(service)
        .value("spec", json::object())
        .value("selector", json::object())
        .value("rollouts-pod-template-hash", "");
  }

  // Waits for phase (and, when given, the step index) with a readable failure.
  ::testing::AssertionResult WaitFor(const std::string& name, const std::string& phase,
                                     std::optional<int> step = std::nullopt) {
    bool ok = Eventually([&] {
      json s = Status(name);
      return s.value("phase", "") == phase &&
             (!step || (s.contains("currentStepIndex") && s["currentStepIndex"] == *step));
    });
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << name << " never reached " << phase << (step ? fmt::format(" at step {}", *step) : "")
           << "; status: " << Status(name).dump();
  }

  void Create(const std::string& path, const json& object) {
    if (Real()) return Put(object);
    auto r = api_->Post(path, object);
    ASSERT_EQ(r.status, 201) << r.raw;
  }
  void SetImage(const std::string& rollout, const std::string& image) {
    const json patch = json::array({{{"op", "replace"},
                                     {"path", "/spec/template/spec/containers/0/image"},
                                     {"value", ClusterImage(image)}}});
    if (Real()) {
      auto k = Kubectl({"patch", "rollouts.argoproj.io", rollout, "-n", TestNamespace(), "--type",
                        "json", "-p", patch.dump()});
      ASSERT_EQ(k.code, 0) << k.out;
      return;
    }
    auto r = api_->JsonPatch(std::string(kRollouts) + "/" + rollout, patch);
    ASSERT_EQ(r.status, 200) << r.raw;
  }
  // A status patch as `kubectl argo rollouts` sends it (merge patch on /status).
  void PatchStatus(const std::string& rollout, const json& status) {
    if (Real()) {
      auto k = Kubectl({"patch", "rollouts.argoproj.io", rollout, "-n", TestNamespace(),
                        "--subresource=status", "--type", "merge", "-p",
                        json{{"status", status}}.dump()});
      ASSERT_EQ(k.code, 0) << k.out;
      return;
    }
    auto r =
        api_->Merge(std::string(kRollouts) + "/" + rollout + "/status", json{{"status", status}});
    ASSERT_EQ(r.status, 200) << r.raw;
  }

  fs::path dir_;
  std::string real_kubeconfig_;  // RAMP_E2E_KUBECONFIG; empty: the fake
  std::unique_ptr<fakes::KubeApiServerFake> fake_;
  std::unique_ptr<KubeApi> api_;
  std::unique_ptr<Subprocess> serve_;
};

}  // namespace ramp::kube_e2e
