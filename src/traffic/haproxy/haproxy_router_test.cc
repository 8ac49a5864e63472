#include "traffic/haproxy/haproxy_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>

#include "traffic/haproxy/haproxy_runtime.h"

namespace ramp::haproxy {
namespace {

using ::testing::HasSubstr;

RouterContext Context(std::string json) {
  RouterContext c;
  c.rollout = {"default", "catalog"};
  c.stable_service = "catalog-stable";
  c.canary_service = "catalog-canary";
  c.config_json = std::move(json);
  return c;
}

TEST(DecodeHaproxyConfig, AppliesDefaults) {
  auto c = DecodeHaproxyConfig(
      Context(R"({"runtimeApi": "/run/haproxy/admin.sock", "weightMap": {"file": "/w.map"}})"));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->runtime_api, "/run/haproxy/admin.sock");
  EXPECT_EQ(c->stable_backend, "catalog-stable");
  EXPECT_EQ(c->canary_backend, "catalog-canary");
  EXPECT_EQ(c->server_template, "srv");
  EXPECT_EQ(c->map_file, "/w.map");
  EXPECT_EQ(c->map_key, "catalog");
  EXPECT_EQ(c->timeout, std::chrono::seconds(5));
}

TEST(DecodeHaproxyConfig, ReadsEveryField) {
  auto c = DecodeHaproxyConfig(Context(R"({"runtimeApi": "127.0.0.1:9999",
      "stableBackend": "be:a", "canaryBackend": "be_b", "serverTemplate": "slot",
      "weightMap": {"file": "/etc/haproxy/w.map", "key": "k1"}, "timeout": "250ms"})"));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->stable_backend, "be:a");
  EXPECT_EQ(c->canary_backend, "be_b");
  EXPECT_EQ(c->server_template, "slot");
  EXPECT_EQ(c->map_key, "k1");
  EXPECT_EQ(c->timeout, std::chrono::milliseconds(250));
}

TEST(DecodeHaproxyConfig, BlueGreenUsesActiveAndPreview) {
  RouterContext ctx = Context(R"({"runtimeApi": "/s", "weightMap": {"file": "/w"}})");
  ctx.stable_service.clear();
  ctx.canary_service.clear();
  ctx.active_service = "act";
  ctx.preview_service = "pre";
  auto c = DecodeHaproxyConfig(ctx);
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->stable_backend, "act");
  EXPECT_EQ(c->canary_backend, "pre");
}

struct BadCase {
  std::string json;
  std::string message;
};

TEST(DecodeHaproxyConfig, RejectsBadInputWithTheField) {
  const BadCase cases[] = {
      {R"({"weightMap": {"file": "/w"}})", "runtimeApi: required"},
      {R"({"runtimeApi": "/s"})", "weightMap.file: required"},
      {R"({"runtimeApi": "nocolon", "weightMap": {"file": "/w"}})", "runtimeApi: "},
      {R"({"runtimeApi": "h:99999", "weightMap": {"file": "/w"}})", "1..65535"},
      {R"({"runtimeApi": 5, "weightMap": {"file": "/w"}})", "runtimeApi: must be a string"},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w"}, "extra": 1})", "extra: unknown field"},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w", "key": "a b"}})", "without spaces"},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w", "ky": "a"}})", "weightMap.ky: unknown"},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w"}, "timeout": "0s"})", "timeout: "},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w"}, "timeout": "soon"})", "timeout: "},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w"}, "canaryBackend": "catalog-stable"})",
       "must differ"},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w"}, "stableBackend": "a b"})",
       "backend name"},
      {R"({"runtimeApi": "/s", "weightMap": {"file": "/w"}, "serverTemplate": "s:"})",
       "server-template"},
      {R"([1])", "must be an object"},
      {R"({)", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto r = DecodeHaproxyConfig(Context(c.json));
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(r.error().message(), HasSubstr(c.message)) << c.json;
  }
}

TEST(MapPercent, ScalesAndKeepsZeroAndFull) {
  EXPECT_EQ(MapPercent(0, 100), 0);
  EXPECT_EQ(MapPercent(30, 100), 30);
  EXPECT_EQ(MapPercent(100, 100), 100);
  EXPECT_EQ(MapPercent(1, 1000), 1);     // 0.1 % cannot be expressed: at least 1 %
  EXPECT_EQ(MapPercent(999, 1000), 99);  // never all traffic below the maximum
  EXPECT_EQ(MapPercent(505, 1000), 51);  // nearest percent
  EXPECT_EQ(MapPercent(5, 10), 50);
  EXPECT_EQ(MapPercent(0, 1000), 0);
  EXPECT_EQ(MapPercent(1000, 1000), 100);
}

TEST(Commands, Render) {
  HaproxyConfig c;
  c.map_file = "/etc/haproxy/w.map";
  c.map_key = "catalog";
  EXPECT_EQ(SetMapCommand(c, 30), "set map /etc/haproxy/w.map catalog 30");
  EXPECT_EQ(AddMapCommand(c, 0), "add map /etc/haproxy/w.map catalog 0");
  EXPECT_EQ(GetMapCommand(c), "get map /etc/haproxy/w.map catalog");
  EXPECT_EQ(SetServerAddrCommand("be", "srv1", "10.0.0.1", 8080),
            "set server be/srv1 addr 10.0.0.1 port 8080");
  EXPECT_EQ(SetServerStateCommand("be", "srv2", true), "set server be/srv2 state ready");
  EXPECT_EQ(SetServerStateCommand("be", "srv2", false), "set server be/srv2 state maint");
}

TEST(Answers, GetMap) {
  auto found = ParseGetMapAnswer(
      "type=str, case=sensitive, found=yes, idx=tree, key=\"catalog\", value=\"30\", "
      "type=\"sint\"\n\n");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->value_or("none"), "30");
  auto missing = ParseGetMapAnswer("type=str, case=sensitive, found=no\n\n");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());
  auto unknown = ParseGetMapAnswer("Unknown map identifier. Please use #<id> or <file>.\n\n");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(ParseGetMapAnswer("").has_value());
  EXPECT_FALSE(ParseGetMapAnswer("found=yes, value=\"unterminated").has_value());
}

TEST(Answers, EmptyAndAddr) {
  EXPECT_TRUE(CheckEmptyAnswer("set map", "\n").ok());
  EXPECT_EQ(CheckEmptyAnswer("set map", "entry not found.\n\n").code(), StatusCode::kNotFound);
  EXPECT_EQ(CheckEmptyAnswer("set server", "No such server.\n\n").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckEmptyAnswer("x", "Permission denied\n").code(), StatusCode::kPermissionDenied);
  Status other = CheckEmptyAnswer("set server b/s state x", "'set server <srv> state' expects…");
  EXPECT_EQ(other.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(other.message(), HasSubstr("set server b/s state x"));
  EXPECT_TRUE(CheckSetAddrAnswer("a",
                                 "IP changed from '127.0.0.1' to '10.0.0.1', port changed "
                                 "from '1' to '80' by 'stats socket command'\n")
                  .ok());
  EXPECT_TRUE(
      CheckSetAddrAnswer("a", "no need to change the addr, no need to change the port\n").ok());
  EXPECT_FALSE(CheckSetAddrAnswer("a", "\n").ok());
  EXPECT_EQ(CheckSetAddrAnswer("a", "No such server.\n").code(), StatusCode::kFailedPrecondition);
}

TEST(Answers, ServersState) {
  auto names = ParseServersState("be",
                                 "1\n# be_id be_name srv_id srv_name srv_addr\n"
                                 "4 be 1 srv1 127.0.0.1 2 4\n4 be 2 srv2 127.0.0.1 0 5\n\n");
  ASSERT_TRUE(names.has_value()) << names.error().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"srv1", "srv2"}));
  auto missing = ParseServersState("nope", "Can't find backend.\n");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kFailedPrecondition);
}

TEST(Answers, ServerStatesReadAddressPortAndAdminState) {
  auto states = ParseServerStates(
      "b",
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state …\n"
      "3 b 1 srv1 127.0.0.1 0 5 1 1 1 1 0 0 8 0 0 0 - 1 - 0 0 - - 0\n"
      "3 b 2 srv2 ::1 2 4 1 1 0 1 0 0 8 0 0 0 - 8081 - 0 0 - - 0\n"
      "3 b 3 srv3 127.0.0.1 2 12 1 1 0 1 0 0 8 0 0 0 - 1 - 0 0 - - 0\n"
      "4 other 1 srv1 10.0.0.1 2 0 1 1 0 1 0 0 8 0 0 0 - 80 - 0 0 - - 0\n\n");
  ASSERT_TRUE(states.has_value()) << states.error().ToString();
  ASSERT_EQ(states->size(), 3u);
  EXPECT_EQ((*states)[0].name, "srv1");
  EXPECT_FALSE((*states)[0].Live());  // disabled in the config and forced to maint
  EXPECT_EQ((*states)[1].addr, "::1");
  EXPECT_EQ((*states)[1].port, 8081);
  EXPECT_TRUE((*states)[1].Live());   // `state ready` leaves only the config bit (0x04)
  EXPECT_FALSE((*states)[2].Live());  // drain
}

TEST(Answers, ShowAcl) {
  auto patterns =
      ParseShowAclAnswer("0x5649b5a12dd0 (?:^|\\n)x-canary: yes\\r\\n\n0x7f65dc04b720 a;b c\n\n");
  ASSERT_TRUE(patterns.has_value()) << patterns.error().ToString();
  EXPECT_EQ(*patterns, (std::vector<std::string>{"(?:^|\\n)x-canary: yes\\r\\n", "a;b c"}));
  auto empty = ParseShowAclAnswer("\n");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  auto unknown = ParseShowAclAnswer("Unknown ACL identifier. Please use #<id> or <file>.\n\n");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), StatusCode::kFailedPrecondition);
}

TEST(Commands, EscapeRuntimeArgument) {
  EXPECT_EQ(EscapeRuntimeArgument("plain"), "plain");
  EXPECT_EQ(EscapeRuntimeArgument("a b;c\\r"), "a\\ b\\;c\\\\r");
}

TEST(HeaderRoutes, AclFileSitsBesideTheWeightMap) {
  EXPECT_EQ(HeaderRouteAclFile("/etc/haproxy/w.map", "catalog"),
            "/etc/haproxy/ramp-headers-catalog.acl");
  EXPECT_EQ(HeaderRouteAclFile("w.map", "a/b"), "ramp-headers-a_b.acl");
  auto c = DecodeHaproxyConfig(Context(R"({"runtimeApi": "/s", "weightMap": {"file": "/x/w"}})"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->header_acl_file, "/x/ramp-headers-catalog.acl");
}

TEST(HeaderRoutes, PatternsMatchOneHeaderLineOfReqHdrs) {
  HeaderRoute r{"r",
                {{"X-Canary", {StringMatch::Kind::kExact, "a.b c"}},
                 {"User-Agent", {StringMatch::Kind::kPrefix, "Mozilla/"}},
                 {"x-user", {StringMatch::Kind::kRegex, "^u[0-9]+$"}}}};
  auto p = HeaderRoutePatterns(r);
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(*p, (std::vector<std::string>{
                    "(?:^|\\n)x\\-canary: a\\.b\\ c\\r\\n",
                    "(?:^|\\n)user\\-agent: Mozilla\\/[^\\r\\n]*\\r\\n",
                    "(?:^|\\n)x\\-user: (?:u[0-9]+)\\r\\n",
                }));
  EXPECT_TRUE(HeaderRoutePatterns({"empty", {}})->empty());
  for (const auto& bad : std::vector<HeaderMatch>{
           {"X Canary", {StringMatch::Kind::kExact, "a"}},
           {"", {StringMatch::Kind::kExact, "a"}},
           {"X-A", {StringMatch::Kind::kExact, "a\nb"}},
           {"X-A", {StringMatch::Kind::kRegex, "a(b"}},
       }) {
    auto e = HeaderRoutePatterns({"bad", {bad}});
    ASSERT_FALSE(e.has_value()) << bad.header_name;
    EXPECT_EQ(e.error().code(), StatusCode::kInvalidArgument);
  }
}

TEST(Answers, InfoPid) {
  auto pid = ParseInfoPid("Name: HAProxy\nVersion: 2.6.12\nPid: 19407\nUptime: 0d\n");
  ASSERT_TRUE(pid.has_value()) << pid.error().ToString();
  EXPECT_EQ(*pid, "19407");
  EXPECT_FALSE(ParseInfoPid("Name: HAProxy\n").has_value());
  EXPECT_EQ(ParseInfoPid("Permission denied\n").error().code(), StatusCode::kPermissionDenied);
}

TEST(RuntimeAddress, Parses) {
  auto u = ParseRuntimeAddress("/run/haproxy/admin.sock");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->Describe(), "unix socket /run/haproxy/admin.sock");
  auto t = ParseRuntimeAddress("127.0.0.1:9999");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->Describe(), "tcp 127.0.0.1:9999");
  auto v6 = ParseRuntimeAddress("[::1]:9999");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_FALSE(ParseRuntimeAddress("").has_value());
  EXPECT_FALSE(ParseRuntimeAddress("::1:9999").has_value());
  EXPECT_FALSE(ParseRuntimeAddress("host:").has_value());
  EXPECT_FALSE(ParseRuntimeAddress("/" + std::string(200, 'a')).has_value());
}

TEST(ResolveEndpoint, NumericAndErrors) {
  auto e = ResolveEndpoint("127.0.0.1:8080");
  ASSERT_TRUE(e.has_value()) << e.error().ToString();
  EXPECT_EQ(e->ip, "127.0.0.1");
  EXPECT_EQ(e->port, 8080);
  auto v6 = ResolveEndpoint("[::1]:80");
  ASSERT_TRUE(v6.has_value()) << v6.error().ToString();
  EXPECT_EQ(v6->ip, "::1");
  EXPECT_EQ(ResolveEndpoint("127.0.0.1").error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveEndpoint("127.0.0.1:0").error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveEndpoint(":80").error().code(), StatusCode::kInvalidArgument);
}

TEST(RunRuntimeCommand, MissingSocketIsUnavailable) {
  auto a = ParseRuntimeAddress("/nonexistent/ramp-haproxy-test.sock");
  ASSERT_TRUE(a.has_value());
  auto r = RunRuntimeCommand(*a, "show info", std::chrono::seconds(1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.error().message(), HasSubstr("/nonexistent/ramp-haproxy-test.sock"));
  EXPECT_EQ(RunRuntimeCommand(*a, "a\nb", std::chrono::seconds(1)).error().code(),
            StatusCode::kInvalidArgument);
}

TEST(HaproxyRouter, ValidatesBeforeQueueing) {
  auto router = NewHaproxyRouter(
      Context(R"({"runtimeApi": "/nonexistent/ramp.sock", "weightMap": {"file": "/w"}})"));
  ASSERT_TRUE(router.has_value()) << router.error().ToString();
  EXPECT_EQ((*router)->Type(), "ramp/haproxy");
  std::promise<Status> p1, p2, p3, p4, p5;
  (*router)->SetWeight(101, {}, [&](Status s) { p1.set_value(s); });
  EXPECT_EQ(p1.get_future().get().code(), StatusCode::kInvalidArgument);
  (*router)->SetWeight(10, {{"exp", "h", 5}}, [&](Status s) { p2.set_value(s); });
  EXPECT_EQ(p2.get_future().get().code(), StatusCode::kUnimplemented);
  (*router)->SetMirrorRoute({"m", {RouteMatch{}}, 10}, [&](Status s) { p3.set_value(s); });
  Status mirror = p3.get_future().get();
  EXPECT_EQ(mirror.code(), StatusCode::kUnimplemented);
  EXPECT_THAT(mirror.message(), HasSubstr("mirror"));
  (*router)->SetHeaderRoute({"h", {{"X-A", {StringMatch::Kind::kRegex, "(unclosed"}}}},
                            [&](Status s) { p4.set_value(s); });
  Status bad_regex = p4.get_future().get();
  EXPECT_EQ(bad_regex.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_regex.message(), HasSubstr("(unclosed"));
  // The socket is missing: the queued operation fails with kUnavailable, no crash.
  (*router)->SetWeight(10, {}, [&](Status s) { p5.set_value(s); });
  Status s = p5.get_future().get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/ramp.sock"));
}

TEST(HaproxyRouter, DestructionCancelsOrCompletesEveryOperation) {
  int calls = 0;
  {
    auto router = NewHaproxyRouter(
        Context(R"({"runtimeApi": "/nonexistent/ramp.sock", "weightMap": {"file": "/w"}})"));
    ASSERT_TRUE(router.has_value());
    for (int i = 0; i < 20; ++i) {
      (*router)->SetWeight(i, {}, [&](Status s) {
        EXPECT_FALSE(s.ok());
        ++calls;
      });
    }
  }
  EXPECT_EQ(calls, 20);
}

TEST(NewHaproxyRouter, RejectsBadConfig) {
  auto r = NewHaproxyRouter(Context("{}"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ramp::haproxy
