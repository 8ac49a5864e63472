#include "spec/extensions.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/common.h"
#include "spec/diagnostics.h"
#include "spec/judge_config.h"
#include "spec/slo_config.h"
#include "spec/yaml_tree.h"

namespace ramp::spec {
namespace {

// ---------------------------------------------------------------------------------------------
// Names ramp owns. docs/manifests.md documents each; keep the two in step.

constexpr std::string_view kRampPluginPrefix = "ramp/";
constexpr std::string_view kRampAnnotationPrefix = "ramp.dev/";
constexpr std::string_view kPlatformAnnotation = "ramp.dev/platform";
constexpr std::string_view kStaticInstancesAnnotation = "ramp.dev/static-instances";
constexpr std::string_view kTrafficRouterAnnotation = "ramp.dev/traffic-router";
// Kubernetes mode: lets ramp replace a ReplicaSet another controller created for the same pod
// template (docs/kubernetes.md, "Taking over from Argo Rollouts"); "true" or "false".
constexpr std::string_view kReplaceReplicaSetsAnnotation = "ramp.dev/replace-replicasets";
constexpr std::string_view kNotificationsPrefix = "notifications.argoproj.io/";
constexpr std::string_view kSubscribePrefix = "subscribe.";
constexpr std::string_view kSubscribeYaml = "subscribe_yaml";
constexpr std::string_view kRampApiVersion = "ramp.dev/v1alpha1";

constexpr std::string_view kRampAnnotations[] = {kPlatformAnnotation, kStaticInstancesAnnotation,
                                                 kTrafficRouterAnnotation,
                                                 kReplaceReplicaSetsAnnotation};
constexpr std::string_view kPlatforms[] = {"static", "process", "kubernetes"};
constexpr std::string_view kRouters[] = {"ramp/proxy", "ramp/haproxy", "ramp/nginx"};
constexpr std::string_view kMetricProviders[] = {"ramp/builtin", "ramp/judge-errors",
                                                 "ramp/judge-latency", "ramp/slo"};
constexpr std::string_view kStepPlugins[] = {"ramp/webhook"};
constexpr std::string_view kRampKinds[] = {"RolloutWebhooks"};

constexpr std::string_view kWebhookTypes[] = {
    "confirm-rollout",   "pre-rollout",  "rollout",  "confirm-traffic-increase",
    "confirm-promotion", "post-rollout", "rollback", "event"};
constexpr std::string_view kGateWebhookTypes[] = {"confirm-rollout", "confirm-traffic-increase",
                                                  "confirm-promotion"};

// Argo Rollouts' built-in notification triggers (reference/argo-rollouts.md §8.2).
constexpr std::string_view kArgoTriggers[] = {
    "on-rollout-completed",    "on-scaling-replica-set", "on-rollout-step-completed",
    "on-rollout-updated",      "on-rollout-aborted",     "on-rollout-paused",
    "on-analysis-run-running", "on-analysis-run-error",  "on-analysis-run-failed"};

constexpr std::string_view kLoadBalancing[] = {"roundRobin", "leastRequest"};
constexpr std::string_view kBuiltinSignals[] = {"requests",    "errors",  "errorRate",
                                                "successRate", "latency", "latencyBucket"};
constexpr std::string_view kRevisions[] = {"canary", "stable"};

// Kubernetes PodSpec fields (k8s.io/api/core/v1). ramp honours `containers`,
// `terminationGracePeriodSeconds` and `restartPolicy` (instances are always restarted) off
// Kubernetes; the rest only take effect on Kubernetes.
// clang-format off
constexpr std::string_view kPodSpecFields[] = {
    "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
    "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
    "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext",
    "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
    "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates",
    "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
    "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates",
    "resourceClaims", "resources"};
constexpr std::string_view kPodSpecHonoured[] = {"containers", "terminationGracePeriodSeconds",
                                                 "restartPolicy"};

// Kubernetes Container fields.
constexpr std::string_view kContainerFields[] = {
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty"};
// Read off Kubernetes (the image names the version; the rest describe the process).
constexpr std::string_view kContainerHonoured[] = {
    "name", "image", "command", "args", "workingDir", "env", "ports", "readinessProbe",
    "livenessProbe", "lifecycle"};
// clang-format on
// Without effect off Kubernetes but harmless, so not worth a warning.
constexpr std::string_view kContainerSilent[] = {"imagePullPolicy", "terminationMessagePath",
                                                 "terminationMessagePolicy"};

// The variables the process platform sets for every instance.
constexpr std::string_view kPlatformVariables[] = {"PORT"};

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSecond;
constexpr size_t kMaxUnixSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1 on Linux

// ---------------------------------------------------------------------------------------------
// Small helpers.

template <size_t N>
std::vector<std::string> Names(const std::string_view (&names)[N]) {
  return std::vector<std::string>(std::begin(names), std::end(names));
}

template <size_t N>
bool Contains(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

std::string Q(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  return out;
}

// DidYouMean, which also names a candidate that differs from `word` in case only.
std::string Closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best = DidYouMean(word, candidates);
  if (!best.empty()) return best;
  for (const auto& c : candidates) {
    if (c != word && c.size() == word.size() &&
        std::equal(c.begin(), c.end(), word.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return c;
    }
  }
  return "";
}

std::string Hint(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best = Closest(word, candidates);
  return best.empty() ? "" : " (did you mean " + Q(best) + "?)";
}

bool IsEmptyValue(const Node& n) {
  return n.IsPlainNull() || (n.IsMap() && n.entries.empty()) ||
         (n.IsSequence() && n.items.empty()) || (n.IsScalar() && n.quoted && n.scalar.empty());
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool HasWhitespace(std::string_view s) {
  return s.find_first_of(" \t\r\n\f\v") != std::string_view::npos;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A typed field value together with where it was written.
template <typename T>
struct Field {
  T value;
  Mark mark;
  std::string path;
};

std::optional<Field<std::string>> GetString(ObjectReader& r, std::string_view key) {
  const Node* n = r.Field(key);
  if (n == nullptr) return std::nullopt;
  auto v = ReadString(r.ctx(), *n, r.FieldPath(key));
  if (!v) return std::nullopt;
  return Field<std::string>{std::move(*v), n->mark, r.FieldPath(key)};
}

std::optional<Field<int64_t>> GetInt(ObjectReader& r, std::string_view key) {
  const Node* n = r.Field(key);
  if (n == nullptr) return std::nullopt;
  auto v = ReadInt64(r.ctx(), *n, r.FieldPath(key));
  if (!v) return std::nullopt;
  return Field<int64_t>{*v, n->mark, r.FieldPath(key)};
}

std::optional<Field<double>> GetFloat(ObjectReader& r, std::string_view key) {
  const Node* n = r.Field(key);
  if (n == nullptr) return std::nullopt;
  auto v = ReadFloat(r.ctx(), *n, r.FieldPath(key));
  if (!v) return std::nullopt;
  return Field<double>{*v, n->mark, r.FieldPath(key)};
}

std::optional<Field<bool>> GetBool(ObjectReader& r, std::string_view key) {
  const Node* n = r.Field(key);
  if (n == nullptr) return std::nullopt;
  auto v = ReadBool(r.ctx(), *n, r.FieldPath(key));
  if (!v) return std::nullopt;
  return Field<bool>{*v, n->mark, r.FieldPath(key)};
}

// A Go duration in nanoseconds; malformed text is reported (and yields nothing).
std::optional<Field<int64_t>> GetDuration(ObjectReader& r, std::string_view key) {
  const Node* n = r.Field(key);
  if (n == nullptr) return std::nullopt;
  std::string path = r.FieldPath(key);
  auto d = ReadDurationString(r.ctx(), *n, path);
  if (!d) return std::nullopt;
  if (d->text.empty()) {
    r.ctx()->Error(n->mark, path,
                   "expected a Go duration such as 30s, 5m, 1h30m, got an empty string");
    return std::nullopt;
  }
  if (!d->nanos) return std::nullopt;
  return Field<int64_t>{*d->nanos, n->mark, path};
}

// A list of strings, each with its position.
std::vector<Field<std::string>> ReadStrings(DecodeContext* ctx, const Node& n,
                                            const std::string& path) {
  std::vector<Field<std::string>> out;
  if (!n.IsSequence()) {
    ctx->Error(n.mark, path, "expected a list of strings, got " + std::string(n.TypeName()));
    return out;
  }
  for (size_t i = 0; i < n.items.size(); ++i) {
    std::string ip = IndexPath(path, i);
    auto s = ReadString(ctx, n.items[i], ip);
    if (s) out.push_back(Field<std::string>{std::move(*s), n.items[i].mark, ip});
  }
  return out;
}

// The pod template's decoder (DecodeContainer) already type-checks a container's command, args,
// env[].name/value and ports[].name/containerPort/protocol; these read such fields without
// reporting a wrong type a second time.
std::optional<Field<std::string>> PeekString(const Node& map, std::string_view key,
                                             const std::string& parent) {
  const Node* n = map.Find(key);
  if (n == nullptr || !n->IsScalar() || n->IsPlainNull()) return std::nullopt;
  return Field<std::string>{n->scalar, n->mark, ChildPath(parent, key)};
}

std::optional<Field<int64_t>> PeekInt(const Node& map, std::string_view key,
                                      const std::string& parent) {
  const Node* n = map.Find(key);
  int64_t v = 0;
  if (n == nullptr || !n->IsScalar() || n->quoted || !ParseYamlInt(n->scalar, &v)) {
    return std::nullopt;
  }
  return Field<int64_t>{v, n->mark, ChildPath(parent, key)};
}

std::vector<Field<std::string>> PeekStrings(const Node& map, std::string_view key,
                                            const std::string& parent) {
  std::vector<Field<std::string>> out;
  const Node* n = map.Find(key);
  if (n == nullptr || !n->IsSequence()) return out;
  std::string path = ChildPath(parent, key);
  for (size_t i = 0; i < n->items.size(); ++i) {
    if (!n->items[i].IsScalar()) continue;
    out.push_back(Field<std::string>{n->items[i].scalar, n->items[i].mark, IndexPath(path, i)});
  }
  return out;
}

void Required(DecodeContext* ctx, Mark mark, const std::string& path, std::string_view what) {
  ctx->Error(mark, path, "Required value: " + std::string(what));
}

// Reports `value` unless it is one of `allowed`.
template <size_t N>
bool CheckOneOf(DecodeContext* ctx, const Field<std::string>& f,
                const std::string_view (&allowed)[N]) {
  if (Contains(allowed, f.value)) return true;
  std::string msg = "must be one of " + Join(Names(allowed)) + " (got " + Q(f.value);
  std::string best = Closest(f.value, Names(allowed));
  if (!best.empty()) msg += "; did you mean " + Q(best) + "?";
  ctx->Error(f.mark, f.path, msg + ")");
  return false;
}

void CheckDurationAtLeast(DecodeContext* ctx, const Field<int64_t>& d, int64_t min) {
  if (d.value < min) {
    ctx->Error(
        d.mark, d.path,
        "must be at least " + FormatGoDuration(min) + " (got " + FormatGoDuration(d.value) + ")");
  }
}

void CheckIntAtLeast(DecodeContext* ctx, const Field<int64_t>& v, int64_t min) {
  if (v.value < min) {
    ctx->Error(
        v.mark, v.path,
        "must be at least " + std::to_string(min) + " (got " + std::to_string(v.value) + ")");
  }
}

void UnknownRampName(DecodeContext* ctx, Mark mark, const std::string& path, std::string_view what,
                     std::string_view name, const std::vector<std::string>& known) {
  ctx->Error(mark, path,
             "unknown ramp " + std::string(what) + " " + Q(name) + Hint(name, known) +
                 "; known ramp " + std::string(what) + "s: " + Join(known));
}

// ---------------------------------------------------------------------------------------------
// Addresses, ports, URLs and paths. Each *Problem function returns an empty string when the
// text is well-formed, else what is wrong with it.

std::string PortProblem(std::string_view port) {
  if (port.empty()) return "the port is missing";
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "port " + Q(port) + " is not a number between 1 and 65535";
  }
  int v = std::stoi(std::string(port));
  if (v < 1 || v > 65535) return "port " + std::string(port) + " is not between 1 and 65535";
  return "";
}

bool IsIpv4(std::string_view s) {
  in_addr addr;
  return inet_pton(AF_INET, std::string(s).c_str(), &addr) == 1;
}

bool IsIpv6(std::string_view s) {
  size_t zone = s.find('%');
  if (zone != std::string_view::npos) {
    if (zone + 1 == s.size()) return false;
    s = s.substr(0, zone);
  }
  in6_addr addr;
  return inet_pton(AF_INET6, std::string(s).c_str(), &addr) == 1;
}

std::string HostProblem(std::string_view host) {
  if (host.empty()) return "the host is missing";
  if (host.front() == '[') {
    if (host.size() < 2 || host.back() != ']' || !IsIpv6(host.substr(1, host.size() - 2))) {
      return Q(host) + " is not a bracketed IPv6 address such as [::1]";
    }
    return "";
  }
  if (host.find(':') != std::string_view::npos) {
    return "write an IPv6 address in brackets, e.g. [::1]:8080";
  }
  if (std::all_of(host.begin(), host.end(),
                  [](char c) { return c == '.' || (c >= '0' && c <= '9'); })) {
    return IsIpv4(host) ? "" : Q(host) + " is not an IPv4 address (four numbers 0-255)";
  }
  if (host.size() > 253) return "a host name has at most 253 characters";
  for (std::string_view label : Split(host, '.')) {
    bool ok =
        !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
        std::all_of(label.begin(), label.end(), [](char c) { return IsAsciiAlnum(c) || c == '-'; });
    if (!ok) {
      return Q(host) +
             " is not a host name (dot-separated labels of letters, digits and '-'), an IPv4 "
             "address or a bracketed IPv6 address";
    }
  }
  return "";
}

// "host:port"; with `allow_empty_host`, ":8080" (all interfaces) too.
std::string HostPortProblem(std::string_view text, bool allow_empty_host) {
  std::string_view example = "e.g. \"10.0.0.7:8080\", \"app.internal:8080\" or \"[::1]:8080\"";
  if (text.empty()) return "expected host:port, " + std::string(example) + ", got an empty string";
  if (text.find("://") != std::string_view::npos) {
    return "expected host:port without a scheme, " + std::string(example) + " (got " + Q(text) +
           ")";
  }
  if (HasWhitespace(text)) return "expected host:port without spaces (got " + Q(text) + ")";
  std::string_view host;
  std::string_view port;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return "expected [ipv6]:port, e.g. \"[::1]:8080\" (got " + Q(text) + ")";
    }
    host = text.substr(0, close + 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return "missing port: expected host:port, " + std::string(example) + " (got " + Q(text) + ")";
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "write an IPv6 address in brackets, e.g. \"[::1]:8080\" (got " + Q(text) + ")";
    }
  }
  if (std::string p = PortProblem(port); !p.empty()) return p + " in " + Q(text);
  if (host.empty()) {
    if (allow_empty_host) return "";
    return "missing host: expected host:port, " + std::string(example) + " (got " + Q(text) + ")";
  }
  return HostProblem(host);
}

std::string_view HostOf(std::string_view host_port) {
  if (!host_port.empty() && host_port.front() == '[') {
    return host_port.substr(0, host_port.find(']') + 1);
  }
  return host_port.substr(0, host_port.rfind(':'));
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  return host.starts_with("127.") && IsIpv4(host);
}

std::string UrlProblem(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return "expected an absolute http or https URL such as \"http://hooks.internal:8080/gate\" "
           "(got " +
           Q(url) + ")";
  }
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") {
    return "the URL scheme must be http or https (got " + Q(url.substr(0, sep)) + ")";
  }
  if (HasWhitespace(url)) return "a URL may not contain spaces (encode them as %20)";
  std::string_view rest = url.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  if (authority.empty()) return "the URL has no host (got " + Q(url) + ")";
  bool has_port = authority.front() == '[' ? authority.find("]:") != std::string_view::npos
                                           : authority.find(':') != std::string_view::npos;
  std::string p = has_port ? HostPortProblem(authority, false) : HostProblem(authority);
  return p.empty() ? "" : "bad URL host: " + p;
}

std::string AbsolutePathProblem(std::string_view path) {
  if (path.empty()) return "expected an absolute file path, got an empty string";
  if (path.front() != '/') {
    return "expected an absolute file path (starting with \"/\"), got " + Q(path);
  }
  return "";
}

std::string SocketPathProblem(std::string_view path) {
  if (std::string p = AbsolutePathProblem(path); !p.empty()) return p;
  if (path.size() > kMaxUnixSocketPath) {
    return "a unix socket path has at most " + std::to_string(kMaxUnixSocketPath) + " bytes (got " +
           std::to_string(path.size()) + ")";
  }
  return "";
}

// RFC 7230 token: what HTTP header and cookie names are made of.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return IsAsciiAlnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// A name for HAProxy backends/servers and NGINX upstreams: letters, digits, '-', '_', '.'.
bool IsConfigName(std::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [allow_colon](char c) {
    return IsAsciiAlnum(c) || c == '-' || c == '_' || c == '.' || (allow_colon && c == ':');
  });
}

// Kubernetes IANA_SVC_NAME: a named port.
bool IsPortName(std::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  if (s.find("--") != std::string_view::npos) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!((c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return letter;
}

// Kubernetes DNS-1123 subdomain: object names.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (!IsAsciiAlnum(s.front()) || !IsAsciiAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

// Reports a field that does not hold a host:port.
void CheckAddressField(DecodeContext* ctx, const Field<std::string>& f, bool allow_empty_host) {
  if (std::string p = HostPortProblem(f.value, allow_empty_host); !p.empty()) {
    ctx->Error(f.mark, f.path, p);
  }
}

void CheckPathField(DecodeContext* ctx, const Field<std::string>& f) {
  if (std::string p = AbsolutePathProblem(f.value); !p.empty()) ctx->Error(f.mark, f.path, p);
}

void CheckArgv(DecodeContext* ctx, ObjectReader& r, std::string_view key) {
  const Node* n = r.Field(key);
  if (n == nullptr) return;
  std::string path = r.FieldPath(key);
  auto argv = ReadStrings(ctx, *n, path);
  if (n->IsSequence() && n->items.empty()) {
    ctx->Error(n->mark, path,
               "expected a command as a list of arguments, e.g. [\"nginx\", \"-s\", \"reload\"], "
               "got an empty list");
    return;
  }
  if (!argv.empty() && argv[0].value.empty()) {
    ctx->Error(argv[0].mark, argv[0].path, "the program name may not be empty");
  }
}

// ---------------------------------------------------------------------------------------------
// Routers: trafficRouting.plugins["ramp/<router>"].

// The admin endpoint of a `ramp proxy` process: {socket} or {address, tokenFile}.
void CheckProxyAdmin(DecodeContext* ctx, const Node& node, const std::string& path) {
  ObjectReader r(ctx, &node, path);
  auto socket = GetString(r, "socket");
  auto address = GetString(r, "address");
  auto token = GetString(r, "tokenFile");
  r.Finish();
  if (!r.valid()) return;
  if (socket && address) {
    ctx->Error(node.mark, path, "set either socket or address, not both");
  } else if (!socket && !address && !r.Has("socket") && !r.Has("address")) {
    Required(ctx, node.mark, path,
             "socket (the proxy's admin unix socket) or address (a loopback host:port with "
             "tokenFile)");
  }
  if (socket) {
    if (std::string p = SocketPathProblem(socket->value); !p.empty()) {
      ctx->Error(socket->mark, socket->path, p);
    }
  }
  if (address) {
    std::string p = HostPortProblem(address->value, false);
    if (!p.empty()) {
      ctx->Error(address->mark, address->path, p);
    } else if (!IsLoopbackHost(HostOf(address->value))) {
      ctx->Error(address->mark, address->path,
                 "must be a loopback address (127.0.0.1, [::1] or localhost), got " +
                     Q(address->value) +
                     ": the admin API changes routing and must not be reachable from other hosts");
    }
    if (!token) {
      Required(ctx, node.mark, ChildPath(path, "tokenFile"),
               "an admin address needs tokenFile, the file holding the admin API's bearer token "
               "(any local user can reach a loopback port)");
    }
  }
  if (token) CheckPathField(ctx, *token);
}

void CheckProxyRouter(DecodeContext* ctx, const Node& config, const std::string& path) {
  ObjectReader r(ctx, &config, path);
  auto listen = GetString(r, "listen");
  if (listen) {
    CheckAddressField(ctx, *listen, true);
  } else if (r.valid()) {
    Required(ctx, config.mark, r.FieldPath("listen"),
             "the address the proxy serves the Rollout's traffic on, e.g. \"0.0.0.0:8080\" or "
             "\":8080\"");
  }
  if (auto preview = GetString(r, "previewListen")) {
    CheckAddressField(ctx, *preview, true);
    if (listen && preview->value == listen->value) {
      ctx->Error(preview->mark, preview->path,
                 "must differ from listen (both are " + Q(preview->value) + ")");
    }
  }
  if (const Node* admin = r.Field("admin")) CheckProxyAdmin(ctx, *admin, r.FieldPath("admin"));
  if (const Node* sticky = r.Field("sticky")) {
    std::string sp = r.FieldPath("sticky");
    ObjectReader sr(ctx, sticky, sp);
    auto cookie = GetString(sr, "cookie");
    auto header = GetString(sr, "header");
    auto ttl = GetDuration(sr, "ttl");
    sr.Finish();
    if (sr.valid()) {
      if (cookie && header) {
        ctx->Error(sticky->mark, sp, "set either cookie or header, not both");
      } else if (!cookie && !header && !sr.Has("cookie") && !sr.Has("header")) {
        Required(ctx, sticky->mark, sp,
                 "cookie (a cookie name the proxy sets) or header (a request header to hash)");
      }
      for (const auto* f : {&cookie, &header}) {
        if (*f && !IsToken((*f)->value)) {
          ctx->Error(
              (*f)->mark, (*f)->path,
              "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~), got " + Q((*f)->value));
        }
      }
      if (ttl) {
        CheckDurationAtLeast(ctx, *ttl, kSecond);
        if (!cookie) {
          ctx->Error(ttl->mark, ttl->path, "ttl applies to a sticky cookie only; set cookie");
        }
      }
    }
  }
  if (auto lb = GetString(r, "loadBalancing")) CheckOneOf(ctx, *lb, kLoadBalancing);
  if (auto d = GetDuration(r, "connectTimeout")) CheckDurationAtLeast(ctx, *d, 1'000'000);
  if (auto d = GetDuration(r, "requestTimeout")) CheckDurationAtLeast(ctx, *d, 0);
  if (auto d = GetDuration(r, "idleTimeout")) CheckDurationAtLeast(ctx, *d, kSecond);
  r.Finish();
}

void CheckHaproxyRouter(DecodeContext* ctx, const Node& config, const std::string& path) {
  ObjectReader r(ctx, &config, path);
  if (auto api = GetString(r, "runtimeApi")) {
    if (!api->value.empty() && api->value.front() == '/') {
      if (std::string p = SocketPathProblem(api->value); !p.empty()) {
        ctx->Error(api->mark, api->path, p);
      }
    } else if (std::string p = HostPortProblem(api->value, false); !p.empty()) {
      ctx->Error(api->mark, api->path,
                 "expected a unix socket path (\"/run/haproxy/admin.sock\") or host:port: " + p);
    } else if (!IsLoopbackHost(HostOf(api->value))) {
      ctx->Warning(api->mark, api->path,
                   "HAProxy's runtime API has no authentication: " + Q(api->value) +
                       " must only be reachable from a trusted network");
    }
  } else if (r.valid()) {
    Required(ctx, config.mark, r.FieldPath("runtimeApi"),
             "HAProxy's runtime API: a unix socket path (\"/run/haproxy/admin.sock\") or a "
             "host:port (\"127.0.0.1:9999\"), as declared by `stats socket` in haproxy.cfg");
  }
  std::optional<Field<std::string>> backends[2] = {GetString(r, "stableBackend"),
                                                   GetString(r, "canaryBackend")};
  for (const auto& b : backends) {
    if (b && !IsConfigName(b->value, true)) {
      ctx->Error(b->mark, b->path,
                 "must be an HAProxy backend name (letters, digits, '-', '_', '.', ':'), got " +
                     Q(b->value));
    }
  }
  if (backends[0] && backends[1] && backends[0]->value == backends[1]->value) {
    ctx->Error(
        backends[1]->mark, backends[1]->path,
        "the canary and stable backends must differ (both are " + Q(backends[1]->value) + ")");
  }
  if (auto t = GetString(r, "serverTemplate")) {
    if (!IsConfigName(t->value, false)) {
      ctx->Error(t->mark, t->path,
                 "must be the prefix of a `server-template` (letters, digits, '-', '_', '.'), "
                 "got " +
                     Q(t->value));
    }
  }
  if (const Node* wm = r.Field("weightMap")) {
    std::string wp = r.FieldPath("weightMap");
    ObjectReader wr(ctx, wm, wp);
    auto file = GetString(wr, "file");
    auto key = GetString(wr, "key");
    wr.Finish();
    if (file) {
      CheckPathField(ctx, *file);
    } else if (wr.valid()) {
      Required(ctx, wm->mark, ChildPath(wp, "file"),
               "the map file the frontend reads the canary weight from (as loaded by "
               "haproxy.cfg, e.g. \"/etc/haproxy/ramp-weights.map\")");
    }
    if (key && (key->value.empty() || HasWhitespace(key->value))) {
      ctx->Error(key->mark, key->path, "must be a map key without spaces, got " + Q(key->value));
    }
  } else if (r.valid()) {
    Required(ctx, config.mark, r.FieldPath("weightMap"),
             "{file, key}: the HAProxy map entry ramp sets to the canary weight (0-100), which "
             "the frontend uses to choose between the two backends");
  }
  if (auto d = GetDuration(r, "timeout")) CheckDurationAtLeast(ctx, *d, 1'000'000);
  r.Finish();
}

void CheckNginxRouter(DecodeContext* ctx, const Node& config, const std::string& path) {
  ObjectReader r(ctx, &config, path);
  if (auto f = GetString(r, "configFile")) {
    CheckPathField(ctx, *f);
  } else if (r.valid()) {
    Required(ctx, config.mark, r.FieldPath("configFile"),
             "the file ramp owns and rewrites (upstreams and split_clients), included from "
             "nginx.conf's http block, e.g. \"/etc/nginx/conf.d/ramp-shop.conf\"");
  }
  std::optional<Field<std::string>> upstreams[2] = {GetString(r, "stableUpstream"),
                                                    GetString(r, "canaryUpstream")};
  for (const auto& u : upstreams) {
    if (u && !IsConfigName(u->value, false)) {
      ctx->Error(
          u->mark, u->path,
          "must be an NGINX upstream name (letters, digits, '-', '_', '.'), got " + Q(u->value));
    }
  }
  if (upstreams[0] && upstreams[1] && upstreams[0]->value == upstreams[1]->value) {
    ctx->Error(
        upstreams[1]->mark, upstreams[1]->path,
        "the canary and stable upstreams must differ (both are " + Q(upstreams[1]->value) + ")");
  }
  if (auto v = GetString(r, "variable")) {
    bool ok = !v->value.empty() && std::all_of(v->value.begin(), v->value.end(),
                                               [](char c) { return IsAsciiAlnum(c) || c == '_'; });
    if (!ok) {
      ctx->Error(v->mark, v->path,
                 "must be an NGINX variable name without \"$\" (letters, digits, '_'), got " +
                     Q(v->value));
    }
  }
  if (auto k = GetString(r, "splitKey")) {
    if (k->value.find('$') == std::string::npos) {
      ctx->Error(k->mark, k->path,
                 "must contain an NGINX variable such as \"$request_id\" or \"$cookie_user\" "
                 "(a constant key sends every request the same way), got " +
                     Q(k->value));
    }
  }
  CheckArgv(ctx, r, "testCommand");
  CheckArgv(ctx, r, "reloadCommand");
  if (auto d = GetDuration(r, "commandTimeout")) CheckDurationAtLeast(ctx, *d, kSecond);
  r.Finish();
}

// ---------------------------------------------------------------------------------------------
// Metric providers: metrics[].provider.plugin["ramp/<provider>"].

// The judges' configuration is parsed by the same function the providers use; a configuration
// that still holds {{args.…}} placeholders is checked when the run resolves them.
void CheckJudgeMetric(DecodeContext* ctx, JudgeKind kind, const Node& config,
                      const std::string& path) {
  const nlohmann::json j = ToJson(config);
  if (j.dump().find("{{") != std::string::npos) return;
  StatusOr<JudgeConfig> parsed = ParseJudgeConfig(j, kind);
  if (!parsed) ctx->Error(config.mark, path, parsed.error().message());
}

// ramp/slo's configuration, as the provider parses it. The SLO file is read by the daemon at
// each measurement, not here: it may live where ramp runs, not where the manifest is linted.
void CheckSloMetric(DecodeContext* ctx, const Node& config, const std::string& path) {
  const nlohmann::json j = ToJson(config);
  if (j.dump().find("{{") != std::string::npos) return;
  StatusOr<SloConfig> parsed = ParseSloConfig(j);
  if (!parsed) ctx->Error(config.mark, path, parsed.error().message());
}

void CheckBuiltinMetric(DecodeContext* ctx, const Node& config, const std::string& path) {
  ObjectReader r(ctx, &config, path);
  auto signal = GetString(r, "signal");
  bool signal_ok = signal && CheckOneOf(ctx, *signal, kBuiltinSignals);
  if (!signal && r.valid()) {
    Required(ctx, config.mark, r.FieldPath("signal"),
             "which golden signal to measure: one of " + Join(Names(kBuiltinSignals)));
  }
  if (auto rev = GetString(r, "revision")) CheckOneOf(ctx, *rev, kRevisions);
  if (auto w = GetDuration(r, "window")) {
    CheckDurationAtLeast(ctx, *w, kSecond);
    if (w->value > kHour) {
      ctx->Error(w->mark, w->path,
                 "must be at most 1h (the proxy keeps one hour of per-second counters), got " +
                     FormatGoDuration(w->value));
    }
  }
  auto quantile = GetFloat(r, "quantile");
  if (quantile && !(quantile->value > 0 && quantile->value < 1)) {
    ctx->Error(quantile->mark, quantile->path,
               "must be between 0 and 1 exclusive, e.g. 0.99 for p99 (got " +
                   std::to_string(quantile->value) + ")");
  }
  auto le = GetDuration(r, "le");
  if (le && le->value <= 0) {
    ctx->Error(le->mark, le->path, "must be a positive latency bound such as 250ms");
  }
  if (auto m = GetInt(r, "minRequests")) CheckIntAtLeast(ctx, *m, 0);
  if (const Node* admin = r.Field("admin")) CheckProxyAdmin(ctx, *admin, r.FieldPath("admin"));
  r.Finish();
  if (!signal_ok) return;
  bool is_latency = signal->value == "latency";
  bool is_bucket = signal->value == "latencyBucket";
  if (is_latency && !r.Has("quantile")) {
    Required(ctx, config.mark, r.FieldPath("quantile"),
             "signal latency needs the quantile to report, e.g. 0.99");
  }
  if (!is_latency && r.Has("quantile")) {
    ctx->Error(r.FieldMark("quantile"), r.FieldPath("quantile"),
               "quantile applies to signal latency only (signal is " + Q(signal->value) + ")");
  }
  if (is_bucket && !r.Has("le")) {
    Required(ctx, config.mark, r.FieldPath("le"),
             "signal latencyBucket needs the bucket bound, e.g. 250ms");
  }
  if (!is_bucket && r.Has("le")) {
    ctx->Error(r.FieldMark("le"), r.FieldPath("le"),
               "le applies to signal latencyBucket only (signal is " + Q(signal->value) + ")");
  }
}

// ---------------------------------------------------------------------------------------------
// Webhooks in Flagger's shape: steps[].plugin ramp/webhook and RolloutWebhooks.spec.webhooks[].

// Reads the fields every webhook has; returns its type ("rollout" when unset).
std::string CheckWebhookFields(DecodeContext* ctx, ObjectReader& r, const Node& node) {
  std::string type = "rollout";
  if (auto t = GetString(r, "type")) {
    if (t->value.empty()) {
      type = "rollout";  // Flagger's CRD allows an empty type, which means rollout
    } else if (CheckOneOf(ctx, *t, kWebhookTypes)) {
      type = t->value;
    } else {
      type.clear();  // unknown: skip the checks that depend on the type
    }
  }
  if (auto url = GetString(r, "url")) {
    if (std::string p = UrlProblem(url->value); !p.empty()) ctx->Error(url->mark, url->path, p);
  } else if (r.valid()) {
    Required(ctx, node.mark, r.FieldPath("url"),
             "the http or https URL the hook POSTs Flagger's webhook payload to");
  }
  if (auto d = GetDuration(r, "timeout")) CheckDurationAtLeast(ctx, *d, 1'000'000);
  if (auto n = GetInt(r, "retries")) CheckIntAtLeast(ctx, *n, 0);
  r.StringMap("metadata");
  auto mute = GetBool(r, "muteAlert");
  GetBool(r, "disableTLS");
  if (mute && mute->value && !type.empty() && !Contains(kGateWebhookTypes, type)) {
    ctx->Warning(mute->mark, mute->path,
                 "muteAlert only silences the waiting alerts of the gate types (confirm-rollout, "
                 "confirm-traffic-increase, confirm-promotion); it has no effect on a " +
                     type + " hook");
  }
  return type;
}

void CheckWebhookStep(DecodeContext* ctx, const Node* config, const std::string& path) {
  ObjectReader r(ctx, config, path);
  if (auto name = GetString(r, "name")) {
    if (name->value.empty()) ctx->Error(name->mark, name->path, "may not be empty when set");
  }
  Node empty;
  std::string type = CheckWebhookFields(ctx, r, config != nullptr ? *config : empty);
  if (auto interval = GetDuration(r, "interval")) {
    CheckDurationAtLeast(ctx, *interval, kSecond);
    if (!type.empty() && !Contains(kGateWebhookTypes, type)) {
      ctx->Warning(interval->mark, interval->path,
                   "interval only paces the re-calls of a gate (confirm-*) hook; a " + type +
                       " hook is called once");
    }
  }
  r.Finish();
}

// ---------------------------------------------------------------------------------------------
// Process workload: spec.template.spec off Kubernetes.

struct ContainerPorts {
  std::optional<int64_t> serving;        // ports[0].containerPort: the instance's PORT
  std::map<std::string, int64_t> named;  // name → containerPort
};

void WarnIgnoredOffKubernetes(DecodeContext* ctx, const MapEntry& e, const std::string& parent) {
  if (IsEmptyValue(e.value)) return;  // nothing is lost
  ctx->Warning(e.key_mark, ChildPath(parent, e.key),
               Q(e.key) + " is ignored off Kubernetes (only the kubernetes platform applies it)");
}

// Kubernetes $(VAR) references in `s` ($$ escapes a $).
std::vector<std::string> VariableReferences(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] != '$') continue;
    if (s[i + 1] == '$') {
      ++i;
      continue;
    }
    if (s[i + 1] != '(') continue;
    size_t close = s.find(')', i + 2);
    if (close == std::string_view::npos) break;
    if (close > i + 2) out.emplace_back(s.substr(i + 2, close - i - 2));
    i = close;
  }
  return out;
}

void CheckReferences(DecodeContext* ctx, const Field<std::string>& f,
                     const std::set<std::string>& defined, std::string_view scope) {
  for (const std::string& var : VariableReferences(f.value)) {
    if (defined.count(var) > 0 || Contains(kPlatformVariables, var)) continue;
    ctx->Warning(f.mark, f.path,
                 "$(" + var + ") names no variable defined " + std::string(scope) +
                     " (nor PORT, which the platform sets); it is passed on as written, as "
                     "Kubernetes does");
  }
}

void CheckEnv(DecodeContext* ctx, const Node& env, const std::string& path,
              std::set<std::string>* defined) {
  if (!env.IsSequence()) return;  // reported by the pod template's decoder
  for (size_t i = 0; i < env.items.size(); ++i) {
    const Node& item = env.items[i];
    if (!item.IsMap()) continue;  // reported by the pod template's decoder
    std::string ip = IndexPath(path, i);
    ObjectReader r(ctx, &item, ip, ObjectReader::Mode::kLenient);
    auto name = PeekString(item, "name", ip);  // a missing name is reported by the decoder
    auto value = PeekString(item, "value", ip);
    const Node* from = r.Field("valueFrom");
    if (!name || name->value.empty()) {
      // Reported by the pod template's decoder.
    } else if (name->value.find('=') != std::string::npos ||
               !std::all_of(name->value.begin(), name->value.end(),
                            [](char c) { return c > ' ' && c < 0x7f; })) {
      ctx->Error(name->mark, name->path,
                 "must be printable ASCII without '=' or spaces, got " + Q(name->value));
    } else {
      if (Contains(kPlatformVariables, name->value)) {
        ctx->Warning(name->mark, name->path,
                     name->value +
                         " is set by the platform for each instance off Kubernetes; this value "
                         "applies on Kubernetes only");
      } else if (defined->count(name->value) > 0) {
        ctx->Warning(name->mark, name->path,
                     name->value + " is set twice; the later entry wins, as on Kubernetes");
      }
    }
    if (value) CheckReferences(ctx, *value, *defined, "earlier in env");
    if (value && !value->value.empty() && from != nullptr) {
      ctx->Error(item.mark, ip, "set value or valueFrom, not both");
    }
    if (from != nullptr) {
      std::string fp = r.FieldPath("valueFrom");
      ObjectReader fr(ctx, from, fp, ObjectReader::Mode::kLenient);
      std::vector<std::string> sources;
      if (const Node* sk = fr.Field("secretKeyRef")) {
        sources.emplace_back("secretKeyRef");
        std::string sp = fr.FieldPath("secretKeyRef");
        ObjectReader sr(ctx, sk, sp, ObjectReader::Mode::kLenient);
        for (std::string_view key : {"name", "key"}) {
          auto f = GetString(sr, key);
          if (sr.valid() && (!f || f->value.empty())) {
            Required(ctx, sk->mark, sr.FieldPath(key),
                     key == "name" ? "the Secret's name" : "the key within the Secret");
          }
        }
        GetBool(sr, "optional");
      }
      for (std::string_view kube_only :
           {"configMapKeyRef", "fieldRef", "resourceFieldRef", "fileKeyRef"}) {
        if (fr.Field(kube_only) == nullptr) continue;
        sources.emplace_back(kube_only);
        ctx->Warning(fr.FieldMark(kube_only), fr.FieldPath(kube_only),
                     "valueFrom." + std::string(kube_only) +
                         " is resolved on Kubernetes only; off Kubernetes the variable is not "
                         "set (secretKeyRef is resolved on every platform)");
      }
      if (fr.valid() && sources.empty()) {
        Required(ctx, from->mark, fp,
                 "one source: secretKeyRef (or, on Kubernetes only, configMapKeyRef, fieldRef, "
                 "resourceFieldRef)");
      } else if (sources.size() > 1) {
        ctx->Error(from->mark, fp,
                   "may not have more than one source (found " + Join(sources) + ")");
      }
    }
    if (name && !name->value.empty()) defined->insert(name->value);
  }
}

ContainerPorts CheckPorts(DecodeContext* ctx, const Node& ports, const std::string& path) {
  ContainerPorts out;
  // The list's shape and containerPort's type and range are the pod template decoder's.
  if (!ports.IsSequence()) return out;
  for (size_t i = 0; i < ports.items.size(); ++i) {
    const Node& item = ports.items[i];
    if (!item.IsMap()) continue;
    std::string ip = IndexPath(path, i);
    auto port = PeekInt(item, "containerPort", ip);
    if (port && (port->value < 1 || port->value > 65535)) port.reset();
    if (auto name = PeekString(item, "name", ip)) {
      if (!IsPortName(name->value)) {
        ctx->Error(name->mark, name->path,
                   "must be a port name: at most 15 lowercase letters, digits and '-', with at "
                   "least one letter (got " +
                       Q(name->value) + ")");
      } else if (out.named.count(name->value) > 0) {
        ctx->Error(name->mark, name->path, "Duplicate value: port name " + Q(name->value));
      } else if (port) {
        out.named[name->value] = port->value;
      }
    }
    if (auto proto = PeekString(item, "protocol", ip)) {
      constexpr std::string_view kProtocols[] = {"TCP", "UDP", "SCTP"};
      if (CheckOneOf(ctx, *proto, kProtocols) && proto->value != "TCP") {
        ctx->Warning(proto->mark, proto->path,
                     "off Kubernetes ramp serves and probes TCP only; this port is ignored there");
      }
    }
    for (const auto& e : item.entries) {
      if (e.key == "hostPort" || e.key == "hostIP") WarnIgnoredOffKubernetes(ctx, e, ip);
    }
    if (i == 0 && port) {
      out.serving = port->value;
    } else if (i > 0) {
      ctx->Warning(item.mark, ip,
                   "off Kubernetes only ports[0] is the instance's PORT; this port is not "
                   "remapped there (instances on one host would share it)");
    }
  }
  return out;
}

// A probe or handler port (number or port name) of containers[0].
void CheckPortReference(DecodeContext* ctx, ObjectReader& r, const Node& handler,
                        const ContainerPorts& ports) {
  const Node* n = r.Field("port");
  std::string path = r.FieldPath("port");
  if (n == nullptr) {
    if (r.valid()) Required(ctx, handler.mark, path, "the port to connect to (number or name)");
    return;
  }
  auto v = ReadIntOrString(ctx, *n, path);
  if (!v) return;
  int64_t number = v->int_value;
  if (v->is_string) {
    if (!IsPortName(v->str_value)) {
      ctx->Error(n->mark, path,
                 "must be a port number (1-65535) or the name of a port of the container, got " +
                     Q(v->str_value));
      return;
    }
    auto it = ports.named.find(v->str_value);
    if (it == ports.named.end()) {
      std::vector<std::string> names;
      for (const auto& [k, unused] : ports.named) names.push_back(k);
      ctx->Error(n->mark, path,
                 "names no port of containers[0].ports" + Hint(v->str_value, names) +
                     (names.empty() ? " (it declares no named ports)"
                                    : " (named ports: " + Join(names) + ")"));
      return;
    }
    number = it->second;
  } else if (number < 1 || number > 65535) {
    ctx->Error(n->mark, path, "must be between 1 and 65535 (got " + std::to_string(number) + ")");
    return;
  }
  if (!ports.serving) {
    ctx->Warning(n->mark, path,
                 "containers[0] declares no ports: off Kubernetes port " + std::to_string(number) +
                     " is used as written, not as the instance's PORT (declare it as "
                     "ports[0].containerPort)");
  } else if (number != *ports.serving) {
    ctx->Warning(n->mark, path,
                 "port " + std::to_string(number) + " is not ports[0].containerPort (" +
                     std::to_string(*ports.serving) +
                     "): off Kubernetes it is used as written, not as the instance's PORT");
  }
}

void CheckHttpGet(DecodeContext* ctx, const Node& node, const std::string& path,
                  const ContainerPorts& ports) {
  ObjectReader r(ctx, &node, path, ObjectReader::Mode::kLenient);
  CheckPortReference(ctx, r, node, ports);
  GetString(r, "path");
  GetString(r, "host");
  if (auto scheme = GetString(r, "scheme")) {
    constexpr std::string_view kSchemes[] = {"HTTP", "HTTPS"};
    CheckOneOf(ctx, *scheme, kSchemes);
  }
  r.List("httpHeaders", [](DecodeContext* c, const Node& h, const std::string& hp) {
    ObjectReader hr(c, &h, hp, ObjectReader::Mode::kLenient);
    auto name = GetString(hr, "name");
    GetString(hr, "value");
    if (hr.valid() && (!name || name->value.empty())) {
      Required(c, h.mark, hr.FieldPath("name"), "the header's name");
    } else if (name && !IsToken(name->value)) {
      c->Error(name->mark, name->path, "must be an HTTP header name, got " + Q(name->value));
    }
    return 0;
  });
}

void CheckExec(DecodeContext* ctx, const Node& node, const std::string& path) {
  ObjectReader r(ctx, &node, path, ObjectReader::Mode::kLenient);
  const Node* cmd = r.Field("command");
  if (cmd == nullptr) {
    if (r.valid()) {
      Required(ctx, node.mark, r.FieldPath("command"),
               "the command to run, as a list such as [\"cat\", \"/tmp/healthy\"]");
    }
    return;
  }
  ReadStrings(ctx, *cmd, r.FieldPath("command"));
  if (cmd->IsSequence() && cmd->items.empty()) {
    ctx->Error(cmd->mark, r.FieldPath("command"), "may not be empty");
  }
}

enum class ProbeKind { kReadiness, kLiveness };

void CheckProbe(DecodeContext* ctx, const Node& node, const std::string& path, ProbeKind kind,
                const ContainerPorts& ports) {
  ObjectReader r(ctx, &node, path, ObjectReader::Mode::kLenient);
  if (!r.valid()) return;
  std::vector<std::string> handlers;
  if (const Node* h = r.Field("httpGet")) {
    handlers.emplace_back("httpGet");
    CheckHttpGet(ctx, *h, r.FieldPath("httpGet"), ports);
  }
  if (const Node* h = r.Field("tcpSocket")) {
    handlers.emplace_back("tcpSocket");
    ObjectReader tr(ctx, h, r.FieldPath("tcpSocket"), ObjectReader::Mode::kLenient);
    CheckPortReference(ctx, tr, *h, ports);
    GetString(tr, "host");
  }
  if (const Node* h = r.Field("exec")) {
    handlers.emplace_back("exec");
    CheckExec(ctx, *h, r.FieldPath("exec"));
  }
  if (r.Field("grpc") != nullptr) {
    handlers.emplace_back("grpc");
    ctx->Warning(r.FieldMark("grpc"), r.FieldPath("grpc"),
                 "grpc probes run on Kubernetes only; off Kubernetes this probe is skipped (use "
                 "httpGet, tcpSocket or exec)");
  }
  if (handlers.empty()) {
    Required(ctx, node.mark, path, "one handler: httpGet, tcpSocket or exec");
  } else if (handlers.size() > 1) {
    ctx->Error(node.mark, path, "may not set more than one handler (found " + Join(handlers) + ")");
  }
  for (std::string_view key : {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
                               "successThreshold", "failureThreshold"}) {
    auto v = GetInt(r, key);
    if (!v) continue;
    CheckIntAtLeast(ctx, *v, 0);
    if (key == "successThreshold" && kind == ProbeKind::kLiveness && v->value > 1) {
      ctx->Error(v->mark, v->path,
                 "must be 1 for a livenessProbe (got " + std::to_string(v->value) + ")");
    }
  }
  if (auto grace = GetInt(r, "terminationGracePeriodSeconds")) {
    if (kind == ProbeKind::kReadiness) {
      ctx->Error(grace->mark, grace->path, "may not be set for a readinessProbe");
    } else {
      CheckIntAtLeast(ctx, *grace, 1);
    }
  }
}

void CheckLifecycle(DecodeContext* ctx, const Node& node, const std::string& path,
                    const ContainerPorts& ports) {
  ObjectReader r(ctx, &node, path, ObjectReader::Mode::kLenient);
  if (!r.valid()) return;
  if (const Node* pre = r.Field("preStop")) {
    std::string pp = r.FieldPath("preStop");
    ObjectReader hr(ctx, pre, pp, ObjectReader::Mode::kLenient);
    if (hr.valid()) {
      std::vector<std::string> handlers;
      if (const Node* h = hr.Field("exec")) {
        handlers.emplace_back("exec");
        CheckExec(ctx, *h, hr.FieldPath("exec"));
      }
      if (const Node* h = hr.Field("httpGet")) {
        handlers.emplace_back("httpGet");
        CheckHttpGet(ctx, *h, hr.FieldPath("httpGet"), ports);
      }
      if (const Node* h = hr.Field("sleep")) {
        handlers.emplace_back("sleep");
        ObjectReader sr(ctx, h, hr.FieldPath("sleep"), ObjectReader::Mode::kLenient);
        if (auto s = GetInt(sr, "seconds")) {
          CheckIntAtLeast(ctx, *s, 0);
        } else if (sr.valid() && sr.Field("seconds") == nullptr) {
          Required(ctx, h->mark, sr.FieldPath("seconds"), "how long to sleep, in seconds");
        }
      }
      if (hr.Field("tcpSocket") != nullptr) {
        handlers.emplace_back("tcpSocket");
        ctx->Warning(hr.FieldMark("tcpSocket"), hr.FieldPath("tcpSocket"),
                     "a tcpSocket preStop handler is deprecated in Kubernetes and ignored off "
                     "Kubernetes (use exec, httpGet or sleep)");
      }
      if (handlers.empty()) {
        Required(ctx, pre->mark, pp, "one handler: exec, httpGet or sleep");
      } else if (handlers.size() > 1) {
        ctx->Error(pre->mark, pp,
                   "may not set more than one handler (found " + Join(handlers) + ")");
      }
    }
  }
  for (const auto& e : node.entries) {
    if (e.key == "postStart") WarnIgnoredOffKubernetes(ctx, e, path);
  }
}

void WarnUnknownField(DecodeContext* ctx, const MapEntry& e, const std::string& parent,
                      std::string_view type, const std::vector<std::string>& known) {
  ctx->Warning(e.key_mark, ChildPath(parent, e.key),
               "unknown " + std::string(type) + " field " + Q(e.key) + Hint(e.key, known) +
                   "; ramp passes it on unchecked");
}

void CheckContainer(DecodeContext* ctx, const Node& c, const std::string& path) {
  ObjectReader r(ctx, &c, path, ObjectReader::Mode::kLenient);
  if (!r.valid()) return;
  std::vector<Field<std::string>> argv = PeekStrings(c, "command", path);
  for (auto& a : PeekStrings(c, "args", path)) argv.push_back(std::move(a));
  GetString(r, "workingDir");
  std::set<std::string> defined;
  if (const Node* env = r.Field("env")) CheckEnv(ctx, *env, r.FieldPath("env"), &defined);
  for (const auto& a : argv) CheckReferences(ctx, a, defined, "in env");
  ContainerPorts ports;
  if (const Node* p = r.Field("ports")) ports = CheckPorts(ctx, *p, r.FieldPath("ports"));
  if (const Node* p = r.Field("readinessProbe")) {
    CheckProbe(ctx, *p, r.FieldPath("readinessProbe"), ProbeKind::kReadiness, ports);
  }
  if (const Node* p = r.Field("livenessProbe")) {
    CheckProbe(ctx, *p, r.FieldPath("livenessProbe"), ProbeKind::kLiveness, ports);
  }
  if (const Node* l = r.Field("lifecycle")) {
    CheckLifecycle(ctx, *l, r.FieldPath("lifecycle"), ports);
  }
  for (const auto& e : c.entries) {
    if (Contains(kContainerHonoured, e.key) || Contains(kContainerSilent, e.key)) continue;
    if (Contains(kContainerFields, e.key)) {
      WarnIgnoredOffKubernetes(ctx, e, path);
    } else {
      WarnUnknownField(ctx, e, path, "Container", Names(kContainerFields));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Annotations.

// Maps a position inside an annotation's value (parsed on its own) back into the file. Exact
// for single-line values and for block scalars (`|`) indented two columns past their key;
// otherwise it points close by.
Mark InnerMark(const MapEntry& e, Mark inner) {
  const Node& v = e.value;
  if (!inner.known() || !v.mark.known()) return v.mark;
  if (v.quoted && v.scalar.find('\n') != std::string::npos) {
    return Mark{v.mark.line + inner.line, e.key_mark.column + 1 + inner.column};
  }
  if (inner.line > 1) return v.mark;
  return Mark{v.mark.line, v.mark.column + (v.quoted ? 1 : 0) + inner.column - 1};
}

// Parses an annotation value as one YAML/JSON document; reports syntax errors.
std::optional<Node> ParseAnnotationValue(DecodeContext* ctx, const MapEntry& e,
                                         const std::string& path, std::string_view expected) {
  ParseLimits limits;
  limits.max_bytes = 256u << 10;  // Kubernetes caps all annotations together at 256 KiB
  limits.max_depth = 32;
  limits.max_nodes = 100'000;
  auto docs = ParseDocuments(e.value.scalar, "", limits);
  if (!docs) {
    // The message reads ":LINE:COL: text", or ": text" without a position (no file name).
    std::string msg = docs.error().message();
    std::string_view rest = msg;
    Mark inner;
    if (rest.starts_with(":")) {
      rest.remove_prefix(1);
      size_t c1 = rest.find(':');
      size_t c2 = c1 == std::string_view::npos ? c1 : rest.find(':', c1 + 1);
      int64_t line = 0;
      int64_t col = 0;
      if (c2 != std::string_view::npos && ParseYamlInt(rest.substr(0, c1), &line) &&
          ParseYamlInt(rest.substr(c1 + 1, c2 - c1 - 1), &col)) {
        inner = Mark{static_cast<int>(line), static_cast<int>(col)};
        rest.remove_prefix(c2 + 1);
      }
    }
    msg = std::string(Trim(rest));
    ctx->Error(InnerMark(e, inner), path,
               "not valid YAML/JSON (" + msg + "); expected " + std::string(expected));
    return std::nullopt;
  }
  if (docs->size() != 1 || docs->front().root.IsPlainNull()) {
    ctx->Error(e.value.mark, path,
               docs->size() > 1 ? "holds " + std::to_string(docs->size()) +
                                      " YAML documents; expected one: " + std::string(expected)
                                : "is empty; expected " + std::string(expected));
    return std::nullopt;
  }
  return std::move(docs->front().root);
}

// Adjusts every mark of a parsed annotation value to its place in the file.
void Relocate(Node* n, const MapEntry& e) {
  n->mark = InnerMark(e, n->mark);
  for (auto& item : n->items) Relocate(&item, e);
  for (auto& entry : n->entries) {
    entry.key_mark = InnerMark(e, entry.key_mark);
    Relocate(&entry.value, e);
  }
}

// ramp.dev/traffic-router: the router of a blue-green Rollout off Kubernetes, as a one-entry map
// {"ramp/<router>": config} — the shape of canary.trafficRouting.plugins.
void CheckTrafficRouterAnnotation(DecodeContext* ctx, const MapEntry& e, const std::string& path) {
  constexpr std::string_view kExpected =
      "a map with one ramp router and its configuration, e.g. {\"ramp/proxy\": {\"listen\": "
      "\":8080\", \"previewListen\": \":8081\"}}";
  auto root = ParseAnnotationValue(ctx, e, path, kExpected);
  if (!root) return;
  Relocate(&*root, e);
  if (!root->IsMap() || root->entries.size() != 1) {
    ctx->Error(root->mark, path,
               "expected " + std::string(kExpected) + ", got " +
                   (root->IsMap() ? std::to_string(root->entries.size()) + " entries"
                                  : std::string(root->TypeName())));
    return;
  }
  const MapEntry& router = root->entries.front();
  ValidateRampRouterPlugin(ctx, router.key, router.value, KeyPath(path, router.key));
}

void CheckStaticInstances(DecodeContext* ctx, const MapEntry& e, const std::string& path) {
  constexpr std::string_view kExpected =
      "a map from image to a list of \"host:port\" instance addresses, e.g. "
      "{\"shop:1.4.2\": [\"10.0.0.11:8080\", \"10.0.0.12:8080\"]}";
  auto root = ParseAnnotationValue(ctx, e, path, kExpected);
  if (!root) return;
  Relocate(&*root, e);
  if (!root->IsMap()) {
    ctx->Error(root->mark, path,
               "expected " + std::string(kExpected) + ", got " + std::string(root->TypeName()));
    return;
  }
  if (root->entries.empty()) {
    ctx->Error(root->mark, path, "lists no images; expected " + std::string(kExpected));
    return;
  }
  std::map<std::string, std::string> owner;  // address → image
  std::set<std::string> images;
  for (const auto& entry : root->entries) {
    std::string ip = KeyPath(path, entry.key);
    if (entry.key.empty() || HasWhitespace(entry.key)) {
      ctx->Error(entry.key_mark, ip,
                 "must be an image reference as written in the pod template (no spaces), got " +
                     Q(entry.key));
      continue;
    }
    if (!images.insert(entry.key).second) {
      ctx->Error(entry.key_mark, ip, "image " + Q(entry.key) + " is listed twice");
      continue;
    }
    const Node& list = entry.value;
    if (!list.IsSequence() || list.items.empty()) {
      ctx->Error(list.mark.known() ? list.mark : entry.key_mark, ip,
                 list.IsSequence() ? "lists no instances; expected at least one \"host:port\""
                                   : "expected a list of \"host:port\" addresses, got " +
                                         std::string(list.TypeName()));
      continue;
    }
    for (size_t i = 0; i < list.items.size(); ++i) {
      std::string ap = IndexPath(ip, i);
      auto addr = ReadString(ctx, list.items[i], ap);
      if (!addr) continue;
      if (std::string p = HostPortProblem(*addr, false); !p.empty()) {
        ctx->Error(list.items[i].mark, ap, p);
        continue;
      }
      auto [it, inserted] = owner.emplace(*addr, entry.key);
      if (!inserted) {
        ctx->Error(list.items[i].mark, ap,
                   Q(*addr) + " is listed twice" +
                       (it->second == entry.key ? "" : " (also under " + Q(it->second) + ")") +
                       "; an instance runs one version");
      }
    }
  }
}

void CheckRecipients(DecodeContext* ctx, const MapEntry& e, const std::string& path) {
  const std::string& v = e.value.scalar;
  if (Trim(v).empty()) {
    if (v.empty()) {
      ctx->Warning(e.value.mark, path,
                   "no recipients: only a service that takes none (such as webhook) accepts an "
                   "empty value");
    } else {
      ctx->Error(e.value.mark, path,
                 "no recipients: expected recipients separated by \";\", e.g. "
                 "\"my-channel;ops-channel\"");
    }
    return;
  }
  size_t n = 0;
  bool blank = false;
  for (std::string_view r : Split(v, ';')) {
    if (Trim(r).empty()) {
      blank = true;
    } else {
      ++n;
    }
  }
  if (n == 0) {
    ctx->Error(e.value.mark, path,
               "no recipients: expected recipients separated by \";\", e.g. "
               "\"my-channel;ops-channel\"");
  } else if (blank) {
    ctx->Warning(e.value.mark, path, "an empty recipient between \";\" is skipped");
  }
}

void CheckTriggerName(DecodeContext* ctx, Mark mark, const std::string& path,
                      std::string_view trigger) {
  if (Contains(kArgoTriggers, trigger)) return;
  ctx->Warning(mark, path,
               "trigger " + Q(trigger) + " is not one of Argo's built-in triggers" +
                   Hint(trigger, Names(kArgoTriggers)) +
                   "; it must be defined in the notifications ConfigMap (built-in: " +
                   Join(Names(kArgoTriggers)) + ")");
}

void CheckSubscribeYaml(DecodeContext* ctx, const MapEntry& e, const std::string& path) {
  constexpr std::string_view kExpected =
      "a list of {trigger: [names], destinations: [{service, recipients: [names]}]}";
  auto root = ParseAnnotationValue(ctx, e, path, kExpected);
  if (!root) return;
  Relocate(&*root, e);
  if (!root->IsSequence()) {
    ctx->Error(root->mark, path,
               "expected " + std::string(kExpected) + ", got " + std::string(root->TypeName()));
    return;
  }
  for (size_t i = 0; i < root->items.size(); ++i) {
    std::string ip = IndexPath(path, i);
    ObjectReader r(ctx, &root->items[i], ip);
    if (const Node* t = r.Field("trigger")) {
      for (const auto& name : ReadStrings(ctx, *t, r.FieldPath("trigger"))) {
        CheckTriggerName(ctx, name.mark, name.path, name.value);
      }
    } else if (r.valid()) {
      Required(ctx, root->items[i].mark, r.FieldPath("trigger"), "the trigger names");
    }
    r.List("destinations", [](DecodeContext* c, const Node& d, const std::string& dp) {
      ObjectReader dr(c, &d, dp);
      auto service = GetString(dr, "service");
      if (dr.valid() && (!service || service->value.empty())) {
        Required(c, d.mark, dr.FieldPath("service"), "the notification service, e.g. slack");
      }
      dr.StringList("recipients");
      dr.Finish();
      return 0;
    });
    const Node* dests = r.Field("destinations");
    if (r.valid() && (dests == nullptr || (dests->IsSequence() && dests->items.empty()))) {
      Required(ctx, root->items[i].mark, r.FieldPath("destinations"),
               "at least one {service, recipients}");
    }
    r.Finish();
  }
}

void CheckNotificationAnnotation(DecodeContext* ctx, const MapEntry& e, const std::string& path) {
  std::string_view rest = std::string_view(e.key).substr(kNotificationsPrefix.size());
  if (rest.starts_with(kSubscribeYaml)) {
    CheckSubscribeYaml(ctx, e, path);
    return;
  }
  if (!rest.starts_with(kSubscribePrefix)) {
    ctx->Warning(e.key_mark, path,
                 "not a subscription: Argo's notifications read "
                 "notifications.argoproj.io/subscribe.<trigger>.<service> only, so this "
                 "annotation has no effect");
    return;
  }
  std::vector<std::string_view> parts = Split(rest.substr(kSubscribePrefix.size()), '.');
  constexpr std::string_view kShape =
      "expected notifications.argoproj.io/subscribe.<trigger>.<service>, e.g. "
      "notifications.argoproj.io/subscribe.on-rollout-completed.slack";
  if (parts.size() > 2) {
    ctx->Error(e.key_mark, path,
               std::string(kShape) + " (trigger and service names contain no dots; got " +
                   std::to_string(parts.size()) + " parts)");
    return;
  }
  if (parts.size() == 1) {
    // subscribe.<service>: the service's default triggers (`defaultTriggers` in the ConfigMap).
    if (parts[0].empty()) {
      ctx->Error(e.key_mark, path, std::string(kShape) + " (the service is missing)");
      return;
    }
  } else {
    if (parts[0].empty() || parts[1].empty()) {
      ctx->Error(e.key_mark, path,
                 std::string(kShape) + " (the " + (parts[0].empty() ? "trigger" : "service") +
                     " is empty)");
      return;
    }
    CheckTriggerName(ctx, e.key_mark, path, parts[0]);
  }
  CheckRecipients(ctx, e, path);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public entry points.

bool IsRampPluginName(std::string_view name) { return name.starts_with(kRampPluginPrefix); }

bool ValidateRampRouterPlugin(DecodeContext* ctx, std::string_view name, const Node& config,
                              const std::string& path) {
  size_t before = ctx->error_count();
  if (name == "ramp/proxy") {
    CheckProxyRouter(ctx, config, path);
  } else if (name == "ramp/haproxy") {
    CheckHaproxyRouter(ctx, config, path);
  } else if (name == "ramp/nginx") {
    CheckNginxRouter(ctx, config, path);
  } else {
    UnknownRampName(ctx, config.mark, path, "traffic router", name, Names(kRouters));
  }
  return ctx->error_count() == before;
}

bool ValidateRampMetricPlugin(DecodeContext* ctx, std::string_view name, const Node& config,
                              const std::string& path) {
  size_t before = ctx->error_count();
  if (name == "ramp/builtin") {
    CheckBuiltinMetric(ctx, config, path);
  } else if (name == kJudgeErrorsProvider || name == kJudgeLatencyProvider) {
    CheckJudgeMetric(ctx, name == kJudgeErrorsProvider ? JudgeKind::kErrors : JudgeKind::kLatency,
                     config, path);
  } else if (name == kSloProvider) {
    CheckSloMetric(ctx, config, path);
  } else {
    UnknownRampName(ctx, config.mark, path, "metric provider", name, Names(kMetricProviders));
  }
  return ctx->error_count() == before;
}

bool ValidateRampStepPlugin(DecodeContext* ctx, std::string_view name, const Node* config,
                            const std::string& path) {
  size_t before = ctx->error_count();
  if (name == "ramp/webhook") {
    CheckWebhookStep(ctx, config, path);
  } else {
    UnknownRampName(ctx, config != nullptr ? config->mark : Mark{}, path, "step plugin", name,
                    Names(kStepPlugins));
  }
  return ctx->error_count() == before;
}

void ValidateRolloutAnnotations(DecodeContext* ctx, const Node* annotations,
                                const std::string& path) {
  // A non-map, or a non-string value, is reported by the metadata decoder.
  if (annotations == nullptr || !annotations->IsMap()) return;
  const MapEntry* platform = nullptr;
  const MapEntry* instances = nullptr;
  for (const auto& e : annotations->entries) {
    std::string kp = KeyPath(path, e.key);
    if (e.key.starts_with(kRampAnnotationPrefix)) {
      if (e.key == kPlatformAnnotation) {
        if (!e.value.IsScalar()) continue;
        platform = &e;
        Field<std::string> f{e.value.scalar, e.value.mark, kp};
        CheckOneOf(ctx, f, kPlatforms);
      } else if (e.key == kTrafficRouterAnnotation) {
        if (e.value.IsScalar()) CheckTrafficRouterAnnotation(ctx, e, kp);
      } else if (e.key == kStaticInstancesAnnotation) {
        if (!e.value.IsScalar()) continue;
        instances = &e;
        CheckStaticInstances(ctx, e, kp);
      } else if (e.key == kReplaceReplicaSetsAnnotation) {
        if (!e.value.IsScalar() || (e.value.scalar != "true" && e.value.scalar != "false")) {
          ctx->Error(e.key_mark, kp, "must be \"true\" or \"false\"");
        }
      } else {
        ctx->Error(e.key_mark, kp,
                   "unknown ramp annotation " + Q(e.key) + Hint(e.key, Names(kRampAnnotations)) +
                       "; known ramp.dev annotations: " + Join(Names(kRampAnnotations)));
      }
    } else if (e.key.starts_with(kNotificationsPrefix)) {
      if (e.value.IsScalar() || e.value.IsNull()) {
        MapEntry copy = e;
        if (copy.value.IsNull()) {  // `key:` with nothing after it: an empty string
          copy.value.kind = Node::Kind::kScalar;
          copy.value.scalar.clear();
          copy.value.mark = e.key_mark;
        }
        CheckNotificationAnnotation(ctx, copy, kp);
      }
    }
  }
  bool is_static = platform != nullptr && platform->value.scalar == "static";
  if (is_static && instances == nullptr) {
    ctx->Error(platform->value.mark, KeyPath(path, kPlatformAnnotation),
               "ramp.dev/platform: static needs the annotation ramp.dev/static-instances (the "
               "instance addresses of each image)");
  }
  if (instances != nullptr && !is_static) {
    ctx->Warning(instances->key_mark, KeyPath(path, kStaticInstancesAnnotation),
                 "ignored unless ramp.dev/platform is \"static\"");
  }
}

void CheckProcessWorkload(DecodeContext* ctx, const Node* pod_spec, const std::string& path) {
  // The pod template's decoder reports a spec or container list of the wrong type; this checks
  // what the process platform reads from it.
  if (pod_spec == nullptr || !pod_spec->IsMap()) return;
  ObjectReader r(ctx, pod_spec, path, ObjectReader::Mode::kLenient);
  if (auto grace = GetInt(r, "terminationGracePeriodSeconds")) CheckIntAtLeast(ctx, *grace, 0);
  for (const auto& e : pod_spec->entries) {
    if (Contains(kPodSpecHonoured, e.key)) continue;
    if (Contains(kPodSpecFields, e.key)) {
      WarnIgnoredOffKubernetes(ctx, e, path);
    } else {
      WarnUnknownField(ctx, e, path, "PodSpec", Names(kPodSpecFields));
    }
  }
  const Node* containers = pod_spec->Find("containers");
  if (containers == nullptr || !containers->IsSequence() || containers->items.empty()) return;
  std::string cp = ChildPath(path, "containers");
  if (containers->items[0].IsMap()) CheckContainer(ctx, containers->items[0], IndexPath(cp, 0));
  for (size_t i = 1; i < containers->items.size(); ++i) {
    const Node& c = containers->items[i];
    const Node* name = c.Find("name");
    std::string label = name != nullptr && name->IsScalar() ? " (" + Q(name->scalar) + ")" : "";
    ctx->Warning(c.mark, IndexPath(cp, i),
                 "off Kubernetes only containers[0] runs, as the process; this container" + label +
                     " is ignored there");
  }
}

bool ValidateRampObject(DecodeContext* ctx, const Node& root) {
  size_t before = ctx->error_count();
  ObjectReader r(ctx, &root, "");
  if (!r.valid()) return false;
  auto api = GetString(r, "apiVersion");
  auto kind = GetString(r, "kind");
  if (!api) {
    Required(ctx, root.mark, "apiVersion", "\"ramp.dev/v1alpha1\"");
  } else if (api->value != kRampApiVersion) {
    ctx->Error(
        api->mark, api->path,
        "expected \"ramp.dev/v1alpha1\" (the only version of ramp's kinds), got " + Q(api->value));
  }
  if (!kind) {
    Required(ctx, root.mark, "kind", "one of " + Join(Names(kRampKinds)));
    return false;
  }
  if (!Contains(kRampKinds, kind->value)) {
    ctx->Error(kind->mark, kind->path,
               "unknown kind " + Q(kind->value) + Hint(kind->value, Names(kRampKinds)) +
                   "; ramp.dev/v1alpha1 kinds: " + Join(Names(kRampKinds)));
    return false;
  }
  // RolloutWebhooks.
  const Node* meta = r.Field("metadata");
  ObjectMeta m = DecodeObjectMeta(ctx, meta, "metadata");
  if (m.name.empty()) {
    Required(ctx, meta != nullptr ? meta->mark : root.mark, "metadata.name",
             "the object's name (generateName is not supported for " + kind->value + ")");
  } else if (!IsDnsSubdomain(m.name)) {
    const Node* name = meta != nullptr ? meta->Find("name") : nullptr;
    ctx->Error(
        name != nullptr ? name->mark : root.mark, "metadata.name",
        "must be a lowercase DNS-1123 subdomain (letters, digits, '-', '.'), got " + Q(m.name));
  }
  const Node* spec = r.Field("spec");
  r.Finish();
  if (spec == nullptr) {
    Required(ctx, root.mark, "spec", "rolloutRef and webhooks");
    return false;
  }
  ObjectReader s(ctx, spec, "spec");
  if (const Node* ref = s.Field("rolloutRef")) {
    ObjectReader rr(ctx, ref, "spec.rolloutRef");
    auto name = GetString(rr, "name");
    rr.Finish();
    if (rr.valid() && (!name || name->value.empty())) {
      Required(ctx, ref->mark, "spec.rolloutRef.name",
               "the name of the Rollout (in this namespace) the hooks attach to");
    }
  } else if (s.valid()) {
    Required(ctx, spec->mark, "spec.rolloutRef", "{name: <the Rollout's name>}");
  }
  if (auto interval = GetDuration(s, "interval")) CheckDurationAtLeast(ctx, *interval, kSecond);
  if (auto threshold = GetInt(s, "threshold")) CheckIntAtLeast(ctx, *threshold, 1);
  std::map<std::string, std::string> names;  // webhook name → path of its first use
  s.List("webhooks", [&names](DecodeContext* c, const Node& n, const std::string& p) {
    ObjectReader wr(c, &n, p);
    auto name = GetString(wr, "name");
    if (name && !name->value.empty()) {
      auto [it, inserted] = names.emplace(name->value, p);
      if (!inserted) {
        c->Error(name->mark, name->path,
                 "Duplicate value: webhook " + Q(name->value) + " is also " + it->second);
      }
    } else if (wr.valid()) {
      Required(c, n.mark, wr.FieldPath("name"), "the webhook's name (shown in events)");
    }
    CheckWebhookFields(c, wr, n);
    wr.Finish();
    return 0;
  });
  const Node* w = s.Field("webhooks");
  if (s.valid() && (w == nullptr || (w->IsSequence() && w->items.empty()))) {
    Required(ctx, w != nullptr ? w->mark : spec->mark, "spec.webhooks",
             "at least one webhook {name, type, url}");
  }
  s.Finish();
  return ctx->error_count() == before;
}

}  // namespace ramp::spec
