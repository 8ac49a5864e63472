#include "traffic/proxy/proxy_router.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "proxy/route_table.h"
#include "spec/common.h"
#include "traffic/proxy/service_name.h"

namespace ramp::proxy_router {
namespace {

using json = nlohmann::json;

constexpr std::string_view kFieldPrefix = "trafficRouting.plugins[\"ramp/proxy\"]";
constexpr std::string_view kKnownFields =
    "listen, admin, sticky, loadBalancing, connectTimeout, requestTimeout, idleTimeout, service, "
    "previewListen";

Status FieldError(std::string_view field, std::string_view what) {
  return InvalidArgumentError(std::string(kFieldPrefix) + "." + std::string(field) + ": " +
                              std::string(what));
}

StatusOr<std::string> GetString(const json& value, std::string_view field) {
  if (!value.is_string()) return Fail(FieldError(field, "must be a string, got " + value.dump()));
  return value.get<std::string>();
}

// A Go duration of at least `min_nanos`, returned as written.
StatusOr<std::string> GetDuration(const json& value, std::string_view field, int64_t min_nanos) {
  ASSIGN_OR_RETURN(std::string text, GetString(value, field));
  std::optional<int64_t> nanos = spec::ParseGoDuration(text);
  if (!nanos || *nanos < min_nanos) {
    return Fail(FieldError(field, "must be a duration of at least " +
                                      spec::FormatGoDuration(min_nanos) + " (e.g. \"5s\"), got \"" +
                                      text + "\""));
  }
  return text;
}

// A listen address as the proxy reads it (host may be empty, port 0 picks a free port).
StatusOr<std::string> GetListen(const json& value, std::string_view field) {
  ASSIGN_OR_RETURN(std::string text, GetString(value, field));
  auto endpoint = proxy::ParseEndpoint(text, /*listen=*/true);
  if (!endpoint) return Fail(FieldError(field, endpoint.error().message()));
  return text;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

// admin: {address, tokenFile} → the admin URL and token file; {socket} is not supported.
Status DecodeAdmin(const json& admin, ProxyRouterConfig* c) {
  if (!admin.is_object()) {
    return FieldError("admin", "must be an object with address and tokenFile, got " + admin.dump());
  }
  for (const auto& [key, value] : admin.items()) {
    const std::string field = "admin." + key;
    if (key == "socket") {
      return Status(StatusCode::kUnimplemented,
                    std::string(kFieldPrefix) + "." + field +
                        ": the router reaches the proxy's admin API over loopback TCP only (a "
                        "unix socket is not supported yet); run the proxy with --admin-address "
                        "and set admin.address and admin.tokenFile");
    }
    if (key == "address") {
      ASSIGN_OR_RETURN(std::string address, GetString(value, field));
      auto endpoint = proxy::ParseEndpoint(address, /*listen=*/false);
      if (!endpoint) return FieldError(field, endpoint.error().message());
      if (!IsLoopbackHost(endpoint->host)) {
        return FieldError(
            field,
            "must be a loopback address (127.0.0.1, [::1] or localhost), got \"" + address + "\"");
      }
      c->admin_url = "http://" + endpoint->ToString();
    } else if (key == "tokenFile") {
      ASSIGN_OR_RETURN(c->admin_token_file, GetString(value, field));
      if (c->admin_token_file.empty()) return FieldError(field, "must not be empty");
    } else {
      return FieldError(field, "unknown field (known: address, tokenFile, socket)");
    }
  }
  if (c->admin_url.empty()) {
    return FieldError("admin.address", "required: the proxy's admin API, a loopback host:port");
  }
  if (c->admin_token_file.empty()) {
    return FieldError("admin.tokenFile",
                      "required with admin.address: the file holding the admin API's token");
  }
  return OkStatus();
}

bool IsHeaderName(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// sticky: {cookie | header, ttl}, passed to the proxy as it is.
Status DecodeSticky(const json& sticky, ProxyRouterConfig* c) {
  if (!sticky.is_object()) {
    return FieldError("sticky", "must be an object with cookie or header, got " + sticky.dump());
  }
  for (const auto& [key, value] : sticky.items()) {
    const std::string field = "sticky." + key;
    if (key == "cookie" || key == "header") {
      ASSIGN_OR_RETURN(std::string name, GetString(value, field));
      if (!IsHeaderName(name)) {
        return FieldError(
            field,
            "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~), got \"" + name + "\"");
      }
      (key == "cookie" ? c->sticky_cookie : c->sticky_header) = name;
    } else if (key == "ttl") {
      ASSIGN_OR_RETURN(c->sticky_ttl, GetDuration(value, field, 1'000'000'000));
    } else {
      return FieldError(field, "unknown field (known: cookie, header, ttl)");
    }
  }
  if (c->sticky_cookie.empty() == c->sticky_header.empty()) {
    return FieldError("sticky", "set exactly one of cookie and header");
  }
  if (!c->sticky_ttl.empty() && c->sticky_cookie.empty()) {
    return FieldError("sticky.ttl", "applies to a sticky cookie only; set cookie");
  }
  return OkStatus();
}

// The token in `path`, without trailing whitespace (as `ramp proxy --admin-token-file` reads it).
StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(FailedPreconditionError(std::string(kFieldPrefix) +
                                        ".admin.tokenFile: cannot read " + path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) {
    return Fail(FailedPreconditionError(std::string(kFieldPrefix) + ".admin.tokenFile: " + path +
                                        " is empty"));
  }
  return token;
}

// Checks what the proxy would refuse in one StringMatch: a regex RE2 cannot compile.
Status CheckStringMatch(const StringMatch& m, std::string_view what) {
  if (m.kind != StringMatch::Kind::kRegex) return OkStatus();
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(m.value, options);
  if (!re.ok()) {
    return InvalidArgumentError("ramp/proxy: " + std::string(what) + ": invalid regex \"" +
                                m.value + "\": " + re.error());
  }
  return OkStatus();
}

json StringMatchJson(const StringMatch& m) {
  return json{{std::string(StringMatchKindName(m.kind)), m.value}};
}

// The first 200 bytes of a body, control characters as spaces.
std::string Excerpt(std::string_view body) {
  if (body.empty()) return "(empty body)";
  std::string out;
  for (size_t i = 0; i < body.size() && i < 200; ++i) {
    unsigned char c = static_cast<unsigned char>(body[i]);
    out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  }
  if (body.size() > 200) out += "…";
  return out;
}

// The proxy's {"error": "…"} message, or an excerpt of whatever else it sent.
std::string ErrorText(const HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return j["error"].get<std::string>();
  }
  return Excerpt(r.body);
}

// The Status of one admin exchange (`what` is "PUT <url>"): OK for 2xx.
Status AdminStatus(const StatusOr<HttpResponse>& r, const std::string& what) {
  if (!r) {
    const Status& e = r.error();
    switch (e.code()) {
      case StatusCode::kUnavailable:
      case StatusCode::kDeadlineExceeded:
      case StatusCode::kResourceExhausted:
        return UnavailableError("ramp/proxy: the proxy's admin API cannot be reached: " +
                                e.message());
      default:
        return e.WithPrefix("ramp/proxy");
    }
  }
  const int status = r->status;
  if (status >= 200 && status < 300) return OkStatus();
  const std::string detail = "HTTP " + std::to_string(status) + ": " + ErrorText(*r);
  switch (status) {
    case 400:
      return InvalidArgumentError("ramp/proxy: the proxy refused " + what + ": " + detail);
    case 401:
      return PermissionDeniedError("ramp/proxy: admin token refused by the proxy (" + what + ", " +
                                   detail +
                                   "): check the token ramp was given for this proxy "
                                   "(admin.tokenFile or the daemon's proxy token)");
    case 404:
    case 409:
      return FailedPreconditionError("ramp/proxy: " + what + ": " + detail);
    case 501:
      return UnimplementedError("ramp/proxy: the proxy does not support what " + what +
                                " asks: " + detail);
    default:
      if (status >= 500) return UnavailableError("ramp/proxy: " + what + ": " + detail);
      return Status(StatusCode::kUnknown, "ramp/proxy: " + what + ": unexpected " + detail);
  }
}

// Whether an operation that failed with `s` should be forgotten (the proxy will never accept it)
// rather than kept for the next PUT (the proxy could not be asked).
bool IsRefusal(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kUnimplemented ||
         s.code() == StatusCode::kFailedPrecondition;
}

// Runs operations one at a time, in the order received, each to its completion (which may come
// later on another thread). Without a thread of its own: whoever completes an operation starts
// the next one.
class Sequencer : public std::enable_shared_from_this<Sequencer> {
 public:
  // `run` false: the operation is cancelled. `finished` must be called exactly once either way.
  using Op = std::function<void(bool run, std::function<void()> finished)>;

  void Enqueue(Op op) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopped_) {
        queue_.push_back(std::move(op));
        if (busy_) return;
        busy_ = true;
        op = nullptr;
      }
    }
    if (op) {
      op(false, [] {});
      return;
    }
    Pump();
  }

  // Cancels the queued operations; the one running completes on its own.
  void Stop() {
    std::deque<Op> cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      cancelled.swap(queue_);
    }
    for (auto& op : cancelled) op(false, [] {});
  }

 private:
  void Pump() {
    for (;;) {
      Op op;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopped_ || queue_.empty()) {
          busy_ = false;
          return;
        }
        op = std::move(queue_.front());
        queue_.pop_front();
      }
      // 0: running, 1: finished before op returned, 2: op returned first.
      auto phase = std::make_shared<std::atomic<int>>(0);
      op(true, [self = shared_from_this(), phase] {
        if (phase->exchange(1) == 2) self->Pump();
      });
      if (phase->exchange(2) == 1) continue;  // finished inline: next one here
      return;                                 // finishes later; that call pumps
    }
  }

  std::mutex mu_;
  std::deque<Op> queue_;
  bool busy_ = false;
  bool stopped_ = false;
};

// What the router wants the proxy to have.
struct DesiredState {
  int32_t weight = 0;
  std::string primary_hash;    // the revision of stable (canary) or active (blue-green)
  std::string secondary_hash;  // the revision of canary or preview
  std::map<std::string, std::vector<std::string>> endpoints;  // hash → sorted addresses
  std::vector<HeaderRoute> header_routes;                     // in managedRoutes order
  std::vector<MirrorRoute> mirror_routes;
};

// One PUT: the service and its whole route table.
struct Put {
  std::string service;
  std::string body;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(ProxyRouterConfig config, RouterContext context, HttpClient* http, std::string admin_url,
       std::string token, Duration timeout)
      : config_(std::move(config)),
        context_(std::move(context)),
        http_(http),
        admin_url_(std::move(admin_url)),
        token_(std::move(token)),
        timeout_(timeout),
        blue_green_(context_.stable_service.empty() && !context_.active_service.empty()),
        sequencer_(std::make_shared<Sequencer>()) {}

  void Stop() { sequencer_->Stop(); }

  const RouterContext& context() const { return context_; }

  // Applies `mutate` to the desired state, then PUTs whatever changed.
  void Change(std::function<void(DesiredState*)> mutate, StatusCallback done) {
    sequencer_->Enqueue([self = shared_from_this(), mutate = std::move(mutate),
                         done = std::move(done)](bool run, std::function<void()> finished) {
      if (!run) {
        done(CancelledError("ramp/proxy: router destroyed"));
        finished();
        return;
      }
      DesiredState next = self->state_;
      mutate(&next);
      self->Apply(std::move(next), [done, finished](Status s) {
        done(std::move(s));
        finished();
      });
    });
  }

  void Verify(int32_t weight, StatusOrCallback<WeightCheck> done) {
    sequencer_->Enqueue([self = shared_from_this(), weight, done = std::move(done)](
                            bool run, std::function<void()> finished) {
      if (!run) {
        done(Fail(CancelledError("ramp/proxy: router destroyed")));
        finished();
        return;
      }
      self->ReadBack(weight, [done, finished](StatusOr<WeightCheck> check) {
        done(std::move(check));
        finished();
      });
    });
  }

 private:
  std::vector<std::string> EndpointsOf(const DesiredState& s, const std::string& hash) const {
    if (hash.empty()) return {};
    auto it = s.endpoints.find(hash);
    return it == s.endpoints.end() ? std::vector<std::string>() : it->second;
  }

  std::vector<std::string> StableSet(const DesiredState& s) const {
    return EndpointsOf(s, s.primary_hash);
  }
  // The canary set of the Rollout's service: blue-green serves its preview elsewhere.
  std::vector<std::string> CanarySet(const DesiredState& s) const {
    return blue_green_ ? std::vector<std::string>() : EndpointsOf(s, s.secondary_hash);
  }

  void AddCommonFields(json* t) const {
    if (!config_.sticky_cookie.empty() || !config_.sticky_header.empty()) {
      json sticky = config_.sticky_cookie.empty() ? json{{"header", config_.sticky_header}}
                                                  : json{{"cookie", config_.sticky_cookie}};
      if (!config_.sticky_ttl.empty()) sticky["ttl"] = config_.sticky_ttl;
      (*t)["sticky"] = std::move(sticky);
    }
    if (!config_.load_balancing.empty()) (*t)["loadBalancing"] = config_.load_balancing;
    if (!config_.connect_timeout.empty()) (*t)["connectTimeout"] = config_.connect_timeout;
    if (!config_.request_timeout.empty()) (*t)["requestTimeout"] = config_.request_timeout;
    if (!config_.idle_timeout.empty()) (*t)["idleTimeout"] = config_.idle_timeout;
  }

  // The route tables the proxy accepts for `s`: none for a service whose stable set is empty;
  // weight 0 and no routes while the canary set is empty.
  std::vector<Put> Tables(const DesiredState& s) const {
    std::vector<Put> out;
    const std::vector<std::string> stable = StableSet(s);
    const std::vector<std::string> canary = CanarySet(s);
    if (!stable.empty()) {
      json t = {{"listen", config_.listen},
                {"stable", stable},
                {"canary", canary},
                {"maxWeight", context_.max_weight},
                {"canaryWeight", canary.empty() ? 0 : s.weight}};
      if (!canary.empty() && !s.header_routes.empty()) {
        // The proxy ANDs the matches of one route and ORs routes; ramp's header route ORs its
        // matches, so each match becomes a route of its own.
        json routes = json::array();
        for (const HeaderRoute& r : s.header_routes) {
          for (size_t i = 0; i < r.matches.size(); ++i) {
            const HeaderMatch& m = r.matches[i];
            json match = StringMatchJson(m.header_value);
            match["header"] = m.header_name;
            std::string name = r.matches.size() == 1 ? r.name : r.name + "#" + std::to_string(i);
            routes.push_back({{"name", std::move(name)}, {"match", json::array({match})}});
          }
        }
        t["headerRoutes"] = std::move(routes);
      }
      if (!canary.empty() && !s.mirror_routes.empty()) {
        json routes = json::array();
        for (const MirrorRoute& r : s.mirror_routes) {
          json matches = json::array();
          for (const RouteMatch& m : r.matches) {
            json jm = json::object();
            if (m.method) jm["method"] = StringMatchJson(*m.method);
            if (m.path) jm["path"] = StringMatchJson(*m.path);
            if (!m.headers.empty()) {
              json headers = json::object();
              for (const auto& [name, value] : m.headers) headers[name] = StringMatchJson(value);
              jm["headers"] = std::move(headers);
            }
            matches.push_back(std::move(jm));
          }
          routes.push_back({{"name", r.name},
                            {"percentage", r.percentage.value_or(100)},
                            {"match", std::move(matches)}});
        }
        t["mirrorRoutes"] = std::move(routes);
      }
      AddCommonFields(&t);
      out.push_back({config_.service, t.dump()});
    }
    if (blue_green_ && !config_.preview_listen.empty()) {
      const std::vector<std::string> preview = EndpointsOf(s, s.secondary_hash);
      if (!preview.empty()) {
        json t = {{"listen", config_.preview_listen},
                  {"stable", preview},
                  {"maxWeight", context_.max_weight},
                  {"canaryWeight", 0}};
        AddCommonFields(&t);
        out.push_back({config_.preview_service, t.dump()});
      }
    }
    return out;
  }

  HttpRequest Request(std::string method, const std::string& service) const {
    HttpRequest req;
    req.method = std::move(method);
    req.url = admin_url_ + "/v1/services/" + service;
    if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
    req.timeout = timeout_;
    req.max_response_bytes = size_t{1} << 20;
    return req;
  }

  // PUTs the tables of `next` that differ from what the proxy last acknowledged, in order. On
  // success `next` becomes the state; when the proxy refuses, the state stays as it was (the
  // change is dropped); when it cannot be reached, `next` is kept so the next PUT carries it.
  void Apply(DesiredState next, StatusCallback done) {
    auto puts = std::make_shared<std::vector<Put>>();
    for (Put& p : Tables(next)) {
      auto it = last_applied_.find(p.service);
      if (it == last_applied_.end() || it->second != p.body) puts->push_back(std::move(p));
    }
    PutFrom(puts, 0, std::make_shared<DesiredState>(std::move(next)), std::move(done));
  }

  void PutFrom(std::shared_ptr<std::vector<Put>> puts, size_t i, std::shared_ptr<DesiredState> next,
               StatusCallback done) {
    if (i == puts->size()) {
      state_ = std::move(*next);
      done(OkStatus());
      return;
    }
    const Put& put = (*puts)[i];
    HttpRequest req = Request("PUT", put.service);
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = put.body;
    const std::string what = "PUT " + req.url;
    http_->Send(std::move(req), [self = shared_from_this(), puts, i, next, what,
                                 done = std::move(done)](StatusOr<HttpResponse> r) mutable {
      const Put& put = (*puts)[i];
      Status s = AdminStatus(r, what);
      if (s.ok()) {
        self->last_applied_[put.service] = put.body;
        self->PutFrom(std::move(puts), i + 1, std::move(next), std::move(done));
        return;
      }
      self->last_applied_.erase(put.service);
      if (!IsRefusal(s)) self->state_ = std::move(*next);
      done(std::move(s));
    });
  }

  // GETs the Rollout's service and compares its canaryWeight with `weight`.
  void ReadBack(int32_t weight, StatusOrCallback<WeightCheck> done) {
    HttpRequest req = Request("GET", config_.service);
    const std::string what = "GET " + req.url;
    http_->Send(std::move(req),
                [self = shared_from_this(), weight, what, done = std::move(done)](
                    StatusOr<HttpResponse> r) { done(self->Compare(weight, r, what)); });
  }

  StatusOr<WeightCheck> Compare(int32_t weight, const StatusOr<HttpResponse>& r,
                                const std::string& what) {
    WeightCheck check;
    check.verification = WeightVerification::kNotVerified;
    const std::vector<std::string> stable = StableSet(state_);
    const std::vector<std::string> canary = CanarySet(state_);
    const std::string stable_note =
        stable.empty() ? " (nothing is sent to the proxy while the stable revision" +
                             (state_.primary_hash.empty()
                                  ? std::string(" is not set")
                                  : " " + state_.primary_hash + " has no ready instances") +
                             ")"
                       : "";
    if (r && r->status == 404) {
      last_applied_.erase(config_.service);
      check.message = "the proxy has no service \"" + config_.service + "\"" + stable_note;
      return check;
    }
    Status s = AdminStatus(r, what);
    if (!s.ok()) return Fail(s);
    json table = json::parse(r->body, nullptr, false);
    if (!table.is_object() || !table.contains("canaryWeight") ||
        !table["canaryWeight"].is_number_integer()) {
      return Fail(InternalError("ramp/proxy: " + what +
                                ": the answer is not a route table: " + Excerpt(r->body)));
    }
    const int64_t observed = table["canaryWeight"].get<int64_t>();
    check.observed_weight = static_cast<int32_t>(observed);
    const int64_t max_weight = table.contains("maxWeight") && table["maxWeight"].is_number_integer()
                                   ? table["maxWeight"].get<int64_t>()
                                   : 100;
    if (max_weight != context_.max_weight) {
      last_applied_.erase(config_.service);
      check.message = "the proxy's maxWeight is " + std::to_string(max_weight) + ", expected " +
                      std::to_string(context_.max_weight) + stable_note;
      return check;
    }
    if (observed != weight) {
      last_applied_.erase(config_.service);
      if (weight > 0 && canary.empty()) {
        check.message =
            "the canary has no ready instances" +
            (state_.secondary_hash.empty() ? std::string(" (no revision is set for it)")
                                           : " (revision " + state_.secondary_hash + ")") +
            ": the proxy sends it weight 0 until it has some (canaryWeight is " +
            std::to_string(observed) + ", expected " + std::to_string(weight) + ")";
      } else {
        check.message = "the proxy reports canaryWeight " + std::to_string(observed) +
                        ", expected " + std::to_string(weight) + stable_note;
      }
      return check;
    }
    check.verification = WeightVerification::kVerified;
    return check;
  }

  const ProxyRouterConfig config_;
  const RouterContext context_;
  HttpClient* const http_;
  const std::string admin_url_;
  const std::string token_;
  const Duration timeout_;
  const bool blue_green_;
  std::shared_ptr<Sequencer> sequencer_;

  // Touched only by the running operation (operations run one at a time).
  DesiredState state_;
  std::map<std::string, std::string> last_applied_;  // service → body the proxy acknowledged
};

// Where a route named `name` goes among the managed routes: its index in managedRoutes (routes
// the Rollout does not list go last, in the order they came).
size_t Rank(const std::vector<std::string>& managed, const std::string& name) {
  auto it = std::find(managed.begin(), managed.end(), name);
  return it == managed.end() ? SIZE_MAX : static_cast<size_t>(it - managed.begin());
}

template <typename Route>
void Upsert(std::vector<Route>* routes, const Route& route,
            const std::vector<std::string>& managed) {
  std::erase_if(*routes, [&](const Route& r) { return r.name == route.name; });
  if (route.matches.empty()) return;
  const size_t rank = Rank(managed, route.name);
  auto pos = std::find_if(routes->begin(), routes->end(),
                          [&](const Route& r) { return Rank(managed, r.name) > rank; });
  routes->insert(pos, route);
}

class ProxyRouter final : public TrafficRouter {
 public:
  explicit ProxyRouter(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~ProxyRouter() override { core_->Stop(); }

  std::string_view Type() const override { return kProxyRouterName; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    const int32_t max = core_->context().max_weight;
    if (weight < 0 || weight > max) {
      done(InvalidArgumentError("ramp/proxy: weight " + std::to_string(weight) + " is outside 0.." +
                                std::to_string(max)));
      return;
    }
    for (const auto& d : additional) {
      if (d.weight != 0) {
        done(UnimplementedError(
            "ramp/proxy: additional weighted destinations (experiments) are not supported"));
        return;
      }
    }
    core_->Change([weight](DesiredState* s) { s->weight = weight; }, std::move(done));
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    if (route.name.empty()) {
      done(InvalidArgumentError("ramp/proxy: a header route needs a name"));
      return;
    }
    for (size_t i = 0; i < route.matches.size(); ++i) {
      const HeaderMatch& m = route.matches[i];
      const std::string what =
          "header route \"" + route.name + "\" match " + std::to_string(i) + " ";
      if (!IsHeaderName(m.header_name)) {
        done(InvalidArgumentError("ramp/proxy: " + what + "\"" + m.header_name +
                                  "\" is not an HTTP header name"));
        return;
      }
      Status s = CheckStringMatch(m.header_value, what + "(" + m.header_name + ")");
      if (!s.ok()) {
        done(std::move(s));
        return;
      }
    }
    core_->Change([route, managed = core_->context().managed_routes](
                      DesiredState* s) { Upsert(&s->header_routes, route, managed); },
                  std::move(done));
  }

  void SetMirrorRoute(const MirrorRoute& route, StatusCallback done) override {
    if (route.name.empty()) {
      done(InvalidArgumentError("ramp/proxy: a mirror route needs a name"));
      return;
    }
    if (route.percentage && (*route.percentage < 0 || *route.percentage > 100)) {
      done(InvalidArgumentError("ramp/proxy: mirror route \"" + route.name + "\": percentage " +
                                std::to_string(*route.percentage) + " is outside 0..100"));
      return;
    }
    for (size_t i = 0; i < route.matches.size(); ++i) {
      const RouteMatch& m = route.matches[i];
      const std::string what =
          "mirror route \"" + route.name + "\" match " + std::to_string(i) + " ";
      Status s = OkStatus();
      if (m.method) s = CheckStringMatch(*m.method, what + "method");
      if (s.ok() && m.path) s = CheckStringMatch(*m.path, what + "path");
      for (const auto& [name, value] : m.headers) {
        if (!s.ok()) break;
        if (!IsHeaderName(name)) {
          s = InvalidArgumentError("ramp/proxy: " + what + "\"" + name +
                                   "\" is not an HTTP header name");
        } else {
          s = CheckStringMatch(value, what + "(" + name + ")");
        }
      }
      if (!s.ok()) {
        done(std::move(s));
        return;
      }
    }
    core_->Change([route, managed = core_->context().managed_routes](
                      DesiredState* s) { Upsert(&s->mirror_routes, route, managed); },
                  std::move(done));
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    core_->Change(
        [](DesiredState* s) {
          s->header_routes.clear();
          s->mirror_routes.clear();
        },
        std::move(done));
  }

  void SwitchService(ServiceRole role, std::string_view hash, StatusCallback done) override {
    const bool primary = role == ServiceRole::kStable || role == ServiceRole::kActive;
    core_->Change([primary, h = std::string(hash)](
                      DesiredState* s) { (primary ? s->primary_hash : s->secondary_hash) = h; },
                  std::move(done));
  }

  void SetRevisionEndpoints(std::string_view hash, const std::vector<std::string>& addresses,
                            StatusCallback done) override {
    for (const auto& a : addresses) {
      auto endpoint = proxy::ParseEndpoint(a, /*listen=*/false);
      if (!endpoint) {
        done(InvalidArgumentError("ramp/proxy: instance address of revision " + std::string(hash) +
                                  ": " + endpoint.error().message()));
        return;
      }
    }
    std::vector<std::string> sorted = addresses;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    core_->Change(
        [h = std::string(hash), sorted = std::move(sorted)](DesiredState* s) {
          if (sorted.empty()) {
            s->endpoints.erase(h);
          } else {
            s->endpoints[h] = sorted;
          }
        },
        std::move(done));
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                    StatusOrCallback<WeightCheck> done) override {
    (void)additional;
    core_->Verify(weight, std::move(done));
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

StatusOr<ProxyRouterConfig> DecodeProxyRouterConfig(const RouterContext& context) {
  json j = json::parse(context.config_json.empty() ? std::string("{}") : context.config_json,
                       nullptr, false);
  if (j.is_discarded()) {
    return Fail(InvalidArgumentError(std::string(kFieldPrefix) + ": not valid JSON"));
  }
  if (!j.is_object()) {
    return Fail(
        InvalidArgumentError(std::string(kFieldPrefix) + ": must be an object, got " + j.dump()));
  }
  ProxyRouterConfig c;
  c.service = ProxyServiceName(context.rollout);
  for (const auto& [key, value] : j.items()) {
    if (key == "listen") {
      ASSIGN_OR_RETURN(c.listen, GetListen(value, key));
    } else if (key == "previewListen") {
      ASSIGN_OR_RETURN(c.preview_listen, GetListen(value, key));
    } else if (key == "service") {
      ASSIGN_OR_RETURN(c.service, GetString(value, key));
      if (!IsProxyServiceName(c.service)) {
        return Fail(FieldError(
            key, "must be 1-253 letters, digits, '-', '.', '_', got \"" + c.service + "\""));
      }
    } else if (key == "admin") {
      RETURN_IF_ERROR(DecodeAdmin(value, &c));
    } else if (key == "sticky") {
      RETURN_IF_ERROR(DecodeSticky(value, &c));
    } else if (key == "loadBalancing") {
      ASSIGN_OR_RETURN(c.load_balancing, GetString(value, key));
      if (c.load_balancing != "roundRobin" && c.load_balancing != "leastRequest") {
        return Fail(FieldError(
            key, "must be roundRobin or leastRequest, got \"" + c.load_balancing + "\""));
      }
    } else if (key == "connectTimeout") {
      ASSIGN_OR_RETURN(c.connect_timeout, GetDuration(value, key, 1'000'000));
    } else if (key == "requestTimeout") {
      ASSIGN_OR_RETURN(c.request_timeout, GetDuration(value, key, 0));
    } else if (key == "idleTimeout") {
      ASSIGN_OR_RETURN(c.idle_timeout, GetDuration(value, key, 1'000'000'000));
    } else {
      return Fail(FieldError(key, "unknown field (known: " + std::string(kKnownFields) + ")"));
    }
  }
  if (c.listen.empty()) {
    return Fail(FieldError("listen",
                           "required: the address the proxy serves the Rollout's traffic on, "
                           "e.g. \":8080\""));
  }
  if (!c.preview_listen.empty() && c.preview_listen == c.listen) {
    return Fail(
        FieldError("previewListen", "must differ from listen (both are \"" + c.listen + "\")"));
  }
  if (!IsProxyServiceName(c.service)) {
    return Fail(InvalidArgumentError("ramp/proxy: the Rollout's proxy service name \"" + c.service +
                                     "\" is not one the proxy accepts (letters, digits, '-', '.', "
                                     "'_'; at most 253)"));
  }
  c.preview_service = ProxyPreviewServiceName(c.service);
  return c;
}

StatusOr<std::unique_ptr<TrafficRouter>> NewProxyRouter(const RouterContext& context,
                                                        const ProxyRouterOptions& options) {
  if (options.http == nullptr) {
    return Fail(InvalidArgumentError("ramp/proxy: no HTTP client given to the router factory"));
  }
  ASSIGN_OR_RETURN(ProxyRouterConfig config, DecodeProxyRouterConfig(context));
  if (context.max_weight < 1 || context.max_weight > 10000) {
    return Fail(InvalidArgumentError("ramp/proxy: maxTrafficWeight " +
                                     std::to_string(context.max_weight) +
                                     " is outside 1..10000 (the proxy's maxWeight)"));
  }
  std::string admin_url = config.admin_url;
  std::string token;
  if (!admin_url.empty()) {
    ASSIGN_OR_RETURN(token, ReadToken(config.admin_token_file));
  } else {
    admin_url = options.admin_url;
    token = options.admin_token;
  }
  while (!admin_url.empty() && admin_url.back() == '/') admin_url.pop_back();
  if (admin_url.empty()) {
    return Fail(FailedPreconditionError(
        "ramp/proxy: no proxy admin API is known for Rollout " + context.rollout.Key() +
        ": set admin.address and admin.tokenFile in trafficRouting.plugins[\"ramp/proxy\"], or "
        "give ramp the admin API of the proxy it manages"));
  }
  auto core = std::make_shared<Core>(std::move(config), context, options.http, std::move(admin_url),
                                     std::move(token), options.admin_timeout);
  return std::unique_ptr<TrafficRouter>(std::make_unique<ProxyRouter>(std::move(core)));
}

}  // namespace ramp::proxy_router
