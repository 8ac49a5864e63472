#include "daemon/api.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "analysis/analysis.h"
#include "daemon/standalone_runs.h"
#include "engine/status.h"
#include "net/http_server.h"
#include "platform/process/instance_logs.h"
#include "spec/analysis.h"

namespace ramp::daemon {
namespace {

using nlohmann::json;

// At most this much of each instance's log in one answer.
constexpr size_t kMaxLogBytes = 1 << 20;

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

net::ServerResponse JsonReply(int status, const json& body) {
  net::ServerResponse r;
  r.status = status;
  r.body = body.dump() + "\n";
  return r;
}

net::ServerResponse ErrorReply(int status, std::string_view message, std::string_view hint = {}) {
  json body = {{"error", message}};
  if (!hint.empty()) body["hint"] = hint;
  return JsonReply(status, body);
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  std::ifstream in("/dev/urandom", std::ios::binary);
  in.read(raw.data(), static_cast<std::streamsize>(bytes));
  std::string out;
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

StatusOr<std::string> ReadOrCreateToken(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::string token;
    std::getline(in, token);
    if (token.size() < 16) {
      return Fail(FailedPreconditionError(
          fmt::format("{}: the token is shorter than 16 characters; delete the file to get a new "
                      "one",
                      path)));
    }
    return token;
  }
  const std::string token = RandomHex(32);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(UnavailableError(fmt::format("{}: cannot create: {}", path, std::strerror(errno))));
  }
  const std::string line = token + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fsync(fd);
  ::close(fd);
  if (!ok) return Fail(UnavailableError(fmt::format("{}: cannot write", path)));
  return token;
}

json RevisionJson(const RevisionStatus& r, const engine::RolloutState& state) {
  json instances = json::array();
  for (const InstanceStatus& i : r.instances) {
    json inst = {{"id", i.id},
                 {"address", i.address},
                 {"state", InstanceStateName(i.state)},
                 {"restarts", i.restarts}};
    if (!i.message.empty()) inst["message"] = i.message;
    instances.push_back(std::move(inst));
  }
  json out = {{"hash", r.hash},
              {"revision", r.revision},
              {"desiredReplicas", r.desired_replicas},
              {"instances", std::move(instances)}};
  for (const engine::RevisionRecord& rec : state.revisions) {
    if (rec.hash != r.hash) continue;
    out["revision"] = rec.revision;
    if (!rec.pod_template.containers.empty()) {
      out["image"] = rec.pod_template.containers[0].image;
    }
  }
  return out;
}

}  // namespace

Role Tokens::RoleOf(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.substr(0, kBearer.size()) != kBearer) return Role::kNone;
  const std::string_view token = authorization.substr(kBearer.size());
  if (!operator_token.empty() && ConstantTimeEqual(token, operator_token)) return Role::kOperator;
  if (!readonly_token.empty() && ConstantTimeEqual(token, readonly_token)) return Role::kReadOnly;
  return Role::kNone;
}

StatusOr<Tokens> LoadOrCreateTokens(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail(UnavailableError(fmt::format("{}: cannot create: {}", dir, std::strerror(errno))));
  }
  Tokens t;
  ASSIGN_OR_RETURN(t.operator_token, ReadOrCreateToken(dir + "/operator.token"));
  ASSIGN_OR_RETURN(t.readonly_token, ReadOrCreateToken(dir + "/readonly.token"));
  return t;
}

json RolloutViewJson(const RolloutView& view) {
  const runtime::RolloutSnapshot& s = view.snapshot;
  json rollout = s.manifest;
  if (!rollout.is_object()) rollout = json::object();
  rollout["status"] = engine::ToJson(s.state.status);
  json revisions = json::array();
  std::set<std::string> listed;
  for (const RevisionStatus& r : s.revisions) {
    revisions.push_back(RevisionJson(r, s.state));
    listed.insert(r.hash);
  }
  for (const engine::RevisionRecord& rec : s.state.revisions) {
    if (listed.count(rec.hash) > 0) continue;
    RevisionStatus empty;
    empty.hash = rec.hash;
    revisions.push_back(RevisionJson(empty, s.state));
  }
  json runs = json::array();
  for (const spec::AnalysisRun& run : s.state.analysis_runs) runs.push_back(spec::ToJson(run));
  json out = {{"rollout", std::move(rollout)},
              {"revisions", std::move(revisions)},
              {"analysisRuns", std::move(runs)}};
  if (s.deleting) out["deleting"] = true;
  return out;
}

namespace {

class ApiImpl : public ApiServer {
 public:
  ApiImpl(ApiOptions options, Daemon* daemon) : options_(std::move(options)), daemon_(daemon) {}

  ~ApiImpl() override { Stop(); }

  Status Begin() {
    net::HttpServerOptions o;
    o.address = options_.address;
    o.tls_cert_file = options_.tls_cert_file;
    o.tls_key_file = options_.tls_key_file;
    o.max_body_bytes = options_.max_body_bytes;
    o.threads = options_.threads;
    // Watch streams stay open; the idle timeout bounds each write only.
    o.idle_timeout = std::chrono::minutes(10);
    ASSIGN_OR_RETURN(
        server_, net::HttpServer::Start(
                     o, [this](net::ServerRequest req, std::shared_ptr<net::ServerReply> reply) {
                       Handle(std::move(req), std::move(reply));
                     }));
    return OkStatus();
  }

  std::string Address() const override { return server_ ? server_->Address() : ""; }
  bool Tls() const override { return !options_.tls_cert_file.empty(); }

  void Stop() override {
    if (server_) server_->Stop();
    std::lock_guard<std::mutex> lock(watch_mu_);
    watches_.clear();
  }

 private:
  void Audit(const net::ServerRequest& req, Role role, int status) {
    json line = {{"time", engine::FormatMetaTime(options_.clock->Now())},
                 {"role", role == Role::kOperator   ? "operator"
                          : role == Role::kReadOnly ? "read-only"
                                                    : "none"},
                 {"peer", req.peer},
                 {"method", req.method},
                 {"path", req.path},
                 {"status", status}};
    std::lock_guard<std::mutex> lock(audit_mu_);
    std::ofstream out(options_.audit_log, std::ios::app);
    out << line.dump() << "\n";
  }

  void Handle(net::ServerRequest req, std::shared_ptr<net::ServerReply> reply) {
    const std::vector<std::string> parts = Split(req.path);
    if (req.method == "GET" && req.path == "/healthz") {
      net::ServerResponse r;
      r.content_type = "text/plain";
      r.body = "ok\n";
      return reply->Send(std::move(r));
    }
    if (req.method == "GET" && req.path == "/metrics") return reply->Send(Metrics());
    const bool mutating = req.method != "GET" && req.method != "HEAD";
    const Role role = options_.tokens.RoleOf(req.Header("authorization"));
    if (role == Role::kNone) {
      Audit(req, role, 401);
      net::ServerResponse r =
          ErrorReply(401,
                     req.Header("authorization").empty() ? "a bearer token is required"
                                                         : "the token is not valid",
                     "pass the operator or read-only token from the daemon's tokens directory "
                     "(ramp --token-file FILE, or RAMP_TOKEN)");
      r.headers.push_back({"WWW-Authenticate", "Bearer"});
      return reply->Send(std::move(r));
    }
    if (mutating && role != Role::kOperator) {
      Audit(req, role, 403);
      return reply->Send(
          ErrorReply(403, "the read-only token cannot change anything", "use the operator token"));
    }
    // Answers and audits.
    auto send = [this, req, role, reply](net::ServerResponse r) {
      if (req.method != "GET") Audit(req, role, r.status);
      reply->Send(std::move(r));
    };
    if (parts.empty() || parts[0] != "v1") return send(ErrorReply(404, "no such route"));

    // POST /v1/apply
    if (parts.size() == 2 && parts[1] == "apply") {
      if (req.method != "POST") return send(ErrorReply(405, "use POST"));
      std::string file = req.Header("x-ramp-file");
      if (file.empty()) file = "request";
      daemon_->Apply(req.body, file, [send](StatusOr<std::vector<Applied>> r) {
        if (!r) return send(ErrorReply(HttpStatusOf(r.error()), r.error().message()));
        json applied = json::array();
        for (const Applied& a : *r) {
          applied.push_back({{"kind", a.kind}, {"name", a.key}, {"action", a.action}});
        }
        send(JsonReply(200, {{"applied", applied}}));
      });
      return;
    }
    // /v1/rollouts[/ns/name[/events|/actions/<verb>]]
    if (parts.size() >= 2 && parts[1] == "rollouts") return Rollouts(req, parts, reply, send);
    if (parts.size() >= 2 && parts[1] == "analysistemplates") return Templates(req, parts, send);
    // DELETE /v1/rolloutwebhooks/NS/NAME (they are applied with /v1/apply).
    if (parts.size() == 4 && parts[1] == "rolloutwebhooks") {
      if (req.method != "DELETE") return send(ErrorReply(405, "use DELETE"));
      daemon_->DeleteTemplate("RolloutWebhooks", ObjectRef{parts[2], parts[3]}, [send](Status s) {
        if (!s.ok()) return send(ErrorReply(HttpStatusOf(s), s.message()));
        send(JsonReply(200, {{"deleted", true}}));
      });
      return;
    }
    // /v1/analysisruns/<ns>/<name>/actions/terminate
    if (parts.size() == 6 && parts[1] == "analysisruns" && parts[4] == "actions") {
      if (req.method != "POST") return send(ErrorReply(405, "use POST"));
      if (parts[5] != "terminate") {
        return send(ErrorReply(404, fmt::format("unknown analysisrun action \"{}\"; one of "
                                                "terminate",
                                                parts[5])));
      }
      const ObjectRef run{parts[2], parts[3]};
      daemon_->TerminateAnalysisRun(run, [this, send, run](StatusOr<std::string> r) {
        // Not a rollout's: perhaps one created on its own.
        if (!r && r.error().code() == StatusCode::kNotFound && options_.runs != nullptr) {
          Status s = options_.runs->Terminate(run);
          if (s.ok()) return send(JsonReply(200, {{"message", "terminated"}}));
        }
        if (!r) return send(ErrorReply(HttpStatusOf(r.error()), r.error().message()));
        send(JsonReply(200, {{"message", *r}}));
      });
      return;
    }
    if (parts.size() == 2 && parts[1] == "analysisruns") {
      if (req.method == "POST") return CreateRun(req, send);
      if (req.method != "GET") return send(ErrorReply(405, "use GET or POST"));
      json runs = json::array();
      const std::string ns = req.query.count("namespace") ? req.query.at("namespace") : "";
      for (const RolloutView& v : daemon_->ListRollouts(ns)) {
        for (const spec::AnalysisRun& run : v.snapshot.state.analysis_runs) {
          runs.push_back(spec::ToJson(run));
        }
      }
      if (options_.runs != nullptr) {
        for (const spec::AnalysisRun& run : options_.runs->List(ns)) {
          runs.push_back(spec::ToJson(run));
        }
      }
      return send(JsonReply(200, {{"items", runs}}));
    }
    if (parts.size() == 2 && parts[1] == "watch") return Watch(req, reply);
    send(ErrorReply(404, "no such route"));
  }

  // POST /v1/analysisruns {from, clusterScope?, name? | generateName?, namespace?, args?: {k: v}}:
  // a run of the stored template on its own, as Argo's `create analysisrun --from`.
  template <typename Send>
  void CreateRun(const net::ServerRequest& req, Send send) {
    if (options_.runs == nullptr) {
      return send(ErrorReply(501, "this daemon runs no AnalysisRuns of its own"));
    }
    const json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("from") || !body["from"].is_string()) {
      return send(ErrorReply(400, "the body must be a JSON object with \"from\": a template name"));
    }
    analysis::TemplateRunOptions o;
    std::string generate_name;
    try {
      const std::string from = body.at("from").get<std::string>();
      const bool cluster = body.value("clusterScope", false);
      o.namespace_ = body.value("namespace", "default");
      o.name = body.value("name", "");
      generate_name = body.value("generateName", "");
      o.templates = {spec::AnalysisTemplateRef{from, cluster}};
      const json args = body.value("args", json::object());
      for (const auto& [k, v] : args.items()) {
        spec::Argument arg;
        arg.name = k;
        arg.value = v.template get<std::string>();
        o.args.push_back(std::move(arg));
      }
    } catch (const json::exception& e) {
      return send(ErrorReply(400, std::string("bad field in the body: ") + e.what()));
    }
    if (o.name.empty()) {
      o.name = (generate_name.empty() ? o.templates[0].template_name + "-" : generate_name) +
               RandomSuffix();
    }
    auto available = daemon_->AnalysisTemplates();
    auto made =
        options_.runs->MakeRun(o, available ? *available : std::vector<spec::AnalysisTemplate>());
    if (!made) {
      const bool missing = made.error().message().find("not found") != std::string::npos;
      return send(ErrorReply(missing ? 404 : 400, made.error().message(),
                             missing ? "ramp apply -f the template first" : ""));
    }
    const std::string name = made->run.metadata.name;
    Status created = options_.runs->Create(std::move(*made));
    if (!created.ok()) return send(ErrorReply(HttpStatusOf(created), created.message()));
    send(JsonReply(201, {{"name", name}, {"namespace", o.namespace_}}));
  }

  // Five characters as Kubernetes' generateName adds them.
  static std::string RandomSuffix() {
    static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    std::random_device rd;
    std::string out;
    for (int i = 0; i < 5; ++i) out += kAlphabet[rd() % (sizeof kAlphabet - 1)];
    return out;
  }

  // GET /v1/rollouts/NS/NAME/logs[?revision=N][&tail=LINES]: the output of the rollout's process
  // instances — of revision N, or of every revision that has instances now.
  template <typename Send>
  void Logs(const net::ServerRequest& req, const ObjectRef& ref, Send send) {
    if (req.method != "GET") return send(ErrorReply(405, "use GET"));
    if (options_.instance_logs_dir.empty()) {
      return send(ErrorReply(501, "instance logs are kept by the process platform only"));
    }
    auto v = daemon_->GetRollout(ref);
    if (!v) return send(ErrorReply(404, v.error().message(), "ramp list rollouts -A"));
    size_t tail = 200;
    std::optional<int64_t> revision;
    try {
      if (req.query.count("tail")) tail = std::stoul(req.query.at("tail"));
      if (req.query.count("revision")) revision = std::stoll(req.query.at("revision"));
    } catch (const std::exception&) {
      return send(ErrorReply(400, "tail and revision must be whole numbers"));
    }
    std::set<std::string> running;
    for (const RevisionStatus& r : v->snapshot.revisions) {
      if (!r.instances.empty()) running.insert(r.hash);
    }
    json items = json::array();
    bool found = false;
    for (const engine::RevisionRecord& rec : v->snapshot.state.revisions) {
      if (revision ? rec.revision != *revision : running.count(rec.hash) == 0) continue;
      found = true;
      for (const platform::InstanceLog& log :
           platform::ListInstanceLogs(options_.instance_logs_dir, ref, rec.hash)) {
        auto text = platform::TailFile(log.path, tail, kMaxLogBytes);
        if (!text) continue;  // removed while listed
        items.push_back({{"revision", rec.revision},
                         {"hash", rec.hash},
                         {"instance", log.instance},
                         {"text", std::move(*text)}});
      }
    }
    if (revision && !found) {
      return send(ErrorReply(404,
                             fmt::format("rollout {} has no revision {}", ref.Key(), *revision),
                             "ramp get rollout " + ref.name));
    }
    send(JsonReply(200, {{"items", items}}));
  }

  template <typename Send>
  void Rollouts(const net::ServerRequest& req, const std::vector<std::string>& parts,
                const std::shared_ptr<net::ServerReply>&, Send send) {
    if (parts.size() == 2) {
      if (req.method != "GET") return send(ErrorReply(405, "use GET"));
      const std::string ns = req.query.count("namespace") ? req.query.at("namespace") : "";
      json items = json::array();
      for (const RolloutView& v : daemon_->ListRollouts(ns)) items.push_back(RolloutViewJson(v));
      return send(JsonReply(200, {{"items", items}}));
    }
    if (parts.size() < 4) return send(ErrorReply(404, "use /v1/rollouts/<namespace>/<name>"));
    const ObjectRef ref{parts[2], parts[3]};
    if (parts.size() == 4) {
      if (req.method == "GET") {
        auto v = daemon_->GetRollout(ref);
        if (!v) return send(ErrorReply(404, v.error().message(), "ramp list rollouts -A"));
        return send(JsonReply(200, RolloutViewJson(*v)));
      }
      if (req.method == "DELETE") {
        daemon_->DeleteRollout(ref, [send, ref](Status s) {
          if (!s.ok()) return send(ErrorReply(HttpStatusOf(s), s.message()));
          send(JsonReply(200, {{"deleted", ref.Key()}}));
        });
        return;
      }
      return send(ErrorReply(405, "use GET or DELETE"));
    }
    if (parts.size() == 5 && parts[4] == "logs") return Logs(req, ref, send);
    if (parts.size() == 5 && parts[4] == "events") {
      size_t limit = 100;
      if (req.query.count("limit"))
        limit = std::strtoul(req.query.at("limit").c_str(), nullptr, 10);
      daemon_->Events(ref, limit, [send](StatusOr<std::vector<StoredEvent>> r) {
        if (!r) return send(ErrorReply(HttpStatusOf(r.error()), r.error().message()));
        json items = json::array();
        for (const StoredEvent& e : *r) {
          items.push_back({{"type", EventTypeName(e.type)},
                           {"reason", e.reason},
                           {"message", e.message},
                           {"time", engine::FormatMetaTime(e.time)},
                           {"sequence", e.sequence}});
        }
        send(JsonReply(200, {{"items", items}}));
      });
      return;
    }
    if (parts.size() == 6 && parts[4] == "actions") {
      if (req.method != "POST") return send(ErrorReply(405, "use POST"));
      std::optional<engine::UserActionKind> kind = engine::ParseUserActionKind(parts[5]);
      if (!kind) {
        return send(ErrorReply(404, fmt::format("unknown action \"{}\"; one of {}", parts[5],
                                                fmt::join(engine::UserActionKindNames(), ", "))));
      }
      engine::UserAction action;
      action.kind = *kind;
      if (!req.body.empty()) {
        json body = json::parse(req.body, nullptr, false);
        if (!body.is_object()) return send(ErrorReply(400, "the body must be a JSON object"));
        try {
          if (body.contains("image")) action.image = body.at("image").get<std::string>();
          if (body.contains("container")) {
            action.container = body.at("container").get<std::string>();
          }
          if (body.contains("toRevision"))
            action.to_revision = body.at("toRevision").get<int64_t>();
          if (body.contains("inSeconds")) {
            action.restart_in = std::chrono::seconds(body.at("inSeconds").get<int64_t>());
          }
        } catch (const json::exception& e) {
          return send(ErrorReply(400, std::string("bad field in the body: ") + e.what()));
        }
      }
      daemon_->Act(ref, std::move(action), [send](StatusOr<std::string> r) {
        if (!r) return send(ErrorReply(HttpStatusOf(r.error()), r.error().message()));
        send(JsonReply(200, {{"message", *r}}));
      });
      return;
    }
    send(ErrorReply(404, "no such route"));
  }

  template <typename Send>
  void Templates(const net::ServerRequest& req, const std::vector<std::string>& parts, Send send) {
    if (parts.size() == 2 && req.method == "GET") {
      return send(JsonReply(200, {{"items", daemon_->Templates()}}));
    }
    if (parts.size() == 4 && req.method == "DELETE") {
      daemon_->DeleteTemplate(kKindAnalysisTemplate, ObjectRef{parts[2], parts[3]},
                              [send](Status s) {
                                if (!s.ok()) return send(ErrorReply(HttpStatusOf(s), s.message()));
                                send(JsonReply(200, {{"deleted", true}}));
                              });
      return;
    }
    send(ErrorReply(404, "no such route"));
  }

  // Server-sent events: one "rollout" event with the view of each matching rollout at once,
  // then one per change; "deleted" when one goes away.
  void Watch(const net::ServerRequest& req, const std::shared_ptr<net::ServerReply>& reply) {
    const std::string ns = req.query.count("namespace") ? req.query.at("namespace") : "";
    const std::string name = req.query.count("name") ? req.query.at("name") : "";
    std::shared_ptr<net::ServerStream> stream =
        reply->Stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
    auto matches = [ns, name](const std::string& key) {
      const size_t slash = key.find('/');
      const std::string kns = key.substr(0, slash);
      const std::string kname = key.substr(slash + 1);
      return (ns.empty() || kns == ns) && (name.empty() || kname == name);
    };
    auto send_key = [this, stream](const std::string& key) {
      const size_t slash = key.find('/');
      auto v = daemon_->GetRollout(ObjectRef{key.substr(0, slash), key.substr(slash + 1)});
      if (v) {
        stream->Write("event: rollout\ndata: " + RolloutViewJson(*v).dump() + "\n\n");
      } else {
        stream->Write("event: deleted\ndata: " + json({{"name", key}}).dump() + "\n\n");
      }
    };
    for (const RolloutView& v : daemon_->ListRollouts(ns)) {
      const std::string key =
          v.snapshot.rollout.metadata.namespace_ + "/" + v.snapshot.rollout.metadata.name;
      if (matches(key)) send_key(key);
    }
    auto sub = daemon_->Subscribe([stream, matches, send_key](const std::string& key) {
      if (stream->Open() && matches(key)) send_key(key);
    });
    std::lock_guard<std::mutex> lock(watch_mu_);
    // Closed streams are pruned whenever a new one starts.
    for (auto it = watches_.begin(); it != watches_.end();) {
      it = it->first->Open() ? std::next(it) : watches_.erase(it);
    }
    watches_.emplace_back(stream, std::move(sub));
  }

  net::ServerResponse Metrics() {
    std::string out;
    out += "# HELP rollout_info Information about a rollout.\n# TYPE rollout_info gauge\n";
    std::string replicas =
        "# HELP rollout_info_replicas_available Available replicas of a rollout.\n"
        "# TYPE rollout_info_replicas_available gauge\n";
    std::string desired =
        "# HELP rollout_info_replicas_desired Desired replicas of a rollout.\n"
        "# TYPE rollout_info_replicas_desired gauge\n";
    std::string runs =
        "# HELP analysis_run_info Information about an analysis run.\n"
        "# TYPE analysis_run_info gauge\n";
    std::string reconciles =
        "# HELP ramp_rollout_reconciles_total Reconciles of a rollout since the daemon started.\n"
        "# TYPE ramp_rollout_reconciles_total counter\n";
    for (const RolloutView& v : daemon_->ListRollouts("")) {
      const auto& s = v.snapshot;
      const std::string labels = fmt::format(
          "namespace=\"{}\",name=\"{}\"", s.rollout.metadata.namespace_, s.rollout.metadata.name);
      const std::string strategy = s.rollout.spec.blue_green ? "blueGreen" : "canary";
      out += fmt::format("rollout_info{{{},strategy=\"{}\",phase=\"{}\"}} 1\n", labels, strategy,
                         s.state.status.phase);
      replicas += fmt::format("rollout_info_replicas_available{{{}}} {}\n", labels,
                              s.state.status.available_replicas);
      desired += fmt::format("rollout_info_replicas_desired{{{}}} {}\n", labels,
                             s.rollout.spec.replicas.value_or(1));
      reconciles += fmt::format("ramp_rollout_reconciles_total{{{}}} {}\n", labels, s.reconciles);
      for (const spec::AnalysisRun& run : s.state.analysis_runs) {
        runs += fmt::format("analysis_run_info{{namespace=\"{}\",name=\"{}\",phase=\"{}\"}} 1\n",
                            s.rollout.metadata.namespace_, run.metadata.name,
                            spec::AnalysisPhaseName(run.status.phase));
      }
    }
    net::ServerResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = out + replicas + desired + reconciles + runs;
    if (options_.extra_metrics) r.body += options_.extra_metrics();
    return r;
  }

  ApiOptions options_;
  Daemon* daemon_;
  std::unique_ptr<net::HttpServer> server_;
  std::mutex audit_mu_;
  std::mutex watch_mu_;
  std::vector<std::pair<std::shared_ptr<net::ServerStream>, std::unique_ptr<Subscription>>>
      watches_;  // guarded by watch_mu_
};

}  // namespace

StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(ApiOptions options, Daemon* daemon) {
  if (daemon == nullptr || options.clock == nullptr || options.audit_log.empty()) {
    return Fail(InvalidArgumentError("ApiServer::Start: daemon, clock and audit_log are required"));
  }
  auto api = std::make_unique<ApiImpl>(std::move(options), daemon);
  RETURN_IF_ERROR(api->Begin());
  return std::unique_ptr<ApiServer>(std::move(api));
}

}  // namespace ramp::daemon
