#include "platform/static/static_platform.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace ramp::platform {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A loopback HTTP listener on a free port answering every request with 200.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) {
          if (c >= 0) ::close(c);
          return;
        }
        char buf[4096];
        (void)::recv(c, buf, sizeof buf, 0);
        static constexpr char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        (void)!::send(c, kOk, sizeof kOk - 1, MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~Listener() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string FreeAddress() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    ::poll(nullptr, 0, 20);
  }
  return cond();
}

json Template(const std::string& image, bool probe) {
  json c = {{"name", "billing"},
            {"image", image},
            {"ports", {{{"name", "http"}, {"containerPort", 8080}}}}};
  if (probe) {
    c["readinessProbe"] = {{"httpGet", {{"path", "/healthz"}, {"port", "http"}}},
                           {"periodSeconds", 1}};
  }
  return {{"spec", {{"containers", json::array({c})}}}};
}

class StaticPlatformTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = NewStaticPlatform({clock_.get()});
    ASSERT_TRUE(p.has_value());
    platform_ = std::move(*p);
  }
  Status Ensure(const std::string& hash, const json& tmpl, int replicas,
                const std::string& instances) {
    RevisionSpec spec;
    spec.rollout = rollout_;
    spec.hash = hash;
    spec.revision = 1;
    spec.pod_template_json = tmpl.dump();
    if (!instances.empty()) spec.rollout_annotations["ramp.dev/static-instances"] = instances;
    Status out = InternalError("not called");
    platform_->EnsureRevision(spec, replicas, [&](Status s) { out = s; });
    return out;
  }
  std::optional<RevisionStatus> Get(const std::string& hash) {
    std::optional<RevisionStatus> out;
    platform_->ListRevisions(rollout_, [&](StatusOr<std::vector<RevisionStatus>> r) {
      if (!r) return;
      for (auto& rev : *r) {
        if (rev.hash == hash) out = rev;
      }
    });
    return out;
  }

  ObjectRef rollout_{"default", "billing"};
  std::unique_ptr<Clock> clock_ = NewSystemClock();
  std::unique_ptr<Platform> platform_;
};

TEST(ParseStaticInstancesTest, YamlAndJson) {
  auto y = ParseStaticInstances(
      "registry.example.com/billing:2.3.0:\n  - 10.0.1.11:8080\n  - 10.0.1.12:8080\n"
      "registry.example.com/billing:2.4.0:\n  - \"[fd00::2:12]:8080\"\n");
  ASSERT_TRUE(y.has_value()) << y.error().message();
  EXPECT_EQ(y->at("registry.example.com/billing:2.3.0"),
            (std::vector<std::string>{"10.0.1.11:8080", "10.0.1.12:8080"}));
  EXPECT_EQ(y->at("registry.example.com/billing:2.4.0"),
            (std::vector<std::string>{"[fd00::2:12]:8080"}));
  auto j = ParseStaticInstances(R"({"billing:2.4.0": ["10.0.2.11:8080"]})");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->at("billing:2.4.0").size(), 1u);
}

TEST(ParseStaticInstancesTest, Errors) {
  auto err = [](const char* text) {
    auto r = ParseStaticInstances(text);
    return r.has_value() ? std::string("ok") : r.error().message();
  };
  EXPECT_EQ(err("- a:1"),
            "ramp.dev/static-instances must be a map from image to a list of "
            "addresses");
  EXPECT_EQ(err("img:1: []"),
            "ramp.dev/static-instances: img:1 (line 1): must be a non-empty list of host:port");
  EXPECT_NE(err("img:1: [a:1]\nimg:2: [a:1]").find("a:1 (line 2): listed more than once"),
            std::string::npos);
  EXPECT_NE(err("img:1:\n  - nohost").find("nohost (line 2)"), std::string::npos);
  EXPECT_NE(err("img:1: [a:70000]").find("port"), std::string::npos);
  EXPECT_NE(err("img: [a:1\n").find("line"), std::string::npos);
}

TEST_F(StaticPlatformTest, ProbesListedInstancesOfTheImage) {
  Listener up;
  std::string down = FreeAddress();
  std::string listed =
      "billing:v1:\n  - 10.9.9.9:80\nbilling:v2:\n  - " + up.address() + "\n  - " + down + "\n";
  ASSERT_TRUE(Ensure("h2", Template("billing:v2", true), 2, listed).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto r = Get("h2");
        return r && r->Ready() == 1 && !r->instances[1].message.empty() &&
               r->instances[1].message != "waiting for the readiness probe";
      },
      10s));
  auto r = Get("h2");
  ASSERT_EQ(r->instances.size(), 2u);
  EXPECT_EQ(r->instances[0].address, up.address());
  EXPECT_EQ(r->instances[0].id, up.address());
  EXPECT_EQ(r->instances[0].state, InstanceState::kReady);
  EXPECT_TRUE(r->instances[0].ready_since.has_value());
  EXPECT_EQ(r->instances[1].state, InstanceState::kStarting);
  EXPECT_NE(r->instances[1].message.find("connection refused"), std::string::npos)
      << r->instances[1].message;
  EXPECT_EQ(r->desired_replicas, 2);
  // Ramp cannot restart what it does not run.
  Status s = OkStatus();
  platform_->RestartInstance(rollout_, "h2", up.address(), [&](Status st) { s = st; });
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(platform_->Watch([](const ObjectRef&) {}).error().code(), StatusCode::kUnimplemented);
}

TEST_F(StaticPlatformTest, WithoutProbeReadyAtOnceAndScaling) {
  std::string listed = R"({"billing:v1": ["10.0.0.1:80", "10.0.0.2:80"]})";
  ASSERT_TRUE(Ensure("h1", Template("billing:v1", false), 2, listed).ok());
  auto r = Get("h1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Ready(), 2);
  // An image with no entry has no instances.
  ASSERT_TRUE(Ensure("h3", Template("billing:v3", false), 1, listed).ok());
  EXPECT_EQ(Get("h3")->instances.size(), 0u);
  // Scaled to 0, nothing is reported (and nothing is stopped); back up, the instances return.
  Status s = InternalError("not called");
  platform_->ScaleRevision(rollout_, "h1", 0, [&](Status st) { s = st; });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(Get("h1")->instances.size(), 0u);
  platform_->ScaleRevision(rollout_, "h1", 5, [&](Status st) { s = st; });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(Get("h1")->desired_replicas, 5);
  EXPECT_EQ(Get("h1")->Ready(), 2);
  platform_->ScaleRevision(rollout_, "nope", 1, [&](Status st) { s = st; });
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  // Collision and delete.
  EXPECT_EQ(Ensure("h1", Template("billing:v9", false), 1, listed).code(),
            StatusCode::kAlreadyExists);
  platform_->DeleteRevision(rollout_, "h1", [&](Status st) { s = st; });
  EXPECT_TRUE(s.ok());
  EXPECT_FALSE(Get("h1").has_value());
}

TEST_F(StaticPlatformTest, ConfigurationErrors) {
  Status none = Ensure("h1", Template("billing:v1", false), 1, "");
  EXPECT_EQ(none.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.message().find("ramp.dev/static-instances is required"), std::string::npos);
  EXPECT_EQ(Ensure("h1", Template("billing:v1", false), 1, "[1, 2]").code(),
            StatusCode::kInvalidArgument);
  json exec = Template("billing:v1", false);
  exec["spec"]["containers"][0]["readinessProbe"] = {{"exec", {{"command", {"true"}}}}};
  EXPECT_EQ(Ensure("h1", exec, 1, R"({"billing:v1": ["a:1"]})").code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ramp::platform
