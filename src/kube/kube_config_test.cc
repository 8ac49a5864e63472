// Kubeconfig and in-cluster configuration: contexts, credentials in every form kubectl accepts,
// merged KUBECONFIG lists, and clear errors for what ramp refuses.
#include "kube/kube_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace ramp::kube {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ramp-kubeconfig-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr char kTwoContexts[] = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
- name: prod-cluster
  cluster:
    server: https://prod.example:443
    insecure-skip-tls-verify: true
users:
- name: alice
  user:
    token: abc123
- name: bob
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
contexts:
- name: dev
  context: {cluster: dev-cluster, user: alice, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: bob}
)";

TEST(KubeConfigTest, CurrentContextWithTokenAndCaData) {
  auto c = ParseKubeconfig(kTwoContexts, "cfg", "/tmp", "");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->server, "https://10.0.0.1:6443");
  EXPECT_EQ(c->token, "abc123");
  EXPECT_EQ(c->ca_pem, "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(c->namespace_, "team-a");
  EXPECT_EQ(c->context, "dev");
  EXPECT_FALSE(c->insecure_skip_verify);
}

TEST(KubeConfigTest, NamedContextWithClientCertificate) {
  auto c = ParseKubeconfig(kTwoContexts, "cfg", "/tmp", "prod");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->server, "https://prod.example:443");
  EXPECT_TRUE(c->insecure_skip_verify);
  EXPECT_EQ(c->client_cert_pem, "cert");
  EXPECT_EQ(c->client_key_pem, "key");
  EXPECT_EQ(c->namespace_, "default");
}

TEST(KubeConfigTest, UnknownContextNamesTheKnownOnes) {
  auto c = ParseKubeconfig(kTwoContexts, "cfg", "/tmp", "staging");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("context \"staging\" not found (known: dev, prod)"),
            std::string::npos)
      << c.error().message();
}

TEST(KubeConfigTest, ExecPluginsAreRefusedByName) {
  auto c = ParseKubeconfig(R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)",
                           "cfg", "/tmp", "");
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("user \"u\": exec and auth-provider"), std::string::npos)
      << c.error().message();
}

TEST(KubeConfigTest, BadInputGivesErrorsThatSayWhere) {
  EXPECT_FALSE(ParseKubeconfig("clusters: [1, 2", "cfg", "/tmp", "").has_value());
  auto no_server = ParseKubeconfig(R"(current-context: x
clusters: [{name: c, cluster: {}}]
contexts: [{name: x, context: {cluster: c}}]
)",
                                   "cfg", "/tmp", "");
  ASSERT_FALSE(no_server.has_value());
  EXPECT_NE(no_server.error().message().find("cluster \"c\": no server"), std::string::npos);
  auto bad_data = ParseKubeconfig(R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h", certificate-authority-data: "%%%"}}]
contexts: [{name: x, context: {cluster: c}}]
)",
                                  "cfg", "/tmp", "");
  ASSERT_FALSE(bad_data.has_value());
  EXPECT_NE(bad_data.error().message().find("certificate-authority-data is not base64"),
            std::string::npos);
  auto missing_user = ParseKubeconfig(R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h"}}]
contexts: [{name: x, context: {cluster: c, user: ghost}}]
)",
                                      "cfg", "/tmp", "");
  ASSERT_FALSE(missing_user.has_value());
  EXPECT_NE(missing_user.error().message().find("user \"ghost\", which is not defined"),
            std::string::npos);
}

TEST(KubeConfigTest, FilesAreReadRelativeToTheKubeconfig) {
  TempDir dir;
  dir.Write("ca.crt", "CA");
  dir.Write("token", "tok\n");
  dir.Write("client.crt", "CRT");
  dir.Write("client.key", "KEY");
  const std::string path = dir.Write("config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h", certificate-authority: ca.crt}}]
users: [{name: u, user: {tokenFile: token, client-certificate: client.crt, client-key: client.key}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto c = LoadKubeconfig(path, "");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->ca_pem, "CA");
  EXPECT_EQ(c->token_file, dir.path() + "/token");
  EXPECT_EQ(c->client_cert_pem, "CRT");
  EXPECT_EQ(c->client_key_pem, "KEY");
}

TEST(KubeConfigTest, KubeconfigListsMergeFirstWins) {
  TempDir dir;
  const std::string a = dir.Write("a", R"(current-context: one
clusters: [{name: c, cluster: {server: "https://first"}}]
contexts: [{name: one, context: {cluster: c}}]
)");
  const std::string b = dir.Write("b", R"(current-context: two
clusters: [{name: c, cluster: {server: "https://second"}}, {name: d, cluster: {server: "https://d"}}]
contexts: [{name: two, context: {cluster: d}}]
)");
  auto c = LoadKubeconfig(a + ":" + dir.path() + "/missing:" + b, "");
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->context, "one");
  EXPECT_EQ(c->server, "https://first");
  auto two = LoadKubeconfig(a + ":" + b, "two");
  ASSERT_TRUE(two.has_value()) << two.error().message();
  EXPECT_EQ(two->server, "https://d");
  EXPECT_EQ(LoadKubeconfig(dir.path() + "/none", "").error().code(), StatusCode::kNotFound);
}

TEST(KubeConfigTest, InClusterServiceAccount) {
  TempDir dir;
  InClusterPaths paths{dir.Write("token", "sa-token"), dir.Write("ca.crt", "CA"),
                       dir.Write("namespace", "rollouts\n")};
  auto c = LoadInCluster(
      {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, paths);
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->token_file, paths.token_file);
  EXPECT_EQ(c->ca_pem, "CA");
  EXPECT_EQ(c->namespace_, "rollouts");
  auto v6 = LoadInCluster({{"KUBERNETES_SERVICE_HOST", "fd00::1"}}, paths);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");
  EXPECT_EQ(LoadInCluster({}, paths).error().code(), StatusCode::kNotFound);
  InClusterPaths missing{dir.path() + "/nope", paths.ca_file, paths.namespace_file};
  EXPECT_EQ(LoadInCluster({{"KUBERNETES_SERVICE_HOST", "h"}}, missing).error().code(),
            StatusCode::kFailedPrecondition);
}

TEST(KubeConfigTest, Base64) {
  EXPECT_EQ(*DecodeBase64("aGVsbG8="), "hello");
  EXPECT_EQ(*DecodeBase64("aGVsbG8"), "hello");
  EXPECT_EQ(*DecodeBase64("aGVs\nbG8="), "hello");
  EXPECT_FALSE(DecodeBase64("a$b").has_value());
  EXPECT_FALSE(DecodeBase64("a").has_value());
}

}  // namespace
}  // namespace ramp::kube
