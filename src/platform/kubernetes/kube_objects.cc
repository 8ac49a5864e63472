#include "platform/kubernetes/kube_objects.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "engine/status.h"
#include "spec/analysis.h"

namespace ramp::platform::kube_objects {
namespace {

using json = nlohmann::json;
using StringMap = std::map<std::string, std::string>;

constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";
constexpr char kNotifiedAnnotation[] = "notified.notifications.argoproj.io";
constexpr size_t kMaxNameLength = 253;  // a DNS-1123 subdomain
constexpr size_t kMaxLabelValueLength = 63;

// ---- Small JSON accessors (null counts as absent) ----

const json* Find(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

const json* FindPath(const json& j, std::initializer_list<std::string_view> keys) {
  const json* cur = &j;
  for (std::string_view k : keys) {
    cur = Find(*cur, k);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

std::string StringAt(const json& j, std::string_view key) {
  const json* v = Find(j, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

std::optional<Time> TimeAt(const json& j, std::string_view key) {
  const json* v = Find(j, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  std::optional<int64_t> nanos = spec::ParseMetaTime(v->get_ref<const std::string&>());
  if (!nanos) return std::nullopt;
  return FromUnixNanos(*nanos);
}

// An object of strings at `key` of `j` (absent: empty). `where` names it in errors.
StatusOr<StringMap> StringMapAt(const json& j, std::string_view key, std::string_view where) {
  StringMap out;
  const json* v = Find(j, key);
  if (v == nullptr) return out;
  if (!v->is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("{}.{}: must be an object of strings, got {}", where, key, v->type_name())));
  }
  for (const auto& [k, val] : v->items()) {
    if (!val.is_string()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}.{}[\"{}\"]: must be a string, got {}", where, key, k, val.type_name())));
    }
    out[k] = val.get<std::string>();
  }
  return out;
}

// A lenient variant for reading objects the API server wrote: non-strings are skipped.
StringMap StringsAt(const json& j, std::string_view key) {
  StringMap out;
  const json* v = Find(j, key);
  if (v == nullptr || !v->is_object()) return out;
  for (const auto& [k, val] : v->items()) {
    if (val.is_string()) out[k] = val.get<std::string>();
  }
  return out;
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return std::nullopt;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    if (__builtin_mul_overflow(v, 10, &v) ||
        __builtin_add_overflow(v, negative ? -(s[i] - '0') : (s[i] - '0'), &v)) {
      return std::nullopt;
    }
  }
  return v;
}

bool IsLabelValue(std::string_view v) {
  if (v.empty() || v.size() > kMaxLabelValueLength) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(v.front()) || !alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool SkipCopiedAnnotation(std::string_view key) {
  return key == kLastAppliedAnnotation || key == kRevisionAnnotation ||
         key == kRevisionHistoryAnnotation || key == kDesiredReplicasAnnotation ||
         key == kNotifiedAnnotation;
}

// ---- Go's encoding/json for the ephemeral-metadata annotation ----

// A string as Go's json.Marshal writes it: HTML characters and U+2028/U+2029 escaped, \b \f \n
// \r \t short, other control characters \u00XX, invalid UTF-8 replaced by U+FFFD.
void AppendGoString(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          *out += "\\\"";
          break;
        case '\\':
          *out += "\\\\";
          break;
        case '\b':
          *out += "\\b";
          break;
        case '\f':
          *out += "\\f";
          break;
        case '\n':
          *out += "\\n";
          break;
        case '\r':
          *out += "\\r";
          break;
        case '\t':
          *out += "\\t";
          break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            *out += fmt::format("\\u{:04x}", c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence; anything malformed is one U+FFFD per byte, as Go does.
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok) {
      const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
      ok = cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (!ok) {
      *out += "\\ufffd";
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      *out += fmt::format("\\u{:04x}", cp);
    } else {
      out->append(s.substr(i, len));
    }
    i += len;
  }
  out->push_back('"');
}

void AppendGoStringMap(const StringMap& m, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {  // std::map orders keys bytewise, as Go sorts map keys
    if (!first) out->push_back(',');
    first = false;
    AppendGoString(k, out);
    out->push_back(':');
    AppendGoString(v, out);
  }
  out->push_back('}');
}

// Argo's PodTemplateMetadata (labels, annotations; both omitempty).
struct PodMetadata {
  StringMap labels;
  StringMap annotations;
};

std::string MarshalPodMetadata(const PodMetadata& m) {
  std::string out = "{";
  if (!m.labels.empty()) {
    out += "\"labels\":";
    AppendGoStringMap(m.labels, &out);
  }
  if (!m.annotations.empty()) {
    if (!m.labels.empty()) out += ",";
    out += "\"annotations\":";
    AppendGoStringMap(m.annotations, &out);
  }
  out += "}";
  return out;
}

// What the ephemeral-metadata annotation of `rs` records; nullopt when absent or unreadable
// (Argo then removes nothing).
std::optional<PodMetadata> ParseEphemeralMetadata(const json& rs) {
  const json* annotations = FindPath(rs, {"metadata", "annotations"});
  if (annotations == nullptr) return std::nullopt;
  const std::string text = StringAt(*annotations, kEphemeralMetadataAnnotation);
  if (text.empty()) return std::nullopt;
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::nullopt;
  PodMetadata m;
  for (const auto& [key, field] : parsed.items()) {
    if (field.is_null()) continue;
    StringMap* target = nullptr;
    if (key == "labels") target = &m.labels;
    if (key == "annotations") target = &m.annotations;
    if (target == nullptr) continue;
    if (!field.is_object()) return std::nullopt;
    for (const auto& [k, v] : field.items()) {
      if (!v.is_string()) return std::nullopt;
      (*target)[k] = v.get<std::string>();
    }
  }
  return m;
}

// Argo's SyncEphemeralPodMetadata on one map of the template's metadata (labels or
// annotations). Returns true when it changed `meta[field]`.
bool SyncEphemeralMap(json* meta, std::string_view field, const StringMap* existing,
                      const StringMap* desired) {
  bool modified = false;
  if (desired != nullptr) {
    for (const auto& [k, v] : *desired) {
      json& m = (*meta)[field];
      if (!m.is_object()) m = json::object();
      // Go reads a missing key as "": an empty value is never added.
      const std::string prev = StringAt(m, k);
      if (prev != v) {
        m[k] = v;
        modified = true;
      }
    }
  }
  if (existing != nullptr) {
    for (const auto& [k, v] : *existing) {
      if (desired != nullptr && desired->count(k) != 0) continue;
      auto it = meta->find(field);
      if (it == meta->end() || !it->is_object() || !it->contains(k)) continue;
      it->erase(k);
      modified = true;
    }
  }
  return modified;
}

// Injects `desired` into the template metadata `meta` and removes what `existing` injected and
// is no longer desired. Returns true when something changed.
bool SyncEphemeralMetadata(json* meta, const std::optional<PodMetadata>& existing,
                           const std::optional<PodMetadata>& desired) {
  if (!meta->is_object()) *meta = json::object();
  // Argo injects annotations first, then labels, then removes; the order does not matter for
  // the result.
  bool a = SyncEphemeralMap(meta, "annotations", existing ? &existing->annotations : nullptr,
                            desired ? &desired->annotations : nullptr);
  bool l = SyncEphemeralMap(meta, "labels", existing ? &existing->labels : nullptr,
                            desired ? &desired->labels : nullptr);
  return a || l;
}

std::optional<PodMetadata> DesiredMetadata(const StringMap& labels, const StringMap& annotations) {
  if (labels.empty() && annotations.empty()) return std::nullopt;
  return PodMetadata{labels, annotations};
}

// ---- Anti-affinity (utils/replicaset GenerateReplicaSetAffinity) ----

// spec.strategy.{blueGreen,canary}.antiAffinity with either kind set; canary wins, as in Argo.
const json* RolloutAntiAffinity(const json& rollout) {
  const json* out = nullptr;
  for (std::string_view strategy : {"blueGreen", "canary"}) {
    const json* a = FindPath(rollout, {"spec", "strategy", strategy, "antiAffinity"});
    if (a == nullptr) continue;
    if (Find(*a, "preferredDuringSchedulingIgnoredDuringExecution") != nullptr ||
        Find(*a, "requiredDuringSchedulingIgnoredDuringExecution") != nullptr) {
      out = a;
    }
  }
  return out;
}

json InjectedAntiAffinityTerm(std::string_view stable_hash, std::string_view ns) {
  return json{{"labelSelector",
               {{"matchExpressions", json::array({json{{"key", kPodTemplateHashLabel},
                                                       {"operator", "In"},
                                                       {"values", json::array({stable_hash})}}})}}},
              {"namespaces", json::array({ns})},
              {"topologyKey", "kubernetes.io/hostname"}};
}

bool SelectsPodTemplateHash(const json& term) {
  const json* exprs = FindPath(term, {"labelSelector", "matchExpressions"});
  if (exprs == nullptr || !exprs->is_array()) return false;
  return std::any_of(exprs->begin(), exprs->end(),
                     [](const json& e) { return StringAt(e, "key") == kPodTemplateHashLabel; });
}

// ---- Pods ----

bool IsFailureWaitingReason(std::string_view reason) {
  static const std::set<std::string_view> kReasons = {
      "CrashLoopBackOff",     "ImagePullBackOff",  "ErrImagePull",
      "ErrImageNeverPull",    "InvalidImageName",  "CreateContainerConfigError",
      "CreateContainerError", "RunContainerError", "PreStartHookError",
      "PostStartHookError"};
  return kReasons.count(reason) != 0;
}

const json* FindCondition(const json& pod, std::string_view type) {
  const json* conditions = FindPath(pod, {"status", "conditions"});
  if (conditions == nullptr || !conditions->is_array()) return nullptr;
  for (const json& c : *conditions) {
    if (StringAt(c, "type") == type) return &c;
  }
  return nullptr;
}

std::string Join(std::initializer_list<std::string> parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ": ";
    out += p;
  }
  return out;
}

// "container demo: CrashLoopBackOff: back-off …" for the first container (init containers
// first) waiting for a reason that means it cannot run.
std::string FailedContainerMessage(const json& pod) {
  for (std::string_view list : {"initContainerStatuses", "containerStatuses"}) {
    const json* statuses = FindPath(pod, {"status", list});
    if (statuses == nullptr || !statuses->is_array()) continue;
    for (const json& cs : *statuses) {
      const json* waiting = FindPath(cs, {"state", "waiting"});
      if (waiting == nullptr) continue;
      const std::string reason = StringAt(*waiting, "reason");
      if (!IsFailureWaitingReason(reason)) continue;
      return Join({"container " + StringAt(cs, "name"), reason, StringAt(*waiting, "message")});
    }
  }
  return "";
}

std::string FirstWaitingReason(const json& pod) {
  for (std::string_view list : {"initContainerStatuses", "containerStatuses"}) {
    const json* statuses = FindPath(pod, {"status", list});
    if (statuses == nullptr || !statuses->is_array()) continue;
    for (const json& cs : *statuses) {
      const json* waiting = FindPath(cs, {"state", "waiting"});
      if (waiting != nullptr && !StringAt(*waiting, "reason").empty()) {
        return StringAt(*waiting, "reason");
      }
    }
  }
  return "";
}

std::string TerminatedMessage(const json& pod) {
  const json* statuses = FindPath(pod, {"status", "containerStatuses"});
  if (statuses == nullptr || !statuses->is_array()) return "";
  for (const json& cs : *statuses) {
    const json* t = FindPath(cs, {"state", "terminated"});
    if (t == nullptr) continue;
    const json* code = Find(*t, "exitCode");
    std::string what = "container " + StringAt(cs, "name") + " exited";
    if (code != nullptr && code->is_number_integer()) {
      what += " with code " + std::to_string(code->get<int64_t>());
    }
    return Join({what, StringAt(*t, "reason"), StringAt(*t, "message")});
  }
  return "";
}

// Whether a pod that is not Ready now was Ready before (see InstanceFromPod).
bool WasReady(const json& pod, const json* ready) {
  if (ready == nullptr) return false;
  std::optional<Time> transition = TimeAt(*ready, "lastTransitionTime");
  if (!transition) return false;
  const json* statuses = FindPath(pod, {"status", "containerStatuses"});
  if (statuses == nullptr || !statuses->is_array() || statuses->empty()) return false;
  for (const json& cs : *statuses) {
    const json* running = FindPath(cs, {"state", "running"});
    if (running == nullptr) return false;
    std::optional<Time> started = TimeAt(*running, "startedAt");
    if (!started || *transition <= *started) return false;
  }
  return true;
}

// ---- Adoption: normalising templates as the API server stores them ----

bool IsUnset(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ||
         (it->is_string() && it->get_ref<const std::string&>().empty());
}

bool IsUnsetOrZero(const json& obj, std::string_view key) {
  if (IsUnset(obj, key)) return true;
  const json& v = obj.at(key);
  return v.is_number() && v == 0;
}

void Default(json* obj, std::string_view key, const json& value) {
  if (obj->is_object() && IsUnset(*obj, key)) (*obj)[key] = value;
}

void DefaultIfZero(json* obj, std::string_view key, const json& value) {
  if (obj->is_object() && IsUnsetOrZero(*obj, key)) (*obj)[key] = value;
}

json* Child(json* obj, std::string_view key) {
  if (!obj->is_object()) return nullptr;
  auto it = obj->find(key);
  if (it == obj->end() || it->is_null()) return nullptr;
  return &*it;
}

template <typename F>
void ForEachIn(json* obj, std::string_view key, F f) {
  json* list = Child(obj, key);
  if (list == nullptr || !list->is_array()) return;
  for (json& item : *list) {
    if (item.is_object()) f(&item);
  }
}

__extension__ typedef __int128 Int128;

std::string Int128ToString(Int128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  std::string digits;
  while (v != 0) {
    int d = static_cast<int>(v % 10);
    digits.push_back(static_cast<char>('0' + (negative ? -d : d)));
    v /= 10;
  }
  if (negative) digits.push_back('-');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// A resource.Quantity's value in milli-units, rounded up (away from zero) as the API server's
// SetDefaults_ResourceList stores it; nullopt when not a quantity or out of range.
std::optional<Int128> QuantityMilli(std::string_view s) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  Int128 mantissa = 0;
  int fraction_digits = 0;
  int digits = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (s[i] == '.' && !dot) {
      dot = true;
      continue;
    }
    if (s[i] < '0' || s[i] > '9') break;
    if (++digits > 30) return std::nullopt;
    mantissa = mantissa * 10 + (s[i] - '0');
    if (dot) ++fraction_digits;
  }
  if (digits == 0) return std::nullopt;
  std::string_view suffix = s.substr(i);
  int pow10 = 0;
  int pow2 = 0;
  static const std::map<std::string_view, std::pair<int, int>> kSuffixes = {
      {"", {0, 0}},    {"n", {-9, 0}},  {"u", {-6, 0}},  {"m", {-3, 0}},
      {"k", {3, 0}},   {"M", {6, 0}},   {"G", {9, 0}},   {"T", {12, 0}},
      {"P", {15, 0}},  {"E", {18, 0}},  {"Ki", {0, 10}}, {"Mi", {0, 20}},
      {"Gi", {0, 30}}, {"Ti", {0, 40}}, {"Pi", {0, 50}}, {"Ei", {0, 60}}};
  auto it = kSuffixes.find(suffix);
  if (it != kSuffixes.end()) {
    pow10 = it->second.first;
    pow2 = it->second.second;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::optional<int64_t> e = ParseInt64(suffix.substr(1));
    if (!e || *e < -40 || *e > 40) return std::nullopt;
    pow10 = static_cast<int>(*e);
  } else {
    return std::nullopt;
  }
  // value × 1000 = mantissa × 2^pow2 × 10^(pow10 + 3 − fraction_digits)
  Int128 v = mantissa;
  for (int k = 0; k < pow2; ++k) {
    if (__builtin_mul_overflow(v, static_cast<Int128>(2), &v)) return std::nullopt;
  }
  int exp = pow10 + 3 - fraction_digits;
  for (; exp > 0; --exp) {
    if (__builtin_mul_overflow(v, static_cast<Int128>(10), &v)) return std::nullopt;
  }
  if (exp < 0) {
    Int128 div = 1;
    for (; exp < 0; ++exp) {
      if (__builtin_mul_overflow(div, static_cast<Int128>(10), &div)) return std::nullopt;
    }
    v = v / div + (v % div != 0 ? 1 : 0);
  }
  return negative ? -v : v;
}

void CanonicalQuantity(json* q) {
  std::string text;
  if (q->is_string()) {
    text = q->get<std::string>();
  } else if (q->is_number()) {
    text = q->dump();
  } else {
    return;
  }
  std::optional<Int128> milli = QuantityMilli(text);
  if (milli) *q = "milli:" + Int128ToString(*milli);
}

void CanonicalQuantities(json* obj, std::string_view key) {
  json* map = Child(obj, key);
  if (map == nullptr || !map->is_object()) return;
  for (auto& [k, v] : map->items()) CanonicalQuantity(&v);
}

void CanonicalResources(json* obj, std::string_view key) {
  json* r = Child(obj, key);
  if (r == nullptr) return;
  CanonicalQuantities(r, "limits");
  CanonicalQuantities(r, "requests");
}

void DefaultHttpGet(json* handler) {
  json* get = Child(handler, "httpGet");
  if (get == nullptr) return;
  Default(get, "path", "/");
  Default(get, "scheme", "HTTP");
}

void DefaultProbe(json* probe) {
  if (probe == nullptr || !probe->is_object()) return;
  DefaultIfZero(probe, "timeoutSeconds", 1);
  DefaultIfZero(probe, "periodSeconds", 10);
  DefaultIfZero(probe, "successThreshold", 1);
  DefaultIfZero(probe, "failureThreshold", 3);
  DefaultHttpGet(probe);
}

void DefaultFieldRef(json* holder) {
  json* ref = Child(holder, "fieldRef");
  if (ref != nullptr) Default(ref, "apiVersion", "v1");
}

std::string ImageTag(std::string_view image) {
  const size_t at = image.find('@');
  const bool digest = at != std::string_view::npos;
  std::string_view name = image.substr(0, at);
  const size_t slash = name.rfind('/');
  const size_t colon = name.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    return std::string(name.substr(colon + 1));
  }
  return digest ? "" : "latest";
}

void DefaultContainer(json* c) {
  if (IsUnset(*c, "imagePullPolicy")) {
    const std::string image = StringAt(*c, "image");
    (*c)["imagePullPolicy"] =
        !image.empty() && ImageTag(image) == "latest" ? "Always" : "IfNotPresent";
  }
  Default(c, "terminationMessagePath", "/dev/termination-log");
  Default(c, "terminationMessagePolicy", "File");
  ForEachIn(c, "ports", [](json* p) { Default(p, "protocol", "TCP"); });
  for (std::string_view probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    DefaultProbe(Child(c, probe));
  }
  if (json* lifecycle = Child(c, "lifecycle")) {
    for (std::string_view hook : {"postStart", "preStop"}) {
      if (json* h = Child(lifecycle, hook)) DefaultHttpGet(h);
    }
  }
  ForEachIn(c, "env", [](json* e) {
    if (json* from = Child(e, "valueFrom")) DefaultFieldRef(from);
  });
  CanonicalResources(c, "resources");
}

void DefaultDownwardItems(json* source) {
  ForEachIn(source, "items", [](json* item) { DefaultFieldRef(item); });
}

void DefaultVolume(json* v) {
  for (std::string_view source : {"secret", "configMap", "downwardAPI", "projected"}) {
    if (json* s = Child(v, source)) Default(s, "defaultMode", 420);
  }
  if (json* d = Child(v, "downwardAPI")) DefaultDownwardItems(d);
  if (json* p = Child(v, "projected")) {
    ForEachIn(p, "sources", [](json* s) {
      if (json* token = Child(s, "serviceAccountToken")) {
        Default(token, "expirationSeconds", 3600);
      }
      if (json* d = Child(s, "downwardAPI")) DefaultDownwardItems(d);
    });
  }
  if (json* e = Child(v, "emptyDir")) {
    if (json* size = Child(e, "sizeLimit")) CanonicalQuantity(size);
  }
  if (json* ephemeral = Child(v, "ephemeral")) {
    if (json* claim = Child(ephemeral, "volumeClaimTemplate")) {
      if (json* spec = Child(claim, "spec")) {
        Default(spec, "volumeMode", "Filesystem");
        CanonicalResources(spec, "resources");
      }
    }
  }
}

void DefaultPodSpec(json* spec) {
  Default(spec, "dnsPolicy", "ClusterFirst");
  Default(spec, "restartPolicy", "Always");
  Default(spec, "securityContext", json::object());
  Default(spec, "terminationGracePeriodSeconds", 30);
  Default(spec, "schedulerName", "default-scheduler");
  spec->erase("serviceAccount");
  ForEachIn(spec, "containers", DefaultContainer);
  ForEachIn(spec, "initContainers", DefaultContainer);
  ForEachIn(spec, "volumes", DefaultVolume);
  CanonicalQuantities(spec, "overhead");
  CanonicalResources(spec, "resources");
}

// Drops null, "", {} and [] members of objects, recursively (array elements stay in place).
void Prune(json* j) {
  if (j->is_array()) {
    for (json& item : *j) Prune(&item);
    return;
  }
  if (!j->is_object()) return;
  for (auto it = j->begin(); it != j->end();) {
    Prune(&it.value());
    const json& v = it.value();
    const bool empty = v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
                       ((v.is_object() || v.is_array()) && v.empty());
    it = empty ? j->erase(it) : std::next(it);
  }
}

json NormalizeTemplate(json t) {
  if (!t.is_object()) return t;
  if (json* meta = Child(&t, "metadata")) {
    if (meta->is_object()) {
      meta->erase("creationTimestamp");
      if (json* labels = Child(meta, "labels"); labels != nullptr && labels->is_object()) {
        labels->erase(kPodTemplateHashLabel);
      }
    }
  }
  if (json* spec = Child(&t, "spec"); spec != nullptr && spec->is_object()) DefaultPodSpec(spec);
  Prune(&t);
  return t;
}

// Removes from `affinity_list` (a list of required terms, or of weighted terms when `weighted`)
// the terms selecting the pod-template hash that `keep` (the same list in the desired template)
// does not have.
void RemoveInjectedTerms(json* list, const json* keep, bool weighted) {
  if (list == nullptr || !list->is_array()) return;
  json out = json::array();
  for (const json& item : *list) {
    const json* term = weighted ? Find(item, "podAffinityTerm") : &item;
    const bool injected = term != nullptr && SelectsPodTemplateHash(*term);
    const bool wanted = keep != nullptr && keep->is_array() &&
                        std::find(keep->begin(), keep->end(), item) != keep->end();
    if (!injected || wanted) out.push_back(item);
  }
  *list = std::move(out);
}

std::string RolloutName(const json& rollout) {
  const json* name = FindPath(rollout, {"metadata", "name"});
  return name != nullptr && name->is_string() ? name->get<std::string>() : "";
}

StatusOr<json> BuildReplicaSetOrThrow(const RevisionSpec& revision, int32_t replicas,
                                      const json& rollout) {
  if (!rollout.is_object()) {
    return Fail(InvalidArgumentError(
        fmt::format("rollout: must be a JSON object, got {}", rollout.type_name())));
  }
  const json* meta = Find(rollout, "metadata");
  const std::string name = meta != nullptr ? StringAt(*meta, "name") : "";
  const std::string ns = meta != nullptr ? StringAt(*meta, "namespace") : "";
  const std::string where = fmt::format("rollout {}/{}", ns, name);
  if (name.empty()) return Fail(InvalidArgumentError(where + ": metadata.name: required"));
  if (ns.empty()) return Fail(InvalidArgumentError(where + ": metadata.namespace: required"));
  const std::string uid = StringAt(*meta, "uid");
  if (uid.empty()) {
    return Fail(InvalidArgumentError(
        where + ": metadata.uid: required (pass the Rollout as read from the API server)"));
  }
  if ((!revision.rollout.name.empty() && revision.rollout.name != name) ||
      (!revision.rollout.namespace_.empty() && revision.rollout.namespace_ != ns)) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: the revision belongs to rollout {}", where, revision.rollout.Key())));
  }
  const std::string rev_where = fmt::format("{}: revision {}", where, revision.hash);
  if (!IsLabelValue(revision.hash)) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: hash \"{}\" is not a label value (1-63 letters, digits, '-', '_', '.')",
                    where, revision.hash)));
  }
  if (revision.revision < 1) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: revision number {} must be >= 1", rev_where, revision.revision)));
  }
  if (replicas < 0) {
    return Fail(
        InvalidArgumentError(fmt::format("{}: replicas {} must be >= 0", rev_where, replicas)));
  }
  const std::string rs_name = ReplicaSetName(name, revision.hash);
  if (rs_name.size() > kMaxNameLength) {
    return Fail(
        InvalidArgumentError(fmt::format("{}: ReplicaSet name {} is longer than {} characters",
                                         rev_where, rs_name, kMaxNameLength)));
  }

  // The pod template.
  json pod_template;
  try {
    pod_template = json::parse(revision.pod_template_json);
  } catch (const json::parse_error& e) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: pod template is not valid JSON: {}", rev_where, e.what())));
  }
  if (!pod_template.is_object()) {
    return Fail(InvalidArgumentError(fmt::format("{}: pod template must be a JSON object, got {}",
                                                 rev_where, pod_template.type_name())));
  }
  json& tmeta = pod_template["metadata"];
  if (tmeta.is_null()) tmeta = json::object();
  if (!tmeta.is_object()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: pod template metadata must be an object, got {}", rev_where, tmeta.type_name())));
  }
  const std::string tmpl_where = rev_where + ": template.metadata";
  ASSIGN_OR_RETURN(StringMap template_labels, StringMapAt(tmeta, "labels", tmpl_where));
  RETURN_IF_ERROR(StringMapAt(tmeta, "annotations", tmpl_where));
  if (const json* spec = Find(pod_template, "spec"); spec != nullptr && !spec->is_object()) {
    return Fail(InvalidArgumentError(fmt::format("{}: pod template spec must be an object, got {}",
                                                 rev_where, spec->type_name())));
  }

  // The Rollout's selector, replicas and minReadySeconds.
  const json* selector = FindPath(rollout, {"spec", "selector"});
  if (selector == nullptr || !selector->is_object()) {
    return Fail(InvalidArgumentError(where + ": spec.selector: required"));
  }
  ASSIGN_OR_RETURN(StringMap match_labels,
                   StringMapAt(*selector, "matchLabels", where + ": spec.selector"));
  const json* match_expressions = Find(*selector, "matchExpressions");
  if (match_expressions != nullptr && !match_expressions->is_array()) {
    return Fail(InvalidArgumentError(where + ": spec.selector.matchExpressions: must be a list"));
  }
  if (match_labels.empty() && (match_expressions == nullptr || match_expressions->empty())) {
    return Fail(InvalidArgumentError(
        where + ": spec.selector: empty (it would select every pod of the namespace)"));
  }
  for (const auto& [k, v] : match_labels) {
    auto it = template_labels.find(k);
    if (it == template_labels.end() || it->second != v) {
      return Fail(InvalidArgumentError(fmt::format(
          "{}: spec.selector.matchLabels[\"{}\"]={} does not match the pod template's labels",
          rev_where, k, v)));
    }
  }
  ASSIGN_OR_RETURN(int32_t rollout_replicas, RolloutReplicas(rollout));
  int64_t min_ready_seconds = 0;
  if (const json* mrs = FindPath(rollout, {"spec", "minReadySeconds"})) {
    if (!mrs->is_number_integer() || mrs->get<int64_t>() < 0 || mrs->get<int64_t>() > INT32_MAX) {
      return Fail(InvalidArgumentError(fmt::format(
          "{}: spec.minReadySeconds: must be a non-negative integer, got {}", where, mrs->dump())));
    }
    min_ready_seconds = mrs->get<int64_t>();
  }
  StringMap rollout_annotations;
  if (meta != nullptr) {
    ASSIGN_OR_RETURN(rollout_annotations, StringMapAt(*meta, "annotations", where + ": metadata"));
  }

  // Labels: the template's plus the hash (labelsutil.CloneAndAddLabel), on the ReplicaSet, its
  // selector and its template.
  template_labels[kPodTemplateHashLabel] = revision.hash;
  tmeta["labels"] = template_labels;
  json rs_selector = json::object();
  match_labels[kPodTemplateHashLabel] = revision.hash;
  rs_selector["matchLabels"] = match_labels;
  if (match_expressions != nullptr) rs_selector["matchExpressions"] = *match_expressions;

  // Annotations (SetNewReplicaSetAnnotations).
  json annotations = json::object();
  for (const auto& [k, v] : rollout_annotations) {
    if (!SkipCopiedAnnotation(k)) annotations[k] = v;
  }
  annotations[kRevisionAnnotation] = std::to_string(revision.revision);
  annotations[kDesiredReplicasAnnotation] = std::to_string(rollout_replicas);

  // Anti-affinity against the stable revision's nodes.
  const json* stable = FindPath(rollout, {"status", "stableRS"});
  const std::string stable_hash =
      stable != nullptr && stable->is_string() ? stable->get<std::string>() : "";
  if (const json* anti = RolloutAntiAffinity(rollout);
      anti != nullptr && !stable_hash.empty() && stable_hash != revision.hash) {
    json& affinity = pod_template["spec"]["affinity"];
    if (!affinity.is_object()) affinity = json::object();
    json& pod_anti = affinity["podAntiAffinity"];
    if (!pod_anti.is_object()) pod_anti = json::object();
    json term = InjectedAntiAffinityTerm(stable_hash, ns);
    if (const json* preferred = Find(*anti, "preferredDuringSchedulingIgnoredDuringExecution")) {
      const json* weight = Find(*preferred, "weight");
      json& list = pod_anti["preferredDuringSchedulingIgnoredDuringExecution"];
      if (!list.is_array()) list = json::array();
      list.push_back(json{
          {"weight", weight != nullptr && weight->is_number_integer() ? weight->get<int64_t>() : 0},
          {"podAffinityTerm", std::move(term)}});
    } else {
      json& list = pod_anti["requiredDuringSchedulingIgnoredDuringExecution"];
      if (!list.is_array()) list = json::array();
      list.push_back(std::move(term));
    }
  }

  // Ephemeral metadata (SyncReplicaSetEphemeralPodMetadata with nothing injected before).
  std::optional<PodMetadata> desired = DesiredMetadata(revision.labels, revision.annotations);
  if (desired && SyncEphemeralMetadata(&tmeta, std::nullopt, desired)) {
    annotations[kEphemeralMetadataAnnotation] = MarshalPodMetadata(*desired);
  }

  json rs_meta = {{"name", rs_name},
                  {"namespace", ns},
                  {"labels", json(template_labels)},
                  {"annotations", std::move(annotations)},
                  {"ownerReferences", json::array({json{{"apiVersion", "argoproj.io/v1alpha1"},
                                                        {"kind", "Rollout"},
                                                        {"name", name},
                                                        {"uid", uid},
                                                        {"controller", true},
                                                        {"blockOwnerDeletion", true}}})}};
  json rs_spec = {{"replicas", replicas},
                  {"selector", std::move(rs_selector)},
                  {"template", std::move(pod_template)}};
  if (min_ready_seconds != 0) rs_spec["minReadySeconds"] = min_ready_seconds;
  return json{{"apiVersion", "apps/v1"},
              {"kind", "ReplicaSet"},
              {"metadata", std::move(rs_meta)},
              {"spec", std::move(rs_spec)}};
}

StatusOr<json> RevisionUpdatePatchOrThrow(const json& rs, int64_t new_revision,
                                          const json& rollout) {
  const std::string where =
      "ReplicaSet " + (Find(rs, "metadata") ? StringAt(rs["metadata"], "name") : std::string());
  if (new_revision < 1) {
    return Fail(InvalidArgumentError(
        fmt::format("{}: revision number {} must be >= 1", where, new_revision)));
  }
  StringMap current = rs.is_object() && Find(rs, "metadata")
                          ? StringsAt(rs["metadata"], "annotations")
                          : StringMap();
  const bool had_revision = current.count(kRevisionAnnotation) != 0;
  json patch_annotations = json::object();
  bool changed = false;
  const StringMap rollout_annotations =
      Find(rollout, "metadata") ? StringsAt(rollout["metadata"], "annotations") : StringMap();
  for (const auto& [k, v] : rollout_annotations) {
    // Go reads a missing key as "", so an empty annotation is not copied onto a missing one.
    if (SkipCopiedAnnotation(k) || current[k] == v) continue;
    patch_annotations[k] = v;
    current[k] = v;
    changed = true;
  }
  const std::string old_revision = had_revision ? current[kRevisionAnnotation] : "";
  int64_t old = 0;
  if (!old_revision.empty()) {
    std::optional<int64_t> parsed = ParseInt64(old_revision);
    if (!parsed) {
      return Fail(InvalidArgumentError(fmt::format("{}: annotation {}: \"{}\" is not an integer",
                                                   where, kRevisionAnnotation, old_revision)));
    }
    old = *parsed;
  }
  if (old < new_revision) {
    patch_annotations[kRevisionAnnotation] = std::to_string(new_revision);
    changed = true;
  }
  if (had_revision && changed) {
    const std::string history = current[kRevisionHistoryAnnotation];
    patch_annotations[kRevisionHistoryAnnotation] =
        history.empty() || history[0] == ',' ? old_revision : history + "," + old_revision;
  }
  json patch = json::object();
  if (!patch_annotations.empty()) patch["metadata"]["annotations"] = std::move(patch_annotations);

  const json* want = FindPath(rollout, {"spec", "minReadySeconds"});
  if (want != nullptr && !want->is_number_integer()) {
    return Fail(InvalidArgumentError(fmt::format(
        "{}: rollout spec.minReadySeconds: must be an integer, got {}", where, want->dump())));
  }
  const json* have = FindPath(rs, {"spec", "minReadySeconds"});
  const int64_t want_v = want != nullptr ? want->get<int64_t>() : 0;
  const int64_t have_v = have != nullptr && have->is_number_integer() ? have->get<int64_t>() : 0;
  if (want_v != have_v) patch["spec"]["minReadySeconds"] = want_v;
  return patch;
}

json MapDiffPatch(const json& before, const json& after) {
  json out = json::object();
  if (after.is_object()) {
    for (const auto& [k, v] : after.items()) {
      if (!before.is_object() || !before.contains(k) || before.at(k) != v) out[k] = v;
    }
  }
  if (before.is_object()) {
    for (const auto& [k, v] : before.items()) {
      if (!after.is_object() || !after.contains(k)) out[k] = nullptr;
    }
  }
  return out;
}

}  // namespace

std::string ReplicaSetName(std::string_view rollout_name, std::string_view hash) {
  return fmt::format("{}-{}", rollout_name, hash);
}

StatusOr<int32_t> RolloutReplicas(const json& rollout) {
  const json* r = FindPath(rollout, {"spec", "replicas"});
  if (r == nullptr) return 1;
  if (!r->is_number_integer() || r->get<int64_t>() < 0 || r->get<int64_t>() > INT32_MAX) {
    return Fail(InvalidArgumentError(
        fmt::format("rollout {}: spec.replicas: must be a non-negative integer, got {}",
                    RolloutName(rollout), r->dump())));
  }
  return static_cast<int32_t>(r->get<int64_t>());
}

StatusOr<json> BuildReplicaSet(const RevisionSpec& revision, int32_t replicas,
                               const json& rollout) {
  try {
    return BuildReplicaSetOrThrow(revision, replicas, rollout);
  } catch (const json::exception& e) {
    return Fail(InvalidArgumentError(fmt::format("rollout {}: revision {}: {}",
                                                 revision.rollout.Key(), revision.hash, e.what())));
  }
}

json ScalePatch(int32_t replicas, int32_t rollout_replicas, bool keep_scale_down_deadline) {
  json patch = {
      {"spec", {{"replicas", replicas}}},
      {"metadata",
       {{"annotations", {{kDesiredReplicasAnnotation, std::to_string(rollout_replicas)}}}}}};
  if (replicas == 0 && !keep_scale_down_deadline) {
    patch["metadata"]["annotations"][kScaleDownDeadlineAnnotation] = nullptr;
  }
  return patch;
}

std::string FormatScaleDownDeadline(Time deadline) { return engine::FormatMetaTime(deadline); }

json SetScaleDownDeadlinePatch(Time deadline) {
  return {{"metadata",
           {{"annotations", {{kScaleDownDeadlineAnnotation, FormatScaleDownDeadline(deadline)}}}}}};
}

json ClearScaleDownDeadlinePatch() {
  return {{"metadata", {{"annotations", {{kScaleDownDeadlineAnnotation, nullptr}}}}}};
}

std::optional<Time> ScaleDownDeadline(const json& rs) {
  const json* annotations = FindPath(rs, {"metadata", "annotations"});
  if (annotations == nullptr) return std::nullopt;
  return TimeAt(*annotations, kScaleDownDeadlineAnnotation);
}

StatusOr<json> RevisionUpdatePatch(const json& rs, int64_t new_revision, const json& rollout) {
  try {
    return RevisionUpdatePatchOrThrow(rs, new_revision, rollout);
  } catch (const json::exception& e) {
    return Fail(InvalidArgumentError(std::string("revision update patch: ") + e.what()));
  }
}

json EphemeralMetadataPatch(const json& rs, const StringMap& labels, const StringMap& annotations) {
  try {
    const json* found = FindPath(rs, {"spec", "template", "metadata"});
    const json before = found != nullptr && found->is_object() ? *found : json::object();
    json after = before;
    const std::optional<PodMetadata> desired = DesiredMetadata(labels, annotations);
    if (!SyncEphemeralMetadata(&after, ParseEphemeralMetadata(rs), desired)) {
      return json::object();
    }
    json patch = json::object();
    for (std::string_view field : {"labels", "annotations"}) {
      const json b = before.contains(field) ? before.at(field) : json::object();
      const json a = after.contains(field) ? after.at(field) : json::object();
      json diff = MapDiffPatch(b, a);
      if (!diff.empty()) patch["spec"]["template"]["metadata"][field] = std::move(diff);
    }
    patch["metadata"]["annotations"][kEphemeralMetadataAnnotation] =
        desired ? json(MarshalPodMetadata(*desired)) : json(nullptr);
    return patch;
  } catch (const json::exception&) {
    return json::object();
  }
}

InstanceStatus InstanceFromPod(const json& pod) {
  InstanceStatus out;
  try {
    const json empty = json::object();
    const json* meta = Find(pod, "metadata");
    if (meta == nullptr) meta = &empty;
    out.id = StringAt(*meta, "name");
    out.created_at = TimeAt(*meta, "creationTimestamp");
    const json* status = Find(pod, "status");
    if (status == nullptr) status = &empty;

    const std::string ip = StringAt(*status, "podIP");
    if (!ip.empty()) {
      out.address = ip;
      const json* containers = FindPath(pod, {"spec", "containers"});
      if (containers != nullptr && containers->is_array() && !containers->empty()) {
        const json* ports = Find(containers->front(), "ports");
        if (ports != nullptr && ports->is_array() && !ports->empty()) {
          const json* port = Find(ports->front(), "containerPort");
          if (port != nullptr && port->is_number_integer()) {
            // IPv6 addresses take brackets in host:port.
            out.address = (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" +
                          std::to_string(port->get<int64_t>());
          }
        }
      }
    }
    if (const json* statuses = Find(*status, "containerStatuses");
        statuses != nullptr && statuses->is_array()) {
      for (const json& cs : *statuses) {
        const json* n = Find(cs, "restartCount");
        if (n != nullptr && n->is_number_integer()) {
          out.restarts += static_cast<int32_t>(n->get<int64_t>());
        }
      }
    }

    const std::string phase = StringAt(*status, "phase");
    const json* ready = FindCondition(pod, "Ready");
    const std::string failed_container = FailedContainerMessage(pod);
    if (Find(*meta, "deletionTimestamp") != nullptr) {
      out.state = InstanceState::kTerminating;
      out.message = "terminating";
    } else if (phase == "Failed" || phase == "Succeeded") {
      out.state = InstanceState::kFailed;
      std::string why = Join({StringAt(*status, "reason"), StringAt(*status, "message")});
      if (why.empty()) why = TerminatedMessage(pod);
      out.message = Join({"pod " + phase, why});
    } else if (!failed_container.empty()) {
      out.state = InstanceState::kFailed;
      out.message = failed_container;
    } else if (phase.empty() || phase == "Pending") {
      out.state = InstanceState::kPending;
      const json* scheduled = FindCondition(pod, "PodScheduled");
      if (scheduled != nullptr && StringAt(*scheduled, "status") == "False") {
        out.message = Join({StringAt(*scheduled, "reason"), StringAt(*scheduled, "message")});
      }
      if (out.message.empty()) out.message = FirstWaitingReason(pod);
      if (out.message.empty()) out.message = "Pending";
    } else if (ready != nullptr && StringAt(*ready, "status") == "True" && phase == "Running") {
      out.state = InstanceState::kReady;
      out.ready_since = TimeAt(*ready, "lastTransitionTime");
    } else if (phase == "Unknown") {
      out.state = InstanceState::kUnready;
      out.message =
          Join({"pod phase Unknown (its node stopped reporting)", StringAt(*status, "reason")});
    } else {
      out.state = WasReady(pod, ready) ? InstanceState::kUnready : InstanceState::kStarting;
      if (ready != nullptr) {
        out.message = StringAt(*ready, "message");
        if (out.message.empty()) out.message = StringAt(*ready, "reason");
      }
      if (out.message.empty()) out.message = "not ready";
    }
  } catch (const json::exception& e) {
    out.state = InstanceState::kFailed;
    out.message = std::string("unreadable pod: ") + e.what();
  }
  return out;
}

RevisionStatus RevisionFromReplicaSet(const json& rs, const std::vector<json>& pods) {
  RevisionStatus out;
  try {
    const json empty = json::object();
    const json* meta = Find(rs, "metadata");
    if (meta == nullptr) meta = &empty;
    out.hash = StringAt(Find(*meta, "labels") ? meta->at("labels") : empty, kPodTemplateHashLabel);
    const StringMap annotations = StringsAt(*meta, "annotations");
    if (auto it = annotations.find(kRevisionAnnotation); it != annotations.end()) {
      out.revision = ParseInt64(it->second).value_or(0);
    }
    const json* replicas = FindPath(rs, {"spec", "replicas"});
    out.desired_replicas = replicas != nullptr && replicas->is_number_integer()
                               ? static_cast<int32_t>(replicas->get<int64_t>())
                               : 1;
    const std::string rs_uid = StringAt(*meta, "uid");
    for (const json& pod : pods) {
      const json* labels = FindPath(pod, {"metadata", "labels"});
      if (labels != nullptr && labels->contains(kPodTemplateHashLabel) &&
          StringAt(*labels, kPodTemplateHashLabel) != out.hash) {
        continue;
      }
      bool other_owner = false;
      if (const json* owners = FindPath(pod, {"metadata", "ownerReferences"});
          owners != nullptr && owners->is_array() && !rs_uid.empty()) {
        for (const json& o : *owners) {
          const json* controller = Find(o, "controller");
          if (controller != nullptr && *controller == true && !StringAt(o, "uid").empty() &&
              StringAt(o, "uid") != rs_uid) {
            other_owner = true;
          }
        }
      }
      if (other_owner) continue;
      out.instances.push_back(InstanceFromPod(pod));
    }
  } catch (const json::exception&) {
    // Keep what was read; the fields above are all optional.
  }
  return out;
}

json ServiceSelectorPatch(std::string_view rollout_name, std::string_view hash) {
  if (hash.empty()) {
    return {{"metadata", {{"annotations", {{kManagedByRolloutsAnnotation, nullptr}}}}},
            {"spec", {{"selector", {{kPodTemplateHashLabel, nullptr}}}}}};
  }
  return {{"metadata", {{"annotations", {{kManagedByRolloutsAnnotation, rollout_name}}}}},
          {"spec", {{"selector", {{kPodTemplateHashLabel, hash}}}}}};
}

json ServiceSelectorPatchFor(const json& service, std::string_view rollout_name,
                             std::string_view hash) {
  const std::optional<std::string> managed_by = ServiceManagedBy(service);
  const json* selector = FindPath(service, {"spec", "selector"});
  const bool has_selector =
      selector != nullptr && selector->is_object() && selector->contains(kPodTemplateHashLabel);
  if (hash.empty()) {
    return managed_by || has_selector ? ServiceSelectorPatch(rollout_name, "") : json::object();
  }
  if (managed_by) {
    if (has_selector && ServiceSelectedHash(service) == hash) return json::object();
    return {{"spec", {{"selector", {{kPodTemplateHashLabel, hash}}}}}};
  }
  return ServiceSelectorPatch(rollout_name, hash);
}

std::string ServiceSelectedHash(const json& service) {
  const json* selector = FindPath(service, {"spec", "selector"});
  return selector != nullptr ? StringAt(*selector, kPodTemplateHashLabel) : "";
}

std::optional<std::string> ServiceManagedBy(const json& service) {
  const json* annotations = FindPath(service, {"metadata", "annotations"});
  if (annotations == nullptr || !annotations->is_object()) return std::nullopt;
  const json* v = Find(*annotations, kManagedByRolloutsAnnotation);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

bool TemplatesMatchForAdoption(const json& rs_template, const json& rollout_template) {
  try {
    return NormalizeTemplate(rs_template) == NormalizeTemplate(rollout_template);
  } catch (const json::exception&) {
    return false;
  }
}

bool ReplicaSetMatchesTemplate(const json& rs, const json& rollout_template) {
  try {
    const json* found = FindPath(rs, {"spec", "template"});
    if (found == nullptr) return false;
    json live = *found;
    if (std::optional<PodMetadata> injected = ParseEphemeralMetadata(rs)) {
      json& meta = live["metadata"];
      SyncEphemeralMetadata(&meta, injected, std::nullopt);
    }
    json* spec = Child(&live, "spec");
    json* affinity = spec != nullptr ? Child(spec, "affinity") : nullptr;
    if (affinity != nullptr) {
      if (json* anti = Child(affinity, "podAntiAffinity")) {
        const json* want = FindPath(rollout_template, {"spec", "affinity", "podAntiAffinity"});
        const json none;
        const json& w = want != nullptr ? *want : none;
        RemoveInjectedTerms(Child(anti, "preferredDuringSchedulingIgnoredDuringExecution"),
                            Find(w, "preferredDuringSchedulingIgnoredDuringExecution"),
                            /*weighted=*/true);
        RemoveInjectedTerms(Child(anti, "requiredDuringSchedulingIgnoredDuringExecution"),
                            Find(w, "requiredDuringSchedulingIgnoredDuringExecution"),
                            /*weighted=*/false);
      }
    }
    return TemplatesMatchForAdoption(live, rollout_template);
  } catch (const json::exception&) {
    return false;
  }
}

}  // namespace ramp::platform::kube_objects
