// `kubectl ramp`: the build tree's kubectl-ramp symlink found by the real kubectl on PATH, run
// as a plugin, in Kubernetes mode without --kubeconfig (the kubeconfig kubectl passes on through
// KUBECONFIG), with usage text that says `kubectl ramp`.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "install/install_testing.h"
#include "tests/fakes/kube_apiserver_fake.h"

namespace ramp::install {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::RunResult;

const fs::path kBinDir = fs::path(RAMP_BINARY_DIR) / "src" / "cli";

class KubectlPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = testing::Kubectl();
    if (!kubectl) GTEST_SKIP() << "kubectl is not on PATH (scripts/setup installs it)";
    kubectl_ = *kubectl;
    tmp_ = std::make_unique<testing::TestDir>("kubectl_plugin");
    dir_ = tmp_->path();
    // Only the plugin on PATH besides the system's directories.
    plugins_ = dir_ / "bin";
    fs::create_directories(plugins_);
    fs::create_symlink(kBinDir / "kubectl-ramp", plugins_ / "kubectl-ramp");
  }

  std::vector<std::string> Env() const {
    return {"PATH=" + plugins_.string() + ":/usr/bin:/bin", "HOME=" + dir_.string(),
            "KUBECONFIG=" + (dir_ / "kubeconfig").string()};
  }

  RunResult Kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), kubectl_);
    return testing::Run(dir_, args, Env());
  }

  std::string kubectl_;
  std::unique_ptr<testing::TestDir> tmp_;
  fs::path dir_;
  fs::path plugins_;
};

TEST_F(KubectlPluginTest, TheBuildTreeHasTheSymlink) {
  const fs::path link = kBinDir / "kubectl-ramp";
  ASSERT_TRUE(fs::is_symlink(link)) << link;
  EXPECT_EQ(fs::read_symlink(link), fs::path("ramp"));
  EXPECT_EQ(::access(link.c_str(), X_OK), 0);
}

TEST_F(KubectlPluginTest, KubectlListsAndRunsThePlugin) {
  RunResult list = Kubectl({"plugin", "list"});
  EXPECT_NE(list.out.find((plugins_ / "kubectl-ramp").string()), std::string::npos)
      << list.out << list.err;

  RunResult version = Kubectl({"ramp", "version"});
  ASSERT_EQ(version.exit_code, 0) << version.err;
  RunResult direct = testing::Run(dir_, {(kBinDir / "ramp").string(), "version"}, Env());
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_EQ(version.out, direct.out);
  EXPECT_EQ(version.out.rfind("ramp ", 0), 0u) << version.out;

  RunResult help = Kubectl({"ramp", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_NE(help.out.find("kubectl ramp"), std::string::npos) << help.out;
  RunResult wrong = Kubectl({"ramp", "no-such-verb"});
  EXPECT_NE(wrong.exit_code, 0);
}

// Kubernetes mode is on: `kubectl ramp list rollouts` reads the cluster of KUBECONFIG.
TEST_F(KubectlPluginTest, VerbsActOnTheKubeconfigsCluster) {
  auto fake = fakes::KubeApiServerFake::Start();
  ASSERT_TRUE(fake.has_value()) << fake.error().ToString();
  testing::WriteKubeconfig(dir_ / "kubeconfig", (*fake)->Url());
  auto put = (*fake)->Put(json{{"apiVersion", "argoproj.io/v1alpha1"},
                               {"kind", "Rollout"},
                               {"metadata", {{"name", "plugged"}, {"namespace", "default"}}},
                               {"spec",
                                {{"replicas", 1},
                                 {"selector", {{"matchLabels", {{"app", "plugged"}}}}},
                                 {"strategy", {{"canary", json::object()}}}}}});
  ASSERT_TRUE(put.has_value()) << put.error().ToString();
  RunResult r = Kubectl({"ramp", "list", "rollouts"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("plugged"), std::string::npos) << r.out;
  bool asked = false;
  for (const auto& req : (*fake)->Requests()) {
    asked = asked || req.path == "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts";
  }
  EXPECT_TRUE(asked);
}

}  // namespace
}  // namespace ramp::install
