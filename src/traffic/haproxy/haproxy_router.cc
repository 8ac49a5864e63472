#include "traffic/haproxy/haproxy_router.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include <re2/re2.h>

#include "spec/common.h"
#include "traffic/haproxy/haproxy_runtime.h"
#include "traffic/pcre_literal.h"

namespace ramp::haproxy {
namespace {

constexpr std::string_view kFieldPrefix = "trafficRouting.plugins[\"ramp/haproxy\"].";

Status FieldError(std::string_view field, std::string_view what) {
  return InvalidArgumentError(std::string(kFieldPrefix) + std::string(field) + ": " +
                              std::string(what));
}

bool IsNameChar(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || (allow_colon && c == ':');
}

bool IsName(std::string_view s, bool allow_colon) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [&](char c) { return IsNameChar(c, allow_colon); });
}

bool HasSpaceOrControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == '\x7f'; });
}

StatusOr<std::string> GetString(const nlohmann::json& obj, std::string_view field) {
  const auto& v = obj.at(std::string(field));
  if (!v.is_string()) return Fail(FieldError(field, "must be a string, got " + v.dump()));
  return v.get<std::string>();
}

}  // namespace

StatusOr<HaproxyConfig> DecodeHaproxyConfig(const RouterContext& context) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(context.config_json.empty() ? std::string("{}")
                                                          : context.config_json);
  } catch (const nlohmann::json::exception& e) {
    return Fail(InvalidArgumentError(std::string("trafficRouting.plugins[\"ramp/haproxy\"]: ") +
                                     "not valid JSON: " + e.what()));
  }
  if (!j.is_object()) {
    return Fail(InvalidArgumentError(
        "trafficRouting.plugins[\"ramp/haproxy\"]: must be an object, got " + j.dump()));
  }
  HaproxyConfig c;
  c.stable_backend =
      !context.stable_service.empty() ? context.stable_service : context.active_service;
  c.canary_backend =
      !context.canary_service.empty() ? context.canary_service : context.preview_service;
  c.map_key = context.rollout.name;
  bool have_api = false;
  bool have_map = false;
  for (const auto& [key, value] : j.items()) {
    if (key == "runtimeApi") {
      ASSIGN_OR_RETURN(c.runtime_api, GetString(j, key));
      auto parsed = ParseRuntimeAddress(c.runtime_api);
      if (!parsed.has_value()) return Fail(FieldError(key, parsed.error().message()));
      have_api = true;
    } else if (key == "stableBackend" || key == "canaryBackend") {
      ASSIGN_OR_RETURN(std::string b, GetString(j, key));
      if (!IsName(b, true)) {
        return Fail(FieldError(
            key, "must be an HAProxy backend name (letters, digits, '-', '_', '.', ':'), got \"" +
                     b + "\""));
      }
      (key == "stableBackend" ? c.stable_backend : c.canary_backend) = b;
    } else if (key == "serverTemplate") {
      ASSIGN_OR_RETURN(c.server_template, GetString(j, key));
      if (!IsName(c.server_template, false)) {
        return Fail(FieldError(key,
                               "must be the prefix of a `server-template` (letters, digits, "
                               "'-', '_', '.'), got \"" +
                                   c.server_template + "\""));
      }
    } else if (key == "weightMap") {
      if (!value.is_object()) return Fail(FieldError(key, "must be an object with file and key"));
      for (const auto& [wkey, wvalue] : value.items()) {
        const std::string path = "weightMap." + wkey;
        if (wkey != "file" && wkey != "key") {
          return Fail(FieldError(path, "unknown field (known: file, key)"));
        }
        if (!wvalue.is_string()) return Fail(FieldError(path, "must be a string"));
        std::string s = wvalue.get<std::string>();
        if (s.empty() || HasSpaceOrControl(s)) {
          return Fail(FieldError(path, "must be non-empty without spaces, got \"" + s + "\""));
        }
        if (wkey == "file") {
          c.map_file = s;
          have_map = true;
        } else {
          c.map_key = s;
        }
      }
    } else if (key == "timeout") {
      ASSIGN_OR_RETURN(std::string t, GetString(j, key));
      std::optional<int64_t> nanos = spec::ParseGoDuration(t);
      if (!nanos.has_value() || *nanos < 1'000'000) {
        return Fail(
            FieldError(key, "must be a duration of at least 1ms (\"5s\"), got \"" + t + "\""));
      }
      c.timeout = Duration(*nanos);
    } else {
      return Fail(FieldError(key,
                             "unknown field (known: runtimeApi, stableBackend, canaryBackend, "
                             "serverTemplate, weightMap, timeout)"));
    }
  }
  if (!have_api) {
    return Fail(FieldError("runtimeApi",
                           "required: HAProxy's runtime API, a unix socket path or host:port as "
                           "`stats socket` declares it"));
  }
  if (!have_map) {
    return Fail(FieldError("weightMap.file",
                           "required: the map file the frontend reads the canary weight from"));
  }
  if (c.stable_backend.empty() || c.canary_backend.empty()) {
    return Fail(FieldError(c.stable_backend.empty() ? "stableBackend" : "canaryBackend",
                           "required when the strategy names no stable/active and canary/preview "
                           "service"));
  }
  if (!IsName(c.stable_backend, true) || !IsName(c.canary_backend, true)) {
    return Fail(FieldError("stableBackend",
                           "the service names are not valid HAProxy backend names; set "
                           "stableBackend and canaryBackend"));
  }
  if (c.stable_backend == c.canary_backend) {
    return Fail(FieldError(
        "canaryBackend",
        "the canary and stable backends must differ (both are \"" + c.stable_backend + "\")"));
  }
  if (c.map_key.empty() || HasSpaceOrControl(c.map_key)) {
    return Fail(FieldError("weightMap.key", "must be non-empty without spaces"));
  }
  c.header_acl_file = HeaderRouteAclFile(c.map_file, c.map_key);
  return c;
}

std::string HeaderRouteAclFile(std::string_view map_file, std::string_view map_key) {
  size_t slash = map_file.rfind('/');
  std::string dir =
      slash == std::string_view::npos ? "" : std::string(map_file.substr(0, slash + 1));
  std::string key(map_key);
  std::replace(key.begin(), key.end(), '/', '_');
  return dir + "ramp-headers-" + key + ".acl";
}

namespace {

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

using traffic::PcreLiteral;

}  // namespace

StatusOr<std::vector<std::string>> HeaderRoutePatterns(const HeaderRoute& route) {
  const std::string where = "ramp/haproxy: header route \"" + route.name + "\": ";
  std::vector<std::string> patterns;
  for (const HeaderMatch& m : route.matches) {
    if (m.header_name.empty() ||
        !std::all_of(m.header_name.begin(), m.header_name.end(), IsTokenChar)) {
      return Fail(InvalidArgumentError(where + "header name \"" + m.header_name +
                                       "\" is not an HTTP token"));
    }
    const std::string& v = m.header_value.value;
    if (std::any_of(v.begin(), v.end(), [](char c) {
          return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == '\x7f';
        })) {
      return Fail(InvalidArgumentError(where + "the value of header " + m.header_name +
                                       " has a control character"));
    }
    std::string name = m.header_name;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    std::string p = "(?:^|\\n)" + PcreLiteral(name) + ": ";
    switch (m.header_value.kind) {
      case StringMatch::Kind::kExact:
        p += PcreLiteral(v) + "\\r\\n";
        break;
      case StringMatch::Kind::kPrefix:
        p += PcreLiteral(v) + "[^\\r\\n]*\\r\\n";
        break;
      case StringMatch::Kind::kRegex: {
        std::string_view r = v;
        if (r.starts_with('^')) r.remove_prefix(1);
        if (r.ends_with('$') && !(r.size() >= 2 && r[r.size() - 2] == '\\')) r.remove_suffix(1);
        RE2 check{re2::StringPiece(r.data(), r.size()), RE2::Quiet};
        if (!check.ok()) {
          return Fail(InvalidArgumentError(where + "regex \"" + v + "\" for header " +
                                           m.header_name + " is invalid: " + check.error()));
        }
        p += "(?:" + std::string(r) + ")\\r\\n";
        break;
      }
    }
    patterns.push_back(std::move(p));
  }
  return patterns;
}

int32_t MapPercent(int32_t weight, int32_t max_weight) {
  if (max_weight <= 0 || weight <= 0) return 0;
  if (weight >= max_weight) return 100;
  int64_t p = (static_cast<int64_t>(weight) * 100 + max_weight / 2) / max_weight;
  return static_cast<int32_t>(std::clamp<int64_t>(p, 1, 99));
}

std::string SetMapCommand(const HaproxyConfig& config, int32_t percent) {
  return "set map " + config.map_file + " " + config.map_key + " " + std::to_string(percent);
}

std::string AddMapCommand(const HaproxyConfig& config, int32_t percent) {
  return "add map " + config.map_file + " " + config.map_key + " " + std::to_string(percent);
}

std::string GetMapCommand(const HaproxyConfig& config) {
  return "get map " + config.map_file + " " + config.map_key;
}

std::string SetServerAddrCommand(std::string_view backend, std::string_view server,
                                 std::string_view ip, int port) {
  return "set server " + std::string(backend) + "/" + std::string(server) + " addr " +
         std::string(ip) + " port " + std::to_string(port);
}

std::string SetServerStateCommand(std::string_view backend, std::string_view server, bool ready) {
  return "set server " + std::string(backend) + "/" + std::string(server) + " state " +
         (ready ? "ready" : "maint");
}

StatusOr<Endpoint> ResolveEndpoint(std::string_view address) {
  std::string_view host;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return Fail(InvalidArgumentError("ramp/haproxy: instance address \"" + std::string(address) +
                                       "\" is not [v6]:port"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos || address.find(':') != colon) {
      return Fail(InvalidArgumentError("ramp/haproxy: instance address \"" + std::string(address) +
                                       "\" is not host:port"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
    return Fail(InvalidArgumentError("ramp/haproxy: instance address \"" + std::string(address) +
                                     "\" needs a host and a port in 1..65535"));
  }
  const std::string host_str(host);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host_str.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Fail(UnavailableError("ramp/haproxy: cannot resolve instance host \"" + host_str +
                                 "\": " + gai_strerror(rc)));
  }
  char buf[INET6_ADDRSTRLEN] = {};
  rc = getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST);
  freeaddrinfo(res);
  if (rc != 0) {
    return Fail(UnavailableError("ramp/haproxy: cannot format the address of \"" + host_str +
                                 "\": " + gai_strerror(rc)));
  }
  return Endpoint{buf, p};
}

namespace {

class HaproxyRouter final : public TrafficRouter {
 public:
  HaproxyRouter(HaproxyConfig config, RuntimeAddress address, int32_t max_weight)
      : config_(std::move(config)), address_(std::move(address)), max_weight_(max_weight) {
    worker_ = std::thread([this] { Work(); });
  }

  ~HaproxyRouter() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
    // What the worker did not start is cancelled, in order.
    for (auto& task : queue_) task.cancel();
  }

  std::string_view Type() const override { return kHaproxyRouterName; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    if (Status s = CheckWeights(weight, additional); !s.ok()) {
      done(s);
      return;
    }
    Enqueue(
        [this, weight, done] {
          Status s = ApplyWeight(weight);
          done(s.ok() ? s : s.WithPrefix("ramp/haproxy: set weight"));
        },
        done);
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    auto patterns = HeaderRoutePatterns(route);
    if (!patterns.has_value()) {
      done(patterns.error());
      return;
    }
    Enqueue(
        [this, name = route.name, patterns = std::move(*patterns), done] {
          if (patterns.empty()) {
            header_routes_.erase(name);
          } else {
            header_routes_[name] = patterns;
          }
          Status s = ApplyHeaderRoutes();
          done(s.ok() ? s : s.WithPrefix("ramp/haproxy: header route \"" + name + "\""));
        },
        done);
  }

  void SetMirrorRoute(const MirrorRoute& route, StatusCallback done) override {
    if (route.matches.empty()) {
      done(OkStatus());
      return;
    }
    done(UnimplementedError("ramp/haproxy: mirror routes (setMirrorRoute \"" + route.name +
                            "\") are not supported: HAProxy 2.6 has no native traffic mirroring "
                            "(use ramp/proxy or ramp/nginx to mirror)"));
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    Enqueue(
        [this, done] {
          header_routes_.clear();
          Status s = ApplyHeaderRoutes();
          done(s.ok() ? s : s.WithPrefix("ramp/haproxy: remove managed routes"));
        },
        done);
  }

  void SwitchService(ServiceRole role, std::string_view hash, StatusCallback done) override {
    Enqueue(
        [this, role, hash = std::string(hash), done] {
          role_hash_[role] = hash;
          Status s = ApplyRole(role);
          done(s.ok() ? s
                      : s.WithPrefix("ramp/haproxy: switch " + std::string(ServiceRoleName(role)) +
                                     " to \"" + hash + "\""));
        },
        done);
  }

  void SetRevisionEndpoints(std::string_view hash, const std::vector<std::string>& addresses,
                            StatusCallback done) override {
    Enqueue(
        [this, hash = std::string(hash), addresses, done] {
          if (addresses.empty()) {
            endpoints_.erase(hash);
          } else {
            endpoints_[hash] = addresses;
          }
          Status result;
          for (const auto& [role, h] : role_hash_) {
            if (h != hash || hash.empty()) continue;
            Status s = ApplyRole(role);
            if (!s.ok() && result.ok()) result = s;
          }
          done(result.ok() ? result
                           : result.WithPrefix("ramp/haproxy: endpoints of \"" + hash + "\""));
        },
        done);
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                    StatusOrCallback<WeightCheck> done) override {
    if (Status s = CheckWeights(weight, additional); !s.ok()) {
      done(Fail(s));
      return;
    }
    Enqueue(
        [this, weight, done] {
          auto check = ReadWeight(weight);
          if (!check.has_value()) {
            done(Fail(check.error().WithPrefix("ramp/haproxy: verify weight")));
          } else {
            done(std::move(check));
          }
        },
        [done] { done(Fail(CancelledError("ramp/haproxy: router destroyed"))); });
  }

 private:
  struct Task {
    std::function<void()> run;
    std::function<void()> cancel;
  };

  void Enqueue(std::function<void()> run, StatusCallback done) {
    Enqueue(std::move(run), [done] { done(CancelledError("ramp/haproxy: router destroyed")); });
  }

  void Enqueue(std::function<void()> run, std::function<void()> cancel) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(Task{std::move(run), std::move(cancel)});
    }
    cv_.notify_one();
  }

  void Work() {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task.run();
    }
  }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  // One runtime command; a failure to reach HAProxy marks the slots for re-assertion (it may
  // come back restarted, with the slots of its configuration file).
  StatusOr<std::string> Run(const std::string& command) {
    if (Stopping()) return Fail(CancelledError("router destroyed"));
    auto answer = RunRuntimeCommand(address_, command, config_.timeout);
    if (!answer.has_value() && (answer.error().code() == StatusCode::kUnavailable ||
                                answer.error().code() == StatusCode::kDeadlineExceeded)) {
      MarkDirty();
    }
    return answer;
  }

  void MarkDirty() {
    reassert_slots_ = true;
    worker_pid_.clear();
  }

  StatusOr<std::string> WorkerPid() {
    ASSIGN_OR_RETURN(std::string answer, Run("show info"));
    return ParseInfoPid(answer);
  }

  // Remembers which HAProxy worker holds the slots just filled.
  Status RememberWorker() {
    if (!worker_pid_.empty()) return OkStatus();
    ASSIGN_OR_RETURN(worker_pid_, WorkerPid());
    return OkStatus();
  }

  Status CheckWeights(int32_t weight, const std::vector<WeightDestination>& additional) const {
    if (weight < 0 || weight > max_weight_) {
      return InvalidArgumentError("ramp/haproxy: weight " + std::to_string(weight) +
                                  " is outside 0.." + std::to_string(max_weight_));
    }
    for (const auto& d : additional) {
      if (d.weight != 0) {
        return UnimplementedError("ramp/haproxy: additional weight destinations (experiment \"" +
                                  d.service_name + "\") are not supported; only stable and canary");
      }
    }
    return OkStatus();
  }

  Status ApplyWeight(int32_t weight) {
    if (reassert_slots_) {
      for (const auto& [role, hash] : role_hash_) {
        RETURN_IF_ERROR(ApplyRole(role));
      }
      RETURN_IF_ERROR(ApplyHeaderRoutes());
      reassert_slots_ = false;
    }
    const int32_t percent = MapPercent(weight, max_weight_);
    const std::string set = SetMapCommand(config_, percent);
    ASSIGN_OR_RETURN(std::string answer, Run(set));
    Status s = CheckEmptyAnswer(set, answer);
    if (s.code() != StatusCode::kNotFound) return s;
    const std::string add = AddMapCommand(config_, percent);
    ASSIGN_OR_RETURN(answer, Run(add));
    return CheckEmptyAnswer(add, answer);
  }

  StatusOr<WeightCheck> ReadWeight(int32_t weight) {
    const int32_t percent = MapPercent(weight, max_weight_);
    // A new worker (a reload or restart) starts from haproxy.cfg: the slots ramp filled are gone
    // even when the map value happens to match.
    std::string reloaded;
    if (reassert_slots_ && !role_hash_.empty()) {
      reloaded =
          "HAProxy was unreachable or reset since the server slots were filled; the next "
          "SetWeight re-fills them";
    } else if (!worker_pid_.empty()) {
      ASSIGN_OR_RETURN(std::string pid, WorkerPid());
      if (pid != worker_pid_) {
        reloaded = "HAProxy's worker changed (pid " + worker_pid_ + " → " + pid +
                   ": reloaded or restarted); the next SetWeight re-fills the server slots";
        MarkDirty();
      }
    }
    ASSIGN_OR_RETURN(std::string answer, Run(GetMapCommand(config_)));
    ASSIGN_OR_RETURN(std::optional<std::string> value, ParseGetMapAnswer(answer));
    WeightCheck check;
    if (!value.has_value()) {
      MarkDirty();
      check.verification = WeightVerification::kNotVerified;
      check.message = "key \"" + config_.map_key + "\" is missing from map " + config_.map_file +
                      " (HAProxy reloaded?); the next SetWeight re-asserts it";
      return check;
    }
    int32_t observed = 0;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), observed);
    if (ec != std::errc() || end != value->data() + value->size()) {
      MarkDirty();
      check.verification = WeightVerification::kNotVerified;
      check.message = "map " + config_.map_file + " holds \"" + *value + "\" for key \"" +
                      config_.map_key + "\", not a number";
      return check;
    }
    if (observed == percent && !reloaded.empty()) {
      check.verification = WeightVerification::kNotVerified;
      check.observed_weight = weight;
      check.message = reloaded;
      return check;
    }
    if (observed == percent && !header_routes_.empty()) {
      ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> acl, ReadHeaderAcl());
      std::set<std::string> now;
      if (acl.has_value()) now.insert(acl->begin(), acl->end());
      const std::vector<std::string> wanted = WantedHeaderPatterns();
      if (now != std::set<std::string>(wanted.begin(), wanted.end())) {
        MarkDirty();
        check.verification = WeightVerification::kNotVerified;
        check.observed_weight = weight;
        check.message = "the header routes in " + config_.header_acl_file +
                        " differ from ramp's (reset by a reload?); the next SetWeight re-asserts "
                        "them";
        return check;
      }
    }
    if (observed == percent) {
      check.verification = WeightVerification::kVerified;
      check.observed_weight = weight;
      return check;
    }
    MarkDirty();
    check.verification = WeightVerification::kNotVerified;
    check.observed_weight = static_cast<int32_t>(
        (static_cast<int64_t>(std::clamp(observed, 0, 100)) * max_weight_ + 50) / 100);
    check.message = "map " + config_.map_file + " holds " + std::to_string(observed) +
                    " for key \"" + config_.map_key + "\", expected " + std::to_string(percent) +
                    " (reset behind ramp's back, e.g. by a reload); the next SetWeight "
                    "re-asserts it";
    return check;
  }

  // The patterns every header route asks for, each once, in route-name order.
  std::vector<std::string> WantedHeaderPatterns() const {
    std::vector<std::string> wanted;
    std::set<std::string> seen;
    for (const auto& [name, patterns] : header_routes_) {
      for (const auto& p : patterns) {
        if (seen.insert(p).second) wanted.push_back(p);
      }
    }
    return wanted;
  }

  // The header-route ACL's entries as HAProxy holds them; nullopt when HAProxy loads no such ACL.
  StatusOr<std::optional<std::vector<std::string>>> ReadHeaderAcl() {
    ASSIGN_OR_RETURN(std::string answer,
                     Run("show acl " + EscapeRuntimeArgument(config_.header_acl_file)));
    auto patterns = ParseShowAclAnswer(answer);
    if (!patterns.has_value()) {
      if (patterns.error().code() == StatusCode::kFailedPrecondition) {
        return std::optional<std::vector<std::string>>();
      }
      return Fail(patterns.error());
    }
    return std::optional<std::vector<std::string>>(std::move(*patterns));
  }

  // Makes the header-route ACL hold exactly the wanted patterns: new ones added first, then the
  // ones no route wants deleted, then read back.
  Status ApplyHeaderRoutes() {
    const std::vector<std::string> wanted = WantedHeaderPatterns();
    ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> current, ReadHeaderAcl());
    if (!current.has_value()) {
      if (wanted.empty()) return OkStatus();  // nothing to remove where nothing can be
      return FailedPreconditionError(
          "HAProxy has no ACL loaded from " + config_.header_acl_file +
          "; header routes need it in the frontend, before the weight rule: `acl " +
          "ramp_header_route req.hdrs -m reg -f " + config_.header_acl_file +
          "` and `use_backend " + config_.canary_backend +
          " if ramp_header_route` (create the file empty; docs/routers.md)");
    }
    const std::set<std::string> have(current->begin(), current->end());
    const std::set<std::string> want(wanted.begin(), wanted.end());
    const std::string file = EscapeRuntimeArgument(config_.header_acl_file);
    for (const auto& p : wanted) {
      if (have.count(p) != 0) continue;
      const std::string add = "add acl " + file + " " + EscapeRuntimeArgument(p);
      ASSIGN_OR_RETURN(std::string answer, Run(add));
      RETURN_IF_ERROR(CheckEmptyAnswer(add, answer));
    }
    for (const auto& p : have) {
      if (want.count(p) != 0) continue;
      const std::string del = "del acl " + file + " " + EscapeRuntimeArgument(p);
      ASSIGN_OR_RETURN(std::string answer, Run(del));
      Status s = CheckEmptyAnswer(del, answer);
      if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    }
    ASSIGN_OR_RETURN(current, ReadHeaderAcl());
    std::set<std::string> now;
    if (current.has_value()) now.insert(current->begin(), current->end());
    if (now != want) {
      return InternalError("the ACL " + config_.header_acl_file + " holds " +
                           std::to_string(now.size()) + " patterns after the update, expected " +
                           std::to_string(want.size()));
    }
    return OkStatus();
  }

  const std::string& BackendFor(ServiceRole role) const {
    return role == ServiceRole::kStable || role == ServiceRole::kActive ? config_.stable_backend
                                                                        : config_.canary_backend;
  }

  // The `server-template` slots of `backend`, in declaration order, with their current state.
  StatusOr<std::vector<ServerState>> SlotStates(const std::string& backend) {
    ASSIGN_OR_RETURN(std::string answer, Run("show servers state " + backend));
    ASSIGN_OR_RETURN(std::vector<ServerState> servers, ParseServerStates(backend, answer));
    std::vector<ServerState> slots;
    for (auto& s : servers) {
      std::string_view rest = std::string_view(s.name);
      if (!rest.starts_with(config_.server_template)) continue;
      rest.remove_prefix(config_.server_template.size());
      if (!rest.empty() &&
          std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        slots.push_back(std::move(s));
      }
    }
    if (slots.empty()) {
      return Fail(FailedPreconditionError(
          "backend \"" + backend + "\" has no server slots named " + config_.server_template +
          "<N>; declare them with `server-template " + config_.server_template + " 1-<N> …`"));
    }
    return slots;
  }

  // Points the backend of `role` at the instances of its revision, make-before-break: instances
  // already in a live slot stay untouched; new ones go into free (maint) slots, which are set
  // ready; only then are the slots of instances no longer wanted put in maint, where HAProxy lets
  // their running requests finish and sends them no new ones. A live slot's address is never
  // rewritten (HAProxy 2.6 would keep reusing idle connections to the old address). Reads the
  // slots' real state first, so it also repairs slots reset by a reload.
  Status ApplyRole(ServiceRole role) {
    const std::string& backend = BackendFor(role);
    std::vector<Endpoint> wanted;
    auto hash_it = role_hash_.find(role);
    if (hash_it != role_hash_.end() && !hash_it->second.empty()) {
      auto ep = endpoints_.find(hash_it->second);
      if (ep != endpoints_.end()) {
        for (const auto& a : ep->second) {
          ASSIGN_OR_RETURN(Endpoint e, ResolveEndpoint(a));
          bool dup = std::any_of(wanted.begin(), wanted.end(), [&](const Endpoint& w) {
            return w.ip == e.ip && w.port == e.port;
          });
          if (!dup) wanted.push_back(std::move(e));
        }
      }
    }
    ASSIGN_OR_RETURN(std::vector<ServerState> slots, SlotStates(backend));
    if (wanted.size() > slots.size()) {
      return FailedPreconditionError(std::to_string(wanted.size()) + " instances but backend \"" +
                                     backend + "\" declares only " + std::to_string(slots.size()) +
                                     " slots (`server-template " + config_.server_template + " 1-" +
                                     std::to_string(slots.size()) +
                                     "`); raise the slot count in haproxy.cfg");
    }
    auto holds = [](const ServerState& s, const Endpoint& e) {
      return s.addr == e.ip && s.port == e.port;
    };
    std::vector<bool> keep(slots.size(), false);
    std::vector<const Endpoint*> to_add;
    for (const Endpoint& e : wanted) {
      bool found = false;
      for (size_t i = 0; i < slots.size() && !found; ++i) {
        if (!keep[i] && slots[i].Live() && holds(slots[i], e)) keep[i] = found = true;
      }
      if (!found) to_add.push_back(&e);
    }
    // Fills free slots with what is left of to_add (a free slot that already holds the address
    // first, so that only its state changes).
    auto fill = [&]() -> Status {
      for (auto it = to_add.begin(); it != to_add.end();) {
        const Endpoint& e = **it;
        std::optional<size_t> pick;
        for (size_t i = 0; i < slots.size(); ++i) {
          if (keep[i] || slots[i].Live()) continue;
          if (holds(slots[i], e)) {
            pick = i;
            break;
          }
          if (!pick) pick = i;
        }
        if (!pick) return OkStatus();
        ServerState& slot = slots[*pick];
        if (!holds(slot, e)) {
          const std::string addr = SetServerAddrCommand(backend, slot.name, e.ip, e.port);
          ASSIGN_OR_RETURN(std::string answer, Run(addr));
          RETURN_IF_ERROR(CheckSetAddrAnswer(addr, answer));
          slot.addr = e.ip;
          slot.port = e.port;
        }
        const std::string ready = SetServerStateCommand(backend, slot.name, true);
        ASSIGN_OR_RETURN(std::string answer, Run(ready));
        RETURN_IF_ERROR(CheckEmptyAnswer(ready, answer));
        keep[*pick] = true;
        slot.admin_state &= ~0x3b;
        it = to_add.erase(it);
      }
      return OkStatus();
    };
    RETURN_IF_ERROR(fill());
    // Drain what is no longer wanted: every other slot goes to maint (unless it already is).
    for (size_t i = 0; i < slots.size(); ++i) {
      if (keep[i] || (slots[i].admin_state & 0x01) != 0) continue;  // kept, or already in maint
      const std::string maint = SetServerStateCommand(backend, slots[i].name, false);
      ASSIGN_OR_RETURN(std::string answer, Run(maint));
      RETURN_IF_ERROR(CheckEmptyAnswer(maint, answer));
      slots[i].admin_state |= 0x01;
    }
    // Without enough free slots for make-before-break, the rest goes into the slots just freed.
    RETURN_IF_ERROR(fill());
    if (!to_add.empty()) {
      return InternalError("no free server slot left in backend \"" + backend + "\"");
    }
    return RememberWorker();
  }

  const HaproxyConfig config_;
  const RuntimeAddress address_;
  const int32_t max_weight_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;  // guarded by mu_
  bool stop_ = false;       // guarded by mu_

  // Worker-thread state.
  std::map<ServiceRole, std::string> role_hash_;
  std::map<std::string, std::vector<std::string>> endpoints_;
  std::map<std::string, std::vector<std::string>> header_routes_;  // name → patterns
  bool reassert_slots_ = false;
  std::string worker_pid_;  // the worker whose slots ramp filled; empty when unknown

  std::thread worker_;  // last: starts after the members above exist
};

}  // namespace

StatusOr<std::unique_ptr<TrafficRouter>> NewHaproxyRouter(const RouterContext& context) {
  ASSIGN_OR_RETURN(HaproxyConfig config, DecodeHaproxyConfig(context));
  ASSIGN_OR_RETURN(RuntimeAddress address, ParseRuntimeAddress(config.runtime_api));
  if (context.max_weight <= 0) {
    return Fail(InvalidArgumentError("ramp/haproxy: maxTrafficWeight must be positive, got " +
                                     std::to_string(context.max_weight)));
  }
  return std::unique_ptr<TrafficRouter>(
      new HaproxyRouter(std::move(config), std::move(address), context.max_weight));
}

}  // namespace ramp::haproxy
