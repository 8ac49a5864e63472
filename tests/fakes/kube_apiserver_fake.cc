#include "tests/fakes/kube_apiserver_fake.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <list>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "net/http_server.h"
#include "tests/fakes/kube_fake_selectors.h"

namespace ramp::fakes {
namespace {

using nlohmann::json;
using SteadyTime = std::chrono::steady_clock::time_point;
using Key = std::pair<std::string, std::string>;  // (namespace, name); "" for cluster-scoped

// A watch stream may queue this much before its client counts as stuck. DropWatches relies on it:
// one piece larger than this makes the server close the connection without the final chunk.
constexpr size_t kMaxStreamBuffer = size_t{4} << 20;
constexpr size_t kMaxRequestLog = 10000;
// The real server's request-body limit.
constexpr size_t kMaxBody = size_t{3} << 20;

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get",
                                         "list",   "patch",  "update",           "watch"};
const std::vector<std::string> kSubresourceVerbs = {"get", "patch", "update"};

// --- JSON helpers: const access that never inserts and never asserts. --------------------------

const json& Field(const json& o, std::string_view key) {
  static const json kNull;
  if (!o.is_object()) return kNull;
  auto it = o.find(key);
  return it == o.end() ? kNull : *it;
}

std::string StrField(const json& o, std::string_view key) {
  const json& v = Field(o, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string MetaStr(const json& o, std::string_view key) {
  return StrField(Field(o, "metadata"), key);
}

json& Meta(json& o) {
  json& m = o["metadata"];
  if (!m.is_object()) m = json::object();
  return m;
}

// The value at a dotted path (".spec.replicas"), or null.
const json& At(const json& o, std::string_view path) {
  static const json kNull;
  const json* at = &o;
  size_t start = 0;
  while (start < path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    if (dot > start) {
      at = &Field(*at, path.substr(start, dot - start));
      if (at->is_null()) return kNull;
    }
    start = dot + 1;
  }
  return *at;
}

// Sets the value at a dotted path, creating objects on the way.
void SetAt(json& o, std::string_view path, json value) {
  json* at = &o;
  size_t start = 0;
  while (start < path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    if (dot > start) {
      if (!at->is_object()) *at = json::object();
      at = &(*at)[std::string(path.substr(start, dot - start))];
    }
    start = dot + 1;
  }
  *at = std::move(value);
}

int64_t IntAt(const json& o, std::string_view path) {
  const json& v = At(o, path);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

bool ParseBool(std::string_view s) { return s == "true" || s == "1" || s == "True" || s == "t"; }

std::string Rfc3339(Time t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Drops empty label, annotation, finalizer and owner-reference collections, as the real server's
// serialization (omitempty) does, so that `labels: {}` and no labels compare equal.
void NormalizeMetadata(json& o) {
  json& m = Meta(o);
  for (const char* key : {"labels", "annotations", "finalizers", "ownerReferences"}) {
    auto it = m.find(key);
    if (it != m.end() && (it->is_null() || it->empty())) m.erase(it);
  }
}

// A lower-case RFC 1123 subdomain: what most resources require of metadata.name.
bool IsDnsSubdomainName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  char prev = '.';
  for (char c : s) {
    if (c == '.') {
      if (!alnum(prev)) return false;
    } else if (c == '-') {
      if (prev == '.') return false;
    } else if (!alnum(c)) {
      return false;
    }
    prev = c;
  }
  return alnum(prev);
}

// --- resources and errors ----------------------------------------------------------------------

std::string GroupVersion(const KubeResource& r) {
  return r.group.empty() ? r.version : r.group + "/" + r.version;
}
std::string QualifiedResource(const KubeResource& r) {
  return r.group.empty() ? r.plural : r.plural + "." + r.group;
}
std::string QualifiedKind(const KubeResource& r) {
  return r.group.empty() ? r.kind : r.kind + "." + r.group;
}

// An API answer: a status code and a JSON body (or a stream already handed to the client).
struct Answer {
  int status = 200;
  json body;
  bool streamed = false;
};

json StatusObject(int code, std::string_view reason, std::string_view message,
                  json details = nullptr) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = std::move(details);
  return s;
}

Answer Error(int code, std::string_view reason, std::string_view message, json details = nullptr) {
  return {code, StatusObject(code, reason, message, std::move(details))};
}

json Details(const KubeResource& r, std::string_view name) {
  json d = json::object();
  if (!name.empty()) d["name"] = name;
  if (!r.group.empty()) d["group"] = r.group;
  d["kind"] = r.plural;
  return d;
}

Answer NotFound(const KubeResource& r, std::string_view name) {
  return Error(404, "NotFound", fmt::format("{} \"{}\" not found", QualifiedResource(r), name),
               Details(r, name));
}

Answer RouteNotFound() {
  return Error(404, "NotFound", "the server could not find the requested resource", json::object());
}

Answer AlreadyExists(const KubeResource& r, std::string_view name) {
  return Error(409, "AlreadyExists",
               fmt::format("{} \"{}\" already exists", QualifiedResource(r), name),
               Details(r, name));
}

Answer Conflict(const KubeResource& r, std::string_view name, std::string_view why) {
  return Error(409, "Conflict",
               fmt::format("Operation cannot be fulfilled on {} \"{}\": {}", QualifiedResource(r),
                           name, why),
               Details(r, name));
}

constexpr std::string_view kModified =
    "the object has been modified; please apply your changes to the latest version and try again";

// 422: one invalid field. The real server names the kind (not the plural) here.
Answer Invalid(const KubeResource& r, std::string_view name, std::string_view field,
               std::string_view cause, std::string_view detail) {
  json d = json::object();
  if (!name.empty()) d["name"] = name;
  if (!r.group.empty()) d["group"] = r.group;
  d["kind"] = r.kind;
  d["causes"] = json::array({{{"reason", cause}, {"message", detail}, {"field", field}}});
  return Error(422, "Invalid",
               fmt::format("{} \"{}\" is invalid: {}: {}", QualifiedKind(r), name, field, detail),
               std::move(d));
}

Answer BadRequest(std::string_view message) { return Error(400, "BadRequest", message); }

Answer MethodNotAllowed() {
  return Error(405, "MethodNotAllowed",
               "the server does not allow this method on the requested resource", json::object());
}

// 415. `accepted`: what the real server lists for the request at hand.
Answer UnsupportedMediaType(std::string_view accepted) {
  return Error(415, "UnsupportedMediaType",
               fmt::format("the body of the request was in an unknown format - accepted media "
                           "types include: {}",
                           accepted),
               json::object());
}

constexpr std::string_view kPatchTypes =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

KubeResource Res(std::string group, std::string version, std::string kind, std::string plural,
                 bool namespaced, std::vector<std::string> short_names = {}) {
  KubeResource r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.kind = std::move(kind);
  r.plural = std::move(plural);
  r.namespaced = namespaced;
  r.short_names = std::move(short_names);
  return r;
}

void Complete(KubeResource& r) {
  if (r.list_kind.empty()) r.list_kind = r.kind + "List";
  if (r.singular.empty()) {
    r.singular = r.kind;
    std::transform(r.singular.begin(), r.singular.end(), r.singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
}

// --- the store ------------------------------------------------------------------------------

// A registered resource and its objects, ordered as the real server's storage keys order them.
struct Entry {
  KubeResource def;
  std::map<Key, json> objects;
};

// One change, kept for watches that resume from a resourceVersion.
struct Event {
  int64_t rv;
  const Entry* entry;
  std::string type;  // ADDED, MODIFIED or DELETED
  json object;
  json old;  // MODIFIED: the object before the change
};

struct Watch {
  const Entry* entry;
  std::string ns;  // "" = every namespace
  LabelSelector labels;
  FieldSelector fields;
  bool bookmarks = false;
  int64_t after = 0;  // only changes newer than this
  std::shared_ptr<net::ServerStream> stream;
  std::optional<SteadyTime> deadline;
  SteadyTime next_bookmark;
};

struct PodHold {
  std::string text;
  LabelSelector selector;
};

// The parsed /api/v1/... or /apis/<g>/<v>/... path of a resource request.
struct Target {
  Entry* entry = nullptr;
  bool has_ns = false;
  std::string ns;
  std::string name;
  std::string sub;  // "", "status" or "scale"
};

enum class Propagation { kBackground, kForeground, kOrphan };

std::string MediaType(std::string_view header) {
  std::string t(header.substr(0, header.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  while (!t.empty() && t.front() == ' ') t.erase(t.begin());
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return t;
}

std::string HexEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

bool HexDecode(std::string_view s, std::string* out) {
  if (s.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    auto res = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
    if (res.ec != std::errc() || res.ptr != s.data() + i + 2) return false;
    out->push_back(static_cast<char>(v));
  }
  return true;
}

bool IsReady(const json& pod) {
  for (const json& c : Field(Field(pod, "status"), "conditions")) {
    if (StrField(c, "type") == "Ready") return StrField(c, "status") == "True";
  }
  return false;
}

// The uid of the ReplicaSet that controls `pod`, with its name, or empty strings.
Key ControllingReplicaSet(const json& pod) {
  for (const json& ref : Field(Field(pod, "metadata"), "ownerReferences")) {
    if (Field(ref, "controller") == json(true) && StrField(ref, "kind") == "ReplicaSet") {
      return {StrField(ref, "uid"), StrField(ref, "name")};
    }
  }
  return {};
}

}  // namespace

struct KubeApiServerFake::Impl {
  KubeFakeOptions options;
  std::unique_ptr<Clock> own_clock;
  const Clock* clock = nullptr;
  std::unique_ptr<net::HttpServer> server;
  std::string url;

  mutable std::mutex mu;
  std::condition_variable wake_ticker;  // a watch was added, or stopping
  bool stopping = false;                // guarded by mu
  std::thread ticker;

  // Everything below is guarded by mu.
  std::vector<std::unique_ptr<Entry>> entries;  // stable addresses: watches point at them
  int64_t rv = 0;                               // the newest resourceVersion handed out
  int64_t compacted = 0;  // a watch may resume from any resourceVersion >= this
  std::deque<Event> history;
  std::list<Watch> watches;
  std::unordered_map<std::string, int64_t> created_rv;  // uid → resourceVersion at creation
  std::map<const Entry*, int> conflicts;
  int failures = 0;
  int failure_status = 500;
  std::string failure_body;
  std::string failure_type;
  std::deque<KubeRequestRecord> log;
  std::vector<PodHold> holds;
  std::mt19937_64 rng{std::random_device{}()};
  uint64_t pods_made = 0;
  // ReplicaSets (namespace, name) to reconcile before the lock is released.
  std::set<Key> dirty_replicasets;
  bool in_controller = false;

  // ---- lookups (mu held) ----

  Entry* FindEntry(std::string_view group, std::string_view version, std::string_view plural) {
    for (auto& e : entries) {
      if (e->def.group == group && e->def.version == version && e->def.plural == plural) {
        return e.get();
      }
    }
    return nullptr;
  }

  Entry* FindByKind(std::string_view api_version, std::string_view kind) {
    for (auto& e : entries) {
      if (GroupVersion(e->def) == api_version && e->def.kind == kind) return e.get();
    }
    return nullptr;
  }

  // "rollouts", "rollouts.argoproj.io", "events.events.k8s.io"; a bare plural prefers core.
  Entry* Resolve(std::string_view name) {
    Entry* found = nullptr;
    for (auto& e : entries) {
      if (QualifiedResource(e->def) == name) return e.get();
      if (e->def.plural == name && (found == nullptr || e->def.group.empty())) found = e.get();
    }
    return found;
  }

  bool GroupVersionExists(std::string_view group, std::string_view version) const {
    return std::any_of(entries.begin(), entries.end(), [&](const auto& e) {
      return e->def.group == group && e->def.version == version;
    });
  }

  // The object with this uid anywhere, if any.
  const json* FindUid(std::string_view uid) const {
    for (const auto& e : entries) {
      for (const auto& [key, obj] : e->objects) {
        if (MetaStr(obj, "uid") == uid) return &obj;
      }
    }
    return nullptr;
  }

  std::string Now() const { return Rfc3339(clock->Now()); }

  std::string NewUid() {
    std::uniform_int_distribution<uint64_t> dist;
    uint64_t hi = dist(rng);
    uint64_t lo = dist(rng);
    hi = (hi & ~uint64_t{0xf000}) | 0x4000;                      // version 4
    lo = (lo & ~(uint64_t{0xc} << 60)) | (uint64_t{0x8} << 60);  // RFC 4122 variant
    return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff,
                       hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
  }

  // Five characters for generated names, from the alphabet the real server uses (no vowels, so
  // no words).
  std::string RandomSuffix() {
    static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
    std::uniform_int_distribution<size_t> dist(0, kAlphabet.size() - 1);
    std::string s;
    for (int i = 0; i < 5; ++i) s += kAlphabet[dist(rng)];
    return s;
  }

  // ---- changes and watches (mu held) ----

  bool Selected(const Watch& w, const json& obj) const {
    if (!w.ns.empty() && MetaStr(obj, "namespace") != w.ns) return false;
    return w.labels.Matches(Field(Field(obj, "metadata"), "labels")) && w.fields.Matches(obj);
  }

  // Sends `ev` to `w` as that watch sees it: an object that stops matching the watch's selectors
  // is DELETED for it, one that starts matching is ADDED. False when the stream is gone.
  bool Deliver(Watch& w, const Event& ev) {
    if (ev.entry != w.entry || ev.rv <= w.after) return true;
    const bool now = Selected(w, ev.object);
    std::string type = ev.type;
    if (ev.type == "MODIFIED") {
      const bool before = Selected(w, ev.old);
      if (!before && !now) return true;
      if (before && !now) type = "DELETED";
      if (!before && now) type = "ADDED";
    } else if (!now) {
      return true;
    }
    return WriteEvent(w, type, ev.object);
  }

  static bool WriteEvent(Watch& w, std::string_view type, const json& object) {
    json line = {{"type", type}, {"object", object}};
    return w.stream->Write(line.dump() + "\n");
  }

  json Bookmark(const Entry& e, bool initial_events_end) const {
    json meta = {{"resourceVersion", std::to_string(rv)}};
    if (initial_events_end) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    return {{"kind", e.def.kind}, {"apiVersion", GroupVersion(e.def)}, {"metadata", meta}};
  }

  void Emit(Entry& e, std::string type, const json& object, const json& old) {
    Event ev{rv, &e, std::move(type), object, old};
    for (auto it = watches.begin(); it != watches.end();) {
      if (!Deliver(*it, ev)) {
        it = watches.erase(it);
      } else {
        ++it;
      }
    }
    NoteForController(e, object);
    history.push_back(std::move(ev));
    while (history.size() > options.history) {
      compacted = std::max(compacted, history.front().rv);
      history.pop_front();
    }
  }

  // Remembers which ReplicaSet a change concerns, for the controller to look at before the
  // request's lock is released.
  void NoteForController(const Entry& e, const json& object) {
    if (!options.replicaset_controller || in_controller) return;
    if (e.def.group == "apps" && e.def.plural == "replicasets") {
      dirty_replicasets.insert({MetaStr(object, "namespace"), MetaStr(object, "name")});
    } else if (e.def.group.empty() && e.def.plural == "pods") {
      Key owner = ControllingReplicaSet(object);
      if (!owner.second.empty()) {
        dirty_replicasets.insert({MetaStr(object, "namespace"), owner.second});
      }
    }
  }

  const json& Insert(Entry& e, json obj) {
    ++rv;
    Meta(obj)["resourceVersion"] = std::to_string(rv);
    NormalizeMetadata(obj);
    Key key{MetaStr(obj, "namespace"), MetaStr(obj, "name")};
    created_rv[MetaStr(obj, "uid")] = rv;
    json& stored = e.objects[key] = std::move(obj);
    Emit(e, "ADDED", stored, nullptr);
    return e.objects.at(key);
  }

  const json& Replace(Entry& e, const Key& key, json next) {
    json& slot = e.objects.at(key);
    json old = std::move(slot);
    ++rv;
    Meta(next)["resourceVersion"] = std::to_string(rv);
    NormalizeMetadata(next);
    slot = std::move(next);
    Emit(e, "MODIFIED", slot, old);
    return e.objects.at(key);
  }

  json Remove(Entry& e, const Key& key) {
    auto node = e.objects.extract(key);
    json obj = std::move(node.mapped());
    ++rv;
    Meta(obj)["resourceVersion"] = std::to_string(rv);
    created_rv.erase(MetaStr(obj, "uid"));
    Emit(e, "DELETED", obj, nullptr);
    return obj;
  }

  // Stores `next` in place of `old` unless nothing changed; completes a pending deletion once the
  // last finalizer is gone. Returns what the client sees.
  json Write(Entry& e, const Key& key, json next) {
    const json& old = e.objects.at(key);
    Meta(next)["resourceVersion"] = MetaStr(old, "resourceVersion");
    NormalizeMetadata(next);
    if (next == old) return old;
    const json& stored = Replace(e, key, std::move(next));
    if (!MetaStr(stored, "deletionTimestamp").empty() &&
        Field(Field(stored, "metadata"), "finalizers").empty()) {
      json gone = Remove(e, key);
      CollectGarbage(e, gone, Propagation::kBackground);
      return gone;
    }
    return stored;
  }

  // Deletes one object: at once, or — with finalizers — by marking it. `*gone` says which.
  json Delete(Entry& e, const Key& key, Propagation propagation, bool* gone) {
    const json& cur = e.objects.at(key);
    if (!Field(Field(cur, "metadata"), "finalizers").empty()) {
      *gone = false;
      if (!MetaStr(cur, "deletionTimestamp").empty()) return cur;
      json next = cur;
      Meta(next)["deletionTimestamp"] = Now();
      Meta(next)["deletionGracePeriodSeconds"] = 0;
      return Replace(e, key, std::move(next));
    }
    *gone = true;
    json obj = Remove(e, key);
    CollectGarbage(e, obj, propagation);
    return obj;
  }

  // What the garbage collector and the namespace controller do after `owner` is gone, done
  // synchronously: dependents with no other live owner are deleted (recursively); with Orphan,
  // or when another owner lives, only the owner reference is removed.
  void CollectGarbage(const Entry& owner_entry, const json& owner, Propagation propagation) {
    const std::string uid = MetaStr(owner, "uid");
    std::vector<std::pair<Entry*, Key>> dependents;
    for (auto& e : entries) {
      for (const auto& [key, obj] : e->objects) {
        for (const json& ref : Field(Field(obj, "metadata"), "ownerReferences")) {
          if (!uid.empty() && StrField(ref, "uid") == uid) {
            dependents.emplace_back(e.get(), key);
            break;
          }
        }
      }
    }
    for (auto& [e, key] : dependents) {
      auto it = e->objects.find(key);
      if (it == e->objects.end()) continue;  // went with an earlier dependent
      json remaining = json::array();
      bool other_owner_alive = false;
      for (const json& ref : Field(Field(it->second, "metadata"), "ownerReferences")) {
        if (StrField(ref, "uid") == uid) continue;
        remaining.push_back(ref);
        if (FindUid(StrField(ref, "uid")) != nullptr) other_owner_alive = true;
      }
      if (propagation == Propagation::kOrphan || other_owner_alive) {
        json next = it->second;
        Meta(next)["ownerReferences"] = remaining;
        Write(*e, key, std::move(next));
      } else {
        bool gone = false;
        Delete(*e, key, Propagation::kBackground, &gone);
      }
    }
    if (owner_entry.def.group.empty() && owner_entry.def.plural == "namespaces") {
      const std::string ns = MetaStr(owner, "name");
      for (auto& e : entries) {
        if (!e->def.namespaced) continue;
        std::vector<Key> keys;
        for (const auto& [key, obj] : e->objects) {
          if (key.first == ns) keys.push_back(key);
        }
        for (const Key& key : keys) {
          if (!e->objects.count(key)) continue;
          bool gone = false;
          Delete(*e, key, Propagation::kBackground, &gone);
        }
      }
    }
  }

  // ---- the simulated ReplicaSet controller (mu held) ----

  bool Held(const json& labels) const {
    return std::any_of(holds.begin(), holds.end(),
                       [&](const PodHold& h) { return h.selector.Matches(labels); });
  }

  static bool SetReadyCondition(json& pod, bool ready, const std::string& now) {
    json& status = pod["status"];
    if (!status.is_object()) status = json::object();
    json& conditions = status["conditions"];
    if (!conditions.is_array()) conditions = json::array();
    const std::string want = ready ? "True" : "False";
    for (json& c : conditions) {
      if (StrField(c, "type") != "Ready") continue;
      if (StrField(c, "status") == want) return false;
      c["status"] = want;
      c["lastTransitionTime"] = now;
      return true;
    }
    conditions.push_back({{"type", "Ready"}, {"status", want}, {"lastTransitionTime", now}});
    return true;
  }

  void RunControllers() {
    while (!dirty_replicasets.empty()) {
      Key rs = *dirty_replicasets.begin();
      dirty_replicasets.erase(dirty_replicasets.begin());
      in_controller = true;
      ReconcileReplicaSet(rs.first, rs.second);
      in_controller = false;
    }
  }

  void ReconcileReplicaSet(const std::string& ns, const std::string& name) {
    Entry* rs_entry = FindEntry("apps", "v1", "replicasets");
    Entry* pod_entry = FindEntry("", "v1", "pods");
    if (rs_entry == nullptr || pod_entry == nullptr) return;
    auto rs_it = rs_entry->objects.find({ns, name});
    if (rs_it == rs_entry->objects.end()) return;
    const json rs = rs_it->second;
    if (!MetaStr(rs, "deletionTimestamp").empty()) return;
    const std::string uid = MetaStr(rs, "uid");
    const json& replicas = At(rs, ".spec.replicas");
    const int64_t desired = replicas.is_number_integer() ? replicas.get<int64_t>() : 1;

    std::vector<Key> pods;
    for (const auto& [key, pod] : pod_entry->objects) {
      if (key.first == ns && ControllingReplicaSet(pod).first == uid &&
          MetaStr(pod, "deletionTimestamp").empty()) {
        pods.push_back(key);
      }
    }
    for (int64_t n = static_cast<int64_t>(pods.size()); n < desired; ++n) {
      pods.push_back(MakePod(*pod_entry, rs));
    }
    if (static_cast<int64_t>(pods.size()) > desired) {
      // Not-ready pods go first, then the newest, as the real controller prefers.
      auto rank = [&](const Key& k) {
        const json& pod = pod_entry->objects.at(k);
        auto created = created_rv.find(MetaStr(pod, "uid"));
        return std::make_pair(IsReady(pod), created == created_rv.end() ? 0 : -created->second);
      };
      std::sort(pods.begin(), pods.end(),
                [&](const Key& a, const Key& b) { return rank(a) < rank(b); });
      while (static_cast<int64_t>(pods.size()) > desired) {
        bool gone = false;
        Delete(*pod_entry, pods.front(), Propagation::kBackground, &gone);
        pods.erase(pods.begin());
      }
    }

    auto selector = LabelSelector::FromJson(At(rs, ".spec.selector"));
    int64_t ready = 0;
    int64_t labeled = 0;
    for (const Key& k : pods) {
      auto it = pod_entry->objects.find(k);
      if (it == pod_entry->objects.end()) continue;
      if (IsReady(it->second)) ++ready;
      if (selector.has_value() && selector->Matches(At(it->second, ".metadata.labels"))) ++labeled;
    }
    // The real status omits zero counts (omitempty) except replicas.
    json status = {{"replicas", static_cast<int64_t>(pods.size())}};
    if (labeled > 0) status["fullyLabeledReplicas"] = labeled;
    if (ready > 0) status["readyReplicas"] = ready;
    if (ready > 0) status["availableReplicas"] = ready;
    status["observedGeneration"] = IntAt(rs, ".metadata.generation");
    auto now_it = rs_entry->objects.find({ns, name});
    if (now_it == rs_entry->objects.end()) return;
    json next = now_it->second;
    next["status"] = status;
    Write(*rs_entry, {ns, name}, std::move(next));
  }

  Key MakePod(Entry& pod_entry, const json& rs) {
    const std::string ns = MetaStr(rs, "namespace");
    const std::string rs_name = MetaStr(rs, "name");
    std::string name;
    do {
      name = rs_name + "-" + RandomSuffix();
    } while (pod_entry.objects.count({ns, name}));
    const json& tmpl = At(rs, ".spec.template");
    json meta = {{"name", name},
                 {"generateName", rs_name + "-"},
                 {"namespace", ns},
                 {"uid", NewUid()},
                 {"creationTimestamp", Now()},
                 {"generation", 1},
                 {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                                   {"kind", "ReplicaSet"},
                                                   {"name", rs_name},
                                                   {"uid", MetaStr(rs, "uid")},
                                                   {"controller", true},
                                                   {"blockOwnerDeletion", true}}})}};
    const json& labels = At(tmpl, ".metadata.labels");
    if (labels.is_object()) meta["labels"] = labels;
    const json& annotations = At(tmpl, ".metadata.annotations");
    if (annotations.is_object()) meta["annotations"] = annotations;
    json spec = Field(tmpl, "spec").is_object() ? Field(tmpl, "spec") : json::object();
    spec["nodeName"] = "ramp-fake-node";
    const uint64_t n = pods_made++;
    const std::string ip = fmt::format("10.0.{}.{}", (n / 254) % 256, n % 254 + 1);
    const std::string now = Now();
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", meta},
                {"spec", spec},
                {"status",
                 {{"phase", "Running"},
                  {"podIP", ip},
                  {"podIPs", json::array({{{"ip", ip}}})},
                  {"startTime", now},
                  {"conditions", json::array()}}}};
    SetReadyCondition(pod, !Held(labels), now);
    Insert(pod_entry, std::move(pod));
    return {ns, name};
  }

  // ---- requests ----

  void LogRequest(const net::ServerRequest& req) {
    KubeRequestRecord r;
    r.method = req.method;
    r.path = req.path;
    if (size_t q = req.target.find('?'); q != std::string::npos) r.query = req.target.substr(q + 1);
    r.content_type = req.Header("content-type");
    r.body = req.body;
    r.headers = req.headers;
    log.push_back(std::move(r));
    while (log.size() > kMaxRequestLog) log.pop_front();
  }

  bool Authorized(const net::ServerRequest& req) const {
    if (options.bearer_token.empty()) return true;
    const std::string h = req.Header("authorization");
    const size_t space = h.find(' ');
    if (space == std::string::npos) return false;
    std::string scheme = h.substr(0, space);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return scheme == "bearer" && h.substr(space + 1) == options.bearer_token;
  }

  void Handle(net::ServerRequest req, const std::shared_ptr<net::ServerReply>& reply) {
    if (req.path == "/fake" || req.path.starts_with("/fake/")) {
      reply->Send(HandleControl(req));
      return;
    }
    std::unique_lock lock(mu);
    LogRequest(req);
    if (failures > 0) {
      --failures;
      reply->Send({failure_status, failure_type, {}, failure_body});
      return;
    }
    if (!Authorized(req)) {
      reply->Send(ToResponse(Error(401, "Unauthorized", "Unauthorized")));
      return;
    }
    if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz") {
      reply->Send({200, "text/plain; charset=utf-8", {}, "ok"});
      return;
    }
    Answer answer = Serve(req, reply);
    RunControllers();
    lock.unlock();
    if (!answer.streamed) reply->Send(ToResponse(answer));
  }

  static net::ServerResponse ToResponse(const Answer& a) {
    return {a.status, "application/json", {}, a.body.dump()};
  }

  Answer Serve(const net::ServerRequest& req, const std::shared_ptr<net::ServerReply>& reply) {
    std::vector<std::string> seg;
    for (size_t start = 0; start <= req.path.size();) {
      size_t slash = req.path.find('/', start);
      if (slash == std::string::npos) slash = req.path.size();
      if (slash > start) seg.push_back(req.path.substr(start, slash - start));
      start = slash + 1;
    }
    const bool get = req.method == "GET";
    if (seg.empty()) {
      if (!get) return MethodNotAllowed();
      return {200, {{"paths", {"/api", "/api/v1", "/apis", "/version", "/healthz"}}}};
    }
    if (seg[0] == "version" && seg.size() == 1) {
      if (!get) return MethodNotAllowed();
      return {200, VersionInfo()};
    }
    if (seg[0] == "api") {
      if (seg.size() == 1) return get ? Answer{200, ApiVersions()} : MethodNotAllowed();
      if (seg[1] != "v1") return RouteNotFound();
      if (seg.size() == 2) return get ? Answer{200, ResourceList("", "v1")} : MethodNotAllowed();
      return ServeResource(req, reply, "", "v1", {seg.begin() + 2, seg.end()});
    }
    if (seg[0] == "apis") {
      if (seg.size() == 1) return get ? Answer{200, GroupList()} : MethodNotAllowed();
      json group = Group(seg[1]);
      if (group.is_null()) return RouteNotFound();
      if (seg.size() == 2) return get ? Answer{200, group} : MethodNotAllowed();
      if (!GroupVersionExists(seg[1], seg[2])) return RouteNotFound();
      if (seg.size() == 3) {
        return get ? Answer{200, ResourceList(seg[1], seg[2])} : MethodNotAllowed();
      }
      return ServeResource(req, reply, seg[1], seg[2], {seg.begin() + 3, seg.end()});
    }
    // /openapi/v2 and /openapi/v3 included: clients fall back to discovery without them.
    return RouteNotFound();
  }

  // ---- discovery (mu held) ----

  json VersionInfo() const {
    return {{"major", "1"},
            {"minor", "32"},
            {"gitVersion", "v1.32.0-ramp-fake"},
            {"gitCommit", "0000000000000000000000000000000000000000"},
            {"gitTreeState", "clean"},
            {"buildDate", "2025-01-01T00:00:00Z"},
            {"goVersion", "go1.23.0"},
            {"compiler", "gc"},
            {"platform", "linux/amd64"}};
  }

  json ApiVersions() const {
    return {{"kind", "APIVersions"},
            {"versions", {"v1"}},
            {"serverAddressByClientCIDRs",
             json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server->Address()}}})}};
  }

  json Group(std::string_view name) const {
    json versions = json::array();
    std::set<std::string> seen;
    for (const auto& e : entries) {
      if (e->def.group.empty() || e->def.group != name) continue;
      if (!seen.insert(e->def.version).second) continue;
      versions.push_back({{"groupVersion", GroupVersion(e->def)}, {"version", e->def.version}});
    }
    if (versions.empty()) return nullptr;
    return {{"kind", "APIGroup"},
            {"apiVersion", "v1"},
            {"name", name},
            {"versions", versions},
            {"preferredVersion", versions[0]}};
  }

  json GroupList() const {
    json groups = json::array();
    std::set<std::string> seen;
    for (const auto& e : entries) {
      if (e->def.group.empty() || !seen.insert(e->def.group).second) continue;
      json g = Group(e->def.group);
      g.erase("kind");
      g.erase("apiVersion");
      groups.push_back(std::move(g));
    }
    return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
  }

  json ResourceList(std::string_view group, std::string_view version) const {
    std::vector<json> resources;
    for (const auto& e : entries) {
      const KubeResource& r = e->def;
      if (r.group != group || r.version != version) continue;
      json main = {{"name", r.plural},
                   {"singularName", r.singular},
                   {"namespaced", r.namespaced},
                   {"kind", r.kind},
                   {"verbs", kVerbs}};
      if (!r.short_names.empty()) main["shortNames"] = r.short_names;
      if (!r.categories.empty()) main["categories"] = r.categories;
      resources.push_back(std::move(main));
      if (r.status_subresource) {
        resources.push_back({{"name", r.plural + "/status"},
                             {"singularName", ""},
                             {"namespaced", r.namespaced},
                             {"kind", r.kind},
                             {"verbs", kSubresourceVerbs}});
      }
      if (r.scale) {
        resources.push_back({{"name", r.plural + "/scale"},
                             {"singularName", ""},
                             {"namespaced", r.namespaced},
                             {"group", "autoscaling"},
                             {"version", "v1"},
                             {"kind", "Scale"},
                             {"verbs", kSubresourceVerbs}});
      }
    }
    std::sort(resources.begin(), resources.end(), [](const json& a, const json& b) {
      return a["name"].get<std::string>() < b["name"].get<std::string>();
    });
    json list = {{"kind", "APIResourceList"},
                 {"groupVersion",
                  group.empty() ? std::string(version) : fmt::format("{}/{}", group, version)},
                 {"resources", resources}};
    if (!group.empty()) list["apiVersion"] = "v1";
    return list;
  }

  // ---- resource requests (mu held) ----

  Answer ServeResource(const net::ServerRequest& req,
                       const std::shared_ptr<net::ServerReply>& reply, const std::string& group,
                       const std::string& version, std::vector<std::string> rest) {
    Target t;
    std::vector<std::string> tail;
    // In the core group "namespaces/<x>/<y>" is either a namespaced resource y in x or the
    // subresource y of namespace x; the resource table decides.
    auto namespaced_path = [&] {
      if (rest.size() < 3 || rest[0] != "namespaces") return false;
      if (!group.empty()) return true;
      Entry* e = FindEntry(group, version, rest[2]);
      return e != nullptr && e->def.namespaced;
    };
    if (namespaced_path()) {
      t.has_ns = true;
      t.ns = rest[1];
      tail.assign(rest.begin() + 2, rest.end());
    } else {
      tail = std::move(rest);
    }
    if (tail.size() > 3) return RouteNotFound();
    t.entry = FindEntry(group, version, tail[0]);
    if (t.entry == nullptr) return RouteNotFound();
    if (tail.size() > 1) t.name = tail[1];
    if (tail.size() > 2) t.sub = tail[2];
    const KubeResource& r = t.entry->def;
    if (t.has_ns && !r.namespaced) return RouteNotFound();
    if (!t.sub.empty() && !((t.sub == "status" && r.status_subresource) ||
                            (t.sub == "scale" && r.scale.has_value()))) {
      return RouteNotFound();
    }
    // A namespaced resource without a namespace in the path: only list and watch across all.
    const bool all_namespaces = r.namespaced && !t.has_ns;
    if (all_namespaces && !t.name.empty()) return RouteNotFound();

    const std::string& m = req.method;
    if (t.name.empty()) {
      if (m == "GET") {
        auto watch = req.query.find("watch");
        if (watch != req.query.end() && ParseBool(watch->second)) return StartWatch(t, req, reply);
        return List(t, req);
      }
      if (all_namespaces) return MethodNotAllowed();
      if (m == "POST") return Create(t, req);
      if (m == "DELETE") return DeleteCollection(t, req);
      return MethodNotAllowed();
    }
    if (m == "GET") {
      auto watch = req.query.find("watch");
      if (watch != req.query.end() && ParseBool(watch->second) && t.sub.empty()) {
        return StartWatch(t, req, reply);  // the deprecated watch of one named object
      }
      return Get(t);
    }
    if (m == "PUT") return Update(t, req);
    if (m == "PATCH") return Patch(t, req);
    if (m == "DELETE" && t.sub.empty()) return DeleteOne(t, req);
    return MethodNotAllowed();
  }

  Key KeyOf(const Target& t) const { return {t.entry->def.namespaced ? t.ns : "", t.name}; }

  bool TakeConflict(const Entry* e) {
    auto it = conflicts.find(e);
    if (it == conflicts.end() || it->second <= 0) return false;
    if (--it->second == 0) conflicts.erase(it);
    return true;
  }

  // Parses a request body that must be one JSON object. Only JSON is spoken: a protobuf (or
  // YAML, or form) body is 415, as a server without that serializer answers; no Content-Type
  // means JSON.
  static std::optional<Answer> ParseObject(const net::ServerRequest& req, json* out) {
    const std::string type = MediaType(req.Header("content-type"));
    if (!type.empty() && type != "application/json" && type != "*/*") {
      return UnsupportedMediaType("application/json");
    }
    const std::string& body = req.body;
    *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (out->is_discarded()) {
      return BadRequest(
          "the body of the request was in an unknown format: it is not valid JSON "
          "(couldn't get version/kind; json parse error)");
    }
    if (!out->is_object()) {
      return BadRequest("the body of the request must be a JSON object");
    }
    if (out->contains("metadata") && !(*out)["metadata"].is_object()) {
      return BadRequest("metadata must be an object");
    }
    return std::nullopt;
  }

  // Checks the apiVersion and kind a body states against the URL's resource, fills them when
  // missing (the real decoder defaults them from the URL).
  static std::optional<Answer> CheckTypeMeta(const KubeResource& r, json& obj,
                                             std::string_view name) {
    const json& av = Field(obj, "apiVersion");
    const json& kind = Field(obj, "kind");
    if (!av.is_null() && av != GroupVersion(r)) {
      return Invalid(r, name, "apiVersion", "FieldValueInvalid",
                     fmt::format("Invalid value: {}: must be {}", av.dump(), GroupVersion(r)));
    }
    if (!kind.is_null() && kind != r.kind) {
      return Invalid(r, name, "kind", "FieldValueInvalid",
                     fmt::format("Invalid value: {}: must be {}", kind.dump(), r.kind));
    }
    obj["apiVersion"] = GroupVersion(r);
    obj["kind"] = r.kind;
    return std::nullopt;
  }

  static std::optional<Answer> CheckNamespace(const Target& t, json& obj, std::string_view name) {
    const KubeResource& r = t.entry->def;
    json& m = Meta(obj);
    if (!r.namespaced) {
      m.erase("namespace");
      return std::nullopt;
    }
    const json& ns = Field(m, "namespace");
    if (!ns.is_null() && ns != "" && ns != t.ns) {
      return Invalid(r, name, "metadata.namespace", "FieldValueInvalid",
                     fmt::format("Invalid value: {}: does not match the namespace of the request "
                                 "({})",
                                 ns.dump(), t.ns));
    }
    m["namespace"] = t.ns;
    return std::nullopt;
  }

  Answer Get(const Target& t) {
    auto it = t.entry->objects.find(KeyOf(t));
    if (it == t.entry->objects.end()) return NotFound(t.entry->def, t.name);
    if (t.sub == "scale") return {200, ScaleOf(*t.entry, it->second)};
    return {200, it->second};
  }

  struct Filters {
    LabelSelector labels;
    FieldSelector fields;
  };

  std::optional<Answer> ParseFilters(const Target& t, const net::ServerRequest& req, Filters* f) {
    if (auto it = req.query.find("labelSelector"); it != req.query.end()) {
      auto sel = LabelSelector::Parse(it->second);
      if (!sel.has_value()) return BadRequest(sel.error().message());
      f->labels = std::move(*sel);
    }
    if (auto it = req.query.find("fieldSelector"); it != req.query.end()) {
      auto sel = FieldSelector::Parse(it->second, t.entry->def.field_selectors);
      if (!sel.has_value()) return BadRequest(sel.error().message());
      f->fields = std::move(*sel);
    }
    if (!t.name.empty()) {
      // The deprecated watch of one object is a watch with a name field selector.
      auto sel = FieldSelector::Parse(
          fmt::format("metadata.name={},{}", t.name,
                      req.query.count("fieldSelector") ? req.query.at("fieldSelector") : ""),
          t.entry->def.field_selectors);
      if (sel.has_value()) f->fields = std::move(*sel);
    }
    return std::nullopt;
  }

  bool Matches(const Target& t, const Filters& f, const Key& key, const json& obj) const {
    if (t.has_ns && key.first != t.ns) return false;
    return f.labels.Matches(At(obj, ".metadata.labels")) && f.fields.Matches(obj);
  }

  Answer List(const Target& t, const net::ServerRequest& req) {
    Filters f;
    if (auto bad = ParseFilters(t, req, &f)) return *bad;
    int64_t limit = 0;
    if (auto it = req.query.find("limit"); it != req.query.end() && !it->second.empty()) {
      if (!ParseInt64(it->second, &limit) || limit < 0) {
        return BadRequest(fmt::format("invalid limit: {}", it->second));
      }
    }
    std::optional<Key> after;
    if (auto it = req.query.find("continue"); it != req.query.end() && !it->second.empty()) {
      std::string raw;
      const size_t sep = HexDecode(it->second, &raw) ? raw.find('\0') : std::string::npos;
      if (sep == std::string::npos) return BadRequest("continue key is not valid");
      after = Key{raw.substr(0, sep), raw.substr(sep + 1)};
    }
    const KubeResource& r = t.entry->def;
    json items = json::array();
    json meta = {{"resourceVersion", std::to_string(rv)}};
    int64_t remaining = 0;
    std::optional<Key> last;
    auto begin = after ? t.entry->objects.upper_bound(*after) : t.entry->objects.begin();
    for (auto it = begin; it != t.entry->objects.end(); ++it) {
      if (!Matches(t, f, it->first, it->second)) continue;
      if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
        ++remaining;
        continue;
      }
      items.push_back(it->second);
      last = it->first;
    }
    if (remaining > 0 && last) {
      meta["continue"] = HexEncode(last->first + std::string(1, '\0') + last->second);
      meta["remainingItemCount"] = remaining;
    }
    return {200,
            {{"kind", r.list_kind},
             {"apiVersion", GroupVersion(r)},
             {"metadata", meta},
             {"items", items}}};
  }

  Answer Create(const Target& t, const net::ServerRequest& req) {
    const KubeResource& r = t.entry->def;
    if (!t.sub.empty()) return MethodNotAllowed();
    json obj;
    if (auto bad = ParseObject(req, &obj)) return *bad;
    json& m = Meta(obj);
    std::string name = StrField(m, "name");
    if (auto bad = CheckTypeMeta(r, obj, name)) return *bad;
    if (auto bad = CheckNamespace(t, obj, name)) return *bad;
    if (!StrField(m, "resourceVersion").empty()) {
      // What the real storage layer answers.
      return Error(500, "InternalError",
                   "Internal error occurred: resourceVersion should not be set on objects to be "
                   "created");
    }
    if (name.empty()) {
      const std::string prefix = StrField(m, "generateName");
      if (prefix.empty()) {
        return Invalid(r, "", "metadata.name", "FieldValueRequired",
                       "Required value: name or generateName is required");
      }
      name = prefix + RandomSuffix();
      m["name"] = name;
    }
    if (!IsDnsSubdomainName(name)) {
      return Invalid(r, name, "metadata.name", "FieldValueInvalid",
                     fmt::format("Invalid value: \"{}\": a lowercase RFC 1123 subdomain must "
                                 "consist of lower case alphanumeric characters, '-' or '.', and "
                                 "must start and end with an alphanumeric character",
                                 name));
    }
    const Key key{r.namespaced ? t.ns : "", name};
    if (t.entry->objects.count(key)) return AlreadyExists(r, name);
    m["uid"] = NewUid();
    m["creationTimestamp"] = Now();
    m["generation"] = 1;
    for (const char* drop :
         {"deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"}) {
      m.erase(drop);
    }
    if (r.status_subresource) obj.erase("status");
    if (r.group.empty() && r.plural == "namespaces") obj["status"] = {{"phase", "Active"}};
    if (r.group.empty() && r.plural == "pods" && !obj.contains("status")) {
      obj["status"] = {{"phase", "Pending"}};
    }
    return {201, Insert(*t.entry, std::move(obj))};
  }

  // Whether anything outside metadata and status differs: what bumps metadata.generation.
  static bool SpecChanged(const json& a, const json& b) {
    json x = a;
    json y = b;
    for (json* o : {&x, &y}) {
      o->erase("metadata");
      o->erase("status");
    }
    return x != y;
  }

  // What a write of `incoming` to `sub` of `old` leaves stored (before the no-op check): the
  // main resource keeps the stored status where there is a status subresource, /status takes
  // only .status; system metadata always stays as stored.
  static json MergeWrite(const KubeResource& r, const json& old, const json& incoming,
                         std::string_view sub) {
    json next;
    if (sub == "status") {
      next = old;
      if (incoming.contains("status")) {
        next["status"] = incoming["status"];
      } else {
        next.erase("status");
      }
    } else {
      next = incoming;
      if (r.status_subresource) {
        if (old.contains("status")) {
          next["status"] = old["status"];
        } else {
          next.erase("status");
        }
      }
      json& m = Meta(next);
      const json& om = Field(old, "metadata");
      for (const char* key :
           {"uid", "creationTimestamp", "name", "namespace", "generation", "resourceVersion",
            "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"}) {
        if (om.contains(key)) {
          m[key] = om.at(key);
        } else {
          m.erase(key);
        }
      }
      m.erase("selfLink");
      m.erase("managedFields");
      next["apiVersion"] = GroupVersion(r);
      next["kind"] = r.kind;
    }
    if (SpecChanged(old, next)) {
      Meta(next)["generation"] = IntAt(old, ".metadata.generation") + 1;
    }
    return next;
  }

  // The checks a written object (PUT body or patched object) must pass, then the write.
  Answer FinishWrite(const Target& t, const json& old, json next_body) {
    const KubeResource& r = t.entry->def;
    json& m = Meta(next_body);
    const std::string body_name = StrField(m, "name");
    if (body_name.empty()) m["name"] = t.name;
    if (!body_name.empty() && body_name != t.name) {
      return BadRequest(
          fmt::format("the name of the object ({}) does not match the name on the URL ({})",
                      body_name, t.name));
    }
    if (auto bad = CheckTypeMeta(r, next_body, t.name)) return *bad;
    if (auto bad = CheckNamespace(t, next_body, t.name)) return *bad;
    const std::string want_rv = StrField(m, "resourceVersion");
    if (!want_rv.empty() && want_rv != MetaStr(old, "resourceVersion")) {
      return Conflict(r, t.name, kModified);
    }
    json next = MergeWrite(r, old, next_body, t.sub);
    return {200, Write(*t.entry, KeyOf(t), std::move(next))};
  }

  Answer Update(const Target& t, const net::ServerRequest& req) {
    const KubeResource& r = t.entry->def;
    if (TakeConflict(t.entry)) return Conflict(r, t.name, kModified);
    json body;
    if (auto bad = ParseObject(req, &body)) return *bad;
    auto it = t.entry->objects.find(KeyOf(t));
    if (it == t.entry->objects.end()) return NotFound(r, t.name);
    if (t.sub == "scale") return WriteScale(t, it->second, body);
    return FinishWrite(t, it->second, std::move(body));
  }

  // Applies a patch document to `base`; the error is the answer.
  static std::optional<Answer> ApplyPatch(const std::string& type, const json& base,
                                          const std::string& body, json* out) {
    json patch = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (patch.is_discarded()) return BadRequest("the patch is not valid JSON");
    if (type == "application/json-patch+json") {
      if (!patch.is_array()) {
        return BadRequest("a JSON patch must be a list of operations");
      }
      try {
        *out = base.patch(patch);
      } catch (const json::exception& e) {
        // A failed operation or test is the real server's 422. The library's message starts
        // with its own "[json.exception.…] " tag, which says nothing to an API client.
        std::string_view what = e.what();
        if (size_t tag = what.find("] "); what.starts_with("[") && tag != what.npos) {
          what.remove_prefix(tag + 2);
        }
        return Error(422, "Invalid", fmt::format("the JSON patch could not be applied: {}", what));
      }
      return std::nullopt;
    }
    // RFC 7386: null deletes, objects merge recursively, everything else replaces.
    if (!patch.is_object()) return BadRequest("a merge patch must be a JSON object");
    *out = base;
    out->merge_patch(patch);
    return std::nullopt;
  }

  Answer Patch(const Target& t, const net::ServerRequest& req) {
    const KubeResource& r = t.entry->def;
    const std::string type = MediaType(req.Header("content-type"));
    const bool strategic = type == "application/strategic-merge-patch+json";
    if (type != "application/merge-patch+json" && type != "application/json-patch+json" &&
        !strategic) {
      return UnsupportedMediaType(kPatchTypes);
    }
    // Custom resources have no Go struct with patch strategies; Scale is a built-in type.
    if (strategic && r.custom && t.sub != "scale") return UnsupportedMediaType(kPatchTypes);
    if (TakeConflict(t.entry)) return Conflict(r, t.name, kModified);
    auto it = t.entry->objects.find(KeyOf(t));
    if (it == t.entry->objects.end()) return NotFound(r, t.name);
    const json& old = it->second;
    const json base = t.sub == "scale" ? ScaleOf(*t.entry, old) : old;
    json patched;
    if (auto bad = ApplyPatch(strategic ? "application/merge-patch+json" : type, base, req.body,
                              &patched)) {
      return *bad;
    }
    if (!patched.is_object()) return BadRequest("the patched object is not a JSON object");
    if (patched.contains("metadata") && !patched["metadata"].is_object()) {
      return BadRequest("metadata must be an object");
    }
    if (t.sub == "scale") return WriteScale(t, old, patched);
    return FinishWrite(t, old, std::move(patched));
  }

  // ---- scale (mu held) ----

  static json ScaleOf(const Entry& e, const json& obj) {
    const KubeScalePaths& p = *e.def.scale;
    json meta = {{"name", MetaStr(obj, "name")},
                 {"uid", MetaStr(obj, "uid")},
                 {"resourceVersion", MetaStr(obj, "resourceVersion")},
                 {"creationTimestamp", MetaStr(obj, "creationTimestamp")}};
    if (e.def.namespaced) meta["namespace"] = MetaStr(obj, "namespace");
    json spec = json::object();
    // Scale's spec.replicas is omitempty on the wire: 0 is left out.
    if (int64_t n = IntAt(obj, p.spec_replicas_path); n != 0) spec["replicas"] = n;
    json status = {{"replicas", IntAt(obj, p.status_replicas_path)}};
    if (!p.label_selector_path.empty()) {
      const json& sel = At(obj, p.label_selector_path);
      std::string text;
      if (sel.is_string()) {
        text = sel.get<std::string>();
      } else if (sel.is_object()) {
        if (auto parsed = LabelSelector::FromJson(sel)) text = parsed->ToString();
      }
      if (!text.empty()) status["selector"] = text;
    }
    return {{"kind", "Scale"},
            {"apiVersion", "autoscaling/v1"},
            {"metadata", meta},
            {"spec", spec},
            {"status", status}};
  }

  Answer WriteScale(const Target& t, const json& old, const json& scale) {
    const KubeResource& r = t.entry->def;
    const json& av = Field(scale, "apiVersion");
    const json& kind = Field(scale, "kind");
    if ((!av.is_null() && av != "autoscaling/v1") || (!kind.is_null() && kind != "Scale")) {
      return BadRequest(fmt::format("the body must be an autoscaling/v1 Scale, not {} {}",
                                    av.dump(), kind.dump()));
    }
    const std::string body_name = MetaStr(scale, "name");
    if (!body_name.empty() && body_name != t.name) {
      return BadRequest(
          fmt::format("the name of the object ({}) does not match the name on the URL ({})",
                      body_name, t.name));
    }
    const std::string want_rv = MetaStr(scale, "resourceVersion");
    if (!want_rv.empty() && want_rv != MetaStr(old, "resourceVersion")) {
      return Conflict(r, t.name, kModified);
    }
    const json& replicas = At(scale, ".spec.replicas");
    if (!replicas.is_null() && (!replicas.is_number_integer() || replicas.get<int64_t>() < 0)) {
      return Error(422, "Invalid",
                   fmt::format("Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid "
                               "value: {}: must be greater than or equal to 0",
                               t.name, replicas.dump()),
                   {{"name", t.name}, {"group", "autoscaling"}, {"kind", "Scale"}});
    }
    json next = old;
    SetAt(next, r.scale->spec_replicas_path, replicas.is_null() ? 0 : replicas.get<int64_t>());
    if (SpecChanged(old, next)) {
      Meta(next)["generation"] = IntAt(old, ".metadata.generation") + 1;
    }
    json stored = Write(*t.entry, KeyOf(t), std::move(next));
    return {200, ScaleOf(*t.entry, stored)};
  }

  // ---- delete (mu held) ----

  std::optional<Answer> ParseDeleteOptions(const net::ServerRequest& req, json* options_out,
                                           Propagation* p) {
    json opts = json::object();
    if (!req.body.empty()) {
      opts = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (opts.is_discarded() || !opts.is_object()) {
        return BadRequest("the body of a delete must be a DeleteOptions object");
      }
    }
    std::string policy = StrField(opts, "propagationPolicy");
    if (auto it = req.query.find("propagationPolicy"); it != req.query.end()) policy = it->second;
    if (Field(opts, "orphanDependents") == json(true)) policy = "Orphan";
    if (policy.empty() || policy == "Background") {
      *p = Propagation::kBackground;
    } else if (policy == "Foreground") {
      *p = Propagation::kForeground;
    } else if (policy == "Orphan") {
      *p = Propagation::kOrphan;
    } else {
      return Error(422, "Invalid",
                   fmt::format("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: "
                               "Unsupported value: \"{}\": supported values: \"Foreground\", "
                               "\"Background\", \"Orphan\"",
                               policy));
    }
    *options_out = std::move(opts);
    return std::nullopt;
  }

  Answer DeleteOne(const Target& t, const net::ServerRequest& req) {
    const KubeResource& r = t.entry->def;
    json opts;
    Propagation p;
    if (auto bad = ParseDeleteOptions(req, &opts, &p)) return *bad;
    auto it = t.entry->objects.find(KeyOf(t));
    if (it == t.entry->objects.end()) return NotFound(r, t.name);
    const json& pre = Field(opts, "preconditions");
    const std::string want_uid = StrField(pre, "uid");
    const std::string have_uid = MetaStr(it->second, "uid");
    if (!want_uid.empty() && want_uid != have_uid) {
      return Conflict(r, t.name,
                      fmt::format("Precondition failed: UID in precondition: {}, UID in object "
                                  "meta: {}",
                                  want_uid, have_uid));
    }
    const std::string want_rv = StrField(pre, "resourceVersion");
    const std::string have_rv = MetaStr(it->second, "resourceVersion");
    if (!want_rv.empty() && want_rv != have_rv) {
      return Conflict(r, t.name,
                      fmt::format("Precondition failed: ResourceVersion in precondition: {}, "
                                  "ResourceVersion in object meta: {}",
                                  want_rv, have_rv));
    }
    bool gone = false;
    json result = Delete(*t.entry, KeyOf(t), p, &gone);
    // 202 Accepted: the object stays until its finalizers are removed.
    return {gone ? 200 : 202, std::move(result)};
  }

  Answer DeleteCollection(const Target& t, const net::ServerRequest& req) {
    json opts;
    Propagation p;
    if (auto bad = ParseDeleteOptions(req, &opts, &p)) return *bad;
    Filters f;
    if (auto bad = ParseFilters(t, req, &f)) return *bad;
    std::vector<Key> keys;
    for (const auto& [key, obj] : t.entry->objects) {
      if (Matches(t, f, key, obj)) keys.push_back(key);
    }
    json items = json::array();
    for (const Key& key : keys) {
      if (!t.entry->objects.count(key)) continue;
      bool gone = false;
      items.push_back(Delete(*t.entry, key, p, &gone));
    }
    const KubeResource& r = t.entry->def;
    return {200,
            {{"kind", r.list_kind},
             {"apiVersion", GroupVersion(r)},
             {"metadata", {{"resourceVersion", std::to_string(rv)}}},
             {"items", items}}};
  }

  // ---- watch (mu held) ----

  Answer StartWatch(const Target& t, const net::ServerRequest& req,
                    const std::shared_ptr<net::ServerReply>& reply) {
    Filters f;
    if (auto bad = ParseFilters(t, req, &f)) return *bad;
    const std::string from =
        req.query.count("resourceVersion") ? req.query.at("resourceVersion") : "";
    int64_t after = 0;
    const bool initial_list = from.empty() || from == "0";
    if (!initial_list && (!ParseInt64(from, &after) || after < 0)) {
      return BadRequest(fmt::format("invalid resource version: {}", from));
    }
    std::optional<SteadyTime> deadline;
    if (auto it = req.query.find("timeoutSeconds"); it != req.query.end() && !it->second.empty()) {
      int64_t secs = 0;
      if (!ParseInt64(it->second, &secs) || secs < 0) {
        return BadRequest(fmt::format("invalid timeoutSeconds: {}", it->second));
      }
      if (secs > 0) deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    }
    const bool send_initial =
        req.query.count("sendInitialEvents") && ParseBool(req.query.at("sendInitialEvents"));
    Watch w;
    w.entry = t.entry;
    w.ns = t.has_ns ? t.ns : "";
    w.labels = std::move(f.labels);
    w.fields = std::move(f.fields);
    w.bookmarks =
        req.query.count("allowWatchBookmarks") && ParseBool(req.query.at("allowWatchBookmarks"));
    w.deadline = deadline;
    w.next_bookmark = std::chrono::steady_clock::now() + BookmarkInterval();
    w.stream = reply->Stream(200, "application/json");
    if (!initial_list && !send_initial && after < compacted) {
      json status = StatusObject(
          410, "Expired", fmt::format("too old resource version: {} ({})", after, compacted));
      WriteEvent(w, "ERROR", status);
      w.stream->End();
      return {200, nullptr, true};
    }
    if (initial_list || send_initial) {
      w.after = rv;
      for (const auto& [key, obj] : t.entry->objects) {
        if (Selected(w, obj) && !WriteEvent(w, "ADDED", obj)) return {200, nullptr, true};
      }
      if (send_initial) WriteEvent(w, "BOOKMARK", Bookmark(*t.entry, true));
    } else {
      w.after = after;
      for (const Event& ev : history) {
        if (!Deliver(w, ev)) return {200, nullptr, true};
      }
      w.after = std::max(after, rv);
    }
    watches.push_back(std::move(w));
    wake_ticker.notify_all();
    return {200, nullptr, true};
  }

  Duration BookmarkInterval() const {
    return std::max<Duration>(options.bookmark_interval, std::chrono::milliseconds(1));
  }

  // Ends timed-out watches, sends bookmarks and forgets closed streams.
  void RunTicker() {
    std::unique_lock lock(mu);
    while (!stopping) {
      const SteadyTime now = std::chrono::steady_clock::now();
      SteadyTime next = now + std::chrono::seconds(1);
      for (auto it = watches.begin(); it != watches.end();) {
        Watch& w = *it;
        if (!w.stream->Open()) {
          it = watches.erase(it);
          continue;
        }
        if (w.deadline && *w.deadline <= now) {
          w.stream->End();
          it = watches.erase(it);
          continue;
        }
        if (w.bookmarks && w.next_bookmark <= now) {
          if (!WriteEvent(w, "BOOKMARK", Bookmark(*w.entry, false))) {
            it = watches.erase(it);
            continue;
          }
          w.next_bookmark = now + BookmarkInterval();
        }
        if (w.deadline) next = std::min(next, *w.deadline);
        if (w.bookmarks) next = std::min(next, w.next_bookmark);
        ++it;
      }
      wake_ticker.wait_until(lock, next);
    }
  }

  // ---- control (each locks mu itself) ----

  int DropWatches() {
    std::lock_guard lock(mu);
    int n = 0;
    // One piece larger than the stream buffer makes the server drop the connection at once,
    // without the final chunk: what a client sees when an API server goes away.
    const std::string too_big(watches.empty() ? 0 : kMaxStreamBuffer + 1, ' ');
    for (Watch& w : watches) {
      if (w.stream->Open()) ++n;
      w.stream->Write(too_big);
    }
    watches.clear();
    return n;
  }

  void Compact() {
    std::lock_guard lock(mu);
    compacted = rv;
    history.clear();
  }

  Status InjectConflicts(std::string_view resource, int count) {
    std::lock_guard lock(mu);
    Entry* e = Resolve(resource);
    if (e == nullptr) return NotFoundError(fmt::format("unknown resource: {}", resource));
    conflicts[e] += count;
    return OkStatus();
  }

  void InjectFailures(int count, int status, std::string body, std::string content_type) {
    std::lock_guard lock(mu);
    failures = count;
    failure_status = status;
    failure_body = std::move(body);
    failure_type = std::move(content_type);
  }

  StatusOr<std::vector<json>> Objects(std::string_view resource, std::string_view ns) {
    std::lock_guard lock(mu);
    Entry* e = Resolve(resource);
    if (e == nullptr) return Fail(NotFoundError(fmt::format("unknown resource: {}", resource)));
    std::vector<json> out;
    for (const auto& [key, obj] : e->objects) {
      if (ns.empty() || key.first == ns) out.push_back(obj);
    }
    return out;
  }

  StatusOr<json> Put(json object) {
    std::lock_guard lock(mu);
    if (!object.is_object()) return Fail(InvalidArgumentError("the object must be a JSON object"));
    Entry* e = FindByKind(StrField(object, "apiVersion"), StrField(object, "kind"));
    if (e == nullptr) {
      return Fail(InvalidArgumentError(fmt::format("no resource for apiVersion {} kind {}",
                                                   StrField(object, "apiVersion"),
                                                   StrField(object, "kind"))));
    }
    json& m = Meta(object);
    if (StrField(m, "name").empty()) return Fail(InvalidArgumentError("the object has no name"));
    if (!e->def.namespaced) {
      m.erase("namespace");
    } else if (StrField(m, "namespace").empty()) {
      m["namespace"] = "default";
    }
    if (StrField(m, "uid").empty()) m["uid"] = NewUid();
    if (StrField(m, "creationTimestamp").empty()) m["creationTimestamp"] = Now();
    if (!m.contains("generation")) m["generation"] = 1;
    const Key key{StrField(m, "namespace"), StrField(m, "name")};
    json stored =
        e->objects.count(key) ? Replace(*e, key, std::move(object)) : Insert(*e, std::move(object));
    RunControllers();
    return stored;
  }

  // Sets the Ready condition of the pods `pick` chooses to `ready`. mu held.
  void SetPodsReady(const std::function<bool(const json&)>& pick, bool ready) {
    Entry* pods = FindEntry("", "v1", "pods");
    if (pods == nullptr) return;
    std::vector<Key> keys;
    for (const auto& [key, pod] : pods->objects) {
      if (pick(pod) && IsReady(pod) != ready) keys.push_back(key);
    }
    for (const Key& key : keys) {
      json next = pods->objects.at(key);
      SetReadyCondition(next, ready, Now());
      Write(*pods, key, std::move(next));
    }
    RunControllers();
  }

  Status HoldPodsNotReady(std::string_view text) {
    auto sel = LabelSelector::Parse(text);
    if (!sel.has_value()) return sel.error();
    std::lock_guard lock(mu);
    holds.push_back({std::string(text), *sel});
    SetPodsReady([&](const json& pod) { return sel->Matches(At(pod, ".metadata.labels")); }, false);
    return OkStatus();
  }

  Status ReleasePods(std::string_view text) {
    std::lock_guard lock(mu);
    std::vector<LabelSelector> released;
    for (auto it = holds.begin(); it != holds.end();) {
      if (it->text == text) {
        released.push_back(it->selector);
        it = holds.erase(it);
      } else {
        ++it;
      }
    }
    SetPodsReady(
        [&](const json& pod) {
          const json& labels = At(pod, ".metadata.labels");
          return !Held(labels) &&
                 std::any_of(released.begin(), released.end(),
                             [&](const LabelSelector& s) { return s.Matches(labels); });
        },
        true);
    return OkStatus();
  }

  Status SetPodReady(std::string_view ns, std::string_view name, bool ready) {
    std::lock_guard lock(mu);
    Entry* pods = FindEntry("", "v1", "pods");
    if (pods == nullptr || !pods->objects.count({std::string(ns), std::string(name)})) {
      return NotFoundError(fmt::format("pod {}/{} not found", ns, name));
    }
    SetPodsReady(
        [&](const json& pod) {
          return MetaStr(pod, "namespace") == ns && MetaStr(pod, "name") == name;
        },
        ready);
    return OkStatus();
  }

  int OpenWatches() const {
    std::lock_guard lock(mu);
    int open = 0;
    for (const Watch& w : watches) open += w.stream->Open() ? 1 : 0;
    return open;
  }

  net::ServerResponse HandleControl(const net::ServerRequest& req);
};

// ---- the control API over HTTP --------------------------------------------------------------
//
//   POST   /fake/drop-watches                          DropWatches
//   POST   /fake/compact                               Compact
//   POST   /fake/inject-conflicts?resource=R&count=N   InjectConflicts
//   POST   /fake/inject?status=S&count=N[&content_type=T], body = the answer's body
//   GET    /fake/requests                              {"requests": [records]}
//   DELETE /fake/requests                              ClearRequests
//   GET    /fake/objects?resource=R[&namespace=NS]     {"items": [...]}
//   POST   /fake/objects, body = an object             Put
//   POST   /fake/hold-pods?selector=S                  HoldPodsNotReady
//   POST   /fake/release-pods?selector=S               ReleasePods
//   POST   /fake/pod-ready?namespace=NS&name=N&ready=true|false   SetPodReady
//   GET    /fake/watches                               {"open": n, "resourceVersion": "rv"}

net::ServerResponse KubeApiServerFake::Impl::HandleControl(const net::ServerRequest& req) {
  auto param = [&](const std::string& k) {
    auto it = req.query.find(k);
    return it == req.query.end() ? std::string() : it->second;
  };
  auto ok = [](const json& j) {
    return net::ServerResponse{200, "application/json", {}, j.dump()};
  };
  auto answer = [&](const Status& s) {
    if (s.ok()) return ok(json::object());
    const bool missing = s.code() == StatusCode::kNotFound;
    return ToResponse(Error(missing ? 404 : 400, missing ? "NotFound" : "BadRequest", s.message()));
  };
  int64_t count = 1;
  if (!param("count").empty() && !ParseInt64(param("count"), &count)) {
    return answer(InvalidArgumentError("count must be an integer"));
  }
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/fake/drop-watches" && m == "POST") return ok({{"dropped", DropWatches()}});
  if (p == "/fake/compact" && m == "POST") {
    Compact();
    return ok(json::object());
  }
  if (p == "/fake/inject-conflicts" && m == "POST") {
    return answer(InjectConflicts(param("resource"), static_cast<int>(count)));
  }
  if (p == "/fake/inject" && m == "POST") {
    int64_t status = 500;
    if (!param("status").empty() &&
        (!ParseInt64(param("status"), &status) || status < 200 || status > 599)) {
      return answer(InvalidArgumentError("status must be an HTTP status code in 200..599"));
    }
    const std::string type =
        param("content_type").empty() ? "application/json" : param("content_type");
    InjectFailures(static_cast<int>(count), static_cast<int>(status), req.body, type);
    return ok(json::object());
  }
  if (p == "/fake/requests" && m == "DELETE") {
    std::lock_guard lock(mu);
    log.clear();
    return ok(json::object());
  }
  if (p == "/fake/requests" && m == "GET") {
    std::lock_guard lock(mu);
    json out = json::array();
    for (const KubeRequestRecord& r : log) {
      out.push_back({{"method", r.method},
                     {"path", r.path},
                     {"query", r.query},
                     {"contentType", r.content_type},
                     {"body", r.body},
                     {"headers", r.headers}});
    }
    return ok({{"requests", out}});
  }
  if (p == "/fake/objects" && m == "GET") {
    auto items = Objects(param("resource"), param("namespace"));
    if (!items.has_value()) return answer(items.error());
    return ok({{"items", *items}});
  }
  if (p == "/fake/objects" && m == "POST") {
    json obj = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) return answer(InvalidArgumentError("the body is not JSON"));
    auto stored = Put(std::move(obj));
    if (!stored.has_value()) return answer(stored.error());
    return ok(*stored);
  }
  if (p == "/fake/hold-pods" && m == "POST") return answer(HoldPodsNotReady(param("selector")));
  if (p == "/fake/release-pods" && m == "POST") return answer(ReleasePods(param("selector")));
  if (p == "/fake/pod-ready" && m == "POST") {
    return answer(SetPodReady(param("namespace"), param("name"),
                              param("ready").empty() || ParseBool(param("ready"))));
  }
  if (p == "/fake/watches" && m == "GET") {
    const int open = OpenWatches();
    std::lock_guard lock(mu);
    return ok({{"open", open}, {"resourceVersion", std::to_string(rv)}});
  }
  return ToResponse(RouteNotFound());
}

// ---- the built-in resource table -------------------------------------------------------------

std::vector<KubeResource> KubeApiServerFake::BuiltinResources() {
  std::vector<KubeResource> all;
  all.reserve(64);  // `add` hands out references that must stay valid
  auto add = [&](KubeResource r) -> KubeResource& {
    Complete(r);
    all.push_back(std::move(r));
    return all.back();
  };
  // core/v1
  {
    KubeResource& ns = add(Res("", "v1", "Namespace", "namespaces", false, {"ns"}));
    ns.status_subresource = true;
    ns.field_selectors = {"status.phase"};
    KubeResource& pods = add(Res("", "v1", "Pod", "pods", true, {"po"}));
    pods.status_subresource = true;
    pods.categories = {"all"};
    pods.field_selectors = {"spec.nodeName",           "spec.restartPolicy", "spec.schedulerName",
                            "spec.serviceAccountName", "status.phase",       "status.podIP",
                            "status.nominatedNodeName"};
    KubeResource& svc = add(Res("", "v1", "Service", "services", true, {"svc"}));
    svc.status_subresource = true;
    svc.categories = {"all"};
    add(Res("", "v1", "ConfigMap", "configmaps", true, {"cm"}));
    add(Res("", "v1", "Secret", "secrets", true)).field_selectors = {"type"};
    add(Res("", "v1", "Event", "events", true, {"ev"})).field_selectors = {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type"};
    add(Res("", "v1", "ServiceAccount", "serviceaccounts", true, {"sa"}));
    add(Res("", "v1", "Endpoints", "endpoints", true, {"ep"})).list_kind = "EndpointsList";
  }
  // apps/v1
  {
    KubeResource& rs = add(Res("apps", "v1", "ReplicaSet", "replicasets", true, {"rs"}));
    rs.status_subresource = true;
    rs.scale = KubeScalePaths{".spec.replicas", ".status.replicas", ".spec.selector"};
    rs.categories = {"all"};
    rs.field_selectors = {"status.replicas"};
    KubeResource& deploy = add(Res("apps", "v1", "Deployment", "deployments", true, {"deploy"}));
    deploy.status_subresource = true;
    deploy.scale = KubeScalePaths{".spec.replicas", ".status.replicas", ".spec.selector"};
    deploy.categories = {"all"};
  }
  {
    KubeResource& job = add(Res("batch", "v1", "Job", "jobs", true));
    job.status_subresource = true;
    job.categories = {"all"};
    add(Res("coordination.k8s.io", "v1", "Lease", "leases", true));
    add(Res("events.k8s.io", "v1", "Event", "events", true, {"ev"}));
    add(Res("networking.k8s.io", "v1", "Ingress", "ingresses", true, {"ing"})).status_subresource =
        true;
  }
  // Argo Rollouts' CRDs.
  {
    KubeResource& ro = add(Res("argoproj.io", "v1alpha1", "Rollout", "rollouts", true, {"ro"}));
    ro.status_subresource = true;
    ro.scale = KubeScalePaths{".spec.replicas", ".status.HPAReplicas", ".status.selector"};
    ro.categories = {"all"};
    add(Res("argoproj.io", "v1alpha1", "AnalysisRun", "analysisruns", true, {"ar"}))
        .status_subresource = true;
    add(Res("argoproj.io", "v1alpha1", "AnalysisTemplate", "analysistemplates", true, {"at"}));
    add(Res("argoproj.io", "v1alpha1", "ClusterAnalysisTemplate", "clusteranalysistemplates", false,
            {"cat"}));
    add(Res("argoproj.io", "v1alpha1", "Experiment", "experiments", true, {"exp"}))
        .status_subresource = true;
  }
  // The traffic providers' CRDs.
  add(Res("networking.istio.io", "v1alpha3", "VirtualService", "virtualservices", true, {"vs"}));
  add(Res("networking.istio.io", "v1alpha3", "DestinationRule", "destinationrules", true, {"dr"}));
  add(Res("split.smi-spec.io", "v1alpha1", "TrafficSplit", "trafficsplits", true, {"ts"}));
  add(Res("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", true)).status_subresource =
      true;
  add(Res("traefik.io", "v1alpha1", "TraefikService", "traefikservices", true));
  add(Res("getambassador.io", "v2", "Mapping", "mappings", true));
  add(Res("apisix.apache.org", "v2", "ApisixRoute", "apisixroutes", true)).status_subresource =
      true;
  for (KubeResource& r : all) {
    // Everything outside the Kubernetes API groups is a CRD.
    static const std::set<std::string> kBuiltinGroups = {
        "", "apps", "batch", "coordination.k8s.io", "events.k8s.io", "networking.k8s.io"};
    r.custom = !kBuiltinGroups.count(r.group);
  }
  return all;
}

// ---- the public face -------------------------------------------------------------------------

KubeApiServerFake::KubeApiServerFake(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KubeApiServerFake::~KubeApiServerFake() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake_ticker.notify_all();
  if (impl_->ticker.joinable()) impl_->ticker.join();
  impl_->server->Stop();
}

StatusOr<std::unique_ptr<KubeApiServerFake>> KubeApiServerFake::Start(KubeFakeOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  if (impl->options.clock == nullptr) impl->own_clock = NewSystemClock();
  impl->clock = impl->options.clock != nullptr ? impl->options.clock : impl->own_clock.get();
  for (KubeResource& r : BuiltinResources()) {
    impl->entries.push_back(std::make_unique<Entry>(Entry{std::move(r), {}}));
  }
  net::HttpServerOptions http;
  http.address = impl->options.address;
  http.tls_cert_file = impl->options.tls_cert_file;
  http.tls_key_file = impl->options.tls_key_file;
  http.threads = std::max(1, impl->options.threads);
  http.max_body_bytes = kMaxBody;
  http.max_stream_buffer_bytes = kMaxStreamBuffer;
  // Watches idle for long stretches; keep-alive connections too (kubectl reuses them).
  http.idle_timeout = std::chrono::minutes(10);
  Impl* raw = impl.get();
  ASSIGN_OR_RETURN(impl->server,
                   net::HttpServer::Start(http, [raw](net::ServerRequest req,
                                                      std::shared_ptr<net::ServerReply> reply) {
                     raw->Handle(std::move(req), reply);
                   }));
  const bool tls = !impl->options.tls_cert_file.empty() && !impl->options.tls_key_file.empty();
  impl->url = fmt::format("{}://{}", tls ? "https" : "http", impl->server->Address());
  impl->ticker = std::thread([raw] { raw->RunTicker(); });
  return std::unique_ptr<KubeApiServerFake>(new KubeApiServerFake(std::move(impl)));
}

std::string KubeApiServerFake::Url() const { return impl_->url; }
uint16_t KubeApiServerFake::Port() const { return impl_->server->Port(); }

Status KubeApiServerFake::RegisterResource(KubeResource resource) {
  if (resource.version.empty() || resource.kind.empty() || resource.plural.empty()) {
    return InvalidArgumentError("a resource needs a version, a kind and a plural");
  }
  Complete(resource);
  std::lock_guard lock(impl_->mu);
  for (const auto& e : impl_->entries) {
    if (e->def.group == resource.group && e->def.plural == resource.plural) {
      return AlreadyExistsError(
          fmt::format("resource {} is already registered", QualifiedResource(resource)));
    }
  }
  impl_->entries.push_back(std::make_unique<Entry>(Entry{std::move(resource), {}}));
  return OkStatus();
}

int KubeApiServerFake::DropWatches() { return impl_->DropWatches(); }

void KubeApiServerFake::Compact() { impl_->Compact(); }

Status KubeApiServerFake::InjectConflicts(std::string_view resource, int count) {
  return impl_->InjectConflicts(resource, count);
}

void KubeApiServerFake::InjectFailures(int count, int http_status, std::string body,
                                       std::string content_type) {
  impl_->InjectFailures(count, http_status, std::move(body), std::move(content_type));
}

std::vector<KubeRequestRecord> KubeApiServerFake::Requests() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->log.begin(), impl_->log.end()};
}

void KubeApiServerFake::ClearRequests() {
  std::lock_guard lock(impl_->mu);
  impl_->log.clear();
}

StatusOr<std::vector<nlohmann::json>> KubeApiServerFake::Objects(std::string_view resource,
                                                                 std::string_view ns) const {
  return impl_->Objects(resource, ns);
}

std::optional<nlohmann::json> KubeApiServerFake::Object(std::string_view resource,
                                                        std::string_view ns,
                                                        std::string_view name) const {
  std::lock_guard lock(impl_->mu);
  Entry* e = impl_->Resolve(resource);
  if (e == nullptr) return std::nullopt;
  auto it = e->objects.find({e->def.namespaced ? std::string(ns) : "", std::string(name)});
  if (it == e->objects.end()) return std::nullopt;
  return it->second;
}

StatusOr<nlohmann::json> KubeApiServerFake::Put(nlohmann::json object) {
  return impl_->Put(std::move(object));
}

Status KubeApiServerFake::HoldPodsNotReady(std::string_view label_selector) {
  return impl_->HoldPodsNotReady(label_selector);
}

Status KubeApiServerFake::ReleasePods(std::string_view label_selector) {
  return impl_->ReleasePods(label_selector);
}

Status KubeApiServerFake::SetPodReady(std::string_view ns, std::string_view name, bool ready) {
  return impl_->SetPodReady(ns, name, ready);
}

int64_t KubeApiServerFake::CurrentResourceVersion() const {
  std::lock_guard lock(impl_->mu);
  return impl_->rv;
}

int KubeApiServerFake::OpenWatches() const { return impl_->OpenWatches(); }

}  // namespace ramp::fakes
