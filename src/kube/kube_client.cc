#include "kube/kube_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include <fmt/format.h>

namespace ramp::kube {

using json = nlohmann::json;

std::string Resource::ApiVersion() const { return group.empty() ? version : group + "/" + version; }

std::string Resource::GroupResource() const {
  return group.empty() ? plural : plural + "." + group;
}

#define RAMP_KUBE_RESOURCE(fn, g, v, p, k, ns)               \
  const Resource& fn() {                                     \
    static const Resource* r = new Resource{g, v, p, k, ns}; \
    return *r;                                               \
  }
RAMP_KUBE_RESOURCE(Rollouts, "argoproj.io", "v1alpha1", "rollouts", "Rollout", true)
RAMP_KUBE_RESOURCE(AnalysisRuns, "argoproj.io", "v1alpha1", "analysisruns", "AnalysisRun", true)
RAMP_KUBE_RESOURCE(AnalysisTemplates, "argoproj.io", "v1alpha1", "analysistemplates",
                   "AnalysisTemplate", true)
RAMP_KUBE_RESOURCE(ClusterAnalysisTemplates, "argoproj.io", "v1alpha1", "clusteranalysistemplates",
                   "ClusterAnalysisTemplate", false)
RAMP_KUBE_RESOURCE(ReplicaSets, "apps", "v1", "replicasets", "ReplicaSet", true)
RAMP_KUBE_RESOURCE(Deployments, "apps", "v1", "deployments", "Deployment", true)
RAMP_KUBE_RESOURCE(Pods, "", "v1", "pods", "Pod", true)
RAMP_KUBE_RESOURCE(Services, "", "v1", "services", "Service", true)
RAMP_KUBE_RESOURCE(ConfigMaps, "", "v1", "configmaps", "ConfigMap", true)
RAMP_KUBE_RESOURCE(Events, "", "v1", "events", "Event", true)
RAMP_KUBE_RESOURCE(Jobs, "batch", "v1", "jobs", "Job", true)
RAMP_KUBE_RESOURCE(Leases, "coordination.k8s.io", "v1", "leases", "Lease", true)
#undef RAMP_KUBE_RESOURCE

namespace {

// Percent-encodes a query value (RFC 3986 unreserved characters stay).
std::string QueryEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string_view ReasonPhrase(int code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

bool Retryable(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

std::string_view ContentType(PatchType t) {
  switch (t) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

// A token bucket (client-go's flowcontrol): `qps` tokens a second up to `burst`.
class RateLimiter {
 public:
  RateLimiter(double qps, int burst, const Clock* clock)
      : qps_(qps), burst_(std::max(1, burst)), tokens_(burst_), clock_(clock) {}

  // How long the caller must wait before its request may go (0 = now); takes the token.
  Duration Reserve() {
    if (qps_ <= 0) return Duration(0);
    std::lock_guard<std::mutex> lock(mu_);
    const Time now = clock_->Now();
    if (last_ != Time{}) {
      const double elapsed = std::chrono::duration<double>(now - last_).count();
      if (elapsed > 0) tokens_ = std::min<double>(burst_, tokens_ + elapsed * qps_);
    }
    last_ = now;
    tokens_ -= 1;
    if (tokens_ >= 0) return Duration(0);
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / qps_));
  }

 private:
  const double qps_;
  const int burst_;
  std::mutex mu_;
  double tokens_;
  Time last_{};
  const Clock* clock_;
};

class ClientImpl;

// A watch in progress: splits the stream into lines and decodes each event. Shared by the
// HTTP stream's handlers (which keep it alive while they run) and the caller's handle.
class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  WatchStream(std::function<void(const WatchEvent&)> on_event, StatusCallback done,
              std::string where)
      : on_event_(std::move(on_event)), done_(std::move(done)), where_(std::move(where)) {}

  void Start(HttpClient* http, HttpRequest request) {
    auto self = shared_from_this();
    auto handle =
        http->Stream(std::move(request),
                     HttpStreamHandlers{[self](const HttpResponse& head) { self->OnHead(head); },
                                        [self](std::string_view data) { self->OnData(data); }},
                     [self](Status s) { self->Finish(std::move(s)); });
    std::unique_ptr<Subscription> drop;
    {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      if (stopped_ || ended_) {
        drop = std::move(handle);
      } else {
        http_ = std::move(handle);
      }
    }
  }

  // No callback runs after this returns (unless called from inside one, which then returns
  // without calling anything more).
  void Stop() {
    std::unique_ptr<Subscription> http;
    {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      stopped_ = true;
      http = std::move(http_);
    }
    http.reset();
  }

 private:
  void OnHead(const HttpResponse& head) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    status_code_ = head.status;
  }

  void OnData(std::string_view data) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (stopped_ || ended_) return;
    if (status_code_ < 200 || status_code_ > 299) {
      if (error_body_.size() < 64 * 1024) error_body_.append(data.substr(0, 64 * 1024));
      return;
    }
    buffer_.append(data);
    size_t start = 0;
    for (;;) {
      size_t nl = buffer_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string line = buffer_.substr(start, nl - start);
      start = nl + 1;
      if (!Line(line)) return;
    }
    buffer_.erase(0, start);
    if (buffer_.size() > (size_t{64} << 20)) {
      End(UnavailableError(where_ + ": a watch event over 64 MiB"));
    }
  }

  // Handles one line; false once the watch ended or was stopped.
  bool Line(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) return true;
    json event = json::parse(line, nullptr, false);
    if (!event.is_object() || !event.contains("type") || !event["type"].is_string() ||
        !event.contains("object") || !event["object"].is_object()) {
      End(UnavailableError(where_ + ": garbage from the API server in a watch stream: " +
                           std::string(line.substr(0, 200))));
      return false;
    }
    const std::string type = event["type"].get<std::string>();
    WatchEvent e;
    if (type == "ADDED") {
      e.type = WatchEvent::Type::kAdded;
    } else if (type == "MODIFIED") {
      e.type = WatchEvent::Type::kModified;
    } else if (type == "DELETED") {
      e.type = WatchEvent::Type::kDeleted;
    } else if (type == "BOOKMARK") {
      e.type = WatchEvent::Type::kBookmark;
    } else if (type == "ERROR") {
      const json& o = event["object"];
      const int code = o.is_object() && o.contains("code") && o["code"].is_number_integer()
                           ? o["code"].get<int>()
                           : 500;
      End(StatusFromResponse("WATCH", where_, code, o.dump()));
      return false;
    } else {
      End(UnavailableError(where_ + ": unknown watch event type \"" + type + "\""));
      return false;
    }
    e.object = std::move(event["object"]);
    on_event_(e);
    return !stopped_ && !ended_;
  }

  void End(Status s) {
    if (ended_) return;
    ended_ = true;
    StatusCallback done = std::move(done_);
    if (!stopped_ && done) done(std::move(s));
  }

  void Finish(Status s) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (stopped_ || ended_) return;
    if (s.ok() && (status_code_ < 200 || status_code_ > 299)) {
      s = StatusFromResponse("WATCH", where_, status_code_, error_body_);
    } else if (!s.ok()) {
      s = Status(s.code(), where_ + ": watch: " + s.message());
    }
    End(std::move(s));
  }

  std::recursive_mutex mu_;
  std::function<void(const WatchEvent&)> on_event_;
  StatusCallback done_;
  std::string where_;
  std::unique_ptr<Subscription> http_;
  int status_code_ = 0;
  std::string buffer_;
  std::string error_body_;
  bool stopped_ = false;
  bool ended_ = false;
};

// The handle Watch returns: dropping it stops the stream.
class WatchHandle : public Subscription {
 public:
  explicit WatchHandle(std::shared_ptr<WatchStream> stream) : stream_(std::move(stream)) {}
  ~WatchHandle() override { stream_->Stop(); }

 private:
  std::shared_ptr<WatchStream> stream_;
};

class ClientImpl : public KubeClient {
 public:
  explicit ClientImpl(KubeClientOptions o)
      : o_(std::move(o)), limiter_(o_.qps, o_.burst, o_.clock) {}

  const std::string& DefaultNamespace() const override { return o_.config.namespace_; }

  void Get(const Resource& r, std::string_view ns, std::string_view name,
           StatusOrCallback<json> done) override {
    Read(ResourcePath(r, ns, name), 0, std::move(done));
  }

  void List(const Resource& r, std::string_view ns, const ListOptions& options,
            StatusOrCallback<ListResult> done) override {
    std::string path = ResourcePath(r, ns);
    std::string query;
    if (!options.label_selector.empty()) {
      query += "labelSelector=" + QueryEscape(options.label_selector);
    }
    if (!options.field_selector.empty()) {
      query += std::string(query.empty() ? "" : "&") +
               "fieldSelector=" + QueryEscape(options.field_selector);
    }
    if (!query.empty()) path += "?" + query;
    Read(path, 0, [r, path, done = std::move(done)](StatusOr<json> list) {
      if (!list) return done(Fail(list.error()));
      if (!list->contains("items") ||
          !((*list)["items"].is_array() || (*list)["items"].is_null())) {
        return done(Fail(
            UnavailableError("LIST " + path + ": garbage from the API server: no items list")));
      }
      ListResult out;
      if ((*list)["items"].is_array()) {
        for (json& item : (*list)["items"]) {
          if (!item.is_object()) {
            return done(Fail(UnavailableError("LIST " + path + ": an item is not an object")));
          }
          item["kind"] = r.kind;
          item["apiVersion"] = r.ApiVersion();
          out.items.push_back(std::move(item));
        }
      }
      const json& meta = list->value("metadata", json::object());
      if (meta.is_object()) out.resource_version = meta.value("resourceVersion", "");
      done(std::move(out));
    });
  }

  void Create(const Resource& r, std::string_view ns, json object,
              StatusOrCallback<json> done) override {
    object["apiVersion"] = r.ApiVersion();
    object["kind"] = r.kind;
    if (r.namespaced && !ns.empty()) object["metadata"]["namespace"] = std::string(ns);
    Write("POST", ResourcePath(r, ns), "application/json", object.dump(), std::move(done));
  }

  void Update(const Resource& r, std::string_view ns, json object, std::string_view subresource,
              StatusOrCallback<json> done) override {
    const std::string name = object.value("metadata", json::object()).value("name", "");
    if (name.empty()) {
      return done(Fail(InvalidArgumentError("update of a " + r.kind + " without a name")));
    }
    object["apiVersion"] = r.ApiVersion();
    object["kind"] = r.kind;
    Write("PUT", ResourcePath(r, ns, name, subresource), "application/json", object.dump(),
          std::move(done));
  }

  void Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
             const json& patch, std::string_view subresource,
             StatusOrCallback<json> done) override {
    Write("PATCH", ResourcePath(r, ns, name, subresource), std::string(ContentType(type)),
          patch.dump(), std::move(done));
  }

  void Delete(const Resource& r, std::string_view ns, std::string_view name,
              const DeleteOptions& options, StatusCallback done) override {
    json body = {{"kind", "DeleteOptions"},
                 {"apiVersion", "v1"},
                 {"propagationPolicy", options.propagation}};
    if (!options.precondition_resource_version.empty()) {
      body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
    }
    Send("DELETE", ResourcePath(r, ns, name), "application/json", body.dump(),
         [done = std::move(done)](StatusOr<json> r) { done(r ? OkStatus() : r.error()); });
  }

  std::unique_ptr<Subscription> Watch(const Resource& r, std::string_view ns,
                                      const WatchOptions& options,
                                      std::function<void(const WatchEvent&)> on_event,
                                      StatusCallback done) override {
    std::string path = ResourcePath(r, ns);
    std::string query = "watch=true";
    if (!options.resource_version.empty()) {
      query += "&resourceVersion=" + QueryEscape(options.resource_version);
    }
    if (options.bookmarks) query += "&allowWatchBookmarks=true";
    const int64_t seconds = std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(options.timeout).count());
    query += "&timeoutSeconds=" + std::to_string(seconds);
    if (!options.label_selector.empty()) {
      query += "&labelSelector=" + QueryEscape(options.label_selector);
    }
    if (!options.field_selector.empty()) {
      query += "&fieldSelector=" + QueryEscape(options.field_selector);
    }
    HttpRequest request = Request("GET", path + "?" + query, "", "");
    // The server ends the watch at timeoutSeconds; the client's bound is a little later, for a
    // server that never does.
    request.timeout = std::chrono::seconds(seconds + 30);
    auto stream = std::make_shared<WatchStream>(std::move(on_event), std::move(done), path);
    stream->Start(o_.http, std::move(request));
    return std::make_unique<WatchHandle>(std::move(stream));
  }

  void Modify(const Resource& r, std::string_view ns, std::string_view name,
              std::string_view subresource, std::function<StatusOr<bool>(json&)> mutate,
              StatusOrCallback<json> done) override {
    ModifyAttempt(r, std::string(ns), std::string(name), std::string(subresource),
                  std::make_shared<std::function<StatusOr<bool>(json&)>>(std::move(mutate)), 1,
                  std::move(done));
  }

  void RecordEvent(const EventRecord& e, StatusCallback done) override {
    const json& meta = e.involved.value("metadata", json::object());
    const std::string name = meta.value("name", "");
    const std::string ns = meta.value("namespace", "");
    const Time now = o_.clock->Now();
    json event = {{"metadata",
                   {{"name", fmt::format("{}.{:x}", name, static_cast<uint64_t>(ToUnixNanos(now)))},
                    {"namespace", ns.empty() ? std::string("default") : ns}}},
                  {"involvedObject",
                   {{"apiVersion", e.resource.ApiVersion()},
                    {"kind", e.resource.kind},
                    {"name", name},
                    {"namespace", ns},
                    {"uid", meta.value("uid", "")},
                    {"resourceVersion", meta.value("resourceVersion", "")}}},
                  {"reason", e.reason},
                  {"message", e.message},
                  {"type", std::string(EventTypeName(e.type))},
                  {"firstTimestamp", KubeTime(now)},
                  {"lastTimestamp", KubeTime(now)},
                  {"count", 1},
                  {"source", {{"component", o_.component}}},
                  {"reportingComponent", o_.component},
                  {"reportingInstance", o_.instance}};
    if (ns.empty()) event["involvedObject"].erase("namespace");
    Create(Events(), ns.empty() ? "default" : ns, std::move(event),
           [done = std::move(done)](StatusOr<json> r) { done(r ? OkStatus() : r.error()); });
  }

  HttpRequest Request(std::string method, const std::string& path, std::string content_type,
                      std::string body) {
    HttpRequest req;
    req.method = std::move(method);
    req.url = o_.config.server + path;
    req.headers.emplace_back("Accept", "application/json");
    // As client-go names its controllers in audit logs: who sent it.
    req.headers.emplace_back("User-Agent", "ramp/" + o_.component);
    if (!content_type.empty()) req.headers.emplace_back("Content-Type", std::move(content_type));
    std::string token = o_.config.token;
    if (token.empty() && !o_.config.token_file.empty()) {
      std::ifstream in(o_.config.token_file);
      std::getline(in, token);
    }
    if (!token.empty()) {
      req.headers.emplace_back("Authorization", "Bearer " + token);
    } else if (!o_.config.username.empty()) {
      req.headers.emplace_back(
          "Authorization", "Basic " + EncodeBase64(o_.config.username + ":" + o_.config.password));
    }
    req.body = std::move(body);
    req.timeout = o_.request_timeout;
    req.insecure_skip_verify = o_.config.insecure_skip_verify;
    req.ca_pem = o_.config.ca_pem;
    req.client_cert_pem = o_.config.client_cert_pem;
    req.client_key_pem = o_.config.client_key_pem;
    return req;
  }

 private:
  static std::string EncodeBase64(std::string_view in) {
    static const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
      acc = (acc << 8) | c;
      bits += 8;
      while (bits >= 6) {
        bits -= 6;
        out.push_back(kAlphabet[(acc >> bits) & 63]);
      }
    }
    if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
    while (out.size() % 4 != 0) out.push_back('=');
    return out;
  }

  // Runs `fn` when the rate limiter allows.
  void Paced(std::function<void()> fn) {
    const Duration wait = limiter_.Reserve();
    if (wait <= Duration(0)) return fn();
    o_.timers->ScheduleAt(o_.clock->Now() + wait, std::move(fn));
  }

  Duration Backoff(int attempt) const {
    Duration d = o_.backoff_base * (int64_t{1} << std::min(attempt, 20));
    return std::min(d, o_.backoff_max);
  }

  void Read(const std::string& path, int attempt, StatusOrCallback<json> done) {
    Send("GET", path, "", "", [this, path, attempt, done = std::move(done)](StatusOr<json> r) {
      if (r || !Retryable(r.error()) || attempt >= o_.read_retries) return done(std::move(r));
      o_.timers->ScheduleAt(o_.clock->Now() + Backoff(attempt),
                            [this, path, attempt, done] { Read(path, attempt + 1, done); });
    });
  }

  void Write(std::string method, const std::string& path, const std::string& content_type,
             std::string body, StatusOrCallback<json> done) {
    Send(std::move(method), path, content_type, std::move(body), std::move(done));
  }

  void Send(std::string method, const std::string& path, const std::string& content_type,
            std::string body, StatusOrCallback<json> done) {
    Paced([this, method = std::move(method), path, content_type, body = std::move(body),
           done = std::move(done)]() mutable {
      HttpRequest req = Request(method, path, content_type, std::move(body));
      o_.http->Send(
          std::move(req), [method, path, done = std::move(done)](StatusOr<HttpResponse> r) {
            if (!r) {
              return done(
                  Fail(Status(r.error().code(), method + " " + path + ": " + r.error().message())));
            }
            if (r->status < 200 || r->status > 299) {
              return done(Fail(StatusFromResponse(method, path, r->status, r->body)));
            }
            json parsed = json::parse(r->body, nullptr, false);
            if (!parsed.is_object()) {
              return done(Fail(UnavailableError(fmt::format(
                  "{} {}: garbage from the API server ({} bytes, not a JSON object): {}", method,
                  path, r->body.size(), r->body.substr(0, 120)))));
            }
            done(std::move(parsed));
          });
    });
  }

  void ModifyAttempt(const Resource& r, std::string ns, std::string name, std::string sub,
                     std::shared_ptr<std::function<StatusOr<bool>(json&)>> mutate, int attempt,
                     StatusOrCallback<json> done) {
    Get(r, ns, name,
        [this, r, ns, name, sub, mutate, attempt, done = std::move(done)](StatusOr<json> got) {
          if (!got) return done(std::move(got));
          json object = std::move(*got);
          StatusOr<bool> changed = (*mutate)(object);
          if (!changed) return done(Fail(changed.error()));
          if (!*changed) return done(std::move(object));
          Update(r, ns, std::move(object), sub,
                 [this, r, ns, name, sub, mutate, attempt, done](StatusOr<json> put) {
                   if (put || put.error().code() != StatusCode::kAborted || attempt >= 5) {
                     return done(std::move(put));
                   }
                   ModifyAttempt(r, ns, name, sub, mutate, attempt + 1, done);
                 });
        });
  }

  KubeClientOptions o_;
  RateLimiter limiter_;
};

}  // namespace

std::string ResourcePath(const Resource& r, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  std::string path = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  if (r.namespaced && !ns.empty()) path += "/namespaces/" + std::string(ns);
  path += "/" + r.plural;
  if (!name.empty()) path += "/" + std::string(name);
  if (!name.empty() && !subresource.empty()) path += "/" + std::string(subresource);
  return path;
}

Status StatusFromResponse(std::string_view verb, std::string_view path, int http_status,
                          std::string_view body) {
  std::string reason;
  std::string message;
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.value("kind", "") == "Status") {
    message = parsed.value("message", "");
    reason = parsed.value("reason", "");
  } else {
    message = std::string(body.substr(0, 200));
  }
  std::string text =
      fmt::format("{} {}: {} {}", verb, path, http_status, ReasonPhrase(http_status));
  if (!message.empty()) text += ": " + message;
  switch (http_status) {
    case 400:
    case 422:
      return InvalidArgumentError(text);
    case 401:
      return UnauthenticatedError(text);
    case 403:
      return PermissionDeniedError(text);
    case 404:
      return NotFoundError(text);
    case 409:
      return reason == "AlreadyExists" ? AlreadyExistsError(text) : AbortedError(text);
    case 410:
      return OutOfRangeError(text);
    case 415:
      return UnimplementedError(text);
    default:
      break;
  }
  if (http_status == 429 || http_status >= 500) return UnavailableError(text);
  return Status(StatusCode::kUnknown, text);
}

std::string KubeTime(Time t) {
  const std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

StatusOr<Time> ParseKubeTime(std::string_view text) {
  int y, mo, d, h, mi, s;
  if (text.size() < 20 || std::sscanf(std::string(text.substr(0, 19)).c_str(),
                                      "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6) {
    return Fail(InvalidArgumentError("not an RFC 3339 time: \"" + std::string(text) + "\""));
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  int64_t nanos = 0;
  size_t i = 19;
  if (i < text.size() && text[i] == '.') {
    ++i;
    int64_t scale = 100000000;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      nanos += (text[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  int64_t offset = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(text.substr(i + 1)).c_str(), "%2d:%2d", &oh, &om) != 2) {
      return Fail(InvalidArgumentError("not an RFC 3339 time: \"" + std::string(text) + "\""));
    }
    offset = (text[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else if (i >= text.size() || (text[i] != 'Z' && text[i] != 'z')) {
    return Fail(InvalidArgumentError("not an RFC 3339 time: \"" + std::string(text) + "\""));
  }
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset;
  return FromUnixNanos(secs * 1000000000 + nanos);
}

StatusOr<std::unique_ptr<KubeClient>> KubeClient::New(KubeClientOptions options) {
  if (options.http == nullptr || options.timers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("KubeClient: http, timers and clock are required"));
  }
  if (options.config.server.empty()) {
    return Fail(InvalidArgumentError("KubeClient: the configuration names no API server"));
  }
  return std::unique_ptr<KubeClient>(std::make_unique<ClientImpl>(std::move(options)));
}

}  // namespace ramp::kube
