#include "platform/process/process_platform.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/subprocess.h"
#include "platform/probe.h"
#include "platform/process/instance_logs.h"
#include "platform/process/instance_process.h"
#include "platform/process/instance_record.h"

namespace ramp::platform {
namespace {

using json = nlohmann::json;
using SecretFn = std::function<StatusOr<std::string>(std::string_view, std::string_view)>;
namespace fs = std::filesystem;

StatusOr<const json*> Container(const json& tmpl) {
  const json* c = nullptr;
  if (tmpl.is_object()) {
    if (auto s = tmpl.find("spec"); s != tmpl.end() && s->is_object()) {
      if (auto cs = s->find("containers"); cs != s->end() && cs->is_array() && !cs->empty()) {
        c = &(*cs)[0];
      }
    }
  }
  if (c == nullptr || !c->is_object()) {
    return Fail(InvalidArgumentError("the pod template has no spec.containers[0]"));
  }
  return c;
}

bool PortBindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Two pod templates are the same when their text or their JSON value is equal (a restarted
// controller may serialize the template differently).
bool SameTemplate(const std::string& a, const std::string& b) {
  if (a == b) return true;
  json ja = json::parse(a, nullptr, false), jb = json::parse(b, nullptr, false);
  return !ja.is_discarded() && !jb.is_discarded() && ja == jb;
}

// What the supervisor needs of a revision's template, parsed once.
struct Plan {
  ProbeSet probes;
  Duration grace = std::chrono::seconds(30);
};

// Probes and grace period (what adoption needs; the command is built when an instance starts).
StatusOr<Plan> ParsePlan(const std::string& tmpl_json) {
  json tmpl = json::parse(tmpl_json, nullptr, false);
  if (tmpl.is_discarded()) return Fail(InvalidArgumentError("the pod template is not JSON"));
  ASSIGN_OR_RETURN(const json* c, Container(tmpl));
  Plan plan;
  ASSIGN_OR_RETURN(plan.probes, ParseProbes(*c));
  const json& spec = tmpl["spec"];
  if (auto g = spec.find("terminationGracePeriodSeconds"); g != spec.end() && !g->is_null()) {
    if (!g->is_number_integer() || g->get<int64_t>() < 0) {
      return Fail(InvalidArgumentError("terminationGracePeriodSeconds must be an integer >= 0"));
    }
    plan.grace = std::chrono::seconds(g->get<int64_t>());
  }
  return plan;
}

struct Instance {
  std::string id;
  int64_t ordinal = 0;
  int port = 0;
  std::string dir;
  // Whose instance this is (kept here too: a deleted revision's instances outlive the Revision).
  ObjectRef rollout;
  std::string hash;
  int64_t revision = 0;
  std::unique_ptr<TrackedProcess> proc;
  ProcessCommand command;
  InstanceState state = InstanceState::kPending;
  std::optional<Time> ready_since;
  // An adopted process's recorded readiness start, restored when its readiness probe passes.
  std::optional<Time> adopted_ready_since;
  Time created_at;
  Time started_at;
  int32_t restarts = 0;
  std::string message;
  // Probing.
  Time next_readiness;
  Time next_liveness;
  int ready_successes = 0;
  int ready_failures = 0;
  int live_failures = 0;
  bool ever_ready = false;
  // Exits in a row, and when the next start is due (after a crash).
  int32_t crashes = 0;
  std::optional<Time> restart_at;
  // Stopping: preStop, then SIGTERM, then SIGKILL at stop_deadline.
  bool stopping = false;
  bool restart_after_stop = false;  // a liveness restart, not a removal
  Time stop_started;
  Time stop_deadline;
  std::unique_ptr<Subprocess> pre_stop;
  std::optional<Time> pre_stop_until;  // sleep handler
  bool pre_stop_http_due = false;      // httpGet handler, to run on the supervisor thread
  std::optional<Check> pre_stop_http;
  bool pre_stop_http_running = false;
  bool term_sent = false;
};

struct Revision {
  ObjectRef rollout;
  std::string hash;
  int64_t revision = 0;
  std::string template_json;
  Plan plan;
  int32_t desired = 0;
  std::string dir;
  std::vector<std::unique_ptr<Instance>> instances;
};

class ProcessPlatform final : public Platform {
 public:
  ProcessPlatform(ProcessPlatformOptions options, int lock_fd)
      : o_(std::move(options)), lock_fd_(lock_fd) {
    if (o_.path.empty()) {
      const char* p = std::getenv("PATH");
      o_.path = p != nullptr && *p != '\0' ? p : "/usr/local/bin:/usr/bin:/bin";
    }
    // Allocation starts at a random place in the range: two daemons (or test processes) that share
    // a range then rarely pick the same free port at the same moment, before either binds it.
    std::random_device random;
    next_port_ = o_.port_min +
                 static_cast<int>(random() % static_cast<unsigned>(o_.port_max - o_.port_min + 1));
    boot_id_ = ReadBootId();
    {
      // Before the supervisor runs and before any call: ListRevisions sees adopted instances.
      std::lock_guard<std::mutex> lock(mu_);
      Recover(o_.clock->Now());
    }
    thread_ = std::thread([this] { Loop(); });
  }

  ~ProcessPlatform() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (o_.stop_instances_on_exit) StopEverything();
    // Otherwise every instance keeps running, its record on disk for the next platform; only
    // preStop helpers in flight are killed (Subprocess) — the next platform finishes those stops.
    revisions_.clear();
    dying_.clear();
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  std::string_view Type() const override { return "process"; }

  void EnsureRevision(const RevisionSpec& spec, int32_t replicas, StatusCallback done) override {
    if (replicas < 0) {
      done(InvalidArgumentError("replicas must be >= 0"));
      return;
    }
    StatusOr<Plan> plan = MakePlan(spec.pod_template_json);
    if (!plan) {
      done(plan.error().WithPrefix("process platform: " + spec.rollout.name));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::string key = Key(spec.rollout, spec.hash);
      auto it = revisions_.find(key);
      if (it != revisions_.end()) {
        Revision& rev = *it->second;
        if (!SameTemplate(rev.template_json, spec.pod_template_json)) {
          done(AlreadyExistsError("process platform: revision " + spec.hash + " of " +
                                  spec.rollout.name + " exists with another template"));
          return;
        }
        if (rev.desired != replicas || rev.revision != spec.revision) {
          RevisionRecord rec = RecordOf(rev);
          rec.desired_replicas = replicas;
          rec.revision = spec.revision;
          if (Status s = SaveRevisionRecord(rev.dir, rec); !s.ok()) {
            done(s.WithPrefix("process platform: " + spec.rollout.name));
            return;
          }
        }
        rev.desired = replicas;
        rev.revision = spec.revision;
      } else {
        auto rev = std::make_unique<Revision>();
        rev->rollout = spec.rollout;
        rev->hash = spec.hash;
        rev->revision = spec.revision;
        rev->template_json = spec.pod_template_json;
        rev->plan = std::move(*plan);
        rev->desired = replicas;
        rev->dir = RevisionDir(spec.rollout, spec.hash);
        // Durable before it exists in memory: the template first, then the record naming it.
        std::error_code ec;
        fs::create_directories(rev->dir, ec);
        Status s = ec ? InternalError("cannot create " + rev->dir + ": " + ec.message())
                      : WriteFileAtomically(rev->dir + "/" + kTemplateFile, rev->template_json);
        if (s.ok()) s = SaveRevisionRecord(rev->dir, RecordOf(*rev));
        if (!s.ok()) {
          done(s.WithPrefix("process platform: " + spec.rollout.name));
          return;
        }
        revisions_[key] = std::move(rev);
      }
    }
    cv_.notify_all();
    done(OkStatus());
  }

  void ScaleRevision(const ObjectRef& rollout, std::string_view hash, int32_t replicas,
                     StatusCallback done) override {
    if (replicas < 0) {
      done(InvalidArgumentError("replicas must be >= 0"));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = revisions_.find(Key(rollout, hash));
      if (it == revisions_.end()) {
        done(NotFoundError("process platform: no revision " + std::string(hash) + " of " +
                           rollout.name));
        return;
      }
      Revision& rev = *it->second;
      if (rev.desired != replicas) {
        RevisionRecord rec = RecordOf(rev);
        rec.desired_replicas = replicas;
        if (Status s = SaveRevisionRecord(rev.dir, rec); !s.ok()) {
          done(s.WithPrefix("process platform: " + rollout.name));
          return;
        }
      }
      rev.desired = replicas;
    }
    cv_.notify_all();
    done(OkStatus());
  }

  void RestartInstance(const ObjectRef& rollout, std::string_view hash,
                       std::string_view instance_id, StatusCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = revisions_.find(Key(rollout, hash));
      Instance* found = nullptr;
      if (it != revisions_.end()) {
        for (auto& in : it->second->instances) {
          if (in->id == instance_id && (!in->stopping || in->restart_after_stop)) {
            found = in.get();
          }
        }
      }
      if (found == nullptr) {
        done(NotFoundError("process platform: no instance " + std::string(instance_id) + " of " +
                           rollout.name + " revision " + std::string(hash)));
        return;
      }
      // As an evicted pod: this one stops, the scale logic starts a replacement.
      BeginStop(*it->second, *found, o_.clock->Now(), false);
    }
    cv_.notify_all();
    done(OkStatus());
  }

  void DeleteRevision(const ObjectRef& rollout, std::string_view hash,
                      StatusCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = revisions_.find(Key(rollout, hash));
      if (it != revisions_.end()) {
        // Forgotten durably first: a platform started after a crash stops what is left.
        if (Status s = RemoveFileDurably(it->second->dir + "/" + kRevisionRecordFile); !s.ok()) {
          done(s.WithPrefix("process platform: " + rollout.name));
          return;
        }
        Time now = o_.clock->Now();
        for (auto& in : it->second->instances) {
          if (!in->stopping) {
            BeginStop(*it->second, *in, now, false);
          } else if (in->restart_after_stop) {
            in->restart_after_stop = false;  // the stop in progress now removes it
            SaveRecord(*in);
          }
          dying_.push_back(std::move(in));
        }
        // Its directories (logs) go once its instances have stopped.
        pending_removals_.push_back(it->second->dir);
        revisions_.erase(it);
      }
    }
    cv_.notify_all();
    done(OkStatus());
  }

  void ListRevisions(const ObjectRef& rollout,
                     StatusOrCallback<std::vector<RevisionStatus>> done) override {
    std::vector<RevisionStatus> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [key, rev] : revisions_) {
        if (!(rev->rollout == rollout)) continue;
        RevisionStatus rs;
        rs.hash = rev->hash;
        rs.revision = rev->revision;
        rs.desired_replicas = rev->desired;
        for (auto& in : rev->instances) rs.instances.push_back(StatusOf(*in));
        out.push_back(std::move(rs));
      }
    }
    done(std::move(out));
  }

  StatusOr<std::unique_ptr<Subscription>> Watch(
      std::function<void(const ObjectRef& rollout)>) override {
    return Fail(UnimplementedError(
        "process platform: Watch is not supported yet; poll with ListRevisions"));
  }

 private:
  static std::string Key(const ObjectRef& r, std::string_view hash) {
    return r.namespace_ + "/" + r.name + "/" + std::string(hash);
  }

  std::string RevisionDir(const ObjectRef& r, std::string_view hash) const {
    return o_.state_dir + "/instances/" + FileSafe(r.namespace_) + "/" + FileSafe(r.name) + "/" +
           FileSafe(std::string(hash));
  }

  StatusOr<Plan> MakePlan(const std::string& tmpl_json) const {
    // Building the command checks command, env and secrets once, with a placeholder port.
    ASSIGN_OR_RETURN(ProcessCommand cmd, BuildProcessCommand(tmpl_json, 1, o_.path, o_.secrets));
    (void)cmd;
    return ParsePlan(tmpl_json);
  }

  // ---- Durable records (instance_record.h). Called with mu_ held.

  static RevisionRecord RecordOf(const Revision& rev) {
    RevisionRecord r;
    r.rollout = rev.rollout;
    r.hash = rev.hash;
    r.revision = rev.revision;
    r.desired_replicas = rev.desired;
    return r;
  }

  static Status SaveRevisionRecord(const std::string& dir, const RevisionRecord& rec) {
    return WriteFileAtomically(dir + "/" + kRevisionRecordFile, EncodeRevisionRecord(rec));
  }

  InstanceRecord RecordOf(const Instance& in) const {
    InstanceRecord r;
    r.rollout = in.rollout;
    r.hash = in.hash;
    r.revision = in.revision;
    r.id = in.id;
    r.ordinal = in.ordinal;
    if (in.proc) {
      r.pid = in.proc->pid();
      r.pgid = in.proc->pid();
      r.start_time = in.proc->start_time();
      r.boot_id = boot_id_;
    }
    r.port = in.port;
    r.created_at = in.created_at;
    r.ready_since = in.state == InstanceState::kReady ? in.ready_since : in.adopted_ready_since;
    r.restarts = in.restarts;
    r.crashes = in.crashes;
    r.stopping = in.stopping;
    r.restart_after_stop = in.restart_after_stop;
    return r;
  }

  static Status SaveInstanceRecord(const std::string& dir, const InstanceRecord& rec) {
    return WriteFileAtomically(dir + "/" + kInstanceRecordFile, EncodeInstanceRecord(rec));
  }

  // Best effort after the process exists (the record written before its exec is the one that
  // matters; a stale field is corrected at the next update or by adoption's pid check).
  void SaveRecord(const Instance& in) {
    std::error_code ec;
    fs::create_directories(in.dir, ec);
    (void)SaveInstanceRecord(in.dir, RecordOf(in));
  }

  static void RemoveRecord(const Instance& in) {
    (void)RemoveFileDurably(in.dir + "/" + kInstanceRecordFile);
  }

  // ---- Adoption: what an earlier platform on this state directory left behind.

  void Recover(Time now) {
    std::error_code ec;
    fs::path root = fs::path(o_.state_dir) / "instances";
    std::vector<fs::path> revision_dirs;
    for (const auto& ns : fs::directory_iterator(root, ec)) {
      if (!ns.is_directory()) continue;
      std::error_code ec2;
      for (const auto& ro : fs::directory_iterator(ns.path(), ec2)) {
        if (!ro.is_directory()) continue;
        std::error_code ec3;
        for (const auto& h : fs::directory_iterator(ro.path(), ec3)) {
          if (h.is_directory()) revision_dirs.push_back(h.path());
        }
      }
    }
    std::sort(revision_dirs.begin(), revision_dirs.end());
    for (const fs::path& dir : revision_dirs) RecoverRevision(dir.string(), now);
  }

  void RecoverRevision(const std::string& dir, Time now) {
    // The revision, when its record and template are intact; otherwise it counts as deleted and
    // whatever still runs of it is stopped.
    std::unique_ptr<Revision> rev;
    if (auto text = ReadWholeFile(dir + "/" + kRevisionRecordFile)) {
      auto rec = DecodeRevisionRecord(*text);
      auto tmpl = rec ? ReadWholeFile(dir + "/" + rec->template_file)
                      : StatusOr<std::string>(Fail(rec.error()));
      auto plan = tmpl ? ParsePlan(*tmpl) : StatusOr<Plan>(Fail(tmpl.error()));
      if (plan && !revisions_.count(Key(rec->rollout, rec->hash))) {
        rev = std::make_unique<Revision>();
        rev->rollout = rec->rollout;
        rev->hash = rec->hash;
        rev->revision = rec->revision;
        rev->template_json = std::move(*tmpl);
        rev->plan = std::move(*plan);
        rev->desired = rec->desired_replicas;
        rev->dir = dir;
      }
    }
    std::vector<fs::path> instance_dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_directory()) instance_dirs.push_back(e.path());
    }
    std::sort(instance_dirs.begin(), instance_dirs.end());
    bool any_dying = false;
    for (const fs::path& idir : instance_dirs) {
      auto text = ReadWholeFile((idir / kInstanceRecordFile).string());
      auto rec = text ? DecodeInstanceRecord(*text) : StatusOr<InstanceRecord>(Fail(text.error()));
      if (!rec) {
        // No record: no process of ours runs there (a record precedes every start).
        fs::remove_all(idir, ec);
        continue;
      }
      next_ordinal_ = std::max(next_ordinal_, rec->ordinal + 1);
      bool ours = rev != nullptr && rec->rollout == rev->rollout && rec->hash == rev->hash;
      // Is the recorded process still there?
      TrackedProcess::Adoption found;
      if (rec->pid > 0) {
        if (!boot_id_.empty() && !rec->boot_id.empty() && rec->boot_id != boot_id_) {
          found.found = TrackedProcess::Found::kExited;  // the machine rebooted since
        } else {
          found = TrackedProcess::Adopt(rec->pid, rec->start_time);
        }
      }
      auto in = std::make_unique<Instance>();
      in->id = rec->id;
      in->ordinal = rec->ordinal;
      in->port = rec->port;
      in->dir = idir.string();
      in->rollout = rec->rollout;
      in->hash = rec->hash;
      in->revision = rec->revision;
      in->created_at = rec->created_at;
      in->restarts = rec->restarts;
      in->crashes = rec->crashes;
      in->started_at = now;
      in->proc = std::move(found.process);
      bool removal = rec->stopping && !rec->restart_after_stop;
      if (!ours || removal) {
        // Being removed (or of a deleted revision): finish stopping it, or forget it.
        if (!in->proc) {
          RemoveRecord(*in);
          fs::remove_all(idir, ec);
          continue;
        }
        ResumeStop(*in, rev ? rev->plan.grace : Plan().grace, now, false);
        SaveRecord(*in);
        if (ours) {
          rev->instances.push_back(std::move(in));
        } else {
          any_dying = true;
          dying_.push_back(std::move(in));
        }
        continue;
      }
      if (auto cmd = BuildProcessCommand(rev->template_json, in->port, o_.path, o_.secrets)) {
        in->command = std::move(*cmd);  // for exec probes and preStop
      }
      if (in->proc) {
        in->state = InstanceState::kStarting;
        in->message = "adopted after ramp restarted";
        const ProbeSet& probes = rev->plan.probes;
        if (probes.readiness) {
          in->message += "; waiting for the readiness probe";
          in->adopted_ready_since = rec->ready_since;
          in->next_readiness = now;
        } else {
          in->state = InstanceState::kReady;
          in->ready_since = rec->ready_since.value_or(now);
          in->ever_ready = true;
          in->message.clear();
        }
        if (probes.liveness) in->next_liveness = now + probes.liveness->period;
        if (rec->restart_after_stop) ResumeStop(*in, rev->plan.grace, now, true);
      } else {
        // Gone while no platform ran (or its pid now names another process, which is left
        // alone): Failed, and started again by the normal restart logic if still wanted.
        in->state = InstanceState::kFailed;
        in->message = found.found == TrackedProcess::Found::kReused
                          ? "its process was gone while ramp was not running (the pid now names "
                            "another process)"
                          : "its process exited while ramp was not running";
        ScheduleRestart(*in, now);
      }
      SaveRecord(*in);
      rev->instances.push_back(std::move(in));
    }
    if (rev) {
      revisions_[Key(rev->rollout, rev->hash)] = std::move(rev);
    } else if (any_dying) {
      pending_removals_.push_back(dir);
    } else {
      fs::remove_all(dir, ec);
    }
  }

  // Continues a stop an earlier platform began: SIGTERM now, SIGKILL after `grace` (preStop is not
  // run again).
  static void ResumeStop(Instance& in, Duration grace, Time now, bool restart_after) {
    in.stopping = true;
    in.restart_after_stop = restart_after;
    in.state = InstanceState::kTerminating;
    in.ready_since.reset();
    in.stop_started = now;
    in.stop_deadline = now + grace;
    in.term_sent = false;
    if (in.message.empty()) in.message = "stopping (begun before ramp restarted)";
  }

  // stop_instances_on_exit: SIGTERM every group at once, wait up to the grace for all, SIGKILL
  // what remains; their records go (the revisions' records stay: the next platform starts them).
  void StopEverything() {
    std::vector<Instance*> all;
    for (auto& [key, rev] : revisions_) {
      for (auto& in : rev->instances) all.push_back(in.get());
    }
    for (auto& in : dying_) all.push_back(in.get());
    for (Instance* in : all) {
      if (in->pre_stop) in->pre_stop->Kill();
      if (in->proc && !in->proc->Poll()) in->proc->SignalGroup(SIGTERM);
    }
    Time end = o_.clock->Now() + o_.shutdown_grace;
    // Bounded in count too, for a clock that does not move.
    int64_t rounds =
        std::chrono::duration_cast<std::chrono::milliseconds>(o_.shutdown_grace).count() / 10 + 1;
    for (int64_t i = 0; i < rounds && o_.clock->Now() < end; ++i) {
      bool running = false;
      for (Instance* in : all) running = running || (in->proc && !in->proc->Poll());
      if (!running) break;
      ::poll(nullptr, 0, 10);
    }
    for (Instance* in : all) {
      if (in->proc) in->proc->Kill();
      in->proc.reset();
      RemoveRecord(*in);
    }
  }

  static InstanceStatus StatusOf(const Instance& in) {
    InstanceStatus s;
    s.id = in.id;
    s.address = in.port > 0 ? "127.0.0.1:" + std::to_string(in.port) : "";
    s.state = in.stopping ? InstanceState::kTerminating : in.state;
    if (s.state == InstanceState::kReady) s.ready_since = in.ready_since;
    s.created_at = in.created_at;
    s.restarts = in.restarts;
    s.message = s.state == InstanceState::kReady ? "" : in.message;
    return s;
  }

  // Takes the instance out of traffic and starts its preStop; the supervisor finishes the stop.
  void BeginStop(const Revision& rev, Instance& in, Time now, bool restart_after) {
    in.stopping = true;
    in.restart_after_stop = restart_after;
    in.state = InstanceState::kTerminating;
    in.ready_since.reset();
    in.adopted_ready_since.reset();
    in.stop_started = now;
    in.stop_deadline = now + rev.plan.grace;
    in.term_sent = false;
    SaveRecord(in);
    if (!in.proc || in.proc->Poll()) return;  // nothing running: finish at once
    const auto& pre = rev.plan.probes.pre_stop;
    if (!pre) return;
    if (pre->kind == Check::Kind::kSleep) {
      in.pre_stop_until = now + pre->sleep;
    } else if (pre->kind == Check::Kind::kExec) {
      SubprocessOptions so;
      so.argv = pre->command;
      so.env = in.command.env;
      so.working_dir = in.command.working_dir.empty() ? in.dir : in.command.working_dir;
      so.output_path = in.dir + "/output.log";
      auto p = Subprocess::Start(so);
      if (p) in.pre_stop = std::move(*p);
    } else if (pre->kind == Check::Kind::kHttpGet) {
      in.pre_stop_http_due = true;  // Tick runs it without the lock
      in.pre_stop_http = *pre;
    }
  }

  // Starts (or restarts) the process of `in`. Called with mu_ held.
  //
  // Order (no process runs without a record naming it): fork a child that waits on a pipe; write
  // the instance record with the child's pid and start time (atomically, synced); only then let
  // the child exec. A crash before the record leaves a child that exits unstarted when the pipe
  // closes; a crash after it leaves a record that the next platform adopts or restarts.
  void Start(Revision& rev, Instance& in, Time now) {
    in.restart_at.reset();
    in.adopted_ready_since.reset();
    if (in.port == 0) {
      in.port = AllocatePort();
      if (in.port == 0) {
        in.state = InstanceState::kPending;
        in.message =
            "no free port in " + std::to_string(o_.port_min) + "-" + std::to_string(o_.port_max);
        in.restart_at = now + o_.restart_backoff;
        return;
      }
    }
    StatusOr<ProcessCommand> cmd =
        BuildProcessCommand(rev.template_json, in.port, o_.path, o_.secrets);
    std::error_code ec;
    fs::create_directories(in.dir, ec);
    if (cmd) {
      in.command = std::move(*cmd);
      SubprocessOptions so;
      so.argv = in.command.argv;
      so.env = in.command.env;
      so.working_dir = in.command.working_dir.empty() ? in.dir : in.command.working_dir;
      so.output_path = in.dir + "/output.log";
      InstanceRecord rec = RecordOf(in);
      rec.ready_since.reset();
      rec.stopping = rec.restart_after_stop = false;
      auto p = TrackedProcess::Launch(so, [&](pid_t pid, uint64_t start_time) {
        rec.pid = rec.pgid = pid;
        rec.start_time = start_time;
        rec.boot_id = boot_id_;
        Status s = SaveInstanceRecord(in.dir, rec);
        return s.ok() ? s : s.WithPrefix("cannot record the instance");
      });
      if (p) {
        in.proc = std::move(*p);
        in.started_at = now;
        in.state = InstanceState::kStarting;
        in.message = rev.plan.probes.readiness ? "waiting for the readiness probe" : "";
        in.ready_successes = in.ready_failures = in.live_failures = 0;
        in.ever_ready = false;
        if (rev.plan.probes.readiness) {
          in.next_readiness = now + rev.plan.probes.readiness->initial_delay;
        } else {
          in.state = InstanceState::kReady;
          in.ready_since = now;
          SaveRecord(in);
        }
        if (rev.plan.probes.liveness) {
          in.next_liveness = now + rev.plan.probes.liveness->initial_delay;
        }
        return;
      }
      cmd = Fail(p.error());
    }
    // Cannot start: as a container that fails to start, back off and try again.
    in.state = InstanceState::kFailed;
    in.message = cmd.error().message();
    ScheduleRestart(in, now);
    SaveRecord(in);  // no process (a record written before a failed exec names none now)
  }

  void ScheduleRestart(Instance& in, Time now) {
    ++in.crashes;
    Duration d = o_.restart_backoff;
    for (int i = 1; i < in.crashes && d < o_.restart_backoff_max; ++i) d *= 2;
    d = std::min(d, o_.restart_backoff_max);
    in.restart_at = now + d;
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    in.message += "; restarting in " +
                  (ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms");
  }

  int AllocatePort() {
    std::set<int> used;
    for (auto& [k, rev] : revisions_) {
      for (auto& in : rev->instances) used.insert(in->port);
    }
    for (auto& in : dying_) used.insert(in->port);
    int span = o_.port_max - o_.port_min + 1;
    for (int i = 0; i < span; ++i) {
      int port = next_port_;
      next_port_ = next_port_ >= o_.port_max ? o_.port_min : next_port_ + 1;
      if (!used.count(port) && PortBindable(port)) return port;
    }
    return 0;
  }

  // Advances one stopping instance; true once it is gone.
  bool AdvanceStop(Instance& in, Time now) {
    if ((in.pre_stop_http_due || in.pre_stop_http_running) && now < in.stop_deadline) {
      return false;
    }
    in.pre_stop_http_due = false;
    if (in.pre_stop) {
      if (!in.pre_stop->Poll() && now < in.stop_deadline) return false;
      in.pre_stop->Kill();
      in.pre_stop.reset();
    }
    if (in.pre_stop_until) {
      if (now < *in.pre_stop_until && now < in.stop_deadline) return false;
      in.pre_stop_until.reset();
    }
    if (!in.proc) return true;
    if (!in.term_sent) {
      in.proc->SignalGroup(SIGTERM);
      in.term_sent = true;
    }
    if (in.proc->Poll() || now >= in.stop_deadline) {
      in.proc->Kill();
      in.proc.reset();
      return true;
    }
    return false;
  }

  // One pass over every instance. Called with mu_ held; probes run with it released.
  void Tick(std::unique_lock<std::mutex>& lock) {
    Time now = o_.clock->Now();
    for (size_t i = 0; i < dying_.size();) {
      if (AdvanceStop(*dying_[i], now)) {
        RemoveRecord(*dying_[i]);
        dying_.erase(dying_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    for (size_t i = 0; i < pending_removals_.size();) {
      const std::string& dir = pending_removals_[i];
      bool busy = std::any_of(dying_.begin(), dying_.end(),
                              [&](const auto& in) { return in->dir.rfind(dir + "/", 0) == 0; });
      // A revision created again under the same hash owns the directory again.
      for (auto& [k, rev] : revisions_) busy = busy || rev->dir == dir;
      if (busy) {
        ++i;
        continue;
      }
      std::error_code ec;
      fs::remove_all(dir, ec);
      pending_removals_.erase(pending_removals_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    struct Due {
      std::string key;
      std::string id;
      bool liveness;
      Probe probe;
      CheckTarget target;
      bool pre_stop = false;
    };
    std::vector<Due> due;
    // preStop httpGet handlers, bounded by the rest of the grace period (at most 10 s).
    auto collect_pre_stop = [&](const std::string& key, Instance& in) {
      if (!in.pre_stop_http_due || !in.pre_stop_http) return;
      in.pre_stop_http_due = false;
      in.pre_stop_http_running = true;
      Probe p;
      p.check = *in.pre_stop_http;
      p.timeout = std::clamp<Duration>(in.stop_deadline - now, std::chrono::milliseconds(1),
                                       std::chrono::seconds(10));
      CheckTarget t;
      t.port = in.port;
      due.push_back({key, in.id, false, p, t, true});
    };
    for (auto& in : dying_) collect_pre_stop("", *in);
    for (auto& [key, rev_ptr] : revisions_) {
      Revision& rev = *rev_ptr;
      auto& ins = rev.instances;
      // Stops in progress; a liveness stop starts the process again.
      for (size_t i = 0; i < ins.size();) {
        Instance& in = *ins[i];
        if (in.stopping && AdvanceStop(in, now)) {
          if (in.restart_after_stop) {
            // Started again after the crash back-off, as the kubelet does.
            in.stopping = false;
            in.restart_after_stop = false;
            in.state = InstanceState::kFailed;
            ScheduleRestart(in, now);
            SaveRecord(in);
          } else {
            RemoveRecord(in);
            ins.erase(ins.begin() + static_cast<std::ptrdiff_t>(i));
            continue;
          }
        }
        ++i;
      }
      // Exits and restarts.
      for (auto& in_ptr : ins) {
        Instance& in = *in_ptr;
        if (in.stopping) continue;
        if (in.proc) {
          if (auto how = in.proc->Poll()) {
            in.proc->Kill();  // the rest of its group
            in.proc.reset();
            in.state = InstanceState::kFailed;
            in.ready_since.reset();
            in.adopted_ready_since.reset();
            in.message = "exited with " + *how;
            // A run that lasted 10 minutes resets the back-off, as the kubelet does.
            if (now - in.started_at >= std::chrono::minutes(10)) in.crashes = 0;
            ScheduleRestart(in, now);
            SaveRecord(in);
          }
        } else if (in.restart_at && now >= *in.restart_at) {
          if (in.state == InstanceState::kFailed) ++in.restarts;
          Start(rev, in, now);
        }
      }
      // Scale: count the instances not stopping (one stopped for a restart still counts).
      int32_t current = 0;
      for (auto& in : ins) current += in->stopping && !in->restart_after_stop ? 0 : 1;
      while (current < rev.desired) {
        auto in = std::make_unique<Instance>();
        in->ordinal = next_ordinal_++;
        in->id = rev.rollout.name + "-" + rev.hash + "-" + std::to_string(in->ordinal);
        in->dir = rev.dir + "/" + FileSafe(in->id);
        in->rollout = rev.rollout;
        in->hash = rev.hash;
        in->revision = rev.revision;
        in->created_at = now;
        Start(rev, *in, now);
        ins.push_back(std::move(in));
        ++current;
      }
      if (current > rev.desired) {
        // Stop the least useful first: not ready before ready, newest before oldest.
        std::vector<Instance*> order;
        for (auto& in : ins) {
          if (!in->stopping || in->restart_after_stop) order.push_back(in.get());
        }
        std::stable_sort(order.begin(), order.end(), [](Instance* a, Instance* b) {
          bool ar = a->state == InstanceState::kReady, br = b->state == InstanceState::kReady;
          if (ar != br) return !ar;
          return a->ordinal > b->ordinal;
        });
        for (int32_t k = 0; k < current - rev.desired; ++k) BeginStop(rev, *order[k], now, false);
      }
      // Probes due.
      for (auto& in : ins) {
        if (in->stopping) collect_pre_stop(key, *in);
        if (in->stopping || !in->proc) continue;
        CheckTarget t;
        t.port = in->port;
        t.env = in->command.env;
        t.working_dir = in->command.working_dir.empty() ? in->dir : in->command.working_dir;
        if (rev.plan.probes.readiness && now >= in->next_readiness) {
          due.push_back({key, in->id, false, *rev.plan.probes.readiness, t});
          in->next_readiness = now + rev.plan.probes.readiness->period;
        }
        if (rev.plan.probes.liveness && now >= in->next_liveness) {
          due.push_back({key, in->id, true, *rev.plan.probes.liveness, t});
          in->next_liveness = now + rev.plan.probes.liveness->period;
        }
      }
    }
    if (due.empty()) return;
    std::vector<Status> results;
    lock.unlock();
    for (const Due& d : due) {
      results.push_back(RunCheck(d.probe.check, d.target, d.probe.timeout, *o_.clock));
    }
    lock.lock();
    now = o_.clock->Now();
    for (size_t i = 0; i < due.size(); ++i) {
      if (due[i].pre_stop) {
        for (auto& in : dying_) {
          if (in->id == due[i].id) in->pre_stop_http_running = false;
        }
      }
      auto it = revisions_.find(due[i].key);
      if (it == revisions_.end()) continue;
      for (auto& in : it->second->instances) {
        if (due[i].pre_stop) {
          if (in->id == due[i].id) in->pre_stop_http_running = false;
          continue;
        }
        if (in->id != due[i].id || in->stopping || !in->proc) continue;
        Apply(*it->second, *in, due[i], results[i], now);
      }
    }
  }

  template <typename D>
  void Apply(Revision& rev, Instance& in, const D& d, const Status& result, Time now) {
    if (d.liveness) {
      if (result.ok()) {
        in.live_failures = 0;
      } else if (++in.live_failures >= d.probe.failure_threshold) {
        in.message = "liveness probe failed: " + result.message() + "; restarting";
        BeginStop(rev, in, now, true);
      }
      return;
    }
    if (result.ok()) {
      in.ready_failures = 0;
      if (in.state != InstanceState::kReady && ++in.ready_successes >= d.probe.success_threshold) {
        in.state = InstanceState::kReady;
        // An adopted process that was ready keeps its readiness start (availability goes on).
        in.ready_since = in.adopted_ready_since.value_or(now);
        in.adopted_ready_since.reset();
        in.ever_ready = true;
        in.crashes = 0;
        in.message.clear();
        SaveRecord(in);
      }
      return;
    }
    in.ready_successes = 0;
    in.message = "readiness probe failed: " + result.message();
    if (in.state == InstanceState::kReady && ++in.ready_failures >= d.probe.failure_threshold) {
      in.state = InstanceState::kUnready;
      in.ready_since.reset();
      SaveRecord(in);
    }
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      Tick(lock);
      if (stop_) break;
      cv_.wait_for(lock, std::chrono::duration_cast<std::chrono::milliseconds>(o_.tick));
    }
  }

  ProcessPlatformOptions o_;
  int lock_fd_ = -1;     // flock on <state_dir>/instances/.lock, held for the platform's life
  std::string boot_id_;  // of this boot, recorded with every pid
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                           // guarded by mu_
  std::map<std::string, std::unique_ptr<Revision>> revisions_;  // guarded by mu_
  std::vector<std::unique_ptr<Instance>> dying_;  // deleted revisions' stopping instances; mu_
  std::vector<std::string> pending_removals_;     // deleted revisions' directories; mu_
  int next_port_ = 0;                             // guarded by mu_
  int64_t next_ordinal_ = 1;                      // guarded by mu_
  std::thread thread_;
};

}  // namespace

StatusOr<ProcessCommand> BuildProcessCommand(std::string_view pod_template_json, int port,
                                             std::string_view path, const SecretFn& secrets) {
  json tmpl = json::parse(pod_template_json, nullptr, false);
  if (tmpl.is_discarded()) return Fail(InvalidArgumentError("the pod template is not JSON"));
  ASSIGN_OR_RETURN(const json* cp, Container(tmpl));
  const json& c = *cp;
  auto strings = [&](const char* field, std::vector<std::string>* out) -> Status {
    auto it = c.find(field);
    if (it == c.end() || it->is_null()) return OkStatus();
    if (!it->is_array()) {
      return InvalidArgumentError(std::string("containers[0].") + field + " must be a list");
    }
    for (const json& s : *it) {
      if (!s.is_string()) {
        return InvalidArgumentError(std::string("containers[0].") + field + " must be strings");
      }
      out->push_back(s.get<std::string>());
    }
    return OkStatus();
  };
  std::vector<std::string> command, args;
  if (Status s = strings("command", &command); !s.ok()) return Fail(s);
  if (Status s = strings("args", &args); !s.ok()) return Fail(s);
  if (command.empty()) {
    return Fail(InvalidArgumentError(
        "containers[0].command is needed to run on the process platform (off Kubernetes the "
        "image is not run; command names the program)"));
  }
  std::vector<std::pair<std::string, std::string>> vars = {{"PORT", std::to_string(port)}};
  auto lookup = [&vars](std::string_view name) -> const std::string* {
    for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
      if (it->first == name) return &it->second;
    }
    return nullptr;
  };
  bool path_set = false;
  if (auto e = c.find("env"); e != c.end() && !e->is_null()) {
    if (!e->is_array()) return Fail(InvalidArgumentError("containers[0].env must be a list"));
    for (size_t i = 0; i < e->size(); ++i) {
      const json& item = (*e)[i];
      std::string where = "containers[0].env[" + std::to_string(i) + "]";
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
        return Fail(InvalidArgumentError(where + " has no name"));
      }
      std::string name = item["name"].get<std::string>();
      if (name == "PORT") continue;  // the platform sets PORT
      std::optional<std::string> value;
      if (auto v = item.find("value"); v != item.end() && v->is_string()) {
        value = ExpandKubernetesVars(v->get<std::string>(), lookup);
      } else if (auto vf = item.find("valueFrom"); vf != item.end() && vf->is_object()) {
        if (auto s = vf->find("secretKeyRef"); s != vf->end() && s->is_object()) {
          if (!secrets) {
            return Fail(InvalidArgumentError(
                where + " (" + name +
                "): valueFrom.secretKeyRef needs a secret source (--secrets-dir or "
                "RAMP_SECRET_* variables)"));
          }
          StatusOr<std::string> v2 = secrets(s->value("name", ""), s->value("key", ""));
          if (v2) {
            value = std::move(*v2);
          } else if (!s->value("optional", false)) {
            return Fail(v2.error().WithPrefix(where + " (" + name + ")"));
          }
        }
        // configMapKeyRef, fieldRef, resourceFieldRef: Kubernetes only, the variable stays unset.
      } else {
        value = "";
      }
      if (!value) continue;
      if (name == "PATH") path_set = true;
      vars.emplace_back(std::move(name), std::move(*value));
    }
  }
  if (!path_set) vars.emplace_back("PATH", std::string(path));
  ProcessCommand out;
  for (const std::string& a : command) out.argv.push_back(ExpandKubernetesVars(a, lookup));
  for (const std::string& a : args) out.argv.push_back(ExpandKubernetesVars(a, lookup));
  // The environment: each name once, its last value, in first-definition order.
  std::vector<std::string> names;
  for (auto& [k, v] : vars) {
    if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
  }
  for (const std::string& n : names) out.env.push_back(n + "=" + *lookup(n));
  if (auto w = c.find("workingDir"); w != c.end() && w->is_string()) {
    out.working_dir = w->get<std::string>();
  }
  return out;
}

StatusOr<std::unique_ptr<Platform>> NewProcessPlatform(ProcessPlatformOptions options) {
  if (options.state_dir.empty()) {
    return Fail(InvalidArgumentError("process platform: a state directory is needed"));
  }
  if (options.clock == nullptr) return Fail(InvalidArgumentError("process platform: no clock"));
  if (options.port_min < 1 || options.port_max > 65535 || options.port_min > options.port_max) {
    return Fail(InvalidArgumentError("process platform: the port range is empty or invalid"));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir + "/instances", ec);
  if (ec) {
    return Fail(InternalError("process platform: cannot create " + options.state_dir +
                              "/instances: " + ec.message()));
  }
  // One platform per state directory at a time: two would adopt, and so duplicate, the same
  // instances. The lock goes with the descriptor (close-on-exec, never inherited by instances).
  std::string lock_path = options.state_dir + "/instances/.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Fail(
        InternalError("process platform: cannot open " + lock_path + ": " + std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) {
      return Fail(FailedPreconditionError("process platform: " + options.state_dir +
                                          " is in use by another process platform (" + lock_path +
                                          " is locked)"));
    }
    return Fail(
        InternalError("process platform: cannot lock " + lock_path + ": " + std::strerror(e)));
  }
  return std::unique_ptr<Platform>(new ProcessPlatform(std::move(options), fd));
}

}  // namespace ramp::platform
