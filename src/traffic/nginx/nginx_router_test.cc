#include "traffic/nginx/nginx_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>

namespace ramp::nginx {
namespace {

using ::testing::HasSubstr;

RouterContext ShopContext(std::string config_json) {
  RouterContext c;
  c.rollout = {"default", "shop"};
  c.stable_service = "shop-stable";
  c.canary_service = "shop-canary";
  c.config_json = std::move(config_json);
  return c;
}

TEST(DecodeNginxConfigTest, Defaults) {
  auto c = DecodeNginxConfig(ShopContext(R"({"configFile": "/etc/nginx/conf.d/ramp-shop.conf"})"));
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->config_file, "/etc/nginx/conf.d/ramp-shop.conf");
  EXPECT_EQ(c->stable_upstream, "shop-stable");
  EXPECT_EQ(c->canary_upstream, "shop-canary");
  EXPECT_EQ(c->variable, "ramp_shop");
  EXPECT_EQ(c->split_key, "$request_id");
  EXPECT_EQ(c->test_command, (std::vector<std::string>{"nginx", "-t"}));
  EXPECT_EQ(c->reload_command, (std::vector<std::string>{"nginx", "-s", "reload"}));
  EXPECT_EQ(c->command_timeout, std::chrono::seconds(30));
}

TEST(DecodeNginxConfigTest, VariableFromRolloutNameAndOverrides) {
  RouterContext ctx = ShopContext(R"({"configFile": "/x.conf", "stableUpstream": "a",
      "canaryUpstream": "b", "splitKey": "$cookie_session", "testCommand": ["/bin/true"],
      "reloadCommand": ["systemctl", "reload", "nginx"], "commandTimeout": "1m30s"})");
  ctx.rollout.name = "my-shop.v2";
  auto c = DecodeNginxConfig(ctx);
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->variable, "ramp_my_shop_v2");
  EXPECT_EQ(c->stable_upstream, "a");
  EXPECT_EQ(c->canary_upstream, "b");
  EXPECT_EQ(c->split_key, "$cookie_session");
  EXPECT_EQ(c->test_command, (std::vector<std::string>{"/bin/true"}));
  EXPECT_EQ(c->reload_command.size(), 3u);
  EXPECT_EQ(c->command_timeout, std::chrono::seconds(90));
}

TEST(DecodeNginxConfigTest, BlueGreenUsesActiveAndPreview) {
  RouterContext ctx;
  ctx.rollout = {"default", "web"};
  ctx.active_service = "web-active";
  ctx.preview_service = "web-preview";
  ctx.config_json = R"({"configFile": "/x.conf"})";
  auto c = DecodeNginxConfig(ctx);
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->stable_upstream, "web-active");
  EXPECT_EQ(c->canary_upstream, "web-preview");
}

TEST(DecodeNginxConfigTest, Errors) {
  struct Case {
    std::string json;
    std::string field;
    std::string what;
  };
  const Case cases[] = {
      {R"({})", "configFile", "required"},
      {R"({"configFile": 3})", "configFile", "string"},
      {R"({"configFile": "/x", "bogus": 1})", "bogus", "unknown field"},
      {R"({"configFile": "/x", "splitKey": "request_id"})", "splitKey", "no NGINX variable"},
      {R"({"configFile": "/x", "splitKey": "$a\"b"})", "splitKey", "character"},
      {R"({"configFile": "/x", "variable": "$v"})", "variable", "not a variable name"},
      {R"({"configFile": "/x", "canaryUpstream": "shop-stable"})", "canaryUpstream", "differ"},
      {R"({"configFile": "/x", "stableUpstream": "a b"})", "stableUpstream", "not a name"},
      {R"({"configFile": "/x", "testCommand": []})", "testCommand", "non-empty"},
      {R"({"configFile": "/x", "reloadCommand": ["nginx", 1]})", "reloadCommand[1]", "string"},
      {R"({"configFile": "/x", "commandTimeout": "500ms"})", "commandTimeout", "minimum of 1s"},
      {R"({"configFile": "/x", "commandTimeout": "30"})", "commandTimeout", "not a duration"},
      {R"([1])", "", "must be an object"},
      {R"({"configFile": )", "", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto r = DecodeNginxConfig(ShopContext(c.json));
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(r.error().message(), HasSubstr("ramp/nginx")) << c.json;
    EXPECT_THAT(r.error().message(), HasSubstr(c.field)) << c.json;
    EXPECT_THAT(r.error().message(), HasSubstr(c.what)) << c.json;
  }
}

TEST(CanaryBasisPointsTest, ExactAndRounded) {
  EXPECT_EQ(CanaryBasisPoints(0, 100), 0);
  EXPECT_EQ(CanaryBasisPoints(20, 100), 2000);
  EXPECT_EQ(CanaryBasisPoints(100, 100), 10000);
  EXPECT_EQ(CanaryBasisPoints(1, 1000), 10);
  EXPECT_EQ(CanaryBasisPoints(1, 3), 3333);
  EXPECT_EQ(CanaryBasisPoints(2, 3), 6667);
  EXPECT_EQ(CanaryBasisPoints(1, 1000000), 1);          // never rounds a live canary to 0
  EXPECT_EQ(CanaryBasisPoints(999999, 1000000), 9999);  // nor a partial one to 100 %
}

TEST(FormatPercentTest, TwoDecimalsAtMost) {
  EXPECT_EQ(FormatPercent(2000), "20%");
  EXPECT_EQ(FormatPercent(1250), "12.5%");
  EXPECT_EQ(FormatPercent(1), "0.01%");
  EXPECT_EQ(FormatPercent(3333), "33.33%");
  EXPECT_EQ(FormatPercent(10000), "100%");
}

NginxFileSpec DocSpec(int32_t bp) {
  NginxFileSpec s;
  s.header_comment = "/etc/nginx/conf.d/ramp-shop.conf - written by ramp";
  s.stable_upstream = "shop-stable";
  s.stable_endpoints = {"10.0.0.11:8080", "10.0.0.12:8080"};
  s.canary_upstream = "shop-canary";
  s.canary_endpoints = {"10.0.0.21:8080"};
  s.variable = "ramp_shop";
  s.split_key = "$request_id";
  s.canary_basis_points = bp;
  return s;
}

// The example of docs/manifests.md "### ramp/nginx", weight 20.
TEST(RenderNginxFileTest, DocExample) {
  EXPECT_EQ(RenderNginxFile(DocSpec(2000)),
            "# /etc/nginx/conf.d/ramp-shop.conf - written by ramp\n"
            "upstream shop-stable { server 10.0.0.11:8080; server 10.0.0.12:8080; }\n"
            "upstream shop-canary { server 10.0.0.21:8080; }\n"
            "split_clients \"${request_id}\" $ramp_shop {\n"
            "    20% shop-canary;\n"
            "    * shop-stable;\n"
            "}\n"
            "map \"\" $ramp_shop_mirror {\n"
            "    default \"\";\n"
            "}\n");
}

TEST(RenderNginxFileTest, HeaderRoutesChainMapsInFrontOfTheSplit) {
  NginxFileSpec s = DocSpec(2000);
  s.header_comment.clear();
  s.header_routes = {{"beta", {{"X-Canary", {StringMatch::Kind::kExact, "a.b \"c\""}}}},
                     {"ua",
                      {{"User-Agent", {StringMatch::Kind::kPrefix, "Mobile/"}},
                       {"x-user", {StringMatch::Kind::kRegex, "^u[0-9]+$"}}}}};
  EXPECT_EQ(SplitVariable(s), "ramp_shop_weighted");
  EXPECT_EQ(RenderNginxFile(s),
            "upstream shop-stable { server 10.0.0.11:8080; server 10.0.0.12:8080; }\n"
            "upstream shop-canary { server 10.0.0.21:8080; }\n"
            "split_clients \"${request_id}\" $ramp_shop_weighted {\n"
            "    20% shop-canary;\n"
            "    * shop-stable;\n"
            "}\n"
            "# header route \"beta\"\n"
            "# header route \"ua\"\n"
            "map $http_x_canary $ramp_shop {\n"
            "    \"~^a\\\\.b\\\\ \\\\\\\"c\\\\\\\"$\" shop-canary;\n"
            "    default $ramp_shop_h1;\n"
            "}\n"
            "map $http_user_agent $ramp_shop_h1 {\n"
            "    \"~^Mobile\\\\/\" shop-canary;\n"
            "    default $ramp_shop_h2;\n"
            "}\n"
            "map $http_x_user $ramp_shop_h2 {\n"
            "    \"~^(?:u[0-9]+)$\" shop-canary;\n"
            "    default $ramp_shop_weighted;\n"
            "}\n"
            "map \"\" $ramp_shop_mirror {\n"
            "    default \"\";\n"
            "}\n");
  auto bp = ParseCanaryBasisPoints(RenderNginxFile(s), SplitVariable(s), "shop-canary");
  ASSERT_TRUE(bp.has_value()) << bp.error().message();
  EXPECT_EQ(*bp, 2000);
}

TEST(RenderNginxFileTest, MirrorRoutesSetTheMirrorVariable) {
  NginxFileSpec s = DocSpec(0);
  s.header_comment.clear();
  RouteMatch get_api;
  get_api.method = StringMatch{StringMatch::Kind::kExact, "GET"};
  get_api.path = StringMatch{StringMatch::Kind::kPrefix, "/api"};
  get_api.headers["X-Debug"] = StringMatch{StringMatch::Kind::kExact, "1"};
  RouteMatch exact_path;
  exact_path.path = StringMatch{StringMatch::Kind::kExact, "/a"};
  s.mirror_routes = {{"shadow", {get_api, exact_path}, 25}, {"all", {RouteMatch{}}, std::nullopt}};
  std::string text = RenderNginxFile(s);
  EXPECT_THAT(text, HasSubstr("# mirror route \"shadow\", 25%\n"
                              "split_clients \"${request_id}\" $ramp_shop_mirror_pick0 {\n"
                              "    25% shop-canary;\n"
                              "    * \"\";\n"
                              "}\n"
                              "# mirror route \"all\", 100%\n"
                              "map $request_method $ramp_shop_mirror {\n"
                              "    \"~^GET$\" $ramp_shop_mirror_1;\n"
                              "    default $ramp_shop_mirror_3;\n"
                              "}\n"
                              "map $request_uri $ramp_shop_mirror_1 {\n"
                              "    \"~^\\\\/api\" $ramp_shop_mirror_2;\n"
                              "    default $ramp_shop_mirror_3;\n"
                              "}\n"
                              "map $http_x_debug $ramp_shop_mirror_2 {\n"
                              "    \"~^1$\" $ramp_shop_mirror_pick0;\n"
                              "    default $ramp_shop_mirror_3;\n"
                              "}\n"
                              "map $request_uri $ramp_shop_mirror_3 {\n"
                              "    \"~^\\\\/a(?:\\\\?.*)?$\" $ramp_shop_mirror_pick0;\n"
                              "    default $ramp_shop_mirror_4;\n"
                              "}\n"
                              "map \"\" $ramp_shop_mirror_4 {\n"
                              "    default shop-canary;\n"
                              "}\n"));
  // Header routes absent: split_clients still sets the variable itself.
  EXPECT_THAT(text, HasSubstr("split_clients \"${request_id}\" $ramp_shop {\n"));
}

TEST(CheckRoutesTest, RejectsWhatNginxCannotExpress) {
  EXPECT_TRUE(CheckHeaderRoute({"h", {{"X-Canary_2", {StringMatch::Kind::kRegex, "a|b"}}}}).ok());
  EXPECT_EQ(CheckHeaderRoute({"h", {{"X.Canary", {StringMatch::Kind::kExact, "a"}}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckHeaderRoute({"h", {{"X-A", {StringMatch::Kind::kExact, "a\nb"}}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckHeaderRoute({"h", {{"X-A", {StringMatch::Kind::kRegex, "(a"}}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckMirrorRoute({"m", {RouteMatch{}}, 101}).code(), StatusCode::kInvalidArgument);
  RouteMatch bad;
  bad.path = StringMatch{StringMatch::Kind::kRegex, "[a"};
  EXPECT_EQ(CheckMirrorRoute({"m", {bad}, 10}).code(), StatusCode::kInvalidArgument);
}

TEST(RenderNginxFileTest, ZeroFullAndEmptyUpstream) {
  NginxFileSpec s = DocSpec(0);
  s.header_comment.clear();
  s.canary_endpoints.clear();
  EXPECT_EQ(RenderNginxFile(s),
            "upstream shop-stable { server 10.0.0.11:8080; server 10.0.0.12:8080; }\n"
            "upstream shop-canary { server 127.0.0.1:1 down; }\n"
            "split_clients \"${request_id}\" $ramp_shop {\n"
            "    * shop-stable;\n"
            "}\n"
            "map \"\" $ramp_shop_mirror {\n"
            "    default \"\";\n"
            "}\n");
  s.canary_basis_points = 10000;
  s.split_key = "$cookie_session-$remote_addr";
  EXPECT_EQ(RenderNginxFile(s),
            "upstream shop-stable { server 10.0.0.11:8080; server 10.0.0.12:8080; }\n"
            "upstream shop-canary { server 127.0.0.1:1 down; }\n"
            "split_clients \"${cookie_session}-${remote_addr}\" $ramp_shop {\n"
            "    * shop-canary;\n"
            "}\n"
            "map \"\" $ramp_shop_mirror {\n"
            "    default \"\";\n"
            "}\n");
  s.canary_basis_points = 1;
  EXPECT_THAT(RenderNginxFile(s), HasSubstr("    0.01% shop-canary;\n    * shop-stable;\n"));
}

TEST(ParseCanaryBasisPointsTest, ReadsWhatRenderWrote) {
  for (int32_t bp : {0, 1, 10, 1250, 2000, 3333, 9999, 10000}) {
    auto r = ParseCanaryBasisPoints(RenderNginxFile(DocSpec(bp)), "ramp_shop", "shop-canary");
    ASSERT_TRUE(r.has_value()) << bp << ": " << r.error().message();
    EXPECT_EQ(*r, bp);
  }
  EXPECT_EQ(ParseCanaryBasisPoints(RenderNginxFile(DocSpec(10)), "ramp_other", "shop-canary")
                .error()
                .code(),
            StatusCode::kNotFound);
  EXPECT_FALSE(ParseCanaryBasisPoints("split_clients \"$a\" $v {\n    x shop-canary;\n}\n", "v",
                                      "shop-canary")
                   .has_value());
}

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->timed_out);
  EXPECT_THAT(r->output, HasSubstr("out\n"));
  EXPECT_THAT(r->output, HasSubstr("err\n"));
}

TEST(RunCommandTest, MissingProgram) {
  auto r = RunCommand({"/nonexistent/ramp-no-such-program"}, std::chrono::seconds(10));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
}

TEST(RunCommandTest, TimeoutKillsTheGroup) {
  // The grandchild `sleep` holds the pipe open; only killing the group ends it.
  auto r =
      RunCommand({"sh", "-c", "sleep 30 & sleep 30; echo never"}, std::chrono::milliseconds(300));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_THAT(r->output, ::testing::Not(HasSubstr("never")));
}

// Waits (bounded) for an asynchronous `done`.
template <typename T>
T Await(std::future<T>& f) {
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "operation did not complete within 30s";
    return T(InternalError("timeout"));
  }
  return f.get();
}

Status SetWeight(TrafficRouter& r, int32_t w) {
  std::promise<Status> p;
  auto f = p.get_future();
  r.SetWeight(w, {}, [&p](Status s) { p.set_value(std::move(s)); });
  return Await(f);
}

Status Switch(TrafficRouter& r, ServiceRole role, std::string hash) {
  std::promise<Status> p;
  auto f = p.get_future();
  r.SwitchService(role, hash, [&p](Status s) { p.set_value(std::move(s)); });
  return Await(f);
}

Status Endpoints(TrafficRouter& r, std::string hash, std::vector<std::string> a) {
  std::promise<Status> p;
  auto f = p.get_future();
  r.SetRevisionEndpoints(hash, a, [&p](Status s) { p.set_value(std::move(s)); });
  return Await(f);
}

WeightCheck Verify(TrafficRouter& r, int32_t w) {
  std::promise<StatusOr<WeightCheck>> p;
  auto f = p.get_future();
  r.VerifyWeight(w, {}, [&p](StatusOr<WeightCheck> c) { p.set_value(std::move(c)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "VerifyWeight did not complete";
    return {};
  }
  auto c = f.get();
  EXPECT_TRUE(c.has_value()) << c.error().message();
  return c.value_or(WeightCheck{});
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class NginxRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ramp-nginx-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A router whose testCommand is `test_cmd` and whose reloadCommand counts its runs.
  std::unique_ptr<TrafficRouter> Make(const std::string& test_cmd) {
    std::string json = R"({"configFile": ")" + (dir_ / "ramp.conf").string() +
                       R"(", "testCommand": ["sh", "-c", ")" + test_cmd +
                       R"("], "reloadCommand": ["sh", "-c", "echo r >> )" +
                       (dir_ / "reloads").string() + R"("], "commandTimeout": "10s"})";
    auto r = NewNginxRouter(ShopContext(json));
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r ? std::move(*r) : nullptr;
  }
  int Reloads() {
    std::string s = ReadAll(dir_ / "reloads");
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }

  std::filesystem::path dir_;
};

TEST_F(NginxRouterTest, WritesReloadsAndIsIdempotent) {
  auto r = Make("true");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Type(), "ramp/nginx");
  ASSERT_TRUE(Endpoints(*r, "s1", {"127.0.0.1:8001"}).ok());
  ASSERT_TRUE(Switch(*r, ServiceRole::kStable, "s1").ok());
  ASSERT_TRUE(Endpoints(*r, "c1", {"127.0.0.1:8002", "127.0.0.1:8003"}).ok());
  ASSERT_TRUE(Switch(*r, ServiceRole::kCanary, "c1").ok());
  ASSERT_TRUE(SetWeight(*r, 25).ok());
  std::string text = ReadAll(dir_ / "ramp.conf");
  EXPECT_THAT(text, HasSubstr("upstream shop-stable { server 127.0.0.1:8001; }\n"));
  EXPECT_THAT(
      text, HasSubstr("upstream shop-canary { server 127.0.0.1:8002; server 127.0.0.1:8003; }\n"));
  EXPECT_THAT(text, HasSubstr("    25% shop-canary;\n    * shop-stable;\n"));
  int reloads = Reloads();
  // The first call creates the file; c1's instances change nothing until canary points at c1.
  EXPECT_EQ(reloads, 4);
  ASSERT_TRUE(SetWeight(*r, 25).ok());
  ASSERT_TRUE(Switch(*r, ServiceRole::kCanary, "c1").ok());
  EXPECT_EQ(Reloads(), reloads);  // nothing changed, nothing reloaded
  WeightCheck ok = Verify(*r, 25);
  EXPECT_EQ(ok.verification, WeightVerification::kVerified) << ok.message;
  EXPECT_EQ(ok.observed_weight, 25);
  WeightCheck bad = Verify(*r, 30);
  EXPECT_EQ(bad.verification, WeightVerification::kNotVerified);
  EXPECT_EQ(bad.observed_weight, 25);
  EXPECT_THAT(bad.message, HasSubstr("expected 30%"));
  // The canary revision loses its instances: its upstream stays valid but never serves.
  ASSERT_TRUE(Endpoints(*r, "c1", {}).ok());
  EXPECT_THAT(ReadAll(dir_ / "ramp.conf"),
              HasSubstr("upstream shop-canary { server 127.0.0.1:1 down; }\n"));
}

TEST_F(NginxRouterTest, FailedTestRestoresThePreviousFile) {
  {
    auto good = Make("true");
    ASSERT_TRUE(good);
    ASSERT_TRUE(SetWeight(*good, 10).ok());
  }
  std::string before = ReadAll(dir_ / "ramp.conf");
  ASSERT_THAT(before, HasSubstr("10% shop-canary"));
  auto r = Make("echo emerg: bad config >&2; exit 1");
  ASSERT_TRUE(r);
  int reloads = Reloads();
  Status s = SetWeight(*r, 50);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("emerg: bad config"));
  EXPECT_THAT(s.message(), HasSubstr("previous file was restored"));
  EXPECT_EQ(ReadAll(dir_ / "ramp.conf"), before);
  EXPECT_EQ(Reloads(), reloads);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ramp.conf.ramp-tmp"));
  WeightCheck c = Verify(*r, 50);
  EXPECT_EQ(c.verification, WeightVerification::kNotVerified);
  EXPECT_EQ(c.observed_weight, 10);
}

TEST_F(NginxRouterTest, FailedTestWithNoPreviousFileRemovesIt) {
  auto r = Make("exit 1");
  ASSERT_TRUE(r);
  EXPECT_EQ(SetWeight(*r, 50).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "ramp.conf"));
}

TEST_F(NginxRouterTest, RejectsWhatItCannotDo) {
  auto r = Make("true");
  ASSERT_TRUE(r);
  EXPECT_EQ(SetWeight(*r, 101).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SetWeight(*r, -1).code(), StatusCode::kInvalidArgument);
  Status header, mirror, extra, endpoint;
  r->SetHeaderRoute({"h", {{"X Bad", {StringMatch::Kind::kExact, "a"}}}},
                    [&](Status s) { header = s; });
  r->SetMirrorRoute({"m", {RouteMatch{}}, 150}, [&](Status s) { mirror = s; });
  r->SetWeight(10, {{"exp", "abc", 5}}, [&](Status s) { extra = s; });
  r->SetRevisionEndpoints("x", {"1.2.3.4:80; evil"}, [&](Status s) { endpoint = s; });
  EXPECT_EQ(header.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(header.message(), HasSubstr("X Bad"));
  EXPECT_EQ(mirror.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(extra.code(), StatusCode::kUnimplemented);
  EXPECT_EQ(endpoint.code(), StatusCode::kInvalidArgument);
}

Status RunOp(const std::function<void(StatusCallback)>& op) {
  std::promise<Status> p;
  auto f = p.get_future();
  op([&p](Status s) { p.set_value(std::move(s)); });
  return Await(f);
}

TEST_F(NginxRouterTest, RoutesAreWrittenVerifiedAndRemoved) {
  auto r = Make("true");
  ASSERT_TRUE(r);
  ASSERT_TRUE(SetWeight(*r, 10).ok());
  HeaderRoute h{"beta", {{"X-Canary", {StringMatch::Kind::kExact, "yes"}}}};
  ASSERT_TRUE(RunOp([&](auto d) { r->SetHeaderRoute(h, d); }).ok());
  ASSERT_TRUE(RunOp([&](auto d) { r->SetMirrorRoute({"shadow", {RouteMatch{}}, 50}, d); }).ok());
  std::string text = ReadAll(dir_ / "ramp.conf");
  EXPECT_THAT(text, HasSubstr("$ramp_shop_weighted {\n    10% shop-canary;"));
  EXPECT_THAT(text, HasSubstr("map $http_x_canary $ramp_shop {\n"));
  EXPECT_THAT(text, HasSubstr("$ramp_shop_mirror_pick0 {\n    50% shop-canary;"));
  WeightCheck ok = Verify(*r, 10);
  EXPECT_EQ(ok.verification, WeightVerification::kVerified) << ok.message;
  int reloads = Reloads();
  ASSERT_TRUE(RunOp([&](auto d) { r->SetHeaderRoute(h, d); }).ok());
  EXPECT_EQ(Reloads(), reloads);  // the same route again changes nothing
  ASSERT_TRUE(RunOp([&](auto d) { r->SetHeaderRoute({"beta", {}}, d); }).ok());
  EXPECT_THAT(ReadAll(dir_ / "ramp.conf"), ::testing::Not(HasSubstr("http_x_canary")));
  ASSERT_TRUE(RunOp([&](auto d) { r->RemoveManagedRoutes(d); }).ok());
  text = ReadAll(dir_ / "ramp.conf");
  EXPECT_THAT(text, ::testing::Not(HasSubstr("mirror route")));
  EXPECT_THAT(text, HasSubstr("map \"\" $ramp_shop_mirror {\n    default \"\";\n}\n"));
  EXPECT_EQ(Verify(*r, 10).verification, WeightVerification::kVerified);
}

TEST_F(NginxRouterTest, DestroyingCancelsQueuedOperations) {
  auto r = Make("sleep 1");
  ASSERT_TRUE(r);
  std::vector<std::promise<Status>> promises(3);
  for (int i = 0; i < 3; ++i) {
    r->SetWeight(10 * (i + 1), {}, [&promises, i](Status s) { promises[i].set_value(s); });
  }
  r.reset();  // returns once the running operation finished (bounded by commandTimeout)
  int cancelled = 0;
  for (auto& p : promises) {
    auto f = p.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    if (f.get().code() == StatusCode::kCancelled) ++cancelled;
  }
  EXPECT_GE(cancelled, 1);
}

}  // namespace
}  // namespace ramp::nginx
