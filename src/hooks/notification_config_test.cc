#include "hooks/notification_config.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ramp::hooks {
namespace {

using nlohmann::json;

constexpr char kConfigMap[] = R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: argo-rollouts-notification-configmap
data:
  service.slack: |
    token: $slack-token
    apiURL: http://127.0.0.1:1/api/chat.postMessage
    username: ramp
    icon: ":rocket:"
  service.webhook.ops: |
    url: http://127.0.0.1:2/hooks
    headers:
    - name: X-Api-Key
      value: $ops-key
    basicAuth:
      username: ramp
      password: $ops-password
  template.my-aborted: |
    message: "{{.rollout.metadata.name}} aborted for {{.recipient}}"
    slack:
      attachments: |
        [{"title": "{{.rollout.metadata.name}}", "color": "#E96D76"}]
    webhook:
      ops:
        method: PUT
        path: /rollouts/{{.rollout.metadata.name}}
        body: |
          {"rollout": "{{.rollout.metadata.name}}", "reason": "{{.event.reason}}"}
  trigger.on-rollout-aborted: |
    - send: [my-aborted]
  defaultTriggers: |
    - on-rollout-completed
    - on-rollout-aborted
  defaultTriggers.ops: |
    - on-analysis-run-failed
)";

NotificationSecrets Secrets() {
  return {{"slack-token", "xoxb-secret-token"},
          {"ops-key", "ops-key-value"},
          {"ops-password", "hunter2-password"}};
}

NotificationConfig MustParse(const std::string& text,
                             const NotificationSecrets& secrets = Secrets()) {
  auto c = ParseNotificationConfig(text, "cm.yaml", secrets);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message());
  return c ? *c : NotificationConfig();
}

std::string ParseError(const std::string& text) {
  auto c = ParseNotificationConfig(text, "cm.yaml", Secrets());
  EXPECT_FALSE(c.has_value());
  return c ? "" : c.error().message();
}

std::string Warnings(const NotificationConfig& c) {
  std::string out;
  for (const auto& w : c.warnings) out += w + "\n";
  return out;
}

NotificationEvent Event(const std::string& reason, const std::string& annotations_json = "{}") {
  NotificationEvent e;
  e.rollout = ObjectRef{"prod", "shop"};
  e.type = EventType::kWarning;
  e.reason = reason;
  e.message = "Rollout aborted update to revision 2";
  e.time = FromUnixNanos(1795741942'000000000);  // 2026-11-27T01:12:22Z
  e.rollout_json = {
      {"metadata",
       {{"name", "shop"}, {"namespace", "prod"}, {"annotations", json::parse(annotations_json)}}},
      {"status", {{"phase", "Degraded"}}}};
  return e;
}

TEST(TriggerForReasonTest, IsOnPlusKebabCase) {
  EXPECT_EQ(TriggerForReason("RolloutCompleted"), "on-rollout-completed");
  EXPECT_EQ(TriggerForReason("AnalysisRunFailed"), "on-analysis-run-failed");
  EXPECT_EQ(TriggerForReason("ScalingReplicaSet"), "on-scaling-replica-set");
  EXPECT_EQ(TriggerForReason("RolloutStepCompleted"), "on-rollout-step-completed");
  EXPECT_EQ(TriggerForReason("TargetGroupVerifyError"), "on-target-group-verify-error");
}

TEST(NotificationConfigTest, BuiltinsExistWithoutAConfigMap) {
  NotificationConfig c = BuiltinNotificationConfig();
  for (const std::string& t : BuiltinTriggerNames()) {
    ASSERT_TRUE(c.triggers.count(t)) << t;
    const std::string& tmpl = c.triggers[t].conditions.at(0).send.at(0);
    EXPECT_TRUE(c.templates.count(tmpl)) << tmpl;
  }
  EXPECT_EQ(BuiltinTriggerNames().size(), 9u);
  EXPECT_TRUE(c.services.empty());
  EXPECT_TRUE(MustParse("").triggers.count("on-rollout-paused"));
}

TEST(NotificationConfigTest, ReadsServicesTemplatesTriggersAndDefaults) {
  NotificationConfig c = MustParse(kConfigMap);
  EXPECT_EQ(Warnings(c), "");
  ASSERT_TRUE(c.services.count("slack"));
  const NotificationService& slack = c.services["slack"];
  EXPECT_EQ(slack.type, "slack");
  EXPECT_EQ(slack.slack.token, "xoxb-secret-token");
  EXPECT_EQ(slack.slack.api_url, "http://127.0.0.1:1/api/chat.postMessage");
  EXPECT_EQ(slack.slack.username, "ramp");
  EXPECT_TRUE(slack.unusable.empty());
  ASSERT_TRUE(c.services.count("ops"));
  const NotificationService& ops = c.services["ops"];
  EXPECT_EQ(ops.type, "webhook");
  EXPECT_EQ(ops.webhook.url, "http://127.0.0.1:2/hooks");
  ASSERT_EQ(ops.webhook.headers.size(), 1u);
  EXPECT_EQ(ops.webhook.headers[0].second, "ops-key-value");
  EXPECT_EQ(ops.webhook.basic_auth_password, "hunter2-password");
  EXPECT_TRUE(c.templates.count("my-aborted"));
  EXPECT_EQ(c.triggers["on-rollout-aborted"].conditions.at(0).send,
            std::vector<std::string>{"my-aborted"});
  EXPECT_FALSE(c.triggers["on-rollout-aborted"].builtin);
  EXPECT_TRUE(c.triggers["on-rollout-paused"].builtin);
  EXPECT_EQ(c.default_triggers,
            (std::vector<std::string>{"on-rollout-completed", "on-rollout-aborted"}));
  EXPECT_EQ(c.service_default_triggers["ops"], std::vector<std::string>{"on-analysis-run-failed"});
}

TEST(NotificationConfigTest, ArgosExampleConfigMapLoads) {
  // The shape of Argo's own example (a custom trigger with `when` and a slack attachment).
  NotificationConfig c = MustParse(R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: argo-rollouts-notification-configmap
data:
  service.slack: |
    token: $slack-token
  trigger.on-custom: |
    - send: [custom-template]
      when: rollout.spec.replicas == 5
  template.custom-template: |
    message: |
      Rollout {{.rollout.metadata.name}} is special
    slack:
        attachments: |
            [{
              "title": "{{ .rollout.metadata.name}}",
              "color": "#800080"
            }]
)");
  EXPECT_TRUE(c.templates.count("custom-template"));
  EXPECT_NE(Warnings(c).find("does not evaluate `when`"), std::string::npos) << Warnings(c);
  std::vector<std::string> problems;
  auto sends = ResolveSends(c, {{"on-custom", "slack", {"x"}}}, "on-custom", &problems);
  EXPECT_TRUE(sends.empty());
}

TEST(NotificationConfigTest, BadYamlIsAnErrorWithItsLocation) {
  EXPECT_NE(ParseError("kind: ConfigMap\ndata: [unclosed\n").find("cm.yaml:"), std::string::npos);
  const std::string inner = ParseError(R"(kind: ConfigMap
data:
  service.slack: |
    token: [oops
    username: x
)");
  EXPECT_NE(inner.find("data.service.slack"), std::string::npos) << inner;
  EXPECT_NE(inner.find("bad YAML"), std::string::npos) << inner;
  EXPECT_EQ(inner.rfind("cm.yaml:", 0), 0u) << inner;
  EXPECT_NE(ParseError("kind: Secret\n").find("expected ConfigMap"), std::string::npos);
  EXPECT_NE(
      ParseError("kind: ConfigMap\ndata:\n  trigger.x: |\n    send: [a]\n").find("cm.yaml:3:"),
      std::string::npos);
}

TEST(NotificationConfigTest, UnknownServiceTypeIsAnErrorAndUnsupportedOnesAWarning) {
  const std::string e = ParseError("kind: ConfigMap\ndata:\n  service.pigeon: |\n    a: b\n");
  EXPECT_NE(e.find("cm.yaml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown notification service type \"pigeon\""), std::string::npos) << e;
  NotificationConfig c = MustParse(
      "kind: ConfigMap\ndata:\n  service.email: |\n    host: smtp\n  service.teams: |\n    "
      "recipientUrls: {}\n");
  EXPECT_TRUE(c.services.empty());
  EXPECT_NE(Warnings(c).find("service type \"email\" is not supported by ramp"), std::string::npos);
  EXPECT_NE(Warnings(c).find("\"teams\" is not supported"), std::string::npos);
  EXPECT_NE(ParseError("kind: ConfigMap\ndata:\n  service.webhook.x: |\n    headers: []\n")
                .find("needs `url`"),
            std::string::npos);
}

TEST(NotificationConfigTest, UnsupportedTemplateFallsBackToTheBuiltinOne) {
  NotificationConfig c = MustParse(R"(kind: ConfigMap
data:
  service.slack: |
    token: t
  template.fancy: |
    message: "{{if .rollout}}yes{{end}}"
  trigger.on-rollout-aborted: |
    - send: [fancy]
)");
  EXPECT_NE(Warnings(c).find("template fancy: message: line 1, column 1: {{if .rollout}}"),
            std::string::npos)
      << Warnings(c);
  EXPECT_TRUE(c.broken_templates.count("fancy"));
  std::vector<std::string> problems;
  auto sends =
      ResolveSends(c, {{"on-rollout-aborted", "slack", {"ops"}}}, "on-rollout-aborted", &problems);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].template_name, "rollout-aborted");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("template fancy did not compile"), std::string::npos);
}

TEST(NotificationConfigTest, MissingSecretMakesTheServiceUnusableWithoutLeakingValues) {
  NotificationConfig c = MustParse(kConfigMap, {{"slack-token", "xoxb-secret-token"}});
  EXPECT_TRUE(c.services["slack"].unusable.empty());
  EXPECT_NE(c.services["ops"].unusable.find("$ops-key"), std::string::npos);
  auto r = BuildNotificationRequest(c, {"on-rollout-aborted", "ops", "", "rollout-aborted"},
                                    Event("RolloutAborted"));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("cannot be used"), std::string::npos);
  EXPECT_EQ(Warnings(c).find("xoxb-secret-token"), std::string::npos);
}

TEST(NotificationSecretTest, ReadsStringDataAndBase64Data) {
  auto s = ParseNotificationSecret(R"(apiVersion: v1
kind: Secret
metadata: {name: argo-rollouts-notification-secret}
data:
  encoded: c2VjcmV0LXZhbHVl
stringData:
  slack-token: xoxb-plain
)",
                                   "secret.yaml");
  ASSERT_TRUE(s.has_value()) << s.error().message();
  EXPECT_EQ((*s)["encoded"], "secret-value");
  EXPECT_EQ((*s)["slack-token"], "xoxb-plain");
  auto bad = ParseNotificationSecret("kind: Secret\ndata:\n  x: '***'\n", "secret.yaml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("secret.yaml:3:"), std::string::npos);
  EXPECT_FALSE(ParseNotificationSecret("kind: ConfigMap\n", "s.yaml").has_value());
  EXPECT_FALSE(ParseNotificationSecret("{", "s.yaml").has_value());
}

TEST(SubscriptionTest, ReadsTheThreeAnnotationForms) {
  std::vector<std::string> problems;
  auto subs = ParseSubscriptions(
      {{"notifications.argoproj.io/subscribe.on-rollout-aborted.slack", "deploys; oncall;"},
       {"notifications.argoproj.io/subscribe.ops", ""},
       {"notifications.argoproj.io/subscribe_yaml", R"(
- trigger: [on-rollout-completed, on-rollout-paused]
  destinations:
  - service: slack
    recipients: [releases]
)"},
       {"notifications.argoproj.io/subscribe.a.b.c", "x"},
       {"ramp.dev/other", "x"}},
      &problems);
  ASSERT_EQ(subs.size(), 4u);
  EXPECT_EQ(subs[0],
            (NotificationSubscription{"on-rollout-aborted", "slack", {"deploys", "oncall"}}));
  EXPECT_EQ(subs[1], (NotificationSubscription{"", "ops", {}}));
  EXPECT_EQ(subs[2], (NotificationSubscription{"on-rollout-completed", "slack", {"releases"}}));
  EXPECT_EQ(subs[3], (NotificationSubscription{"on-rollout-paused", "slack", {"releases"}}));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("subscribe.a.b.c"), std::string::npos);
}

TEST(SubscriptionTest, ResolvesSendsForTheEventsTrigger) {
  NotificationConfig c = MustParse(kConfigMap);
  std::vector<NotificationSubscription> subs = {
      {"on-rollout-aborted", "slack", {"deploys", "oncall"}},
      {"on-rollout-aborted", "slack", {"deploys"}},  // a duplicate
      {"", "ops", {}},                               // defaultTriggers.ops
      {"", "slack", {"general"}},                    // defaultTriggers
      {"on-rollout-paused", "slack", {"paused"}}};
  std::vector<std::string> problems;
  auto aborted = ResolveSends(c, subs, "on-rollout-aborted", &problems);
  EXPECT_EQ(aborted, (std::vector<NotificationSend>{
                         {"on-rollout-aborted", "slack", "deploys", "my-aborted"},
                         {"on-rollout-aborted", "slack", "oncall", "my-aborted"},
                         {"on-rollout-aborted", "slack", "general", "my-aborted"}}));
  auto failed = ResolveSends(c, subs, "on-analysis-run-failed", &problems);
  EXPECT_EQ(failed, (std::vector<NotificationSend>{
                        {"on-analysis-run-failed", "ops", "", "analysis-run-failed"}}));
  auto paused = ResolveSends(c, subs, "on-rollout-paused", &problems);
  EXPECT_EQ(
      paused,
      (std::vector<NotificationSend>{{"on-rollout-paused", "slack", "paused", "rollout-paused"}}));
  EXPECT_TRUE(ResolveSends(c, subs, "on-rollout-updated", &problems).empty());
  EXPECT_TRUE(problems.empty());
  auto undefined =
      ResolveSends(c, {{"on-rollout-resumed", "slack", {"x"}}}, "on-rollout-resumed", &problems);
  EXPECT_TRUE(undefined.empty());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("on-rollout-resumed is not defined"), std::string::npos);
}

TEST(NotificationRequestTest, SlackPostsChannelTextAndBearerToken) {
  NotificationConfig c = MustParse(kConfigMap);
  auto r = BuildNotificationRequest(c, {"on-rollout-aborted", "slack", "deploys", "my-aborted"},
                                    Event("RolloutAborted"));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->url, "http://127.0.0.1:1/api/chat.postMessage");
  ASSERT_NE(FindHeader(r->headers, "authorization"), nullptr);
  EXPECT_EQ(*FindHeader(r->headers, "authorization"), "Bearer xoxb-secret-token");
  json body = json::parse(r->body);
  EXPECT_EQ(body["channel"], "deploys");
  EXPECT_EQ(body["text"], "shop aborted for deploys");
  EXPECT_EQ(body["username"], "ramp");
  EXPECT_EQ(body["icon_emoji"], ":rocket:");
  EXPECT_EQ(body["attachments"][0]["title"], "shop");
  EXPECT_FALSE(body.contains("blocks"));
}

TEST(NotificationRequestTest, BuiltinTemplateAndDefaultSlackUrl) {
  NotificationConfig c = MustParse("kind: ConfigMap\ndata:\n  service.slack: |\n    token: t\n");
  auto r = BuildNotificationRequest(c, {"on-rollout-aborted", "slack", "ops", "rollout-aborted"},
                                    Event("RolloutAborted"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->url, kSlackDefaultApiUrl);
  EXPECT_EQ(json::parse(r->body)["text"],
            "Rollout prod/shop was aborted (phase Degraded): Rollout aborted update to revision 2");
}

TEST(NotificationRequestTest, WebhookUsesTheTemplatesSectionOrADefaultBody) {
  NotificationConfig c = MustParse(kConfigMap);
  auto r = BuildNotificationRequest(c, {"on-rollout-aborted", "ops", "", "my-aborted"},
                                    Event("RolloutAborted"));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->method, "PUT");
  EXPECT_EQ(r->url, "http://127.0.0.1:2/hooks/rollouts/shop");
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"rollout":"shop","reason":"RolloutAborted"})"));
  EXPECT_EQ(*FindHeader(r->headers, "X-Api-Key"), "ops-key-value");
  // base64("ramp:hunter2-password")
  EXPECT_EQ(*FindHeader(r->headers, "Authorization"), "Basic cmFtcDpodW50ZXIyLXBhc3N3b3Jk");

  auto d = BuildNotificationRequest(c, {"on-analysis-run-failed", "ops", "", "analysis-run-failed"},
                                    Event("AnalysisRunFailed"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->method, "POST");
  EXPECT_EQ(d->url, "http://127.0.0.1:2/hooks");
  json body = json::parse(d->body);
  EXPECT_EQ(body["trigger"], "on-analysis-run-failed");
  EXPECT_EQ(body["name"], "shop");
  EXPECT_EQ(body["namespace"], "prod");
  EXPECT_EQ(body["reason"], "AnalysisRunFailed");
  EXPECT_EQ(body["time"], "2026-11-27T01:12:22Z");
  EXPECT_NE(body["message"].get<std::string>().find("has a failed analysis run"),
            std::string::npos);

  auto missing = BuildNotificationRequest(c, {"on-rollout-aborted", "teams", "x", "my-aborted"},
                                          Event("RolloutAborted"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("service teams is not configured"), std::string::npos);
}

TEST(NotificationRequestTest, SlackAttachmentsThatAreNotJsonAreAnError) {
  NotificationConfig c = MustParse(R"(kind: ConfigMap
data:
  service.slack: |
    token: t
  template.t: |
    message: hi
    slack:
      attachments: "[{{.rollout.metadata.name}}]"
)");
  auto r = BuildNotificationRequest(c, {"x", "slack", "c", "t"}, Event("RolloutAborted"));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("slack.attachments is not JSON"), std::string::npos);
}

TEST(NotificationResponseTest, SlackOkFalseAndNon2xxAreFailures) {
  EXPECT_TRUE(CheckNotificationResponse("slack", {200, {}, R"({"ok":true})"}).ok());
  EXPECT_TRUE(CheckNotificationResponse("slack", {200, {}, "ok"}).ok());
  Status s =
      CheckNotificationResponse("slack", {200, {}, R"({"ok":false,"error":"not_in_channel"})"});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not_in_channel"), std::string::npos);
  EXPECT_TRUE(CheckNotificationResponse("webhook", {204, {}, ""}).ok());
  EXPECT_TRUE(CheckNotificationResponse("webhook", {200, {}, R"({"ok":false})"}).ok());
  EXPECT_NE(CheckNotificationResponse("webhook", {500, {}, "boom\n"}).message(), "");
  EXPECT_EQ(CheckNotificationResponse("webhook", {500, {}, "boom\n"}).message(),
            "answered 500: boom");
}

TEST(RedactTest, CutsSecretValuesOut) {
  EXPECT_EQ(RedactSecrets("POST http://h/xoxb-secret-token/x failed: xoxb-secret-token",
                          {"xoxb-secret-token", "ab"}),
            "POST http://h/***/x failed: ***");
  NotificationConfig c = MustParse(kConfigMap);
  EXPECT_EQ(c.secret_values.size(), 3u);
}

TEST(TemplateVarsTest, HasRolloutEventRecipientAndTime) {
  json v = TemplateVars(Event("RolloutAborted"), {"on-rollout-aborted", "slack", "ops", "t"});
  EXPECT_EQ(v["rollout"]["status"]["phase"], "Degraded");
  EXPECT_EQ(v["event"]["reason"], "RolloutAborted");
  EXPECT_EQ(v["event"]["type"], "Warning");
  EXPECT_EQ(v["recipient"], "ops");
  EXPECT_EQ(v["time"], "2026-11-27T01:12:22Z");
}

}  // namespace
}  // namespace ramp::hooks
