// ramp/builtin against the real `ramp proxy` binary: the ramp/proxy router splits a Rollout's
// traffic between a healthy stable backend and a canary backend that answers every fifth request
// with a 500, and the provider reads the proxy's golden signals of each revision.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "metrics/builtin/builtin_provider.h"
#include "net/testing/http_test_server.h"
#include "ramp/http_client.h"
#include "traffic/proxy/proxy_process_testing.h"
#include "traffic/proxy/proxy_router.h"

namespace ramp::metrics {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;
namespace proxy_testing = proxy_router::testing;

Status Wait(const std::function<void(StatusCallback)>& op) {
  auto p = std::make_shared<std::promise<Status>>();
  auto f = p->get_future();
  op([p](Status s) { p->set_value(std::move(s)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return DeadlineExceededError("operation did not complete");
  }
  return f.get();
}

class BuiltinProviderIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = proxy_testing::ProxyProcess::Start();
    ASSERT_TRUE(started.has_value()) << started.error().ToString();
    proxy_ = std::move(*started);
    auto port = proxy_testing::FreeLoopbackPort();
    ASSERT_TRUE(port.has_value());
    port_ = *port;
    http_ = NewHttpClient();
    stable_ = std::make_unique<ramp::testing::HttpTestServer>([](const auto&) {
      ramp::testing::TestResponse r;
      r.body = "stable";
      return r;
    });
    // Every fifth request to the canary fails: an error rate of exactly 1/5 of what it gets.
    canary_ = std::make_unique<ramp::testing::HttpTestServer>([this](const auto&) {
      ramp::testing::TestResponse r;
      const int n = ++canary_requests_;
      r.status = n % 5 == 0 ? 500 : 200;
      r.body = r.status == 500 ? "injected error" : "canary";
      return r;
    });
    BuiltinProviderOptions options;
    options.admin_url = proxy_->AdminUrl();
    options.admin_token = proxy_->Token();
    provider_ = NewBuiltinProvider(http_.get(), options);
  }

  // The Rollout default/shop routed by ramp/proxy: stable and canary at `weight`.
  std::unique_ptr<TrafficRouter> Route(int32_t weight) {
    RouterContext c;
    c.rollout = {"default", "shop"};
    c.stable_service = "shop-stable";
    c.canary_service = "shop-canary";
    c.config_json = R"({"listen": "127.0.0.1:)" + std::to_string(port_) + R"("})";
    proxy_router::ProxyRouterOptions options;
    options.http = http_.get();
    options.admin_url = proxy_->AdminUrl();
    options.admin_token = proxy_->Token();
    auto made = proxy_router::NewProxyRouter(c, options);
    EXPECT_TRUE(made.has_value()) << made.error().ToString();
    if (!made.has_value()) return nullptr;
    TrafficRouter& r = **made;
    auto addr = [](const ramp::testing::HttpTestServer& s) {
      return "127.0.0.1:" + std::to_string(s.Port());
    };
    EXPECT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("s1", {addr(*stable_)}, d); }).ok());
    EXPECT_TRUE(Wait([&](auto d) { r.SetRevisionEndpoints("c1", {addr(*canary_)}, d); }).ok());
    EXPECT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kStable, "s1", d); }).ok());
    EXPECT_TRUE(Wait([&](auto d) { r.SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
    EXPECT_TRUE(Wait([&](auto d) { r.SetWeight(weight, {}, d); }).ok());
    return std::move(*made);
  }

  // `n` requests through the proxy; the number that got an answer.
  int Send(int n) {
    int answered = 0;
    for (int i = 0; i < n; ++i) {
      HttpRequest req;
      req.url = "http://127.0.0.1:" + std::to_string(port_) + "/";
      req.timeout = std::chrono::seconds(5);
      if (proxy_testing::SendAndWait(*http_, std::move(req)).has_value()) ++answered;
    }
    return answered;
  }

  MeasurementUpdate Measure(const std::string& config) {
    RunContext ctx;
    ctx.rollout = {"default", "shop"};
    ctx.now = Time(std::chrono::seconds(1700000000));
    MetricRef metric;
    metric.name = "m";
    metric.provider_type = "ramp/builtin";
    metric.provider_config_json = config;
    auto p = std::make_shared<std::promise<MeasurementUpdate>>();
    auto f = p->get_future();
    provider_->Run(ctx, metric, [p](MeasurementUpdate u) { p->set_value(std::move(u)); });
    if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << "the measurement did not complete";
      return {};
    }
    return f.get();
  }

  // Measures `config` until its "requests" metadata reaches `requests` (the proxy records a
  // request once its answer is sent), bounded by a deadline.
  MeasurementUpdate MeasureOnce(const std::string& config, uint64_t requests) {
    const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
    MeasurementUpdate u;
    while (SteadyClock::now() < deadline) {
      u = Measure(config);
      auto it = u.measurement.metadata.find("requests");
      if (it != u.measurement.metadata.end() && it->second == std::to_string(requests)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return u;
  }

  std::unique_ptr<proxy_testing::ProxyProcess> proxy_;
  int port_ = 0;
  std::unique_ptr<HttpClient> http_;
  std::atomic<int> canary_requests_{0};
  std::unique_ptr<ramp::testing::HttpTestServer> stable_;
  std::unique_ptr<ramp::testing::HttpTestServer> canary_;
  std::unique_ptr<MetricProvider> provider_;
};

TEST_F(BuiltinProviderIntegration, ErrorRateAndLatencyOfEachRevision) {
  auto router = Route(50);
  ASSERT_NE(router, nullptr);
  // Before any traffic: no value to judge.
  MeasurementUpdate none = Measure(R"({"signal": "errorRate"})");
  ASSERT_EQ(none.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(none.measurement.message, HasSubstr("fewer than minRequests 1"));

  ASSERT_EQ(Send(300), 300);
  const int canary = canary_requests_.load();
  ASSERT_GT(canary, 50);  // p = 0.5 of 300: mean 150, sigma 8.7
  ASSERT_LT(canary, 250);
  MeasurementUpdate rate = MeasureOnce(R"({"signal": "errorRate", "window": "5m"})", canary);
  ASSERT_EQ(rate.kind, MeasurementUpdate::Kind::kValue) << rate.measurement.message;
  const double value = rate.result->get<double>();
  EXPECT_GE(value, 0.15);
  EXPECT_LE(value, 0.25);
  EXPECT_DOUBLE_EQ(value, static_cast<double>(canary / 5) / canary);
  std::printf("canary: %d requests, errorRate %s\n", canary, rate.measurement.value.c_str());

  MeasurementUpdate errors = MeasureOnce(R"({"signal": "errors"})", canary);
  ASSERT_EQ(errors.kind, MeasurementUpdate::Kind::kValue) << errors.measurement.message;
  EXPECT_EQ(errors.measurement.value, std::to_string(canary / 5));

  MeasurementUpdate stable =
      MeasureOnce(R"({"signal": "errorRate", "revision": "stable"})", 300 - canary);
  ASSERT_EQ(stable.kind, MeasurementUpdate::Kind::kValue) << stable.measurement.message;
  EXPECT_EQ(stable.measurement.value, "0");
  EXPECT_EQ(stable.measurement.metadata.at("requests"), std::to_string(300 - canary));

  // Loopback answers are fast: the p99 is inside the first buckets, well under a second.
  MeasurementUpdate p99 = MeasureOnce(R"({"signal": "latency", "quantile": 0.99})", canary);
  ASSERT_EQ(p99.kind, MeasurementUpdate::Kind::kValue) << p99.measurement.message;
  EXPECT_GT(p99.result->get<double>(), 0.0);
  EXPECT_LE(p99.result->get<double>(), 1.0);
  MeasurementUpdate within = MeasureOnce(R"({"signal": "latencyBucket", "le": "10s"})", canary);
  ASSERT_EQ(within.kind, MeasurementUpdate::Kind::kValue) << within.measurement.message;
  EXPECT_EQ(within.result->get<double>(), 1.0);
}

TEST_F(BuiltinProviderIntegration, UnknownServiceAndProxyDownAreErrors) {
  MeasurementUpdate unknown = Measure(R"({"signal": "requests"})");
  ASSERT_EQ(unknown.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(unknown.measurement.message, HasSubstr("has no service \"default.shop\""));
  proxy_->Stop();
  MeasurementUpdate down = Measure(R"({"signal": "requests"})");
  ASSERT_EQ(down.kind, MeasurementUpdate::Kind::kError);
  EXPECT_THAT(down.measurement.message, HasSubstr("ramp/builtin: unreachable"));
}

}  // namespace
}  // namespace ramp::metrics
