// Notification configuration and planning: Argo Rollouts' notifications ConfigMap
// (argo-rollouts-notification-configmap) and Secret read into a NotificationConfig, the
// `notifications.argoproj.io/subscribe…` annotations of a Rollout read into subscriptions, and an
// event turned into the HTTP requests that deliver it (docs/notifications.md).
//
// An event's reason names its trigger (`RolloutAborted` → `on-rollout-aborted`); the trigger's
// conditions name templates; each subscription of the rollout to that trigger (directly, or
// through a service's default triggers) names a service and recipients; each (template, service,
// recipient) is one send, and BuildNotificationRequest renders it into one request. Services
// ramp delivers to: `slack` (Slack's chat.postMessage or any Slack-compatible API) and `webhook`.
// ramp's built-in triggers and templates exist whatever the ConfigMap says; the ConfigMap may
// override them by name.
//
// Pure: nothing here does I/O or reads the clock (callers read files). Thread-safety: the parsed
// values are plain data; a const NotificationConfig may be shared by any number of threads.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hooks/template.h"
#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/http_client.h"
#include "ramp/status.h"

namespace ramp::hooks {

inline constexpr std::string_view kSlackDefaultApiUrl = "https://slack.com/api/chat.postMessage";
inline constexpr std::string_view kSubscriptionPrefix = "notifications.argoproj.io/subscribe";

// `service.slack` (or `service.slack.<name>`).
struct SlackServiceConfig {
  std::string token;
  std::string api_url;  // empty: kSlackDefaultApiUrl
  std::string username;
  std::string icon;  // ":emoji:" → icon_emoji, anything else → icon_url
};

// `service.webhook.<name>`.
struct WebhookServiceConfig {
  std::string url;
  HttpHeaders headers;
  std::string basic_auth_username;
  std::string basic_auth_password;
  bool insecure_skip_verify = false;
};

struct NotificationService {
  std::string name;  // what subscriptions name: "slack", or <name> of service.<type>.<name>
  std::string type;  // "slack" or "webhook"
  SlackServiceConfig slack;
  WebhookServiceConfig webhook;
  // Why sends to this service fail (a secret the Secret lacks); empty when usable.
  std::string unusable;
};

// `webhook.<service>` of a template.
struct WebhookTemplate {
  std::string method = "POST";
  MessageTemplate path;
  MessageTemplate body;
};

struct NotificationTemplate {
  std::string name;
  MessageTemplate message;
  MessageTemplate slack_attachments;               // JSON array text after rendering, or empty
  MessageTemplate slack_blocks;                    // JSON array text after rendering, or empty
  std::map<std::string, WebhookTemplate> webhook;  // by service name
  bool builtin = false;
};

// One `- send: [...]` item of a trigger.
struct TriggerCondition {
  std::vector<std::string> send;
  std::string when;  // not evaluated by ramp: a condition with `when` never sends
};

struct NotificationTrigger {
  std::string name;
  std::vector<TriggerCondition> conditions;
  bool builtin = false;
};

struct NotificationConfig {
  std::map<std::string, NotificationService> services;    // by name
  std::map<std::string, NotificationTemplate> templates;  // built-in ones, then the ConfigMap's
  std::map<std::string, NotificationTrigger> triggers;    // built-in ones, then the ConfigMap's
  std::vector<std::string> default_triggers;              // `defaultTriggers`
  std::map<std::string, std::vector<std::string>> service_default_triggers;  // `defaultTriggers.X`
  // Templates of the ConfigMap that did not compile: sends fall back to a built-in template.
  std::set<std::string> broken_templates;
  // Every secret value, to be cut out of anything logged (RedactSecrets).
  std::vector<std::string> secret_values;
  // What was ignored or could not be used, one sentence each (the ConfigMap file and key first).
  std::vector<std::string> warnings;
};

// The Secret's keys and values.
using NotificationSecrets = std::map<std::string, std::string>;

// A Kubernetes Secret (YAML or JSON): `stringData` as is, `data` base64-decoded (stringData wins).
// kInvalidArgument with file:line:column for bad YAML, a document that is not a Secret, or a
// `data` value that is not base64.
StatusOr<NotificationSecrets> ParseNotificationSecret(std::string_view text, std::string_view file);

// The ConfigMap (YAML or JSON; `kind: ConfigMap` with `data`). `$key` in a service's settings is
// replaced by the Secret's value of `key`. Fatal (kInvalidArgument, with file:line:column and the
// data key): bad YAML in the file or in a value, a document that is not a ConfigMap, a service
// type that no Argo notification service has, a webhook without `url`, a trigger that is not a
// list of {send}. Not fatal (a warning): a service type Argo has but ramp does not deliver to
// (email, teams, …; dropped), a template that does not compile (sends fall back to the
// built-in template), a `when` condition, a missing secret (the service is unusable), keys ramp
// ignores.
StatusOr<NotificationConfig> ParseNotificationConfig(std::string_view text, std::string_view file,
                                                     const NotificationSecrets& secrets);

// ramp's built-in triggers and templates, no services (what an empty ConfigMap gives).
NotificationConfig BuiltinNotificationConfig();

// The built-in trigger names, in documentation order.
const std::vector<std::string>& BuiltinTriggerNames();

// Argo's trigger of an event reason: "on-" + kebab-case ("AnalysisRunFailed" →
// "on-analysis-run-failed").
std::string TriggerForReason(std::string_view reason);

// One subscription of a Rollout.
struct NotificationSubscription {
  std::string trigger;  // empty: the service's default triggers (`subscribe.<service>`)
  std::string service;
  std::vector<std::string> recipients;  // empty: one send with an empty recipient

  friend bool operator==(const NotificationSubscription&,
                         const NotificationSubscription&) = default;
};

// The subscriptions of `annotations` (the three forms of docs/manifests.md, "Notifications").
// Malformed ones (which `ramp lint` reports as errors) are skipped with a sentence in `problems`.
std::vector<NotificationSubscription> ParseSubscriptions(
    const std::map<std::string, std::string>& annotations, std::vector<std::string>* problems);

// One message to deliver.
struct NotificationSend {
  std::string trigger;
  std::string service;
  std::string recipient;
  std::string template_name;  // a usable template of the config

  friend bool operator==(const NotificationSend&, const NotificationSend&) = default;
};

// The sends of an event with trigger `trigger`, in subscription order, without duplicates. A
// trigger the config does not define, a template it does not have or that did not compile is a
// sentence in `problems`; the last two fall back to the trigger's built-in template.
std::vector<NotificationSend> ResolveSends(const NotificationConfig& config,
                                           const std::vector<NotificationSubscription>& subs,
                                           std::string_view trigger,
                                           std::vector<std::string>* problems);

// A Rollout event as notifications see it.
struct NotificationEvent {
  ObjectRef rollout;
  EventType type = EventType::kNormal;
  std::string reason;
  std::string message;
  Time time{};
  nlohmann::json rollout_json;  // Argo's Rollout object with status; annotations come from it
};

// What templates see: {rollout, event: {reason, message, type}, recipient, time (RFC 3339),
// trigger, service}.
nlohmann::json TemplateVars(const NotificationEvent& event, const NotificationSend& send);

// The request that delivers `send` (kFailedPrecondition when its service is not configured or is
// unusable, kInvalidArgument when slack attachments/blocks do not render to JSON).
StatusOr<HttpRequest> BuildNotificationRequest(const NotificationConfig& config,
                                               const NotificationSend& send,
                                               const NotificationEvent& event);

// Whether a response means delivered: any 2xx, except Slack's `{"ok": false, "error": …}`.
Status CheckNotificationResponse(std::string_view service_type, const HttpResponse& response);

// `text` with every secret value (4 characters or more) replaced by "***".
std::string RedactSecrets(std::string text, const std::vector<std::string>& secret_values);

// RFC 3339 in UTC with seconds: "2026-11-27T01:12:22Z".
std::string FormatRfc3339(Time t);

}  // namespace ramp::hooks
