// Wire compatibility of KubeApiServerFake with an independent client: the `kubectl` binary on
// PATH, pointed at the fake by a temporary kubeconfig. Only flags that exist since kubectl 1.20
// (Debian 12's kubernetes-client) are used, so the test holds from 1.20 to current releases.
//
// kubectl behaviour the fake relies on (checked here): kubectl >= 1.27 asks /api and /apis for
// aggregated discovery and falls back to per-group documents when the answer is plain
// application/json; `get` asks for server-side Tables and prints the plain list client-side
// (NAME, AGE) when it gets one; nothing needs /openapi (which answers 404).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/subprocess.h"
#include "tests/fakes/kube_apiserver_fake.h"
#include "tests/fakes/kube_test_util.h"

namespace ramp::fakes {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::KubeApi;
using ::testing::Not;
using namespace std::chrono_literals;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

json Rollout(const std::string& name, json labels, int replicas = 3) {
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Rollout"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
          {"spec", {{"replicas", replicas}, {"selector", {{"matchLabels", labels}}}}}};
}

json Service(const std::string& name, json labels) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
          {"spec", {{"selector", labels}, {"ports", {{{"port", 80}, {"targetPort", 8080}}}}}}};
}

struct KubectlResult {
  int exit_code = -1;  // -1: did not finish in time
  std::string out;
  std::string err;
};

// A kubectl process running in the background (watches); stdout and stderr go to files.
struct BackgroundKubectl {
  std::unique_ptr<Subprocess> process;
  fs::path out;
  fs::path err;
  std::string Output() const { return ReadFile(out); }
};

class KubectlWireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("PATH");
    auto found = FindExecutable("kubectl", path != nullptr ? path : "/usr/bin:/bin");
    if (!found.has_value() || ::access(found->c_str(), X_OK) != 0) {
      GTEST_SKIP() << "kubectl is not on PATH; scripts/setup installs it (Debian's "
                      "kubernetes-client package)";
    }
    kubectl_ = *found;
    dir_ = fs::path(::testing::TempDir()) /
           fmt::format("kubectl_wire_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    background_.reserve(8);  // tests hold references to its elements
    StartFake({});
  }

  void TearDown() override {
    background_.clear();  // kills what is still running
    fake_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // (Re)starts the fake and writes a kubeconfig for it.
  void StartFake(KubeFakeOptions options, const std::string& ca_file = "",
                 const std::string& token = "unused-token") {
    fake_.reset();
    auto f = KubeApiServerFake::Start(std::move(options));
    ASSERT_TRUE(f.has_value()) << f.error().ToString();
    fake_ = std::move(*f);
    WriteKubeconfig(ca_file, token);
  }

  void WriteKubeconfig(const std::string& ca_file, const std::string& token) {
    std::ofstream(dir_ / "kubeconfig")
        << "apiVersion: v1\n"
           "kind: Config\n"
           "clusters:\n"
           "- name: fake\n"
           "  cluster:\n"
        << "    server: " << fake_->Url() << "\n"
        << (ca_file.empty() ? "" : "    certificate-authority: " + ca_file + "\n")
        << "contexts:\n"
           "- name: fake\n"
           "  context:\n"
           "    cluster: fake\n"
           "    namespace: default\n"
           "    user: tester\n"
           "current-context: fake\n"
           "users:\n"
           "- name: tester\n"
           "  user:\n"
        << "    token: " << token << "\n";
  }

  // Starts kubectl with `args`; its stdout and stderr go to their own files.
  BackgroundKubectl Start(const std::vector<std::string>& args) {
    const int n = runs_++;
    BackgroundKubectl b;
    b.out = dir_ / fmt::format("out{}.txt", n);
    b.err = dir_ / fmt::format("err{}.txt", n);
    SubprocessOptions opts;
    // The shell only splits stderr off (Subprocess sends both streams to one place), then
    // becomes kubectl.
    opts.argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>\"$KUBECTL_TEST_STDERR\"", kubectl_};
    opts.argv.insert(opts.argv.end(), args.begin(), args.end());
    opts.env = {"PATH=/usr/bin:/bin", "HOME=" + dir_.string(),
                "KUBECONFIG=" + (dir_ / "kubeconfig").string(),
                "KUBECTL_TEST_STDERR=" + b.err.string()};
    opts.output_path = b.out.string();
    auto p = Subprocess::Start(opts);
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    if (p.has_value()) b.process = std::move(*p);
    return b;
  }

  // Runs kubectl to completion (at most 60 s).
  KubectlResult Run(const std::vector<std::string>& args) {
    BackgroundKubectl b = Start(args);
    KubectlResult r;
    if (b.process == nullptr) return r;
    std::optional<int> status;
    if (Eventually([&] { return (status = b.process->Poll()).has_value(); }, 60s)) {
      r.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
    } else {
      b.process->Kill();
    }
    r.out = ReadFile(b.out);
    r.err = ReadFile(b.err);
    return r;
  }

  json RunJson(const std::vector<std::string>& args) {
    KubectlResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  void MustPut(const json& obj) {
    auto r = fake_->Put(obj);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }

  json Stored(const std::string& resource, const std::string& name) {
    auto o = fake_->Object(resource, "default", name);
    return o.has_value() ? *o : json();
  }

  std::string kubectl_;
  fs::path dir_;
  int runs_ = 0;
  std::unique_ptr<KubeApiServerFake> fake_;
  std::vector<BackgroundKubectl> background_;
};

#define EXPECT_OK(r) EXPECT_EQ((r).exit_code, 0) << (r).err << (r).out

TEST_F(KubectlWireTest, GetPrintsRolloutsAndServicesInEveryFormat) {
  MustPut(Rollout("web", {{"app", "web"}}));
  MustPut(Service("web-svc", {{"app", "web"}}));

  json ro = RunJson({"get", "rollout", "web", "-o", "json"});
  EXPECT_EQ(ro["kind"], "Rollout");
  EXPECT_EQ(ro["metadata"]["name"], "web");
  EXPECT_EQ(ro["metadata"]["uid"], Stored("rollouts", "web")["metadata"]["uid"]);
  EXPECT_EQ(ro["spec"]["replicas"], 3);
  json svc = RunJson({"get", "svc", "web-svc", "-o", "json"});
  EXPECT_EQ(svc["kind"], "Service");
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 80);

  KubectlResult yaml = Run({"get", "ro", "web", "-o", "yaml"});
  EXPECT_OK(yaml);
  EXPECT_THAT(yaml.out, HasSubstr("kind: Rollout"));
  EXPECT_THAT(yaml.out, HasSubstr("name: web"));
  EXPECT_THAT(yaml.out, HasSubstr("replicas: 3"));
  KubectlResult svc_yaml = Run({"get", "services", "-o", "yaml"});
  EXPECT_OK(svc_yaml);
  EXPECT_THAT(svc_yaml.out, HasSubstr("name: web-svc"));

  KubectlResult table = Run({"get", "rollouts"});
  EXPECT_OK(table);
  EXPECT_THAT(table.out, HasSubstr("NAME"));
  EXPECT_THAT(table.out, HasSubstr("web"));
  KubectlResult svc_table = Run({"get", "service", "web-svc"});
  EXPECT_OK(svc_table);
  EXPECT_THAT(svc_table.out, HasSubstr("web-svc"));
  KubectlResult all = Run({"get", "rollouts.argoproj.io", "--all-namespaces"});
  EXPECT_OK(all);
  EXPECT_THAT(all.out, HasSubstr("NAMESPACE"));
  EXPECT_THAT(all.out, HasSubstr("default"));

  KubectlResult missing = Run({"get", "rollout", "nope"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("rollouts.argoproj.io \"nope\" not found"));
}

TEST_F(KubectlWireTest, ListsWithLabelSelectors) {
  MustPut(Rollout("a", {{"app", "web"}, {"tier", "front"}}));
  MustPut(Rollout("b", {{"app", "web"}, {"tier", "back"}}));
  MustPut(Rollout("c", {{"app", "api"}}));
  MustPut(Service("s1", {{"app", "web"}}));
  MustPut(Service("s2", {{"app", "api"}}));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"app=web", "rollout.argoproj.io/a\nrollout.argoproj.io/b\n"},
      {"tier in (back)", "rollout.argoproj.io/b\n"},
      {"!tier", "rollout.argoproj.io/c\n"},
      {"app!=web", "rollout.argoproj.io/c\n"},
      {"app=web,tier=front", "rollout.argoproj.io/a\n"},
  };
  for (const auto& [selector, want] : cases) {
    KubectlResult r = Run({"get", "rollouts", "-l", selector, "-o", "name"});
    EXPECT_OK(r);
    EXPECT_EQ(r.out, want) << selector;
  }
  KubectlResult svc = Run({"get", "svc", "-l", "app=api", "-o", "name"});
  EXPECT_OK(svc);
  EXPECT_EQ(svc.out, "service/s2\n");
  bool sent_selector = false;
  for (const KubeRequestRecord& r : fake_->Requests()) {
    if (r.path == "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts" &&
        r.query.find("labelSelector=") != std::string::npos) {
      sent_selector = true;
    }
  }
  EXPECT_TRUE(sent_selector);
  KubectlResult bad = Run({"get", "rollouts", "-l", "app in (web"});
  EXPECT_NE(bad.exit_code, 0);
}

TEST_F(KubectlWireTest, WatchShowsChangesAsTheyHappen) {
  MustPut(Rollout("web", {{"app", "web"}}));
  KubeApi api(fake_->Url());

  // Table output: a new object appears as a new line.
  background_.push_back(Start({"get", "rollouts", "-w"}));
  BackgroundKubectl& table = background_.back();
  ASSERT_TRUE(Eventually([&] { return fake_->OpenWatches() == 1; }, 60s)) << table.Output();
  ASSERT_TRUE(Eventually([&] { return table.Output().find("web") != std::string::npos; }));
  MustPut(Rollout("web-two", {{"app", "web"}}));
  EXPECT_TRUE(Eventually([&] { return table.Output().find("web-two") != std::string::npos; }))
      << table.Output();

  // JSON output of one object: a patch shows up as the new object.
  background_.push_back(Start({"get", "rollout", "web", "--watch", "-o", "json"}));
  BackgroundKubectl& one = background_.back();
  ASSERT_TRUE(Eventually([&] { return fake_->OpenWatches() == 2; }, 60s)) << one.Output();
  auto patched = api.Merge("/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web",
                           {{"spec", {{"replicas", 7}}}});
  ASSERT_EQ(patched.status, 200) << patched.raw;
  EXPECT_TRUE(Eventually([&] { return one.Output().find("\"replicas\": 7") != std::string::npos; }))
      << one.Output();

  // Event types on request.
  background_.push_back(Start({"get", "rollouts", "-w", "--output-watch-events"}));
  BackgroundKubectl& events = background_.back();
  ASSERT_TRUE(Eventually([&] { return fake_->OpenWatches() == 3; }, 60s)) << events.Output();
  ASSERT_EQ(api.Delete("/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web-two").status,
            200);
  EXPECT_TRUE(Eventually([&] { return events.Output().find("DELETED") != std::string::npos; }))
      << events.Output();

  for (BackgroundKubectl& b : background_) b.process->Kill();
  EXPECT_TRUE(Eventually([&] { return fake_->OpenWatches() == 0; }));
}

TEST_F(KubectlWireTest, PatchMergeAndJsonChangeTheStoredObjects) {
  MustPut(Rollout("web", {{"app", "web"}}));
  MustPut(Service("web-svc", {{"app", "web"}}));

  KubectlResult merge = Run({"patch", "rollout", "web", "--type", "merge", "-p",
                             R"({"spec":{"replicas":5},"metadata":{"labels":{"team":"a"}}})"});
  EXPECT_OK(merge);
  EXPECT_THAT(merge.out, HasSubstr("patched"));
  EXPECT_EQ(Stored("rollouts", "web")["spec"]["replicas"], 5);
  EXPECT_EQ(Stored("rollouts", "web")["metadata"]["labels"]["team"], "a");
  EXPECT_EQ(Stored("rollouts", "web")["metadata"]["generation"], 2);

  KubectlResult json_patch = Run({"patch", "ro", "web", "--type", "json", "-p",
                                  R"([{"op":"replace","path":"/spec/replicas","value":2},)"
                                  R"({"op":"remove","path":"/metadata/labels/team"}])"});
  EXPECT_OK(json_patch);
  EXPECT_EQ(Stored("rollouts", "web")["spec"]["replicas"], 2);
  EXPECT_FALSE(Stored("rollouts", "web")["metadata"]["labels"].contains("team"));

  KubectlResult svc_merge = Run({"patch", "service", "web-svc", "--type", "merge", "-p",
                                 R"({"spec":{"ports":[{"port":81,"targetPort":8081}]}})"});
  EXPECT_OK(svc_merge);
  EXPECT_EQ(Stored("services", "web-svc")["spec"]["ports"],
            json::parse(R"([{"port":81,"targetPort":8081}])"));
  KubectlResult svc_json = Run({"patch", "svc", "web-svc", "--type", "json", "-p",
                                R"([{"op":"add","path":"/metadata/labels/zone","value":"b"}])"});
  EXPECT_OK(svc_json);
  EXPECT_EQ(Stored("services", "web-svc")["metadata"]["labels"]["zone"], "b");
  // kubectl's default (strategic merge) works on a built-in type and is refused for a CRD.
  KubectlResult svc_strategic =
      Run({"patch", "svc", "web-svc", "-p", R"({"metadata":{"labels":{"tier":"x"}}})"});
  EXPECT_OK(svc_strategic);
  EXPECT_EQ(Stored("services", "web-svc")["metadata"]["labels"]["tier"], "x");
  KubectlResult ro_strategic =
      Run({"patch", "ro", "web", "-p", R"({"metadata":{"labels":{"tier":"x"}}})"});
  EXPECT_NE(ro_strategic.exit_code, 0);
  EXPECT_THAT(ro_strategic.err, HasSubstr("unknown format"));

  // A failing JSON-patch test is an error and changes nothing.
  const json before = Stored("rollouts", "web");
  KubectlResult failed = Run({"patch", "ro", "web", "--type", "json", "-p",
                              R"([{"op":"test","path":"/spec/replicas","value":99},)"
                              R"({"op":"replace","path":"/spec/replicas","value":99}])"});
  EXPECT_NE(failed.exit_code, 0);
  EXPECT_EQ(Stored("rollouts", "web"), before);

  std::set<std::string> types;
  for (const KubeRequestRecord& r : fake_->Requests()) {
    if (r.method == "PATCH") types.insert(r.content_type);
  }
  EXPECT_TRUE(types.count("application/merge-patch+json"));
  EXPECT_TRUE(types.count("application/json-patch+json"));
  EXPECT_TRUE(types.count("application/strategic-merge-patch+json"));
}

TEST_F(KubectlWireTest, ScaleGoesThroughTheScaleSubresource) {
  MustPut(Rollout("web", {{"app", "web"}}));
  KubectlResult r = Run({"scale", "rollout", "web", "--replicas=4"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("scaled"));
  EXPECT_EQ(Stored("rollouts", "web")["spec"]["replicas"], 4);
  bool via_scale = false;
  for (const KubeRequestRecord& req : fake_->Requests()) {
    if ((req.method == "PUT" || req.method == "PATCH") && req.path.ends_with("/web/scale")) {
      via_scale = true;
    }
  }
  EXPECT_TRUE(via_scale);
}

TEST_F(KubectlWireTest, DeleteRemovesObjectsAndTheirDependents) {
  MustPut(Rollout("web", {{"app", "web"}}));
  KubectlResult r = Run({"delete", "rollout", "web"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("\"web\" deleted"));
  EXPECT_TRUE(Stored("rollouts", "web").is_null());

  // A ReplicaSet's pods (made by the simulated controller) go with it.
  MustPut(json::parse(R"({"apiVersion": "apps/v1", "kind": "ReplicaSet",
      "metadata": {"name": "web-1", "namespace": "default"},
      "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "c", "image": "i"}]}}}})"));
  ASSERT_TRUE(Eventually([&] { return fake_->Objects("pods")->size() == 2; }));
  KubectlResult pods = Run({"get", "pods", "-l", "app=web", "-o", "name"});
  EXPECT_OK(pods);
  EXPECT_THAT(pods.out, HasSubstr("pod/web-1-"));
  EXPECT_OK(Run({"delete", "replicaset", "web-1"}));
  EXPECT_TRUE(Eventually([&] { return fake_->Objects("pods")->empty(); }));

  KubectlResult missing = Run({"delete", "svc", "nothere"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("services \"nothere\" not found"));
}

TEST_F(KubectlWireTest, ApiResourcesListsTheResourceTable) {
  KubectlResult r = Run({"api-resources"});
  EXPECT_OK(r);
  bool rollouts = false;
  bool cat = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> w{std::istream_iterator<std::string>(words), {}};
    if (w ==
        std::vector<std::string>{"rollouts", "ro", "argoproj.io/v1alpha1", "true", "Rollout"}) {
      rollouts = true;
    }
    if (w == std::vector<std::string>{"clusteranalysistemplates", "cat", "argoproj.io/v1alpha1",
                                      "false", "ClusterAnalysisTemplate"}) {
      cat = true;
    }
  }
  EXPECT_TRUE(rollouts) << r.out;
  EXPECT_TRUE(cat) << r.out;
  EXPECT_THAT(r.out, HasSubstr("virtualservices"));
  EXPECT_THAT(r.out, HasSubstr("httproutes"));
  KubectlResult names = Run({"api-resources", "--api-group=argoproj.io", "-o", "name"});
  EXPECT_OK(names);
  EXPECT_THAT(names.out, HasSubstr("rollouts.argoproj.io\n"));
  EXPECT_THAT(names.out, HasSubstr("analysisruns.argoproj.io\n"));
  EXPECT_THAT(names.out, Not(HasSubstr("deployments")));

  // Discovery went through the legacy per-group documents (after an aggregated request on
  // kubectl >= 1.27) and never needed OpenAPI.
  bool group_document = false;
  for (const KubeRequestRecord& req : fake_->Requests()) {
    if (req.path == "/apis/argoproj.io/v1alpha1") group_document = true;
  }
  EXPECT_TRUE(group_document);
}

TEST_F(KubectlWireTest, HttpsWithABearerToken) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the openssl CLI is not installed: cannot make a test certificate";
  }
  const std::string cmd = fmt::format(
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '{0}/key.pem' -out '{0}/cert.pem' "
      ">/dev/null 2>&1",
      dir_.string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  KubeFakeOptions options;
  options.tls_cert_file = (dir_ / "cert.pem").string();
  options.tls_key_file = (dir_ / "key.pem").string();
  options.bearer_token = "kube-wire-token";
  StartFake(options, (dir_ / "cert.pem").string(), "kube-wire-token");
  ASSERT_TRUE(fake_->Url().starts_with("https://")) << fake_->Url();
  MustPut(Rollout("web", {{"app", "web"}}));
  KubectlResult ok = Run({"get", "rollouts", "-o", "name"});
  EXPECT_OK(ok);
  EXPECT_EQ(ok.out, "rollout.argoproj.io/web\n");
  for (const KubeRequestRecord& r : fake_->Requests()) {
    EXPECT_EQ(r.headers.count("authorization") ? r.headers.at("authorization") : "",
              "Bearer kube-wire-token")
        << r.path;
  }

  WriteKubeconfig((dir_ / "cert.pem").string(), "wrong-token");
  fs::remove_all(dir_ / ".kube");  // no cached discovery
  KubectlResult denied = Run({"get", "rollouts"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.err, HasSubstr("must be logged in"));
}

}  // namespace
}  // namespace ramp::fakes
