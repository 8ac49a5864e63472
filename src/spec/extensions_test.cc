#include "spec/extensions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "spec/manifest.h"

namespace ramp::spec {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// Parses one YAML document and collects what the validators report about it.
struct Fixture {
  explicit Fixture(std::string_view text) {
    auto d = ParseDocuments(text, "t.yaml");
    EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message());
    if (d) docs = std::move(*d);
  }
  const Node& root() const { return docs.at(0).root; }
  // The value at a path of map keys below the root.
  const Node& At(std::initializer_list<std::string_view> keys) const {
    const Node* n = &root();
    for (std::string_view k : keys) {
      n = n->Find(k);
      EXPECT_NE(n, nullptr) << k;
      if (n == nullptr) return root();
    }
    return *n;
  }
  // "LINE:COL PATH | MESSAGE" of every diagnostic of one severity, in report order.
  std::vector<std::string> Of(Severity severity) const {
    std::vector<std::string> out;
    for (const auto& d : diags.items()) {
      if (d.severity != severity) continue;
      out.push_back(std::to_string(d.mark.line) + ":" + std::to_string(d.mark.column) + " " +
                    d.path + " | " + d.message);
    }
    return out;
  }
  std::vector<std::string> Errors() const { return Of(Severity::kError); }
  std::vector<std::string> Warnings() const { return Of(Severity::kWarning); }

  std::vector<Document> docs;
  Diagnostics diags;
  SourceMap sources;
  DecodeContext ctx{"t.yaml", &diags, &sources};
};

// A diagnostic at LINE:COL on PATH whose message contains `fragment`.
auto At(int line, int col, const std::string& path, const std::string& fragment) {
  return AllOf(StartsWith(std::to_string(line) + ":" + std::to_string(col) + " " + path + " | "),
               HasSubstr(fragment));
}

bool Router(Fixture& f, std::string_view name) {
  return ValidateRampRouterPlugin(&f.ctx, name, f.root(), "cfg");
}
bool Metric(Fixture& f, std::string_view name) {
  return ValidateRampMetricPlugin(&f.ctx, name, f.root(), "cfg");
}
bool Step(Fixture& f, std::string_view name) {
  return ValidateRampStepPlugin(&f.ctx, name, &f.root(), "cfg");
}
void Annotations(Fixture& f) {
  ValidateRolloutAnnotations(&f.ctx, &f.At({"annotations"}), "metadata.annotations");
}
void Workload(Fixture& f) { CheckProcessWorkload(&f.ctx, &f.root(), "spec.template.spec"); }

TEST(RampPluginName, Namespace) {
  EXPECT_TRUE(IsRampPluginName("ramp/proxy"));
  EXPECT_TRUE(IsRampPluginName("ramp/anything"));
  EXPECT_FALSE(IsRampPluginName("argoproj-labs/gatewayAPI"));
  EXPECT_FALSE(IsRampPluginName("ramp"));
  EXPECT_FALSE(IsRampPluginName("rampage/x"));
}

// ---------------------------------------------------------------------------------------------
// Routers.

TEST(ProxyRouter, CompleteConfigIsValid) {
  Fixture f(R"y(listen: 0.0.0.0:8080
admin:
  socket: /run/ramp/proxy.sock
  tokenFile: /etc/ramp/proxy-token
sticky:
  cookie: shop-revision
  ttl: 1h
loadBalancing: leastRequest
connectTimeout: 2s
requestTimeout: 0s
idleTimeout: 90s
)y");
  EXPECT_TRUE(Router(f, "ramp/proxy"));
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(ProxyRouter, ListenForms) {
  for (const char* ok : {":8080", "127.0.0.1:80", "[::]:8080", "[::1]:1", "shop.internal:443"}) {
    Fixture f(std::string("listen: \"") + ok + "\"\n");
    EXPECT_TRUE(Router(f, "ramp/proxy")) << ok;
  }
  struct Case {
    const char* listen;
    const char* fragment;
  };
  for (const Case& c :
       {Case{"8080", "missing port"}, Case{"::1:8080", "in brackets"},
        Case{"host:0", "port 0 is not between 1 and 65535"},
        Case{"host:99999", "port 99999 is not between 1 and 65535"},
        Case{"http://host:80", "without a scheme"}, Case{"10.0.0.300:80", "is not an IPv4 address"},
        Case{"-bad-.example:80", "is not a host name"}, Case{"a b:80", "without spaces"}}) {
    Fixture f(std::string("listen: \"") + c.listen + "\"\n");
    EXPECT_FALSE(Router(f, "ramp/proxy")) << c.listen;
    EXPECT_THAT(f.Errors(), ElementsAre(At(1, 9, "cfg.listen", c.fragment))) << c.listen;
  }
}

TEST(ProxyRouter, MissingListenAndUnknownField) {
  Fixture f("listn: :8080\nloadBalancing: leastRequests\n");
  EXPECT_FALSE(Router(f, "ramp/proxy"));
  EXPECT_THAT(
      f.Errors(),
      ElementsAre(At(1, 1, "cfg.listen", "Required value: the address the proxy serves"),
                  At(2, 16, "cfg.loadBalancing",
                     "must be one of roundRobin, leastRequest (got \"leastRequests\"; did you "
                     "mean \"leastRequest\"?)"),
                  At(1, 1, "cfg.listn", "unknown field \"listn\" (did you mean \"listen\"?)")));
}

TEST(ProxyRouter, NullConfigNeedsListen) {
  Fixture f("{}\n");
  EXPECT_FALSE(Router(f, "ramp/proxy"));
  EXPECT_THAT(f.Errors(), ElementsAre(At(1, 1, "cfg.listen", "Required value")));
}

TEST(ProxyRouter, NotAMap) {
  Fixture f("[a]\n");
  EXPECT_FALSE(Router(f, "ramp/proxy"));
  EXPECT_THAT(f.Errors(), ElementsAre(At(1, 1, "cfg", "expected a map (object)")));
}

TEST(ProxyRouter, StickyRules) {
  Fixture f(R"y(listen: :80
sticky:
  cookie: "bad cookie"
  header: x-user
  ttl: 5
)y");
  EXPECT_FALSE(Router(f, "ramp/proxy"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(5, 8, "cfg.sticky.ttl", "missing unit (write e.g. \"5s\""),
                          At(3, 3, "cfg.sticky", "set either cookie or header, not both"),
                          At(3, 11, "cfg.sticky.cookie", "must be an HTTP token")));

  Fixture g("listen: :80\nsticky:\n  header: x-user\n  ttl: 1m\n");
  EXPECT_FALSE(Router(g, "ramp/proxy"));
  EXPECT_THAT(g.Errors(), ElementsAre(At(4, 8, "cfg.sticky.ttl", "applies to a sticky cookie")));

  Fixture h("listen: :80\nsticky: {}\n");
  EXPECT_FALSE(Router(h, "ramp/proxy"));
  EXPECT_THAT(h.Errors(), ElementsAre(At(2, 9, "cfg.sticky", "Required value: cookie")));
}

TEST(ProxyRouter, Timeouts) {
  Fixture f("listen: :80\nconnectTimeout: 0s\nrequestTimeout: -1s\nidleTimeout: soon\n");
  EXPECT_FALSE(Router(f, "ramp/proxy"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(2, 17, "cfg.connectTimeout", "must be at least 1ms (got 0s)"),
                          At(3, 17, "cfg.requestTimeout", "must be at least 0s (got -1s)"),
                          At(4, 14, "cfg.idleTimeout", "invalid duration \"soon\"")));
}

TEST(ProxyAdmin, Rules) {
  Fixture a("listen: :80\nadmin:\n  address: 10.0.0.5:9901\n  tokenFile: token\n");
  EXPECT_FALSE(Router(a, "ramp/proxy"));
  EXPECT_THAT(a.Errors(),
              ElementsAre(At(3, 12, "cfg.admin.address", "must be a loopback address"),
                          At(4, 14, "cfg.admin.tokenFile", "expected an absolute file path")));

  Fixture b("listen: :80\nadmin:\n  address: localhost:9901\n");
  EXPECT_FALSE(Router(b, "ramp/proxy"));
  EXPECT_THAT(b.Errors(),
              ElementsAre(At(3, 3, "cfg.admin.tokenFile", "an admin address needs tokenFile")));

  Fixture c("listen: :80\nadmin:\n  socket: /s\n  address: 127.0.0.1:1\n  tokenFile: /t\n");
  EXPECT_FALSE(Router(c, "ramp/proxy"));
  EXPECT_THAT(c.Errors(), ElementsAre(At(3, 3, "cfg.admin", "either socket or address")));

  Fixture d("listen: :80\nadmin:\n  socket: /" + std::string(120, 'x') + "\n");
  EXPECT_FALSE(Router(d, "ramp/proxy"));
  EXPECT_THAT(d.Errors(), ElementsAre(At(3, 11, "cfg.admin.socket", "at most 107 bytes")));

  Fixture e("listen: :80\nadmin:\n  tokenFile: /t\n  sockt: /s\n");
  EXPECT_FALSE(Router(e, "ramp/proxy"));
  EXPECT_THAT(e.Errors(), ElementsAre(At(4, 3, "cfg.admin.sockt", "did you mean \"socket\"?"),
                                      At(3, 3, "cfg.admin", "Required value: socket")));

  Fixture ok("listen: :80\nadmin: {address: \"[::1]:9901\", tokenFile: /etc/ramp/token}\n");
  EXPECT_TRUE(Router(ok, "ramp/proxy"));
  EXPECT_THAT(ok.diags.items(), IsEmpty());
}

TEST(HaproxyRouter, CompleteConfigIsValid) {
  Fixture f(R"y(runtimeApi: /run/haproxy/admin.sock
stableBackend: shop-stable
canaryBackend: shop-canary
serverTemplate: srv
weightMap:
  file: /etc/haproxy/ramp-weights.map
  key: shop
timeout: 2s
)y");
  EXPECT_TRUE(Router(f, "ramp/haproxy"));
  EXPECT_THAT(f.diags.items(), IsEmpty());

  Fixture tcp("runtimeApi: 127.0.0.1:9999\nweightMap: {file: /w.map}\n");
  EXPECT_TRUE(Router(tcp, "ramp/haproxy"));
  EXPECT_THAT(tcp.diags.items(), IsEmpty());
}

TEST(HaproxyRouter, RequiredFields) {
  Fixture f("stableBackend: a\n");
  EXPECT_FALSE(Router(f, "ramp/haproxy"));
  EXPECT_THAT(f.Errors(), ElementsAre(At(1, 1, "cfg.runtimeApi", "Required value: HAProxy's"),
                                      At(1, 1, "cfg.weightMap", "Required value: {file, key}")));

  Fixture g("runtimeApi: /s\nweightMap: {key: shop}\n");
  EXPECT_FALSE(Router(g, "ramp/haproxy"));
  EXPECT_THAT(g.Errors(), ElementsAre(At(2, 12, "cfg.weightMap.file", "Required value")));
}

TEST(HaproxyRouter, BadValues) {
  Fixture f(R"y(runtimeApi: haproxy.internal
stableBackend: same
canaryBackend: same
serverTemplate: "srv "
weightMap: {file: ramp.map, key: "a b"}
timeout: 0s
)y");
  EXPECT_FALSE(Router(f, "ramp/haproxy"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(1, 13, "cfg.runtimeApi", "expected a unix socket path"),
                          At(3, 16, "cfg.canaryBackend", "must differ (both are \"same\")"),
                          At(4, 17, "cfg.serverTemplate", "the prefix of a `server-template`"),
                          At(5, 19, "cfg.weightMap.file", "absolute file path"),
                          At(5, 34, "cfg.weightMap.key", "without spaces"),
                          At(6, 10, "cfg.timeout", "must be at least 1ms")));
}

TEST(HaproxyRouter, RemoteRuntimeApiIsAWarning) {
  Fixture f("runtimeApi: 10.1.2.3:9999\nweightMap: {file: /w.map}\n");
  EXPECT_TRUE(Router(f, "ramp/haproxy"));
  EXPECT_THAT(f.Warnings(), ElementsAre(At(1, 13, "cfg.runtimeApi", "has no authentication")));
}

TEST(NginxRouter, CompleteConfigIsValid) {
  Fixture f(R"y(configFile: /etc/nginx/conf.d/ramp-shop.conf
stableUpstream: shop-stable
canaryUpstream: shop-canary
variable: shop_upstream
splitKey: "${remote_addr}${http_user_agent}"
testCommand: [nginx, -t]
reloadCommand: [nginx, -s, reload]
commandTimeout: 20s
)y");
  EXPECT_TRUE(Router(f, "ramp/nginx"));
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(NginxRouter, Rules) {
  Fixture f(R"y(configFile: conf.d/ramp.conf
stableUpstream: "a;b"
canaryUpstream: x
variable: $shop
splitKey: constant
reloadCommand: []
testCommand: ["", -t]
commandTimeout: 100ms
)y");
  EXPECT_FALSE(Router(f, "ramp/nginx"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(1, 13, "cfg.configFile", "absolute file path"),
                          At(2, 17, "cfg.stableUpstream", "NGINX upstream name"),
                          At(4, 11, "cfg.variable", "without \"$\""),
                          At(5, 11, "cfg.splitKey", "must contain an NGINX variable"),
                          At(7, 15, "cfg.testCommand[0]", "program name may not be empty"),
                          At(6, 16, "cfg.reloadCommand", "got an empty list"),
                          At(8, 17, "cfg.commandTimeout", "must be at least 1s")));

  Fixture g("stableUpstream: a\n");
  EXPECT_FALSE(Router(g, "ramp/nginx"));
  EXPECT_THAT(g.Errors(), ElementsAre(At(1, 1, "cfg.configFile", "Required value: the file")));
}

TEST(Routers, UnknownRampRouter) {
  Fixture f("listen: :80\n");
  EXPECT_FALSE(Router(f, "ramp/proxi"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(1, 1, "cfg",
                             "unknown ramp traffic router \"ramp/proxi\" (did you mean "
                             "\"ramp/proxy\"?); known ramp traffic routers: ramp/proxy, "
                             "ramp/haproxy, ramp/nginx")));
}

// ---------------------------------------------------------------------------------------------
// Metric providers.

TEST(BuiltinMetric, ValidConfigs) {
  for (const char* text : {
           "signal: errorRate\nrevision: canary\nwindow: 2m\nminRequests: 50\n",
           "signal: successRate\nrevision: stable\n",
           "signal: requests\n",
           "signal: errors\nadmin: {socket: /run/ramp/proxy.sock}\n",
           "signal: latency\nquantile: 0.99\nwindow: 30s\n",
           "signal: latencyBucket\nle: 250ms\n",
       }) {
    Fixture f(text);
    EXPECT_TRUE(Metric(f, "ramp/builtin")) << text;
    EXPECT_THAT(f.diags.items(), IsEmpty()) << text;
  }
}

TEST(BuiltinMetric, Rules) {
  Fixture f("revision: baseline\nwindow: 500ms\n");
  EXPECT_FALSE(Metric(f, "ramp/builtin"));
  EXPECT_THAT(f.Errors(), ElementsAre(At(1, 1, "cfg.signal", "Required value: which golden"),
                                      At(1, 11, "cfg.revision", "must be one of canary, stable"),
                                      At(2, 9, "cfg.window", "must be at least 1s (got 500ms)")));

  Fixture g("signal: latency\nwindow: 2h\nminRequests: -1\n");
  EXPECT_FALSE(Metric(g, "ramp/builtin"));
  EXPECT_THAT(g.Errors(), ElementsAre(At(2, 9, "cfg.window", "must be at most 1h"),
                                      At(3, 14, "cfg.minRequests", "must be at least 0"),
                                      At(1, 1, "cfg.quantile", "needs the quantile")));

  Fixture h("signal: errorRate\nquantile: 0.9\nle: 1s\n");
  EXPECT_FALSE(Metric(h, "ramp/builtin"));
  EXPECT_THAT(h.Errors(), ElementsAre(At(2, 1, "cfg.quantile", "applies to signal latency only"),
                                      At(3, 1, "cfg.le", "applies to signal latencyBucket only")));

  Fixture i("signal: latency\nquantile: 1.5\n");
  EXPECT_FALSE(Metric(i, "ramp/builtin"));
  EXPECT_THAT(i.Errors(), ElementsAre(At(2, 11, "cfg.quantile", "between 0 and 1 exclusive")));

  Fixture j("signal: latencyBucket\nle: 0s\n");
  EXPECT_FALSE(Metric(j, "ramp/builtin"));
  EXPECT_THAT(j.Errors(), ElementsAre(At(2, 5, "cfg.le", "positive latency bound")));

  Fixture k("signal: errorrate\nquery: x\n");
  EXPECT_FALSE(Metric(k, "ramp/builtin"));
  EXPECT_THAT(k.Errors(), ElementsAre(At(1, 9, "cfg.signal", "did you mean \"errorRate\"?"),
                                      At(2, 1, "cfg.query", "unknown field \"query\"")));
}

TEST(MetricProviders, JudgeConfigurationIsChecked) {
  Fixture ok("alpha: 0.05\ntolerance: 0.02\nmaxDuration: 5m\n");
  EXPECT_TRUE(Metric(ok, "ramp/judge-errors"));
  EXPECT_THAT(ok.Errors(), IsEmpty());
  Fixture latency("alpha: 0.05\n");
  EXPECT_FALSE(Metric(latency, "ramp/judge-latency"));
  EXPECT_THAT(latency.Errors(),
              ElementsAre(At(1, 1, "cfg", "ramp/judge-latency: latencyBound: required")));
  Fixture typo("aplha: 0.05\n");
  EXPECT_FALSE(Metric(typo, "ramp/judge-errors"));
  EXPECT_THAT(typo.Errors(),
              ElementsAre(At(1, 1, "cfg", "ramp/judge-errors: aplha: unknown field")));
  // Placeholders are resolved per run; lint leaves them be.
  Fixture args("alpha: \"{{args.alpha}}\"\n");
  EXPECT_TRUE(Metric(args, "ramp/judge-errors"));
}

TEST(MetricProviders, SloConfigurationIsChecked) {
  Fixture ok("file: /etc/ramp/slos.yaml\nslo: availability\nseverities: [page]\n");
  EXPECT_TRUE(Metric(ok, "ramp/slo"));
  EXPECT_THAT(ok.Errors(), IsEmpty());
  EXPECT_THAT(ok.Warnings(), IsEmpty());
  Fixture no_file("slo: availability\n");
  EXPECT_FALSE(Metric(no_file, "ramp/slo"));
  EXPECT_THAT(no_file.Errors(), ElementsAre(At(1, 1, "cfg", "ramp/slo: file: required")));
  Fixture wrong_check("file: slos.yaml\ncheck: service\nseverities: [page]\n");
  EXPECT_FALSE(Metric(wrong_check, "ramp/slo"));
  EXPECT_THAT(wrong_check.Errors(),
              ElementsAre(At(1, 1, "cfg", "ramp/slo: severities: applies to check canary only")));
  Fixture budget("file: slos.yaml\ncheck: budget\n");
  EXPECT_FALSE(Metric(budget, "ramp/slo"));
  EXPECT_THAT(budget.Errors(),
              ElementsAre(At(1, 1, "cfg", "ramp/slo: prometheus: required for check budget")));
  Fixture matcher("file: slos.yaml\nprometheus: {address: \"http://prom:9090\"}\n");
  EXPECT_FALSE(Metric(matcher, "ramp/slo"));
  EXPECT_THAT(matcher.Errors(), ElementsAre(At(1, 1, "cfg",
                                               "ramp/slo: revisionMatcher: required with "
                                               "prometheus")));
  // Placeholders are resolved per run; lint leaves them be.
  Fixture args(
      "file: slos.yaml\nprometheus: {address: \"http://prom:9090\"}\n"
      "revisionMatcher: 'version=\"{{args.canary-hash}}\"'\n");
  EXPECT_TRUE(Metric(args, "ramp/slo"));
}

TEST(MetricProviders, UnknownRampProvider) {
  Fixture f("query: up\n");
  EXPECT_FALSE(Metric(f, "ramp/prometheus"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(1, 1, "cfg",
                             "unknown ramp metric provider \"ramp/prometheus\"; known ramp metric "
                             "providers: ramp/builtin, ramp/judge-errors, ramp/judge-latency, "
                             "ramp/slo")));
  Fixture g("signal: requests\n");
  EXPECT_FALSE(Metric(g, "ramp/bultin"));
  EXPECT_THAT(g.Errors(), ElementsAre(At(1, 1, "cfg", "(did you mean \"ramp/builtin\"?)")));
}

// ---------------------------------------------------------------------------------------------
// Step plugins.

TEST(WebhookStep, ValidConfigs) {
  Fixture f(R"y(name: approve
type: confirm-promotion
url: http://flagger-loadtester.test/gate/check
timeout: 5s
interval: 30s
retries: 2
muteAlert: true
disableTLS: false
metadata:
  team: shop
)y");
  EXPECT_TRUE(Step(f, "ramp/webhook"));
  EXPECT_THAT(f.diags.items(), IsEmpty());

  Fixture g("url: https://hooks.example.com:8443/load?x=1\nmetadata: {type: cmd, cmd: hey}\n");
  EXPECT_TRUE(Step(g, "ramp/webhook"));
  EXPECT_THAT(g.diags.items(), IsEmpty());

  Fixture h("url: http://[::1]:9090/\ntype: \"\"\n");  // Flagger: an empty type is rollout
  EXPECT_TRUE(Step(h, "ramp/webhook"));
  EXPECT_THAT(h.diags.items(), IsEmpty());
}

TEST(WebhookStep, NullConfigNeedsUrl) {
  Fixture f("x: 1\n");
  EXPECT_FALSE(ValidateRampStepPlugin(&f.ctx, "ramp/webhook", nullptr, "steps[0].plugin.config"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(0, 0, "steps[0].plugin.config.url", "Required value: the http")));
}

TEST(WebhookStep, Rules) {
  Fixture f(R"y(type: confirm-promotions
url: ftp://x/
timeout: 0s
retries: -1
metadata: [a]
interval: 10
nme: x
)y");
  EXPECT_FALSE(Step(f, "ramp/webhook"));
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(1, 7, "cfg.type", "did you mean \"confirm-promotion\"?"),
                          At(2, 6, "cfg.url", "scheme must be http or https (got \"ftp\")"),
                          At(3, 10, "cfg.timeout", "must be at least 1ms"),
                          At(4, 10, "cfg.retries", "must be at least 0 (got -1)"),
                          At(5, 11, "cfg.metadata", "expected a map of strings"),
                          At(6, 11, "cfg.interval", "missing unit"),
                          At(7, 1, "cfg.nme", "unknown field \"nme\" (did you mean \"name\"?)")));
}

TEST(WebhookStep, Urls) {
  for (const char* bad :
       {"hooks.internal/x", "http://", "http:// x/", "http://a:b:c/", "http://host:70000/"}) {
    Fixture f(std::string("url: \"") + bad + "\"\n");
    EXPECT_FALSE(Step(f, "ramp/webhook")) << bad;
    EXPECT_THAT(f.Errors(), ElementsAre(At(1, 6, "cfg.url", ""))) << bad;
  }
  for (const char* ok : {"http://a", "HTTPS://user:pw@a.b:1/x#y", "http://10.0.0.1:80?q"}) {
    Fixture f(std::string("url: \"") + ok + "\"\n");
    EXPECT_TRUE(Step(f, "ramp/webhook")) << ok;
  }
}

TEST(WebhookStep, TypeDependentWarnings) {
  Fixture f("url: http://a/\ntype: pre-rollout\nmuteAlert: true\ninterval: 5s\n");
  EXPECT_TRUE(Step(f, "ramp/webhook"));
  EXPECT_THAT(f.Warnings(),
              ElementsAre(At(3, 12, "cfg.muteAlert", "no effect on a pre-rollout hook"),
                          At(4, 11, "cfg.interval", "a pre-rollout hook is called once")));
}

TEST(StepPlugins, UnknownRampStepPlugin) {
  Fixture f("url: http://a/\n");
  EXPECT_FALSE(Step(f, "ramp/webhok"));
  EXPECT_THAT(f.Errors(), ElementsAre(At(1, 1, "cfg",
                                         "unknown ramp step plugin \"ramp/webhok\" (did you mean "
                                         "\"ramp/webhook\"?); known ramp step plugins: "
                                         "ramp/webhook")));
}

// ---------------------------------------------------------------------------------------------
// Annotations: platform, static instances, notifications.

TEST(Annotations, StaticPlatformWithInstances) {
  Fixture f(R"y(annotations:
  ramp.dev/platform: static
  ramp.dev/static-instances: |
    registry.example.com/shop:1.4.2:
      - 10.0.0.11:8080
      - "[fd00::12]:8080"
    registry.example.com/shop:1.5.0: [app-3.internal:8080]
)y");
  Annotations(f);
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(Annotations, JsonInstancesOnOneLine) {
  Fixture f(R"y(annotations:
  ramp.dev/platform: static
  ramp.dev/static-instances: '{"shop:1": ["10.0.0.1:80", "10.0.0.1:8o"]}'
)y");
  Annotations(f);
  EXPECT_THAT(
      f.Errors(),
      ElementsAre(At(3, 58, "metadata.annotations[\"ramp.dev/static-instances\"][\"shop:1\"][1]",
                     "port \"8o\" is not a number between 1 and 65535 in "
                     "\"10.0.0.1:8o\"")));
}

TEST(Annotations, Platform) {
  Fixture f("annotations:\n  ramp.dev/platform: docker\n");
  Annotations(f);
  EXPECT_THAT(f.Errors(), ElementsAre(At(2, 22, "metadata.annotations[\"ramp.dev/platform\"]",
                                         "must be one of static, process, kubernetes (got "
                                         "\"docker\")")));
  for (const char* ok : {"process", "kubernetes"}) {
    Fixture g(std::string("annotations:\n  ramp.dev/platform: ") + ok + "\n");
    Annotations(g);
    EXPECT_THAT(g.diags.items(), IsEmpty()) << ok;
  }
}

TEST(Annotations, UnknownRampKey) {
  Fixture f("annotations:\n  ramp.dev/platfrom: static\n  ramp.dev/x: y\n  other.io/z: w\n");
  Annotations(f);
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(2, 3, "metadata.annotations[\"ramp.dev/platfrom\"]",
                             "unknown ramp annotation \"ramp.dev/platfrom\" (did you mean "
                             "\"ramp.dev/platform\"?); known ramp.dev annotations: "
                             "ramp.dev/platform, ramp.dev/static-instances, "
                             "ramp.dev/traffic-router"),
                          At(3, 3, "metadata.annotations[\"ramp.dev/x\"]",
                             "unknown ramp annotation \"ramp.dev/x\"; known")));
}

TEST(Annotations, ReplaceReplicaSetsIsTrueOrFalse) {
  for (const char* ok : {"\"true\"", "\"false\""}) {
    Fixture g(std::string("annotations:\n  ramp.dev/replace-replicasets: ") + ok + "\n");
    Annotations(g);
    EXPECT_THAT(g.diags.items(), IsEmpty()) << ok;
  }
  Fixture f("annotations:\n  ramp.dev/replace-replicasets: \"yes\"\n");
  Annotations(f);
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(2, 3, "metadata.annotations[\"ramp.dev/replace-replicasets\"]",
                             "must be \"true\" or \"false\"")));
}

TEST(Annotations, TrafficRouterOfABlueGreenRollout) {
  Fixture f(R"y(annotations:
  ramp.dev/traffic-router: |
    ramp/proxy: {listen: ":8080", previewListen: "127.0.0.1:8081"}
)y");
  Annotations(f);
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(Annotations, TrafficRouterErrorsPointIntoTheValue) {
  Fixture f(R"y(annotations:
  ramp.dev/traffic-router: |
    ramp/proxy: {listen: ":8080", previewListen: ":8080", lisen: x}
)y");
  Annotations(f);
  const std::string at = "metadata.annotations[\"ramp.dev/traffic-router\"][\"ramp/proxy\"]";
  EXPECT_THAT(f.Errors(), ElementsAre(At(3, 50, at + ".previewListen", "must differ from listen"),
                                      At(3, 59, at + ".lisen", "unknown field \"lisen\"")));

  Fixture g("annotations:\n  ramp.dev/traffic-router: '{\"ramp/envoy\": {}, \"ramp/x\": {}}'\n");
  Annotations(g);
  EXPECT_THAT(g.Errors(), ElementsAre(At(2, 29, "metadata.annotations[\"ramp.dev/traffic-router\"]",
                                         "expected a map with one ramp router")));
  Fixture h("annotations:\n  ramp.dev/traffic-router: '{\"ramp/envoy\": {}}'\n");
  Annotations(h);
  EXPECT_THAT(
      h.Errors(),
      ElementsAre(At(2, 44, "metadata.annotations[\"ramp.dev/traffic-router\"][\"ramp/envoy\"]",
                     "unknown ramp traffic router")));
}

TEST(Annotations, StaticNeedsInstancesAndInstancesNeedStatic) {
  Fixture f("annotations:\n  ramp.dev/platform: static\n");
  Annotations(f);
  EXPECT_THAT(f.Errors(), ElementsAre(At(2, 22, "metadata.annotations[\"ramp.dev/platform\"]",
                                         "needs the annotation ramp.dev/static-instances")));

  Fixture g("annotations:\n  ramp.dev/static-instances: '{\"a:1\": [\"h:1\"]}'\n");
  Annotations(g);
  EXPECT_THAT(g.Errors(), IsEmpty());
  EXPECT_THAT(g.Warnings(),
              ElementsAre(At(2, 3, "metadata.annotations[\"ramp.dev/static-instances\"]",
                             "ignored unless ramp.dev/platform is \"static\"")));
}

TEST(Annotations, StaticInstancesErrorsPointIntoTheBlock) {
  Fixture f(R"y(annotations:
  ramp.dev/platform: static
  ramp.dev/static-instances: |
    shop:1:
      - 10.0.0.1:8080
      - ::1:8080
    shop:2: []
    shop:3: 10.0.0.9:80
    shop:4:
      - 10.0.0.1:8080
    shop:3: [10.0.0.10:80]
)y");
  Annotations(f);
  const std::string p = "metadata.annotations[\"ramp.dev/static-instances\"]";
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(6, 9, p + "[\"shop:1\"][1]", "write an IPv6 address in brackets"),
                          At(7, 13, p + "[\"shop:2\"]", "lists no instances"),
                          At(8, 13, p + "[\"shop:3\"]", "expected a list of \"host:port\""),
                          At(10, 9, p + "[\"shop:4\"][0]",
                             "\"10.0.0.1:8080\" is listed twice (also under \"shop:1\"); an "
                             "instance runs one version"),
                          At(11, 5, p + "[\"shop:3\"]", "image \"shop:3\" is listed twice")));
}

TEST(Annotations, StaticInstancesShape) {
  const std::string p = "metadata.annotations[\"ramp.dev/static-instances\"]";
  Fixture a(
      "annotations:\n  ramp.dev/platform: static\n  ramp.dev/static-instances: |\n"
      "    shop:1: [10.0.0.1:80\n");
  Annotations(a);
  EXPECT_THAT(a.Errors(), ElementsAre(At(5, 5, p, "not valid YAML/JSON (YAML syntax error")));

  Fixture b("annotations:\n  ramp.dev/platform: static\n  ramp.dev/static-instances: '[a]'\n");
  Annotations(b);
  EXPECT_THAT(b.Errors(), ElementsAre(At(3, 31, p, "expected a map from image to a list")));

  Fixture c("annotations:\n  ramp.dev/platform: static\n  ramp.dev/static-instances: ''\n");
  Annotations(c);
  EXPECT_THAT(c.Errors(), ElementsAre(At(3, 30, p, "is empty; expected a map")));

  Fixture d("annotations:\n  ramp.dev/platform: static\n  ramp.dev/static-instances: '{}'\n");
  Annotations(d);
  EXPECT_THAT(d.Errors(), ElementsAre(At(3, 31, p, "lists no images")));
}

TEST(Annotations, StrayCommaIsRejectedWithItsPosition) {
  // yaml-cpp 0.7 allocates without bound on these; they must be reported, not parsed.
  const std::string p = "metadata.annotations[\"ramp.dev/static-instances\"]";
  Fixture a("annotations:\n  ramp.dev/platform: static\n  ramp.dev/static-instances: ','\n");
  Annotations(a);
  EXPECT_THAT(a.Errors(), ElementsAre(At(3, 31, p, "unexpected ',' outside a flow collection")));

  Fixture b(R"y(annotations:
  ramp.dev/platform: static
  ramp.dev/static-instances: |
    shop:1: ["a:1" # it's a comment, [not] a "quote"
      , "b:2"]
    shop:2:
      - 'c:3' # "
    ,
)y");
  Annotations(b);
  EXPECT_THAT(b.Errors(), ElementsAre(At(8, 5, p, "unexpected ','")));
}

TEST(Annotations, NonStringValuesAreLeftToTheMetadataDecoder) {
  Fixture f("annotations:\n  ramp.dev/platform: [static]\n  ramp.dev/static-instances: {a: b}\n");
  Annotations(f);
  EXPECT_THAT(f.diags.items(), IsEmpty());
  ValidateRolloutAnnotations(&f.ctx, nullptr, "metadata.annotations");
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(Notifications, ValidSubscriptions) {
  Fixture f(R"y(annotations:
  notifications.argoproj.io/subscribe.on-rollout-completed.slack: my-channel;ops
  notifications.argoproj.io/subscribe.on-analysis-run-failed.email: "sre@example.com"
  notifications.argoproj.io/subscribe.slack: deploys
  notifications.argoproj.io/subscribe_yaml: |
    - trigger: [on-rollout-aborted, on-rollout-paused]
      destinations:
        - service: slack
          recipients: [ops]
)y");
  Annotations(f);
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(Notifications, KeyShape) {
  Fixture f(R"y(annotations:
  notifications.argoproj.io/subscribe..slack: a
  notifications.argoproj.io/subscribe.on-rollout-completed.: a
  notifications.argoproj.io/subscribe.on-rollout-completed.slack.extra: a
  notifications.argoproj.io/subscribe.: a
)y");
  Annotations(f);
  const std::string p = "metadata.annotations[\"notifications.argoproj.io/subscribe";
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(2, 3, p + "..slack\"]", "(the trigger is empty)"),
                          At(3, 3, p + ".on-rollout-completed.\"]", "(the service is empty)"),
                          At(4, 3, p + ".on-rollout-completed.slack.extra\"]",
                             "trigger and service names contain no dots; got 3 parts"),
                          At(5, 3, p + ".\"]", "(the service is missing)")));
}

TEST(Notifications, UnknownTriggerIsAWarning) {
  Fixture f(
      "annotations:\n  notifications.argoproj.io/subscribe.on-rollout-complete.slack: a\n"
      "  notifications.argoproj.io/subscribe.on-deploy-done.teams: b\n");
  Annotations(f);
  EXPECT_THAT(f.Errors(), IsEmpty());
  EXPECT_THAT(
      f.Warnings(),
      ElementsAre(At(2, 3,
                     "metadata.annotations[\"notifications.argoproj.io/subscribe.on-rollout-"
                     "complete.slack\"]",
                     "trigger \"on-rollout-complete\" is not one of Argo's built-in triggers "
                     "(did you mean \"on-rollout-completed\"?); it must be defined in the "
                     "notifications ConfigMap"),
                  At(3, 3,
                     "metadata.annotations[\"notifications.argoproj.io/subscribe.on-deploy-"
                     "done.teams\"]",
                     "built-in: on-rollout-completed, on-scaling-replica-set")));
}

TEST(Notifications, Recipients) {
  Fixture f(R"y(annotations:
  notifications.argoproj.io/subscribe.on-rollout-aborted.slack: " ; "
  notifications.argoproj.io/subscribe.on-rollout-paused.slack: "a;;b"
  notifications.argoproj.io/subscribe.on-rollout-updated.webhook: ""
  notifications.argoproj.io/subscribe.on-rollout-updated.teams:
)y");
  Annotations(f);
  const std::string p = "metadata.annotations[\"notifications.argoproj.io/subscribe.";
  EXPECT_THAT(f.Errors(), ElementsAre(At(2, 65, p + "on-rollout-aborted.slack\"]",
                                         "no recipients: expected recipients separated by")));
  EXPECT_THAT(f.Warnings(),
              ElementsAre(At(3, 64, p + "on-rollout-paused.slack\"]", "empty recipient"),
                          At(4, 67, p + "on-rollout-updated.webhook\"]",
                             "only a service that takes none (such as webhook)"),
                          At(5, 3, p + "on-rollout-updated.teams\"]", "no recipients")));
}

TEST(Notifications, OtherKeysAndSubscribeYaml) {
  Fixture f(R"y(annotations:
  notifications.argoproj.io/subscriptions: x
  notifications.argoproj.io/subscribe_yaml: |
    - trigger: [on-rollout-abort]
      destinations: [{service: slack, recipient: [a]}]
    - destinations: []
)y");
  Annotations(f);
  const std::string p = "metadata.annotations[\"notifications.argoproj.io/subscribe_yaml\"]";
  EXPECT_THAT(f.Errors(), ElementsAre(At(5, 39, p + "[0].destinations[0].recipient",
                                         "unknown field \"recipient\" (did you mean "
                                         "\"recipients\"?)"),
                                      At(6, 7, p + "[1].trigger", "Required value"),
                                      At(6, 7, p + "[1].destinations", "Required value")));
  EXPECT_THAT(f.Warnings(),
              ElementsAre(At(2, 3,
                             "metadata.annotations[\"notifications.argoproj.io/"
                             "subscriptions\"]",
                             "not a subscription"),
                          At(4, 17, p + "[0].trigger[0]", "did you mean \"on-rollout-aborted\"")));
}

// ---------------------------------------------------------------------------------------------
// Process workload.

constexpr char kGoodPodSpec[] = R"y(containers:
  - name: shop
    image: python:3.12-slim
    command: [python3, -m, http.server]
    args: ["$(PORT)", --bind, "$(BIND)", "$$(NOT_A_VAR)"]
    workingDir: /srv
    env:
      - name: BIND
        value: 127.0.0.1
      - name: GREETING
        value: "hello from $(BIND)"
      - name: API_KEY
        value: ""
        valueFrom:
          secretKeyRef: {name: shop, key: api-key, optional: false}
    ports:
      - name: http
        containerPort: 8080
        protocol: TCP
    readinessProbe:
      httpGet:
        path: /healthz
        port: http
        scheme: HTTP
        httpHeaders: [{name: X-Probe, value: ramp}]
      initialDelaySeconds: 1
      periodSeconds: 2
      timeoutSeconds: 1
      successThreshold: 2
      failureThreshold: 3
    livenessProbe:
      tcpSocket: {port: 8080}
    lifecycle:
      preStop:
        exec:
          command: [sleep, "2"]
    imagePullPolicy: IfNotPresent
terminationGracePeriodSeconds: 20
restartPolicy: Always
securityContext: {}
volumes: []
)y";

TEST(ProcessWorkload, CompleteSpecIsClean) {
  Fixture f(kGoodPodSpec);
  Workload(f);
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(ProcessWorkload, MissingCommandIsNotALintError) {
  Fixture f("containers:\n  - name: app\n    image: shop:1\n");
  Workload(f);
  EXPECT_THAT(f.diags.items(), IsEmpty());
  CheckProcessWorkload(&f.ctx, nullptr, "spec.template.spec");
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(ProcessWorkload, KubernetesOnlyFieldsWarn) {
  Fixture f(R"y(containers:
  - name: app
    image: shop:1
    resources:
      requests: {cpu: 100m}
    volumeMounts: [{name: data, mountPath: /data}]
    securityContext: {runAsUser: 1000}
    envFrom: [{configMapRef: {name: x}}]
    startupProbe: {tcpSocket: {port: 80}}
    comand: [x]
  - name: sidecar
    image: envoy:1
volumes: [{name: data, emptyDir: {}}]
initContainers: [{name: init, image: busybox}]
nodeSelector: {disk: ssd}
affinity: {nodeAffinity: {}}
tolerations: [{key: a, operator: Exists}]
imagePullSecrets: [{name: regcred}]
nodeselector: {a: b}
)y");
  Workload(f);
  EXPECT_THAT(f.Errors(), IsEmpty());
  const std::string c = "spec.template.spec.containers[0].";
  const std::string ignored = "is ignored off Kubernetes (only the kubernetes platform";
  EXPECT_THAT(
      f.Warnings(),
      ElementsAre(At(13, 1, "spec.template.spec.volumes", "\"volumes\" " + ignored),
                  At(14, 1, "spec.template.spec.initContainers", ignored),
                  At(15, 1, "spec.template.spec.nodeSelector", ignored),
                  At(16, 1, "spec.template.spec.affinity", ignored),
                  At(17, 1, "spec.template.spec.tolerations", ignored),
                  At(18, 1, "spec.template.spec.imagePullSecrets", ignored),
                  At(19, 1, "spec.template.spec.nodeselector",
                     "unknown PodSpec field \"nodeselector\" (did you mean \"nodeSelector\"?); "
                     "ramp passes it on unchecked"),
                  At(4, 5, c + "resources", "\"resources\" " + ignored),
                  At(6, 5, c + "volumeMounts", ignored), At(7, 5, c + "securityContext", ignored),
                  At(8, 5, c + "envFrom", ignored), At(9, 5, c + "startupProbe", ignored),
                  At(10, 5, c + "comand",
                     "unknown Container field \"comand\" (did you mean "
                     "\"command\"?)"),
                  At(11, 5, "spec.template.spec.containers[1]",
                     "off Kubernetes only containers[0] runs, as the process; this container "
                     "(\"sidecar\") is ignored there")));
}

TEST(ProcessWorkload, Probes) {
  Fixture f(R"y(containers:
  - name: app
    ports: [{containerPort: 8080, name: http}]
    readinessProbe:
      periodSeconds: -1
      terminationGracePeriodSeconds: 5
    livenessProbe:
      httpGet: {port: admin, scheme: http}
      exec: {command: []}
      successThreshold: 2
      terminationGracePeriodSeconds: 0
)y");
  Workload(f);
  const std::string c = "spec.template.spec.containers[0].";
  EXPECT_THAT(
      f.Errors(),
      ElementsAre(
          At(5, 7, c + "readinessProbe", "Required value: one handler"),
          At(5, 22, c + "readinessProbe.periodSeconds", "must be at least 0 (got -1)"),
          At(6, 38, c + "readinessProbe.terminationGracePeriodSeconds",
             "may not be set for a readinessProbe"),
          At(8, 23, c + "livenessProbe.httpGet.port",
             "names no port of containers[0].ports (named ports: http)"),
          At(8, 38, c + "livenessProbe.httpGet.scheme",
             "must be one of HTTP, HTTPS (got \"http\"; did you mean \"HTTP\"?)"),
          At(9, 23, c + "livenessProbe.exec.command", "may not be empty"),
          At(8, 7, c + "livenessProbe",
             "may not set more than one handler (found "
             "httpGet, exec)"),
          At(10, 25, c + "livenessProbe.successThreshold", "must be 1 for a livenessProbe"),
          At(11, 38, c + "livenessProbe.terminationGracePeriodSeconds", "must be at least 1")));
}

TEST(ProcessWorkload, ProbePortsMapToThePlatformPort) {
  Fixture f(R"y(containers:
  - name: app
    ports: [{containerPort: 8080, name: http}, {containerPort: 9090, name: metrics}]
    readinessProbe: {httpGet: {port: metrics}}
    livenessProbe: {tcpSocket: {port: 0}}
)y");
  Workload(f);
  const std::string c = "spec.template.spec.containers[0].";
  EXPECT_THAT(f.Errors(), ElementsAre(At(5, 39, c + "livenessProbe.tcpSocket.port",
                                         "must be between 1 and 65535 (got 0)")));
  EXPECT_THAT(f.Warnings(),
              ElementsAre(At(3, 48, c + "ports[1]", "only ports[0] is the instance's PORT"),
                          At(4, 38, c + "readinessProbe.httpGet.port",
                             "port 9090 is not ports[0].containerPort (8080): off Kubernetes it "
                             "is used as written")));

  Fixture g("containers:\n  - name: app\n    readinessProbe: {httpGet: {port: 8080}}\n");
  Workload(g);
  EXPECT_THAT(g.Warnings(),
              ElementsAre(At(3, 38, c + "readinessProbe.httpGet.port",
                             "containers[0] declares no ports: off Kubernetes port 8080 is used "
                             "as written")));

  Fixture h("containers:\n  - name: app\n    readinessProbe: {httpGet: {port: \"8080\"}}\n");
  Workload(h);
  EXPECT_THAT(h.Errors(), ElementsAre(At(3, 38, c + "readinessProbe.httpGet.port",
                                         "must be a port number (1-65535) or the name of a port")));
}

TEST(ProcessWorkload, Ports) {
  Fixture f(R"y(containers:
  - name: app
    ports:
      - {containerPort: 8080, name: HTTP, protocol: TCP}
      - {containerPort: 8081, name: web, protocol: UDP, hostPort: 81}
      - {containerPort: 8082, name: web, protocol: QUIC}
)y");
  Workload(f);
  const std::string c = "spec.template.spec.containers[0].ports";
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(4, 37, c + "[0].name", "must be a port name"),
                          At(6, 37, c + "[2].name", "Duplicate value: port name \"web\""),
                          At(6, 52, c + "[2].protocol", "must be one of TCP, UDP, SCTP")));
  EXPECT_THAT(f.Warnings(), ElementsAre(At(5, 52, c + "[1].protocol", "TCP only"),
                                        At(5, 57, c + "[1].hostPort", "ignored off Kubernetes"),
                                        At(5, 9, c + "[1]", "only ports[0]"),
                                        At(6, 9, c + "[2]", "only ports[0]")));
}

TEST(ProcessWorkload, Env) {
  Fixture f(R"y(containers:
  - name: app
    command: [server, "--port=$(PORT)", "--name=$(APP_NAME)"]
    env:
      - {name: "A=B", value: x}
      - {name: PORT, value: "9000"}
      - {name: X, value: a, valueFrom: {secretKeyRef: {name: s, key: k}}}
      - {name: Y, valueFrom: {configMapKeyRef: {name: c, key: k}}}
      - {name: Z, valueFrom: {}}
      - {name: S, valueFrom: {secretKeyRef: {name: s}, fieldRef: {fieldPath: x}}}
      - {name: X, value: "$(Y)-$(LATER)"}
      - {name: LATER, value: "1"}
)y");
  Workload(f);
  const std::string e = "spec.template.spec.containers[0].env";
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(5, 16, e + "[0].name", "must be printable ASCII without '='"),
                          At(7, 9, e + "[2]", "set value or valueFrom, not both"),
                          At(9, 30, e + "[4].valueFrom", "Required value: one source"),
                          At(10, 45, e + "[5].valueFrom.secretKeyRef.key",
                             "Required value: the key within the Secret"),
                          At(10, 30, e + "[5].valueFrom",
                             "may not have more than one source (found secretKeyRef, fieldRef)")));
  EXPECT_THAT(
      f.Warnings(),
      ElementsAre(At(6, 16, e + "[1].name", "PORT is set by the platform for each instance"),
                  At(8, 31, e + "[3].valueFrom.configMapKeyRef",
                     "resolved on Kubernetes only; off Kubernetes the variable is not set"),
                  At(10, 56, e + "[5].valueFrom.fieldRef", "resolved on Kubernetes only"),
                  At(11, 16, e + "[6].name", "X is set twice; the later entry wins"),
                  At(11, 26, e + "[6].value",
                     "$(LATER) names no variable defined earlier in env (nor PORT"),
                  At(3, 41, "spec.template.spec.containers[0].command[2]",
                     "$(APP_NAME) names no variable defined in env (nor PORT, which the platform "
                     "sets); it is passed on as written, as Kubernetes does")));
}

TEST(ProcessWorkload, TypeErrorsOfDecodedFieldsAreNotRepeated) {
  // DecodeContainer (the pod template's decoder) reports these; CheckProcessWorkload must not
  // report them a second time.
  Fixture f(R"y(containers:
  - name: app
    command: server
    args: [{a: b}]
    env: [{value: x}, "y", {name: [z]}]
    ports: [{containerPort: 0}, {containerPort: http}, 7]
)y");
  Workload(f);
  EXPECT_THAT(f.Errors(), IsEmpty());
  EXPECT_THAT(f.Warnings(), ElementsAre(At(6, 33, "spec.template.spec.containers[0].ports[1]",
                                           "only ports[0] is the instance's PORT")));
  Fixture g("containers: {a: b}\n");
  Workload(g);
  EXPECT_THAT(g.diags.items(), IsEmpty());
}

TEST(ProcessWorkload, LifecycleAndGrace) {
  Fixture f(R"y(containers:
  - name: app
    ports: [{containerPort: 8080}]
    lifecycle:
      preStop: {}
      postStart: {exec: {command: [warm-up]}}
  - name: b
terminationGracePeriodSeconds: -5
)y");
  Workload(f);
  const std::string c = "spec.template.spec.containers[0].lifecycle";
  EXPECT_THAT(f.Errors(), ElementsAre(At(8, 32, "spec.template.spec.terminationGracePeriodSeconds",
                                         "must be at least 0 (got -5)"),
                                      At(5, 16, c + ".preStop",
                                         "Required value: one handler: exec, httpGet "
                                         "or sleep")));
  EXPECT_THAT(f.Warnings(), ElementsAre(At(6, 7, c + ".postStart", "ignored off Kubernetes"),
                                        At(7, 5, "spec.template.spec.containers[1]",
                                           "this container (\"b\") is ignored there")));

  for (const char* pre : {"{sleep: {seconds: 3}}", "{httpGet: {path: /drain, port: 8080}}",
                          "{exec: {command: [sh, -c, 'sleep 1']}}"}) {
    Fixture g(std::string("containers:\n  - name: app\n    ports: [{containerPort: 8080}]\n"
                          "    lifecycle:\n      preStop: ") +
              pre + "\n");
    Workload(g);
    EXPECT_THAT(g.diags.items(), IsEmpty()) << pre;
  }
  Fixture h(
      "containers:\n  - name: app\n    lifecycle:\n      preStop: {sleep: {seconds: -1}, "
      "tcpSocket: {port: 1}}\n");
  Workload(h);
  EXPECT_THAT(h.Errors(), ElementsAre(At(4, 34, c + ".preStop.sleep.seconds", "at least 0"),
                                      At(4, 16, c + ".preStop",
                                         "may not set more than one handler (found sleep, "
                                         "tcpSocket)")));
  EXPECT_THAT(h.Warnings(), ElementsAre(At(4, 39, c + ".preStop.tcpSocket", "deprecated")));
}

// ---------------------------------------------------------------------------------------------
// ramp's own kinds.

constexpr char kWebhooks[] = R"y(apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata:
  name: shop-hooks
  namespace: shop
spec:
  rolloutRef:
    name: shop
  interval: 30s
  threshold: 2
  webhooks:
    - name: load-test
      type: rollout
      url: http://flagger-loadtester.test/
      timeout: 15s
      retries: 1
      metadata:
        type: cmd
        cmd: "hey -z 1m -q 10 -c 2 http://shop-canary:8080/"
    - name: approve-promotion
      type: confirm-promotion
      url: http://flagger-loadtester.test/gate/check
      muteAlert: true
    - name: notify
      type: event
      url: https://hooks.example.com/ramp
      disableTLS: true
)y";

TEST(RolloutWebhooks, Valid) {
  Fixture f(kWebhooks);
  EXPECT_TRUE(ValidateRampObject(&f.ctx, f.root()));
  EXPECT_THAT(f.diags.items(), IsEmpty());
}

TEST(RolloutWebhooks, TypeMeta) {
  Fixture a("apiVersion: ramp.dev/v1\nkind: RolloutWebhook\n");
  EXPECT_FALSE(ValidateRampObject(&a.ctx, a.root()));
  EXPECT_THAT(a.Errors(),
              ElementsAre(At(1, 13, "apiVersion",
                             "expected \"ramp.dev/v1alpha1\" (the only version of ramp's kinds), "
                             "got \"ramp.dev/v1\""),
                          At(2, 7, "kind",
                             "unknown kind \"RolloutWebhook\" (did you mean \"RolloutWebhooks\"?); "
                             "ramp.dev/v1alpha1 kinds: RolloutWebhooks")));

  Fixture b("apiVersion: ramp.dev/v1alpha1\n");
  EXPECT_FALSE(ValidateRampObject(&b.ctx, b.root()));
  EXPECT_THAT(b.Errors(), ElementsAre(At(1, 1, "kind", "Required value: one of RolloutWebhooks")));

  Fixture c("- a\n");
  EXPECT_FALSE(ValidateRampObject(&c.ctx, c.root()));
  EXPECT_THAT(c.Errors(), ElementsAre(At(1, 1, "", "expected a map")));
}

TEST(RolloutWebhooks, MetadataAndSpec) {
  Fixture a("apiVersion: ramp.dev/v1alpha1\nkind: RolloutWebhooks\nmetadata: {}\nstatus: {}\n");
  EXPECT_FALSE(ValidateRampObject(&a.ctx, a.root()));
  EXPECT_THAT(a.Errors(), ElementsAre(At(3, 11, "metadata.name", "Required value"),
                                      At(4, 1, "status", "unknown field \"status\""),
                                      At(1, 1, "spec", "Required value: rolloutRef and webhooks")));

  Fixture b(R"y(apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata: {name: Shop_Hooks}
spec:
  rolloutRef: {}
  interval: 100ms
  threshold: 0
  webhooks: []
  hooks: []
)y");
  EXPECT_FALSE(ValidateRampObject(&b.ctx, b.root()));
  EXPECT_THAT(b.Errors(),
              ElementsAre(At(3, 18, "metadata.name", "lowercase DNS-1123 subdomain"),
                          At(5, 15, "spec.rolloutRef.name",
                             "Required value: the name of the "
                             "Rollout"),
                          At(6, 13, "spec.interval", "must be at least 1s"),
                          At(7, 14, "spec.threshold", "must be at least 1 (got 0)"),
                          At(8, 13, "spec.webhooks", "Required value: at least one webhook"),
                          At(9, 3, "spec.hooks", "unknown field \"hooks\"")));

  Fixture c(
      "apiVersion: ramp.dev/v1alpha1\nkind: RolloutWebhooks\nmetadata: {name: a}\n"
      "spec: {webhooks: [{url: http://a/}]}\n");
  EXPECT_FALSE(ValidateRampObject(&c.ctx, c.root()));
  EXPECT_THAT(c.Errors(), ElementsAre(At(4, 7, "spec.rolloutRef", "Required value"),
                                      At(4, 19, "spec.webhooks[0].name", "Required value")));
}

TEST(RolloutWebhooks, Webhooks) {
  Fixture f(R"y(apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata: {name: a}
spec:
  rolloutRef: {name: shop}
  webhooks:
    - name: gate
      type: confirm-rollouts
      url: http://a/
    - name: gate
      url: a/b
      mutAlert: true
    - name: post
      type: post-rollout
      url: http://a/
      muteAlert: true
      timeout: 10
)y");
  EXPECT_FALSE(ValidateRampObject(&f.ctx, f.root()));
  const std::string w = "spec.webhooks";
  EXPECT_THAT(f.Errors(),
              ElementsAre(At(8, 13, w + "[0].type", "did you mean \"confirm-rollout\"?"),
                          At(10, 13, w + "[1].name",
                             "Duplicate value: webhook \"gate\" is also spec.webhooks[0]"),
                          At(11, 12, w + "[1].url", "expected an absolute http or https URL"),
                          At(12, 7, w + "[1].mutAlert", "did you mean \"muteAlert\"?"),
                          At(17, 16, w + "[2].timeout", "missing unit")));
  EXPECT_THAT(f.Warnings(),
              ElementsAre(At(16, 18, w + "[2].muteAlert", "no effect on a post-rollout hook")));
}

// ---------------------------------------------------------------------------------------------
// The examples in examples/ load without errors and use the extensions as documented.

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Examples, LoadWithoutErrors) {
  for (const char* name : {"canary-proxy.yaml", "bluegreen-static.yaml", "canary-haproxy.yaml"}) {
    std::string path = std::string(RAMP_SOURCE_DIR) + "/examples/" + name;
    std::string text = ReadFile(path);
    ASSERT_FALSE(text.empty()) << path;
    ManifestSet set = LoadManifests(text, name);
    std::string report;
    for (const auto& d : set.diagnostics.items()) report += d.ToString() + "\n";
    EXPECT_TRUE(set.ok()) << report;
    EXPECT_EQ(set.rollouts.size(), 1u) << name;
  }
}

}  // namespace
}  // namespace ramp::spec
