#include "hooks/notification_config.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace ramp::hooks {
namespace {

using nlohmann::json;

// Argo's notification service types (reference/argo-rollouts.md §8.2).
constexpr std::string_view kArgoServiceTypes[] = {
    "alertmanager", "awssqs",     "email",      "gcppubsub", "github",   "googlechat",
    "grafana",      "mattermost", "nats",       "newrelic",  "opsgenie", "pagerduty",
    "pagerduty_v2", "pushover",   "rocketchat", "slack",     "teams",    "teams-workflows",
    "telegram",     "webex",      "webhook"};

struct BuiltinTrigger {
  std::string_view trigger;
  std::string_view what;  // the sentence after "Rollout <ns>/<name> "
};

// ramp's own default messages, one per built-in trigger.
constexpr BuiltinTrigger kBuiltins[] = {
    {"on-rollout-completed", "has completed"},
    {"on-rollout-aborted", "was aborted"},
    {"on-rollout-paused", "is paused"},
    {"on-rollout-step-completed", "completed a step"},
    {"on-rollout-updated", "was updated"},
    {"on-scaling-replica-set", "is scaling a revision"},
    {"on-analysis-run-running", "started an analysis run"},
    {"on-analysis-run-error", "has an analysis run in error"},
    {"on-analysis-run-failed", "has a failed analysis run"},
};

// The template every other fallback ends at (custom triggers without a usable template).
constexpr std::string_view kGenericTemplate = "ramp-event";

std::string BuiltinTemplateName(std::string_view trigger) {
  return std::string(trigger.starts_with("on-") ? trigger.substr(3) : trigger);
}

MessageTemplate MustCompile(std::string_view text) {
  auto t = MessageTemplate::Compile(text);
  return t ? *t : MessageTemplate();
}

// ---- YAML helpers --------------------------------------------------------------------------

// Where a value of the ConfigMap's `data` sits in its file, for messages about its inner YAML.
struct ValueSite {
  std::string_view file;
  std::string_view text;  // the whole file
  YAML::Mark mark;        // of the value node
  std::string key;        // the data key
};

std::string At(std::string_view file, const YAML::Mark& m) {
  if (m.is_null()) return std::string(file);
  return fmt::format("{}:{}:{}", file, m.line + 1, m.column + 1);
}

// file:line:column of a position inside the value at `site`, mapped back to the file when the
// value is a block scalar (`key: |`), else the value's own position.
std::string AtInner(const ValueSite& site, const YAML::Mark& inner) {
  if (site.mark.is_null() || site.mark.pos < 0 ||
      static_cast<size_t>(site.mark.pos) >= site.text.size()) {
    return fmt::format("{}: data.{}", site.file, site.key);
  }
  const char c = site.text[site.mark.pos];
  if ((c == '|' || c == '>') && !inner.is_null()) {
    // The content starts on the next line, indented by the first content line's indentation.
    size_t start = site.text.find('\n', site.mark.pos);
    size_t indent = 0;
    if (start != std::string_view::npos) {
      while (start + 1 + indent < site.text.size() && site.text[start + 1 + indent] == ' ') {
        ++indent;
      }
    }
    return fmt::format("{}:{}:{}: data.{}", site.file, site.mark.line + 2 + inner.line,
                       inner.column + 1 + static_cast<int>(indent), site.key);
  }
  return fmt::format("{}: data.{}", At(site.file, site.mark), site.key);
}

// Parses one document; kInvalidArgument with the position on a syntax error.
StatusOr<YAML::Node> LoadYaml(std::string_view text,
                              const std::function<std::string(YAML::Mark)>& at) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Fail(InvalidArgumentError(fmt::format("{}: bad YAML: {}", at(e.mark), e.msg)));
  }
}

std::string Scalar(const YAML::Node& n) {
  try {
    return n && n.IsScalar() ? n.as<std::string>() : std::string();
  } catch (const YAML::Exception&) {
    return "";
  }
}

bool IsTrue(const YAML::Node& n) {
  const std::string s = Scalar(n);
  return s == "true" || s == "True" || s == "TRUE" || s == "yes";
}

// A string or a list of strings.
std::vector<std::string> Strings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) {
    out.push_back(Scalar(n));
  } else if (n.IsSequence()) {
    for (const auto& item : n) {
      if (item.IsScalar()) out.push_back(Scalar(item));
    }
  }
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// ---- base64 --------------------------------------------------------------------------------

constexpr char kBase64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kBase64Chars[(v >> 18) & 63];
    out += kBase64Chars[(v >> 12) & 63];
    out += kBase64Chars[(v >> 6) & 63];
    out += kBase64Chars[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += kBase64Chars[(v >> 18) & 63];
    out += kBase64Chars[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kBase64Chars[(v >> 18) & 63];
    out += kBase64Chars[(v >> 12) & 63];
    out += kBase64Chars[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Standard base64, padding optional, white space ignored; nullopt when malformed.
std::optional<std::string> Base64Decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding) return std::nullopt;
    const char* p = std::strchr(kBase64Chars, c);
    if (p == nullptr || c == '\0') return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(p - kBase64Chars);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// ---- secrets -------------------------------------------------------------------------------

bool IsSecretKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
}

// `value` with each `$key` replaced by the secret; the first key the secrets lack in `*missing`.
std::string ExpandSecrets(std::string_view value, const NotificationSecrets& secrets,
                          std::string* missing) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '$') {
      out += value[i];
      continue;
    }
    size_t end = i + 1;
    while (end < value.size() && IsSecretKeyChar(value[end])) ++end;
    if (end == i + 1) {
      out += '$';
      continue;
    }
    const std::string key(value.substr(i + 1, end - i - 1));
    auto it = secrets.find(key);
    if (it != secrets.end()) {
      out += it->second;
    } else {
      if (missing->empty()) *missing = key;
      out += value.substr(i, end - i);
    }
    i = end - 1;
  }
  return out;
}

// ---- ConfigMap entries ---------------------------------------------------------------------

struct Parser {
  std::string_view file;
  std::string_view text;
  const NotificationSecrets* secrets;
  NotificationConfig* config;

  void Warn(const ValueSite& site, std::string message) {
    config->warnings.push_back(
        fmt::format("{}: data.{}: {}", At(site.file, site.mark), site.key, message));
  }

  Status Bad(const ValueSite& site, std::string message) {
    return InvalidArgumentError(
        fmt::format("{}: data.{}: {}", At(site.file, site.mark), site.key, message));
  }

  StatusOr<YAML::Node> Value(const ValueSite& site, const std::string& value) {
    return LoadYaml(value, [&](YAML::Mark m) { return AtInner(site, m); });
  }

  void WarnUnknownKeys(const ValueSite& site, const YAML::Node& map,
                       std::initializer_list<std::string_view> known, std::string_view what) {
    if (!map.IsMap()) return;
    for (const auto& kv : map) {
      const std::string k = Scalar(kv.first);
      if (std::find(known.begin(), known.end(), k) == known.end()) {
        Warn(site, fmt::format("{} \"{}\" is ignored by ramp", what, k));
      }
    }
  }

  // Expands secrets in `*field`; a missing one makes the service unusable.
  void Secret(const ValueSite& site, std::string_view field, std::string* value,
              NotificationService* service) {
    std::string missing;
    *value = ExpandSecrets(*value, *secrets, &missing);
    if (!missing.empty() && service->unusable.empty()) {
      service->unusable = fmt::format(
          "{} refers to ${}, which the notifications secret (--notifications-secret) does not "
          "have",
          field, missing);
      Warn(site, fmt::format("service {} cannot be used: {}", service->name, service->unusable));
    }
  }

  Status ParseService(const ValueSite& site, std::string_view rest, const std::string& value) {
    const size_t dot = rest.find('.');
    const std::string type(rest.substr(0, dot));
    const std::string name(dot == std::string_view::npos ? type : rest.substr(dot + 1));
    if (type.empty() || name.empty()) {
      return Bad(site, "expected service.<type> or service.<type>.<name>");
    }
    if (std::find(std::begin(kArgoServiceTypes), std::end(kArgoServiceTypes), type) ==
        std::end(kArgoServiceTypes)) {
      return Bad(site, fmt::format("unknown notification service type \"{}\" (ramp sends to slack "
                                   "and webhook; Argo also knows {})",
                                   type, "email, teams, opsgenie, pagerduty, telegram, …"));
    }
    if (type != "slack" && type != "webhook") {
      Warn(site, fmt::format("service type \"{}\" is not supported by ramp (it sends to slack and "
                             "webhook only); notifications to service \"{}\" fail",
                             type, name));
      return OkStatus();
    }
    ASSIGN_OR_RETURN(YAML::Node root, Value(site, value));
    if (!root.IsMap()) return Bad(site, "expected a map of the service's settings");
    NotificationService service;
    service.name = name;
    service.type = type;
    if (type == "slack") {
      WarnUnknownKeys(site, root, {"token", "apiURL", "username", "icon"}, "slack setting");
      service.slack.token = Scalar(root["token"]);
      service.slack.api_url = Scalar(root["apiURL"]);
      service.slack.username = Scalar(root["username"]);
      service.slack.icon = Scalar(root["icon"]);
      Secret(site, "token", &service.slack.token, &service);
      Secret(site, "apiURL", &service.slack.api_url, &service);
    } else {
      WarnUnknownKeys(site, root, {"url", "headers", "basicAuth", "insecureSkipVerify"},
                      "webhook setting");
      service.webhook.url = Scalar(root["url"]);
      if (service.webhook.url.empty()) return Bad(site, "a webhook service needs `url`");
      Secret(site, "url", &service.webhook.url, &service);
      if (const YAML::Node headers = root["headers"]) {
        if (!headers.IsSequence()) return Bad(site, "headers: expected a list of {name, value}");
        for (const auto& h : headers) {
          std::string hname = Scalar(h["name"]);
          std::string hvalue = Scalar(h["value"]);
          if (hname.empty()) return Bad(site, "headers: every header needs a `name`");
          Secret(site, "header " + hname, &hvalue, &service);
          service.webhook.headers.emplace_back(std::move(hname), std::move(hvalue));
        }
      }
      if (const YAML::Node auth = root["basicAuth"]) {
        service.webhook.basic_auth_username = Scalar(auth["username"]);
        service.webhook.basic_auth_password = Scalar(auth["password"]);
        Secret(site, "basicAuth.username", &service.webhook.basic_auth_username, &service);
        Secret(site, "basicAuth.password", &service.webhook.basic_auth_password, &service);
      }
      service.webhook.insecure_skip_verify = IsTrue(root["insecureSkipVerify"]);
    }
    config->services[name] = std::move(service);
    return OkStatus();
  }

  // Compiles one template text; a failure marks the template broken (with a warning).
  bool CompileInto(const ValueSite& site, const std::string& name, std::string_view field,
                   const std::string& text, MessageTemplate* out) {
    auto t = MessageTemplate::Compile(text);
    if (!t) {
      Warn(site, fmt::format("template {}: {}: {}; notifications use a built-in template instead",
                             name, field, t.error().message()));
      config->broken_templates.insert(name);
      return false;
    }
    *out = std::move(*t);
    return true;
  }

  Status ParseTemplate(const ValueSite& site, const std::string& name, const std::string& value) {
    ASSIGN_OR_RETURN(YAML::Node root, Value(site, value));
    if (!root.IsMap()) return Bad(site, "expected a map with `message` (and slack or webhook)");
    NotificationTemplate t;
    t.name = name;
    for (const auto& kv : root) {
      const std::string k = Scalar(kv.first);
      if (k == "message") {
        CompileInto(site, name, "message", Scalar(kv.second), &t.message);
      } else if (k == "slack") {
        WarnUnknownKeys(site, kv.second, {"attachments", "blocks"}, "template slack field");
        CompileInto(site, name, "slack.attachments", Scalar(kv.second["attachments"]),
                    &t.slack_attachments);
        CompileInto(site, name, "slack.blocks", Scalar(kv.second["blocks"]), &t.slack_blocks);
      } else if (k == "webhook") {
        if (!kv.second.IsMap()) return Bad(site, "webhook: expected a map of service names");
        for (const auto& svc : kv.second) {
          const std::string sname = Scalar(svc.first);
          WebhookTemplate w;
          const std::string method = Scalar(svc.second["method"]);
          if (!method.empty()) w.method = method;
          std::transform(w.method.begin(), w.method.end(), w.method.begin(),
                         [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
          CompileInto(site, name, "webhook." + sname + ".path", Scalar(svc.second["path"]),
                      &w.path);
          CompileInto(site, name, "webhook." + sname + ".body", Scalar(svc.second["body"]),
                      &w.body);
          t.webhook[sname] = std::move(w);
        }
      } else {
        Warn(site, fmt::format("template {}: \"{}\" is ignored (ramp sends slack and webhook "
                               "notifications only)",
                               name, k));
      }
    }
    if (config->broken_templates.count(name) == 0) config->templates[name] = std::move(t);
    return OkStatus();
  }

  Status ParseTrigger(const ValueSite& site, const std::string& name, const std::string& value) {
    ASSIGN_OR_RETURN(YAML::Node root, Value(site, value));
    if (!root.IsSequence()) return Bad(site, "expected a list of {send: [templates], when}");
    NotificationTrigger trigger;
    trigger.name = name;
    for (size_t i = 0; i < root.size(); ++i) {
      const YAML::Node item = root[i];
      if (!item.IsMap() || !item["send"]) {
        return Bad(site, fmt::format("[{}]: expected {{send: [templates], when}}", i));
      }
      TriggerCondition c;
      c.send = Strings(item["send"]);
      c.when = Scalar(item["when"]);
      if (!c.when.empty()) {
        Warn(site, fmt::format("trigger {}[{}]: ramp does not evaluate `when` conditions, so this "
                               "condition never sends",
                               name, i));
      }
      for (const auto& kv : item) {
        const std::string k = Scalar(kv.first);
        if (k != "send" && k != "when") {
          Warn(site, fmt::format("trigger {}[{}]: \"{}\" is ignored by ramp", name, i, k));
        }
      }
      trigger.conditions.push_back(std::move(c));
    }
    config->triggers[name] = std::move(trigger);
    return OkStatus();
  }

  Status ParseDefaultTriggers(const ValueSite& site, std::string_view service,
                              const std::string& value) {
    ASSIGN_OR_RETURN(YAML::Node root, Value(site, value));
    std::vector<std::string> names = Strings(root);
    if (service.empty()) {
      config->default_triggers = std::move(names);
    } else {
      config->service_default_triggers[std::string(service)] = std::move(names);
    }
    return OkStatus();
  }
};

}  // namespace

const std::vector<std::string>& BuiltinTriggerNames() {
  static const std::vector<std::string>* names = [] {
    auto* v = new std::vector<std::string>();
    for (const BuiltinTrigger& b : kBuiltins) v->emplace_back(b.trigger);
    return v;
  }();
  return *names;
}

NotificationConfig BuiltinNotificationConfig() {
  NotificationConfig c;
  for (const BuiltinTrigger& b : kBuiltins) {
    NotificationTemplate t;
    t.name = BuiltinTemplateName(b.trigger);
    t.builtin = true;
    t.message = MustCompile(fmt::format(
        "Rollout {{{{.rollout.metadata.namespace}}}}/{{{{.rollout.metadata.name}}}} {} (phase "
        "{{{{.rollout.status.phase}}}}): {{{{.event.message}}}}",
        b.what));
    NotificationTrigger trigger;
    trigger.name = std::string(b.trigger);
    trigger.builtin = true;
    trigger.conditions.push_back(TriggerCondition{{t.name}, ""});
    c.templates[t.name] = std::move(t);
    c.triggers[trigger.name] = std::move(trigger);
  }
  NotificationTemplate generic;
  generic.name = std::string(kGenericTemplate);
  generic.builtin = true;
  generic.message = MustCompile(
      "Rollout {{.rollout.metadata.namespace}}/{{.rollout.metadata.name}}: {{.event.reason}}: "
      "{{.event.message}}");
  c.templates[generic.name] = std::move(generic);
  return c;
}

StatusOr<NotificationSecrets> ParseNotificationSecret(std::string_view text,
                                                      std::string_view file) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, [&](YAML::Mark m) { return At(file, m); }));
  if (!root.IsMap()) {
    return Fail(InvalidArgumentError(fmt::format("{}: expected a Kubernetes Secret", file)));
  }
  const std::string kind = Scalar(root["kind"]);
  if (!kind.empty() && kind != "Secret") {
    return Fail(InvalidArgumentError(
        fmt::format("{}: kind is \"{}\", expected Secret", At(file, root["kind"].Mark()), kind)));
  }
  NotificationSecrets out;
  if (const YAML::Node data = root["data"]; data && data.IsMap()) {
    for (const auto& kv : data) {
      auto decoded = Base64Decode(Scalar(kv.second));
      if (!decoded) {
        return Fail(InvalidArgumentError(
            fmt::format("{}: data.{}: not base64", At(file, kv.second.Mark()), Scalar(kv.first))));
      }
      out[Scalar(kv.first)] = std::move(*decoded);
    }
  }
  if (const YAML::Node data = root["stringData"]; data && data.IsMap()) {
    for (const auto& kv : data) out[Scalar(kv.first)] = Scalar(kv.second);
  }
  return out;
}

StatusOr<NotificationConfig> ParseNotificationConfig(std::string_view text, std::string_view file,
                                                     const NotificationSecrets& secrets) {
  NotificationConfig config = BuiltinNotificationConfig();
  for (const auto& [key, value] : secrets) {
    if (value.size() >= 4) config.secret_values.push_back(value);
  }
  ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, [&](YAML::Mark m) { return At(file, m); }));
  if (root.IsNull()) return config;
  if (!root.IsMap()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: expected a ConfigMap (argo-rollouts-notification-configmap)", file)));
  }
  const std::string kind = Scalar(root["kind"]);
  if (!kind.empty() && kind != "ConfigMap") {
    return Fail(InvalidArgumentError(fmt::format("{}: kind is \"{}\", expected ConfigMap",
                                                 At(file, root["kind"].Mark()), kind)));
  }
  const YAML::Node data = root["data"];
  if (!data) return config;
  if (!data.IsMap()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: data: expected a map of strings", At(file, data.Mark()))));
  }
  Parser p{file, text, &secrets, &config};
  for (const auto& kv : data) {
    ValueSite site{file, text, kv.second.Mark(), Scalar(kv.first)};
    const std::string& key = site.key;
    if (!kv.second.IsScalar()) {
      return Fail(p.Bad(site, "expected a string (a YAML text)"));
    }
    const std::string value = Scalar(kv.second);
    Status s;
    if (key.starts_with("service.")) {
      s = p.ParseService(site, std::string_view(key).substr(8), value);
    } else if (key.starts_with("template.")) {
      s = p.ParseTemplate(site, key.substr(9), value);
    } else if (key.starts_with("trigger.")) {
      s = p.ParseTrigger(site, key.substr(8), value);
    } else if (key == "defaultTriggers") {
      s = p.ParseDefaultTriggers(site, "", value);
    } else if (key.starts_with("defaultTriggers.")) {
      s = p.ParseDefaultTriggers(site, std::string_view(key).substr(16), value);
    } else {
      p.Warn(site,
             "ignored by ramp (it reads service.*, template.*, trigger.* and "
             "defaultTriggers)");
    }
    if (!s.ok()) return Fail(s);
  }
  return config;
}

std::string TriggerForReason(std::string_view reason) {
  std::string out = "on-";
  for (size_t i = 0; i < reason.size(); ++i) {
    const char c = reason[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      // A new word starts at an upper-case letter after a lower-case one or a digit, or before
      // a lower-case one inside a run of capitals ("HTTPError" → "http-error").
      const bool after_lower = i > 0 && (std::islower(static_cast<unsigned char>(reason[i - 1])) ||
                                         std::isdigit(static_cast<unsigned char>(reason[i - 1])));
      const bool run_end = i > 0 && std::isupper(static_cast<unsigned char>(reason[i - 1])) &&
                           i + 1 < reason.size() &&
                           std::islower(static_cast<unsigned char>(reason[i + 1]));
      if (after_lower || run_end) out += '-';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<NotificationSubscription> ParseSubscriptions(
    const std::map<std::string, std::string>& annotations, std::vector<std::string>* problems) {
  std::vector<NotificationSubscription> out;
  auto recipients = [](std::string_view value) {
    std::vector<std::string> r;
    size_t i = 0;
    while (i <= value.size()) {
      size_t j = value.find(';', i);
      if (j == std::string_view::npos) j = value.size();
      std::string one = Trim(value.substr(i, j - i));
      if (!one.empty()) r.push_back(std::move(one));
      i = j + 1;
    }
    return r;
  };
  for (const auto& [key, value] : annotations) {
    if (!key.starts_with(kSubscriptionPrefix)) continue;
    std::string_view rest = std::string_view(key).substr(kSubscriptionPrefix.size());
    if (rest == "_yaml") {
      YAML::Node root;
      try {
        root = YAML::Load(value);
      } catch (const YAML::Exception& e) {
        problems->push_back(fmt::format("{}: bad YAML: {}", key, e.msg));
        continue;
      }
      if (!root.IsSequence()) {
        problems->push_back(fmt::format("{}: expected a list of {{trigger, destinations}}", key));
        continue;
      }
      for (const auto& item : root) {
        if (!item.IsMap()) continue;
        const std::vector<std::string> triggers = Strings(item["trigger"]);
        const YAML::Node dests = item["destinations"];
        if (!dests || !dests.IsSequence()) continue;
        for (const auto& d : dests) {
          if (!d.IsMap()) continue;
          const std::string service = Scalar(d["service"]);
          if (service.empty()) continue;
          for (const std::string& t : triggers) {
            out.push_back(NotificationSubscription{t, service, Strings(d["recipients"])});
          }
        }
      }
      continue;
    }
    if (!rest.starts_with(".")) continue;
    rest.remove_prefix(1);
    const size_t dot = rest.find('.');
    NotificationSubscription sub;
    if (dot == std::string_view::npos) {
      sub.service = std::string(rest);
    } else {
      sub.trigger = std::string(rest.substr(0, dot));
      sub.service = std::string(rest.substr(dot + 1));
    }
    if (sub.service.empty() || sub.service.find('.') != std::string::npos ||
        (dot != std::string_view::npos && sub.trigger.empty())) {
      problems->push_back(
          fmt::format("{}: expected {}.<trigger>.<service> or {}.<service>; skipped", key,
                      kSubscriptionPrefix, kSubscriptionPrefix));
      continue;
    }
    sub.recipients = recipients(value);
    out.push_back(std::move(sub));
  }
  return out;
}

std::vector<NotificationSend> ResolveSends(const NotificationConfig& config,
                                           const std::vector<NotificationSubscription>& subs,
                                           std::string_view trigger,
                                           std::vector<std::string>* problems) {
  std::vector<NotificationSend> out;
  bool reported_missing = false;
  for (const NotificationSubscription& sub : subs) {
    bool match = sub.trigger == trigger;
    if (sub.trigger.empty()) {
      auto it = config.service_default_triggers.find(sub.service);
      const std::vector<std::string>& defaults =
          it != config.service_default_triggers.end() ? it->second : config.default_triggers;
      match = std::find(defaults.begin(), defaults.end(), trigger) != defaults.end();
    }
    if (!match) continue;
    auto t = config.triggers.find(std::string(trigger));
    if (t == config.triggers.end()) {
      if (!reported_missing) {
        problems->push_back(fmt::format(
            "trigger {} is not defined (neither built in nor in the notifications ConfigMap); "
            "nothing sent",
            trigger));
        reported_missing = true;
      }
      continue;
    }
    for (const TriggerCondition& c : t->second.conditions) {
      if (!c.when.empty()) continue;
      for (const std::string& name : c.send) {
        std::string use = name;
        if (config.templates.count(name) == 0) {
          use = BuiltinTemplateName(trigger);
          if (config.templates.count(use) == 0) use = std::string(kGenericTemplate);
          problems->push_back(
              config.broken_templates.count(name) != 0
                  ? fmt::format("template {} did not compile; using built-in template {}", name,
                                use)
                  : fmt::format("template {} is not defined; using built-in template {}", name,
                                use));
        }
        std::vector<std::string> recipients = sub.recipients;
        if (recipients.empty()) recipients.push_back("");
        for (const std::string& r : recipients) {
          NotificationSend send{std::string(trigger), sub.service, r, use};
          if (std::find(out.begin(), out.end(), send) == out.end()) out.push_back(send);
        }
      }
    }
  }
  return out;
}

std::string FormatRfc3339(Time t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json TemplateVars(const NotificationEvent& event, const NotificationSend& send) {
  json vars;
  vars["rollout"] = event.rollout_json.is_object() ? event.rollout_json : json::object();
  vars["event"] = {{"reason", event.reason},
                   {"message", event.message},
                   {"type", std::string(EventTypeName(event.type))}};
  vars["recipient"] = send.recipient;
  vars["time"] = FormatRfc3339(event.time);
  vars["trigger"] = send.trigger;
  vars["service"] = send.service;
  return vars;
}

StatusOr<HttpRequest> BuildNotificationRequest(const NotificationConfig& config,
                                               const NotificationSend& send,
                                               const NotificationEvent& event) {
  auto s = config.services.find(send.service);
  if (s == config.services.end()) {
    return Fail(FailedPreconditionError(fmt::format(
        "service {} is not configured (no usable service.{} in the notifications ConfigMap)",
        send.service, send.service)));
  }
  const NotificationService& service = s->second;
  if (!service.unusable.empty()) {
    return Fail(FailedPreconditionError(
        fmt::format("service {} cannot be used: {}", service.name, service.unusable)));
  }
  auto t = config.templates.find(send.template_name);
  if (t == config.templates.end()) t = config.templates.find(std::string(kGenericTemplate));
  const NotificationTemplate& tmpl = t->second;
  const json vars = TemplateVars(event, send);
  const std::string message = tmpl.message.Render(vars);
  HttpRequest req;
  req.method = "POST";
  if (service.type == "slack") {
    req.url =
        service.slack.api_url.empty() ? std::string(kSlackDefaultApiUrl) : service.slack.api_url;
    json body = {{"channel", send.recipient}, {"text", message}};
    if (!service.slack.username.empty()) body["username"] = service.slack.username;
    if (!service.slack.icon.empty()) {
      body[service.slack.icon.starts_with(":") ? "icon_emoji" : "icon_url"] = service.slack.icon;
    }
    for (auto [field, part] : {std::pair{"attachments", &tmpl.slack_attachments},
                               std::pair{"blocks", &tmpl.slack_blocks}}) {
      const std::string rendered = Trim(part->Render(vars));
      if (rendered.empty()) continue;
      json parsed = json::parse(rendered, nullptr, false);
      if (parsed.is_discarded()) {
        return Fail(InvalidArgumentError(
            fmt::format("template {}: slack.{} is not JSON once rendered", tmpl.name, field)));
      }
      body[field] = std::move(parsed);
    }
    req.body = body.dump();
    req.headers.push_back({"Content-Type", "application/json; charset=utf-8"});
    if (!service.slack.token.empty()) {
      req.headers.push_back({"Authorization", "Bearer " + service.slack.token});
    }
    return req;
  }
  // webhook
  req.url = service.webhook.url;
  auto w = tmpl.webhook.find(service.name);
  if (w != tmpl.webhook.end()) {
    req.method = w->second.method;
    req.url += w->second.path.Render(vars);
    req.body = w->second.body.Render(vars);
  } else {
    json body = {{"message", message},
                 {"trigger", send.trigger},
                 {"recipient", send.recipient},
                 {"namespace", event.rollout.namespace_},
                 {"name", event.rollout.name},
                 {"reason", event.reason},
                 {"type", std::string(EventTypeName(event.type))},
                 {"time", FormatRfc3339(event.time)}};
    req.body = body.dump();
    req.headers.push_back({"Content-Type", "application/json"});
  }
  for (const auto& h : service.webhook.headers) req.headers.push_back(h);
  if (!service.webhook.basic_auth_username.empty() ||
      !service.webhook.basic_auth_password.empty()) {
    req.headers.push_back(
        {"Authorization", "Basic " + Base64Encode(service.webhook.basic_auth_username + ":" +
                                                  service.webhook.basic_auth_password)});
  }
  req.insecure_skip_verify = service.webhook.insecure_skip_verify;
  return req;
}

Status CheckNotificationResponse(std::string_view service_type, const HttpResponse& response) {
  if (response.status < 200 || response.status > 299) {
    std::string body = response.body.substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return UnavailableError(body.empty() ? fmt::format("answered {}", response.status)
                                         : fmt::format("answered {}: {}", response.status, body));
  }
  if (service_type == "slack") {
    json j = json::parse(response.body, nullptr, false);
    if (j.is_object() && j.contains("ok") && j["ok"] == false) {
      const std::string error =
          j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "?";
      return FailedPreconditionError(fmt::format("slack answered ok=false: {}", error));
    }
  }
  return OkStatus();
}

std::string RedactSecrets(std::string text, const std::vector<std::string>& secret_values) {
  for (const std::string& secret : secret_values) {
    if (secret.size() < 4) continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

}  // namespace ramp::hooks
