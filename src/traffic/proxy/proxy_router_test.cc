#include "traffic/proxy/proxy_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "proxy/route_table.h"
#include "traffic/proxy/register.h"
#include "traffic/proxy/service_name.h"

namespace ramp::proxy_router {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAdmin[] = "http://127.0.0.1:9901";
constexpr char kToken[] = "s3cret";

// An in-memory stand-in for the proxy's admin API: PUT and GET of /v1/services/<name>, with the
// proxy's refusals (empty stable; weight or header routes without canary; unknown fields unless
// mirrorRoutes are accepted). Answers inline, or later through Release() when `hold` is set.
class FakeProxyAdmin : public HttpClient {
 public:
  void Send(HttpRequest request, HttpCallback done) override {
    requests.push_back(request);
    if (hold) {
      held_.push_back(
          [this, request = std::move(request), done = std::move(done)] { done(Answer(request)); });
      return;
    }
    done(Answer(request));
  }

  // Answers the held requests, oldest first (including ones sent while releasing).
  void Release() {
    hold = false;
    while (!held_.empty()) {
      auto next = std::move(held_.front());
      held_.pop_front();
      next();
    }
  }

  std::vector<HttpRequest> Puts() const {
    std::vector<HttpRequest> out;
    for (const auto& r : requests) {
      if (r.method == "PUT") out.push_back(r);
    }
    return out;
  }

  std::map<std::string, json> tables;
  std::vector<HttpRequest> requests;
  bool hold = false;
  bool down = false;
  bool accept_mirror = false;
  std::deque<HttpResponse> forced;  // answered first, whatever the request

 private:
  static HttpResponse Error(int status, const std::string& message) {
    return {status, {}, json{{"error", message}}.dump()};
  }

  StatusOr<HttpResponse> Answer(const HttpRequest& r) {
    if (down) {
      return Fail(UnavailableError(r.method + " " + r.url + ": connection refused"));
    }
    if (!forced.empty()) {
      HttpResponse out = forced.front();
      forced.pop_front();
      return out;
    }
    const std::string* auth = FindHeader(r.headers, "Authorization");
    if (auth == nullptr || *auth != std::string("Bearer ") + kToken) {
      return Error(401, "missing or wrong bearer token");
    }
    const std::string prefix = std::string(kAdmin) + "/v1/services/";
    if (r.url.rfind(prefix, 0) != 0) return Error(404, "no such endpoint");
    const std::string name = r.url.substr(prefix.size());
    if (r.method == "GET") {
      auto it = tables.find(name);
      if (it == tables.end()) return Error(404, "no service \"" + name + "\"");
      return HttpResponse{200, {}, it->second.dump()};
    }
    json t = json::parse(r.body, nullptr, false);
    if (!t.is_object()) return Error(400, "body: not valid JSON");
    for (const auto& [key, value] : t.items()) {
      if (key == "mirrorRoutes" && !accept_mirror) {
        return Error(400, "mirrorRoutes: unknown field \"mirrorRoutes\"");
      }
    }
    if (!t.contains("stable") || t["stable"].empty()) {
      return Error(400, "stable: needs at least one endpoint");
    }
    const bool no_canary = !t.contains("canary") || t["canary"].empty();
    if (no_canary && t.value("canaryWeight", 0) > 0) {
      return Error(400, "canary: needs at least one endpoint when canaryWeight > 0");
    }
    if (no_canary && t.contains("headerRoutes") && !t["headerRoutes"].empty()) {
      return Error(400, "canary: needs at least one endpoint when headerRoutes are set");
    }
    if (t.value("loadBalancing", "") == "leastRequest") {
      return Error(501, "loadBalancing: \"leastRequest\" is not supported yet (use roundRobin)");
    }
    t["name"] = name;
    t["version"] = ++version_;
    tables[name] = t;
    return HttpResponse{200, {}, json{{"name", name}, {"version", version_}}.dump()};
  }

  int version_ = 0;
  std::deque<std::function<void()>> held_;
};

RouterContext Context(std::string config = R"({"listen": "127.0.0.1:8080"})") {
  RouterContext c;
  c.rollout = {"default", "shop"};
  c.stable_service = "shop-stable";
  c.canary_service = "shop-canary";
  c.managed_routes = {"first", "second"};
  c.config_json = std::move(config);
  return c;
}

// The outcome of an operation, recorded when its `done` runs.
struct Outcome {
  std::optional<Status> status;
  void operator()(Status s) { status = std::move(s); }
};

class ProxyRouterTest : public ::testing::Test {
 protected:
  void Make(RouterContext context = Context()) {
    ProxyRouterOptions options;
    options.http = &admin_;
    options.admin_url = kAdmin;
    options.admin_token = kToken;
    auto made = NewProxyRouter(context, options);
    ASSERT_TRUE(made.has_value()) << made.error().ToString();
    router_ = std::move(*made);
  }

  // Runs one operation that completes inline and returns its status.
  Status Do(const std::function<void(StatusCallback)>& op) {
    std::optional<Status> out;
    op([&out](Status s) { out = std::move(s); });
    EXPECT_TRUE(out.has_value()) << "done did not run inline";
    return out.value_or(InternalError("no answer"));
  }

  WeightCheck Verify(int32_t weight) {
    std::optional<StatusOr<WeightCheck>> out;
    router_->VerifyWeight(weight, {}, [&out](StatusOr<WeightCheck> c) { out = std::move(c); });
    EXPECT_TRUE(out.has_value());
    if (!out || !out->has_value()) {
      ADD_FAILURE() << (out ? out->error().ToString() : "no answer");
      return {};
    }
    return **out;
  }

  // The stable revision s1 and the canary revision c1, each with one instance.
  void Basic() {
    ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("s1", {"10.0.0.1:80"}, d); }).ok());
    ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kStable, "s1", d); }).ok());
    ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("c1", {"10.0.0.2:80"}, d); }).ok());
    ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
  }

  json Table(const std::string& name = "default.shop") {
    auto it = admin_.tables.find(name);
    return it == admin_.tables.end() ? json() : it->second;
  }

  FakeProxyAdmin admin_;
  std::unique_ptr<TrafficRouter> router_;
};

// ---------------------------------------------------------------------------------------------
// Configuration.

TEST(DecodeProxyRouterConfig, AppliesDefaults) {
  auto c = DecodeProxyRouterConfig(Context());
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->service, "default.shop");
  EXPECT_EQ(c->preview_service, "default.shop_preview");
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_EQ(c->preview_listen, "");
  EXPECT_EQ(c->admin_url, "");
  EXPECT_EQ(c->load_balancing, "");
  EXPECT_EQ(c->connect_timeout, "");
}

TEST(DecodeProxyRouterConfig, ReadsEveryField) {
  auto c = DecodeProxyRouterConfig(Context(R"({"listen": ":8080", "previewListen": ":8081",
      "service": "shop-main", "admin": {"address": "127.0.0.1:9901", "tokenFile": "/t"},
      "loadBalancing": "roundRobin", "connectTimeout": "250ms", "requestTimeout": "0s",
      "idleTimeout": "30s", "sticky": {"cookie": "shop-revision", "ttl": "30m"}})"));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->service, "shop-main");
  EXPECT_EQ(c->preview_service, "shop-main_preview");
  EXPECT_EQ(c->listen, ":8080");
  EXPECT_EQ(c->preview_listen, ":8081");
  EXPECT_EQ(c->admin_url, "http://127.0.0.1:9901");
  EXPECT_EQ(c->admin_token_file, "/t");
  EXPECT_EQ(c->load_balancing, "roundRobin");
  EXPECT_EQ(c->connect_timeout, "250ms");
  EXPECT_EQ(c->request_timeout, "0s");
  EXPECT_EQ(c->idle_timeout, "30s");
  EXPECT_EQ(c->sticky_cookie, "shop-revision");
  EXPECT_EQ(c->sticky_header, "");
  EXPECT_EQ(c->sticky_ttl, "30m");
}

TEST(DecodeProxyRouterConfig, ErrorsNameTheField) {
  struct Case {
    const char* config;
    StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {R"({"lisen": ":8080"})", StatusCode::kInvalidArgument,
       R"(trafficRouting.plugins["ramp/proxy"].lisen: unknown field)"},
      {R"({})", StatusCode::kInvalidArgument, R"(plugins["ramp/proxy"].listen: required)"},
      {R"({"listen": 8080})", StatusCode::kInvalidArgument, ".listen: must be a string"},
      {R"({"listen": "nohost"})", StatusCode::kInvalidArgument, ".listen: \"nohost\""},
      {R"({"listen": ":1", "connectTimeout": "5"})", StatusCode::kInvalidArgument,
       ".connectTimeout: must be a duration of at least 1ms"},
      {R"({"listen": ":1", "idleTimeout": "10ms"})", StatusCode::kInvalidArgument,
       ".idleTimeout: must be a duration of at least 1s"},
      {R"({"listen": ":1", "loadBalancing": "random"})", StatusCode::kInvalidArgument,
       ".loadBalancing: must be roundRobin or leastRequest"},
      {R"({"listen": ":1", "previewListen": ":1"})", StatusCode::kInvalidArgument,
       ".previewListen: must differ from listen"},
      {R"({"listen": ":1", "service": "a/b"})", StatusCode::kInvalidArgument, ".service: must be"},
      {R"({"listen": ":1", "admin": {"address": "10.0.0.1:9901", "tokenFile": "/t"}})",
       StatusCode::kInvalidArgument, ".admin.address: must be a loopback address"},
      {R"({"listen": ":1", "admin": {"address": "127.0.0.1:9901"}})", StatusCode::kInvalidArgument,
       ".admin.tokenFile: required"},
      {R"({"listen": ":1", "admin": {"socket": "/run/ramp/proxy.sock"}})",
       StatusCode::kUnimplemented, ".admin.socket: the router reaches the proxy's admin API"},
      {R"({"listen": ":1", "sticky": {"cookie": "c", "header": "h"}})",
       StatusCode::kInvalidArgument, ".sticky: set exactly one of cookie and header"},
      {R"({"listen": ":1", "sticky": {"header": "h", "ttl": "1m"}})", StatusCode::kInvalidArgument,
       ".sticky.ttl: applies to a sticky cookie only"},
      {R"({"listen": ":1", "sticky": {"cookie": "a b"}})", StatusCode::kInvalidArgument,
       ".sticky.cookie: must be an HTTP token"},
      {R"([1])", StatusCode::kInvalidArgument, "must be an object"},
      {R"({"listen": )", StatusCode::kInvalidArgument, "not valid JSON"},
  };
  for (const Case& c : cases) {
    auto got = DecodeProxyRouterConfig(Context(c.config));
    ASSERT_FALSE(got.has_value()) << c.config;
    EXPECT_EQ(got.error().code(), c.code) << c.config << ": " << got.error().ToString();
    EXPECT_THAT(got.error().message(), HasSubstr(c.message)) << c.config;
  }
}

TEST(ProxyServiceName, NamespaceDotName) {
  EXPECT_EQ(ProxyServiceName({"default", "shop"}), "default.shop");
  EXPECT_EQ(ProxyServiceName({"", "shop"}), "shop");
  EXPECT_EQ(ProxyPreviewServiceName("default.shop"), "default.shop_preview");
  EXPECT_TRUE(IsProxyServiceName("default.shop_preview"));
  EXPECT_FALSE(IsProxyServiceName("a/b"));
  EXPECT_FALSE(IsProxyServiceName(""));
}

TEST(NewProxyRouter, NeedsAnAdminEndpointAndAValidWeightScale) {
  FakeProxyAdmin admin;
  ProxyRouterOptions options;
  options.http = &admin;
  auto none = NewProxyRouter(Context(), options);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.error().message(), HasSubstr("no proxy admin API is known"));

  options.admin_url = kAdmin;
  RouterContext big = Context();
  big.max_weight = 100000;
  auto too_big = NewProxyRouter(big, options);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().code(), StatusCode::kInvalidArgument);

  auto missing_file = NewProxyRouter(
      Context(R"({"listen": ":1", "admin": {"address": "127.0.0.1:1", "tokenFile": "/nope"}})"),
      options);
  ASSERT_FALSE(missing_file.has_value());
  EXPECT_EQ(missing_file.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing_file.error().message(), HasSubstr("admin.tokenFile: cannot read /nope"));

  options.http = nullptr;
  EXPECT_EQ(NewProxyRouter(Context(), options).error().code(), StatusCode::kInvalidArgument);
}

TEST(NewProxyRouter, UsesTheRolloutsOwnAdminAndTokenFile) {
  auto path = std::filesystem::temp_directory_path() /
              ("ramp-proxy-router-token-" + std::to_string(::getpid()));
  std::ofstream(path) << kToken << "\n";
  FakeProxyAdmin admin;
  ProxyRouterOptions options;
  options.http = &admin;
  options.admin_url = "http://127.0.0.1:1";
  options.admin_token = "other";
  auto made = NewProxyRouter(Context(R"({"listen": ":8080", "admin": {"address":
      "127.0.0.1:9901", "tokenFile": ")" +
                                     path.string() + R"("}})"),
                             options);
  std::filesystem::remove(path);
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  std::optional<Status> out;
  (*made)->SetRevisionEndpoints("s1", {"10.0.0.1:80"}, [](Status) {});
  (*made)->SwitchService(ServiceRole::kStable, "s1", [&](Status s) { out = s; });
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->ok()) << out->ToString();
  ASSERT_EQ(admin.requests.size(), 1u);
  EXPECT_EQ(admin.requests[0].url, "http://127.0.0.1:9901/v1/services/default.shop");
}

TEST(RegisterProxyRouter, RegistersRampProxy) {
  FakeProxyAdmin admin;
  Registry<TrafficRouter, const RouterContext&> registry("traffic router");
  EXPECT_EQ(RegisterProxyRouter(registry, ProxyRouterOptions{}).code(),
            StatusCode::kInvalidArgument);
  ProxyRouterOptions options;
  options.http = &admin;
  options.admin_url = kAdmin;
  ASSERT_TRUE(RegisterProxyRouter(registry, options).ok());
  EXPECT_THAT(registry.Names(), ElementsAre("ramp/proxy"));
  auto made = registry.Create("ramp/proxy", Context());
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  EXPECT_EQ((*made)->Type(), "ramp/proxy");
  auto bad = registry.Create("ramp/proxy", Context(R"({"listen": 1})"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// What is sent.

TEST_F(ProxyRouterTest, NothingIsSentUntilStableHasInstances) {
  Make();
  EXPECT_TRUE(Do([&](auto d) { router_->SetWeight(20, {}, d); }).ok());
  EXPECT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kStable, "s1", d); }).ok());
  EXPECT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
  EXPECT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("c1", {"10.0.0.2:80"}, d); }).ok());
  EXPECT_TRUE(admin_.requests.empty());
  WeightCheck none = Verify(20);
  EXPECT_EQ(none.verification, WeightVerification::kNotVerified);
  EXPECT_THAT(none.message, HasSubstr("no service \"default.shop\""));
  EXPECT_THAT(none.message, HasSubstr("stable revision s1 has no ready instances"));

  // The stable instances arrive: the whole recorded state goes out in one PUT.
  EXPECT_TRUE(Do([&](auto d) {
                router_->SetRevisionEndpoints("s1", {"10.0.0.9:80", "10.0.0.1:80"}, d);
              }).ok());
  auto puts = admin_.Puts();
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(puts[0].url, "http://127.0.0.1:9901/v1/services/default.shop");
  EXPECT_EQ(*FindHeader(puts[0].headers, "Authorization"), "Bearer s3cret");
  EXPECT_EQ(*FindHeader(puts[0].headers, "Content-Type"), "application/json");
  EXPECT_EQ(json::parse(puts[0].body), json::parse(R"({"listen": "127.0.0.1:8080",
      "stable": ["10.0.0.1:80", "10.0.0.9:80"], "canary": ["10.0.0.2:80"], "maxWeight": 100,
      "canaryWeight": 20})"));
  WeightCheck ok = Verify(20);
  EXPECT_EQ(ok.verification, WeightVerification::kVerified) << ok.message;
  EXPECT_EQ(ok.observed_weight, 20);
}

TEST_F(ProxyRouterTest, WeightWaitsForCanaryInstances) {
  Make();
  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("s1", {"10.0.0.1:80"}, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kStable, "s1", d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kCanary, "c1", d); }).ok());
  EXPECT_TRUE(Do([&](auto d) { router_->SetWeight(50, {}, d); }).ok());
  EXPECT_TRUE(
      Do([&](auto d) {
        router_->SetHeaderRoute({"first", {{"X-Canary", {StringMatch::Kind::kExact, "1"}}}}, d);
      }).ok());
  EXPECT_EQ(Table()["canaryWeight"], 0);
  EXPECT_FALSE(Table().contains("headerRoutes"));
  WeightCheck waiting = Verify(50);
  EXPECT_EQ(waiting.verification, WeightVerification::kNotVerified);
  EXPECT_EQ(waiting.observed_weight, 0);
  EXPECT_THAT(waiting.message, HasSubstr("the canary has no ready instances (revision c1)"));
  EXPECT_EQ(Verify(0).verification, WeightVerification::kVerified);

  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("c1", {"10.0.0.2:80"}, d); }).ok());
  EXPECT_EQ(Table()["canaryWeight"], 50);
  EXPECT_EQ(Table()["headerRoutes"].size(), 1u);
  EXPECT_EQ(Verify(50).verification, WeightVerification::kVerified);
  // The canary loses its instances: weight 0 and no routes again.
  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("c1", {}, d); }).ok());
  EXPECT_EQ(Table()["canaryWeight"], 0);
  EXPECT_TRUE(Table()["canary"].empty());
}

TEST_F(ProxyRouterTest, HeaderRoutesBecomeOneProxyRoutePerMatch) {
  Make();
  Basic();
  HeaderRoute second{
      "second",
      {{"X-A", {StringMatch::Kind::kExact, "1"}}, {"X-B", {StringMatch::Kind::kRegex, "b.*"}}}};
  HeaderRoute first{"first", {{"User-Agent", {StringMatch::Kind::kPrefix, "Mozilla"}}}};
  ASSERT_TRUE(Do([&](auto d) { router_->SetHeaderRoute(second, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SetHeaderRoute(first, d); }).ok());
  EXPECT_EQ(Table()["headerRoutes"], json::parse(R"([
      {"name": "first", "match": [{"header": "User-Agent", "prefix": "Mozilla"}]},
      {"name": "second#0", "match": [{"header": "X-A", "exact": "1"}]},
      {"name": "second#1", "match": [{"header": "X-B", "regex": "b.*"}]}])"));
  // No matches removes the route; RemoveManagedRoutes removes the rest.
  ASSERT_TRUE(Do([&](auto d) { router_->SetHeaderRoute({"second", {}}, d); }).ok());
  EXPECT_EQ(Table()["headerRoutes"].size(), 1u);
  ASSERT_TRUE(Do([&](auto d) { router_->RemoveManagedRoutes(d); }).ok());
  EXPECT_FALSE(Table().contains("headerRoutes"));
}

TEST_F(ProxyRouterTest, BadRoutesAreRefusedBeforeAnythingIsSent) {
  Make();
  Basic();
  const size_t before = admin_.requests.size();
  Status regex = Do([&](auto d) {
    router_->SetHeaderRoute({"first", {{"X-A", {StringMatch::Kind::kRegex, "(("}}}}, d);
  });
  EXPECT_EQ(regex.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(regex.message(), HasSubstr("invalid regex \"((\""));
  Status header = Do([&](auto d) {
    router_->SetHeaderRoute({"first", {{"X A", {StringMatch::Kind::kExact, "1"}}}}, d);
  });
  EXPECT_EQ(header.code(), StatusCode::kInvalidArgument);
  Status percentage = Do([&](auto d) { router_->SetMirrorRoute({"m", {RouteMatch{}}, 101}, d); });
  EXPECT_EQ(percentage.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Do([&](auto d) { router_->SetWeight(101, {}, d); }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Do([&](auto d) {
              router_->SetWeight(1, {{"exp", "e1", 10}}, d);
            }).code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(Do([&](auto d) { router_->SetRevisionEndpoints("c2", {"10.0.0.3"}, d); }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(admin_.requests.size(), before);
}

TEST_F(ProxyRouterTest, MirrorRoutesHaveTheProxysShape) {
  Make();
  Basic();
  admin_.accept_mirror = true;
  RouteMatch m1;
  m1.method = StringMatch{StringMatch::Kind::kExact, "GET"};
  m1.path = StringMatch{StringMatch::Kind::kPrefix, "/api"};
  m1.headers["X-Debug"] = StringMatch{StringMatch::Kind::kRegex, "on|yes"};
  RouteMatch m2;
  m2.path = StringMatch{StringMatch::Kind::kExact, "/health"};
  ASSERT_TRUE(Do([&](auto d) { router_->SetMirrorRoute({"second", {m1, m2}, 25}, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SetMirrorRoute({"first", {m2}, std::nullopt}, d); }).ok());
  EXPECT_EQ(Table()["mirrorRoutes"], json::parse(R"([
      {"name": "first", "percentage": 100, "match": [{"path": {"exact": "/health"}}]},
      {"name": "second", "percentage": 25, "match": [
        {"method": {"exact": "GET"}, "path": {"prefix": "/api"},
         "headers": {"X-Debug": {"regex": "on|yes"}}},
        {"path": {"exact": "/health"}}]}])"));
  ASSERT_TRUE(Do([&](auto d) { router_->SetMirrorRoute({"first", {}, std::nullopt}, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SetMirrorRoute({"second", {}, std::nullopt}, d); }).ok());
  EXPECT_FALSE(Table().contains("mirrorRoutes"));
}

TEST_F(ProxyRouterTest, AProxyWithoutMirroringRefusesAndTheChangeIsDropped) {
  Make();
  Basic();
  RouteMatch all;
  Status s = Do([&](auto d) { router_->SetMirrorRoute({"first", {all}, 50}, d); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unknown field \"mirrorRoutes\""));
  // The refused route is not carried by later changes.
  ASSERT_TRUE(Do([&](auto d) { router_->SetWeight(10, {}, d); }).ok());
  EXPECT_FALSE(Table().contains("mirrorRoutes"));
  EXPECT_EQ(Table()["canaryWeight"], 10);
  // A proxy answering 501 for it: kUnimplemented.
  admin_.forced.push_back({501, {}, R"({"error": "mirrorRoutes: not supported yet"})"});
  Status unimplemented = Do([&](auto d) { router_->SetMirrorRoute({"first", {all}, 50}, d); });
  EXPECT_EQ(unimplemented.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(unimplemented.message(), HasSubstr("mirrorRoutes: not supported yet"));
}

TEST_F(ProxyRouterTest, RepeatingAChangeSendsNothing) {
  Make();
  Basic();
  ASSERT_TRUE(Do([&](auto d) { router_->SetWeight(30, {}, d); }).ok());
  const size_t puts = admin_.Puts().size();
  ASSERT_TRUE(Do([&](auto d) { router_->SetWeight(30, {}, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kStable, "s1", d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("s1", {"10.0.0.1:80"}, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("zz", {}, d); }).ok());
  EXPECT_EQ(admin_.Puts().size(), puts);
}

TEST_F(ProxyRouterTest, ChangesBehindRampsBackAreFoundAndRepaired) {
  Make();
  Basic();
  ASSERT_TRUE(Do([&](auto d) { router_->SetWeight(30, {}, d); }).ok());
  admin_.tables["default.shop"]["canaryWeight"] = 0;
  WeightCheck lost = Verify(30);
  EXPECT_EQ(lost.verification, WeightVerification::kNotVerified);
  EXPECT_EQ(lost.observed_weight, 0);
  EXPECT_THAT(lost.message, HasSubstr("canaryWeight 0, expected 30"));
  // The engine sets the weight again: the table is sent again although ramp's state is the same.
  ASSERT_TRUE(Do([&](auto d) { router_->SetWeight(30, {}, d); }).ok());
  EXPECT_EQ(Verify(30).verification, WeightVerification::kVerified);
  // The proxy lost the service (restarted without its state file).
  admin_.tables.clear();
  EXPECT_THAT(Verify(30).message, HasSubstr("no service \"default.shop\""));
  ASSERT_TRUE(Do([&](auto d) { router_->SetWeight(30, {}, d); }).ok());
  EXPECT_EQ(Table()["canaryWeight"], 30);
}

TEST_F(ProxyRouterTest, TransportAndAuthErrors) {
  Make();
  Basic();
  admin_.down = true;
  Status down = Do([&](auto d) { router_->SetWeight(40, {}, d); });
  EXPECT_EQ(down.code(), StatusCode::kUnavailable);
  EXPECT_THAT(down.message(), HasSubstr("connection refused"));
  std::optional<StatusOr<WeightCheck>> verify;
  router_->VerifyWeight(40, {}, [&](StatusOr<WeightCheck> c) { verify = std::move(c); });
  ASSERT_TRUE(verify.has_value());
  ASSERT_FALSE(verify->has_value());
  EXPECT_EQ(verify->error().code(), StatusCode::kUnavailable);
  // Back up: the kept change goes out with the next operation.
  admin_.down = false;
  ASSERT_TRUE(Do([&](auto d) { router_->SetHeaderRoute({"first", {}}, d); }).ok());
  EXPECT_EQ(Table()["canaryWeight"], 40);

  admin_.forced.push_back({401, {}, R"({"error": "missing or wrong bearer token"})"});
  Status denied = Do([&](auto d) { router_->SetWeight(41, {}, d); });
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("admin token refused"));
  admin_.forced.push_back({503, {}, "busy"});
  EXPECT_EQ(Do([&](auto d) { router_->SetWeight(42, {}, d); }).code(), StatusCode::kUnavailable);
}

TEST_F(ProxyRouterTest, ProxyRefusalCarriesItsMessage) {
  Make();
  Basic();
  admin_.forced.push_back({400, {}, R"({"error": "listen: \"x\": bad host"})"});
  Status bad = Do([&](auto d) { router_->SetWeight(5, {}, d); });
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("the proxy refused PUT http://127.0.0.1:9901/v1/services/"
                                       "default.shop: HTTP 400: listen: \"x\": bad host"));
  // A refused change is dropped: the next one does not carry it.
  ASSERT_TRUE(Do([&](auto d) { router_->SetHeaderRoute({"first", {}}, d); }).ok());
  EXPECT_EQ(Table()["canaryWeight"], 0);
}

TEST_F(ProxyRouterTest, TableOptionsArePassedThrough) {
  Make(Context(R"({"listen": "127.0.0.1:8080", "sticky": {"header": "X-User"},
      "loadBalancing": "roundRobin", "connectTimeout": "1s", "requestTimeout": "0s",
      "idleTimeout": "2m"})"));
  Basic();
  json t = Table();
  EXPECT_EQ(t["sticky"], json::parse(R"({"header": "X-User"})"));
  EXPECT_EQ(t["loadBalancing"], "roundRobin");
  EXPECT_EQ(t["connectTimeout"], "1s");
  EXPECT_EQ(t["requestTimeout"], "0s");
  EXPECT_EQ(t["idleTimeout"], "2m");
}

// The proxy now keeps clients on a revision (docs/proxy.md "Sticky sessions"): the Rollout's
// sticky cookie with its ttl goes into every table the router PUTs, and the proxy's own decoder
// reads it back as the same setting.
TEST_F(ProxyRouterTest, StickyCookieWithTtlIsPassedToTheProxy) {
  Make(Context(R"({"listen": "127.0.0.1:8080", "sticky": {"cookie": "shop-revision",
      "ttl": "30m"}})"));
  Basic();
  ASSERT_TRUE(Do([&](auto d) { router_->SetWeight(20, {}, d); }).ok());
  json t = Table();
  EXPECT_EQ(t["sticky"], json::parse(R"({"cookie": "shop-revision", "ttl": "30m"})"));
  EXPECT_EQ(t["canaryWeight"], 20);
  auto decoded = proxy::DecodeRouteTable(t);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->sticky.kind, proxy::Sticky::Kind::kCookie);
  EXPECT_EQ(decoded->sticky.name, "shop-revision");
  EXPECT_EQ(decoded->sticky.ttl, std::chrono::minutes(30));
  // Header stickiness decodes too (the proxy matches header names in lower case).
  Make(Context(R"({"listen": "127.0.0.1:8080", "sticky": {"header": "X-User"}})"));
  Basic();
  auto by_header = proxy::DecodeRouteTable(Table());
  ASSERT_TRUE(by_header.has_value()) << by_header.error().ToString();
  EXPECT_EQ(by_header->sticky.kind, proxy::Sticky::Kind::kHeader);
  EXPECT_EQ(by_header->sticky.name, "x-user");
}

// A proxy that does not support a table field yet answers 501 (as leastRequest did before it was
// implemented).
TEST_F(ProxyRouterTest, AnAnswer501IsUnimplemented) {
  Make(Context(R"({"listen": "127.0.0.1:8080", "loadBalancing": "leastRequest"})"));
  // Nothing is sent while no role points at the revision.
  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("s1", {"10.0.0.1:80"}, d); }).ok());
  Status s = Do([&](auto d) { router_->SwitchService(ServiceRole::kStable, "s1", d); });
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("leastRequest"));
  EXPECT_EQ(json::parse(admin_.Puts().at(0).body)["loadBalancing"], "leastRequest");
}

TEST_F(ProxyRouterTest, OperationsRunInOrderAndDestructionCancelsTheQueue) {
  Make();
  Basic();
  admin_.hold = true;
  std::vector<std::string> order;
  router_->SetWeight(10, {}, [&](Status s) { order.push_back("w10 " + s.ToString()); });
  router_->SetWeight(20, {}, [&](Status s) { order.push_back("w20 " + s.ToString()); });
  router_->VerifyWeight(20, {}, [&](StatusOr<WeightCheck> c) {
    order.push_back(std::string("verify ") +
                    (c ? std::string(WeightVerificationName(c->verification)) : "error"));
  });
  router_->SetWeight(30, {}, [&](Status s) { order.push_back("w30 " + s.ToString()); });
  // Only the first request is out; the rest wait for it.
  EXPECT_EQ(admin_.requests.size(), 2u + 1u);  // Basic() sent two PUTs
  EXPECT_TRUE(order.empty());
  admin_.Release();
  EXPECT_THAT(order, ElementsAre("w10 OK", "w20 OK", "verify Verified", "w30 OK"));
  EXPECT_EQ(Table()["canaryWeight"], 30);

  admin_.hold = true;
  std::vector<std::string> late;
  router_->SetWeight(40, {}, [&](Status s) { late.push_back("w40 " + s.ToString()); });
  router_->SetWeight(50, {}, [&](Status s) { late.push_back("w50 " + s.ToString()); });
  router_.reset();
  EXPECT_THAT(late, ElementsAre("w50 CANCELLED: ramp/proxy: router destroyed"));
  admin_.Release();  // the request in flight still completes
  EXPECT_THAT(late, ElementsAre("w50 CANCELLED: ramp/proxy: router destroyed", "w40 OK"));
}

TEST_F(ProxyRouterTest, BlueGreenServesThePreviewOnItsOwnListener) {
  RouterContext c = Context(R"({"listen": "127.0.0.1:8080", "previewListen": "127.0.0.1:8081"})");
  c.stable_service.clear();
  c.canary_service.clear();
  c.active_service = "shop-active";
  c.preview_service = "shop-preview";
  Make(c);
  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("a1", {"10.0.0.1:80"}, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SetRevisionEndpoints("p1", {"10.0.0.2:80"}, d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kActive, "a1", d); }).ok());
  ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kPreview, "p1", d); }).ok());
  EXPECT_EQ(Table()["stable"], json::array({"10.0.0.1:80"}));
  EXPECT_TRUE(Table()["canary"].empty());
  EXPECT_EQ(Table("default.shop_preview")["stable"], json::array({"10.0.0.2:80"}));
  EXPECT_EQ(Table("default.shop_preview")["listen"], "127.0.0.1:8081");
  // Promotion: active switches to the preview's revision.
  ASSERT_TRUE(Do([&](auto d) { router_->SwitchService(ServiceRole::kActive, "p1", d); }).ok());
  EXPECT_EQ(Table()["stable"], json::array({"10.0.0.2:80"}));
  EXPECT_EQ(Verify(0).verification, WeightVerification::kVerified);
}

}  // namespace
}  // namespace ramp::proxy_router
