#include "metrics/job/job_provider.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/subprocess.h"
#include "metrics/job/job_config.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

constexpr int kPollMillis = 50;

enum class StopReason { kNone, kTerminate, kShutdown };

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& s : secrets) {
    if (s.empty()) continue;
    for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 5)) {
      text.replace(pos, s.size(), "*****");
    }
  }
  return text;
}

// What Run needs to start the process, parsed from provider.job.
struct JobPlan {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // NAME=value
  std::string path_var;          // PATH the command is searched in
  std::optional<int64_t> active_deadline_seconds;
  // Retries after failed attempts before the job is Failed (Kubernetes' default is 6).
  int64_t backoff_limit = 6;
  std::vector<std::string> secret_values;  // resolved secretKeyRef values, redacted
};

// Kubernetes' back-off before the retry that follows failure number `failures` (≥ 1): 10 s,
// doubled after each failure, at most 6 minutes.
Duration RetryDelay(int64_t failures) {
  Duration d = std::chrono::seconds(10);
  for (int64_t i = 1; i < failures && d < std::chrono::minutes(6); ++i) d *= 2;
  return std::min<Duration>(d, std::chrono::minutes(6));
}

// The tail of the output, cut at a UTF-8 character boundary, "…" in front when cut.
std::string OutputTail(const std::string& out, size_t limit, bool truncated) {
  if (out.size() <= limit && !truncated) return out;
  size_t start = out.size() > limit ? out.size() - limit : 0;
  while (start < out.size() && (static_cast<unsigned char>(out[start]) & 0xC0) == 0x80) ++start;
  return "…" + out.substr(start);
}

struct JobState {
  std::string run_uid;
  std::string metric;
  std::string job_name;
  std::atomic<StopReason> stop{StopReason::kNone};
  std::vector<MeasurementCallback> terminate_waiters;  // guarded by the provider's mu_
  bool finished = false;                               // guarded by the provider's mu_
  std::thread thread;
};

class JobProvider final : public MetricProvider {
 public:
  JobProvider(const Clock* clock, JobProviderOptions options)
      : clock_(clock), options_(std::move(options)) {
    const char* path = std::getenv("PATH");
    const char* home = std::getenv("HOME");
    const char* tmp = std::getenv("TMPDIR");
    inherited_path_ = path != nullptr && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin";
    inherited_home_ = home != nullptr && *home != '\0' ? home : "/";
    if (options_.temp_root.empty()) {
      options_.temp_root = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
  }

  ~JobProvider() override {
    std::vector<std::shared_ptr<JobState>> jobs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [id, job] : jobs_) jobs.push_back(job);
      jobs_.clear();
    }
    for (auto& job : jobs) job->stop.store(StopReason::kShutdown);
    for (auto& job : jobs) {
      if (job->thread.joinable()) job->thread.join();
    }
  }

  std::string_view Type() const override { return "job"; }

  void Run(const RunContext& ctx, const MetricRef& metric, MeasurementCallback done) override {
    ReapFinished();
    Measurement m;
    m.started_at = ctx.now;
    std::string job_name = ArgoJobName(ctx.run_uid, metric.name, ctx.measurement_number);
    m.metadata[std::string(kJobNameKey)] = job_name;
    if (!ctx.run.namespace_.empty()) m.metadata[std::string(kJobNamespaceKey)] = ctx.run.namespace_;

    JobPlan plan;
    if (Status s = Plan(ctx, metric, job_name, &plan); !s.ok()) {
      std::vector<std::string> secrets = ctx.secrets;
      secrets.insert(secrets.end(), plan.secret_values.begin(), plan.secret_values.end());
      m.finished_at = ctx.now;
      done(MeasurementUpdate::Error(std::move(m), Redact(s.message(), secrets)));
      return;
    }
    std::vector<std::string> secrets = ctx.secrets;
    secrets.insert(secrets.end(), plan.secret_values.begin(), plan.secret_values.end());

    std::optional<std::string> exe = ramp::FindExecutable(plan.argv[0], plan.path_var);
    if (!exe) {
      // On Kubernetes the container cannot start (StartError) and the Job fails: Failed, not
      // Error, so it is not retried as a measurement error would be.
      m.finished_at = ctx.now;
      m.phase = AnalysisPhase::kFailed;
      m.message = Redact("cannot run " + plan.argv[0] + ": " + std::strerror(ENOENT), secrets);
      done(MeasurementUpdate::Judged(std::move(m)));
      return;
    }

    std::string tmpl = options_.temp_root + "/ramp-job-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      int err = errno;
      m.finished_at = ctx.now;
      done(MeasurementUpdate::Error(std::move(m), "cannot create a working directory in " +
                                                      options_.temp_root + ": " +
                                                      std::strerror(err)));
      return;
    }
    std::string workdir = tmpl;

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      int err = errno;
      RemoveDir(workdir);
      m.finished_at = ctx.now;
      done(MeasurementUpdate::Error(std::move(m),
                                    std::string("cannot create a pipe: ") + std::strerror(err)));
      return;
    }
    SubprocessOptions spawn;
    spawn.argv = plan.argv;
    spawn.argv[0] = *exe;
    spawn.env = plan.env;
    spawn.working_dir = workdir;
    spawn.output_fd = fds[1];
    StatusOr<std::unique_ptr<Subprocess>> proc = Subprocess::Start(spawn);
    ::close(fds[1]);
    if (!proc) {
      ::close(fds[0]);
      RemoveDir(workdir);
      m.finished_at = ctx.now;
      std::string message = Redact(proc.error().message(), secrets);
      if (proc.error().code() == StatusCode::kNotFound) {
        // As on Kubernetes: the container cannot start and the Job fails.
        m.phase = AnalysisPhase::kFailed;
        m.message = std::move(message);
        done(MeasurementUpdate::Judged(std::move(m)));
      } else {
        done(MeasurementUpdate::Error(std::move(m), std::move(message)));
      }
      return;
    }
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);

    auto job = std::make_shared<JobState>();
    job->run_uid = ctx.run_uid;
    job->metric = metric.name;
    job->job_name = job_name;
    std::optional<Time> deadline;
    Time clock_start = clock_->Now();
    if (plan.active_deadline_seconds) {
      deadline = clock_start + std::chrono::seconds(*plan.active_deadline_seconds);
    }
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t id = next_id_++;
    jobs_[id] = job;
    job->thread =
        std::thread([this, job, proc = std::move(*proc), spawn = std::move(spawn), out = fds[0],
                     workdir, deadline, clock_start, secs = plan.active_deadline_seconds,
                     backoff_limit = plan.backoff_limit, m = std::move(m),
                     secrets = std::move(secrets), done = std::move(done)]() mutable {
          Supervise(*job, std::move(proc), spawn, out, workdir, deadline, clock_start, secs,
                    backoff_limit, std::move(m), secrets, std::move(done));
        });
  }

  void Resume(const RunContext& ctx, const MetricRef&, const Measurement& measurement,
              MeasurementCallback done) override {
    Measurement m = measurement;
    m.finished_at = ctx.now;
    done(MeasurementUpdate::Error(std::move(m),
                                  "the job provider reports no Running measurement to resume"));
  }

  void Terminate(const RunContext& ctx, const MetricRef& metric, const Measurement& measurement,
                 MeasurementCallback done) override {
    auto it_name = measurement.metadata.find(std::string(kJobNameKey));
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::shared_ptr<JobState> found;
      for (auto& [id, job] : jobs_) {
        if (job->finished) continue;
        bool match = it_name != measurement.metadata.end()
                         ? job->job_name == it_name->second
                         : job->run_uid == ctx.run_uid && job->metric == metric.name;
        if (match) {
          found = job;
          break;
        }
      }
      if (found) {
        found->terminate_waiters.push_back(std::move(done));
        found->stop.store(StopReason::kTerminate);
        return;
      }
    }
    Measurement m = measurement;
    if (IsTerminal(m.phase)) {
      done(MeasurementUpdate::Judged(std::move(m)));
      return;
    }
    m.phase = AnalysisPhase::kInconclusive;
    m.message = "job terminated";
    m.finished_at = ctx.now;
    done(MeasurementUpdate::Judged(std::move(m)));
  }

  void GarbageCollect(const RunContext&, const MetricRef&, int32_t, StatusCallback done) override {
    done(OkStatus());
  }

  std::map<std::string, std::string> Metadata(const MetricRef&) const override { return {}; }

 private:
  Status Plan(const RunContext& ctx, const MetricRef& metric, const std::string& job_name,
              JobPlan* plan) const {
    ASSIGN_OR_RETURN(JobConfig cfg, ParseJobConfig(metric.provider_config_json));
    const json* spec = &cfg.spec;
    if (auto it = spec->find("activeDeadlineSeconds"); it != spec->end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
        return InvalidArgumentError("job spec.activeDeadlineSeconds must be a positive integer");
      }
      plan->active_deadline_seconds = it->get<int64_t>();
    }
    if (auto it = spec->find("backoffLimit"); it != spec->end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 0) {
        return InvalidArgumentError("job spec.backoffLimit must be an integer ≥ 0");
      }
      plan->backoff_limit = it->get<int64_t>();
    }
    const json* containers = nullptr;
    if (auto t = spec->find("template"); t != spec->end() && t->is_object()) {
      if (auto s = t->find("spec"); s != t->end() && s->is_object()) {
        if (auto c = s->find("containers"); c != s->end()) containers = &*c;
      }
    }
    if (containers == nullptr || !containers->is_array() || containers->empty() ||
        !(*containers)[0].is_object()) {
      return InvalidArgumentError("job spec.template.spec.containers is empty");
    }
    const json& c = (*containers)[0];
    if (c.contains("envFrom")) {
      return InvalidArgumentError("job container envFrom is not supported off Kubernetes");
    }
    std::vector<std::pair<std::string, std::string>> vars;
    auto lookup = [&vars](std::string_view name) -> const std::string* {
      for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
        if (it->first == name) return &it->second;
      }
      return nullptr;
    };
    if (auto e = c.find("env"); e != c.end() && !e->is_null()) {
      if (!e->is_array()) return InvalidArgumentError("job container env must be a list");
      for (const json& item : *e) {
        if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
          return InvalidArgumentError("job container env entry without a name");
        }
        std::string name = item["name"].get<std::string>();
        std::string value;
        if (auto v = item.find("value"); v != item.end() && v->is_string()) {
          value = ExpandKubernetesVars(v->get<std::string>(), lookup);
        } else if (auto vf = item.find("valueFrom"); vf != item.end() && vf->is_object()) {
          ASSIGN_OR_RETURN(value, ValueFrom(ctx, name, job_name, *vf, plan));
        }
        vars.emplace_back(std::move(name), std::move(value));
      }
    }
    auto strings = [&](const char* field, std::vector<std::string>* out) -> Status {
      auto it = c.find(field);
      if (it == c.end() || it->is_null()) return OkStatus();
      if (!it->is_array())
        return InvalidArgumentError(std::string("job container ") + field +
                                    " must be a list of strings");
      for (const json& s : *it) {
        if (!s.is_string())
          return InvalidArgumentError(std::string("job container ") + field +
                                      " must be a list of strings");
        out->push_back(ExpandKubernetesVars(s.get<std::string>(), lookup));
      }
      return OkStatus();
    };
    RETURN_IF_ERROR(strings("command", &plan->argv));
    if (plan->argv.empty()) {
      return InvalidArgumentError(
          "job container has no command: an image's entrypoint cannot be run off Kubernetes");
    }
    RETURN_IF_ERROR(strings("args", &plan->argv));
    if (plan->argv[0].empty()) return InvalidArgumentError("job container command is empty");

    std::map<std::string, std::string> env = {{"PATH", inherited_path_}, {"HOME", inherited_home_}};
    for (auto& [k, v] : vars) env[k] = v;
    plan->path_var = env["PATH"];
    for (auto& [k, v] : env) plan->env.push_back(k + "=" + v);
    return OkStatus();
  }

  StatusOr<std::string> ValueFrom(const RunContext& ctx, const std::string& name,
                                  const std::string& job_name, const json& vf,
                                  JobPlan* plan) const {
    if (auto s = vf.find("secretKeyRef"); s != vf.end() && s->is_object()) {
      std::string secret = s->value("name", "");
      std::string key = s->value("key", "");
      if (!options_.secrets) {
        return Fail(InvalidArgumentError("job env " + name +
                                         ": valueFrom.secretKeyRef needs a secret source "
                                         "(--secrets-dir or RAMP_SECRET_* variables)"));
      }
      StatusOr<std::string> v = options_.secrets(secret, key);
      if (!v) {
        if (s->value("optional", false)) return std::string();
        return Fail(v.error().WithPrefix("job env " + name));
      }
      plan->secret_values.push_back(*v);
      return std::move(*v);
    }
    if (auto f = vf.find("fieldRef"); f != vf.end() && f->is_object()) {
      std::string path = f->value("fieldPath", "");
      if (path == "metadata.namespace") return ctx.run.namespace_;
      if (path == "metadata.name") return job_name;
      return Fail(InvalidArgumentError("job env " + name + ": valueFrom.fieldRef " + path +
                                       " is not supported off Kubernetes"));
    }
    std::string kind = vf.empty() ? "valueFrom" : "valueFrom." + vf.begin().key();
    return Fail(
        InvalidArgumentError("job env " + name + ": " + kind + " is not supported off Kubernetes"));
  }

  static void RemoveDir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Reads what is available from `fd` into `out`, keeping at most 2 * limit bytes. Returns false
  // at end of file.
  bool Drain(int fd, std::string* out, bool* truncated) const {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        out->append(buf, static_cast<size_t>(n));
        if (out->size() > 2 * options_.output_limit) {
          out->erase(0, out->size() - options_.output_limit);
          *truncated = true;
        }
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }

  // Waits up to `millis` for output; returns false once the pipe reached end of file.
  bool WaitOutput(int fd, bool open, int millis, std::string* out, bool* truncated) const {
    if (!open) {
      ::poll(nullptr, 0, millis);
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, millis);
    return Drain(fd, out, truncated);
  }

  // Starts a retry of the job with a fresh output pipe; returns the read end or the error.
  StatusOr<int> Respawn(SubprocessOptions& spawn, std::unique_ptr<Subprocess>* proc) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return Fail(InternalError(std::string("cannot create a pipe: ") + std::strerror(errno)));
    }
    spawn.output_fd = fds[1];
    StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(spawn);
    ::close(fds[1]);
    if (!p) {
      ::close(fds[0]);
      return Fail(p.error());
    }
    *proc = std::move(*p);
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    return fds[0];
  }

  void Supervise(JobState& job, std::unique_ptr<Subprocess> proc, SubprocessOptions spawn, int out,
                 const std::string& workdir, std::optional<Time> deadline, Time clock_start,
                 std::optional<int64_t> secs, int64_t backoff_limit, Measurement m,
                 const std::vector<std::string>& secrets, MeasurementCallback done) {
    std::string output;
    bool truncated = false;
    bool open = true;
    std::optional<int> wstatus;
    enum class Why { kExited, kDeadline, kTerminate, kShutdown, kSpawn } why = Why::kExited;
    int64_t failures = 0;
    std::string spawn_error;
    Time exit_seen = clock_start;
    // One iteration per attempt: Kubernetes retries a failed pod `backoffLimit` times, after a
    // back-off, before the Job fails; activeDeadlineSeconds bounds every attempt together.
    for (;;) {
      for (;;) {
        // Read before reaping, so the back-off counts from no later than the exit.
        Time now = clock_->Now();
        if (auto st = proc->Poll()) {
          wstatus = *st;
          exit_seen = now;
          break;
        }
        StopReason stop = job.stop.load();
        if (stop != StopReason::kNone) {
          why = stop == StopReason::kTerminate ? Why::kTerminate : Why::kShutdown;
          break;
        }
        int wait_ms = kPollMillis;
        if (deadline) {
          auto left =
              std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock_->Now());
          if (left.count() <= 0) {
            why = Why::kDeadline;
            break;
          }
          if (left.count() < wait_ms) wait_ms = static_cast<int>(left.count()) + 1;
        }
        open = WaitOutput(out, open, wait_ms, &output, &truncated) && open;
      }
      // Stops the whole group (SIGTERM, a grace period, SIGKILL); nothing of the group survives
      // its main process, as when a pod's container ends.
      if (!wstatus) {
        wstatus = proc->Stop(*clock_, options_.kill_grace);
      } else {
        proc->Kill();
      }
      // Collect the rest of the output; the group is dead so end of file comes at once.
      for (int i = 0; open && i < 20; ++i) open = WaitOutput(out, open, 50, &output, &truncated);
      ::close(out);
      out = -1;
      bool failed = why == Why::kExited && !(WIFEXITED(*wstatus) && WEXITSTATUS(*wstatus) == 0);
      if (!failed || ++failures > backoff_limit) break;
      // Back off before the retry, still watching for a stop and the deadline.
      Time retry_at = exit_seen + RetryDelay(failures);
      for (;;) {
        StopReason stop = job.stop.load();
        if (stop != StopReason::kNone) {
          why = stop == StopReason::kTerminate ? Why::kTerminate : Why::kShutdown;
          break;
        }
        Time now = clock_->Now();
        if (deadline && now >= *deadline) {
          why = Why::kDeadline;
          break;
        }
        if (now >= retry_at) break;
        ::poll(nullptr, 0, kPollMillis);
      }
      if (why != Why::kExited) break;
      StatusOr<int> fd = Respawn(spawn, &proc);
      if (!fd) {
        why = Why::kSpawn;
        spawn_error = fd.error().message();
        break;
      }
      out = *fd;
      open = true;
      output.clear();
      truncated = false;
      wstatus.reset();
    }
    RemoveDir(workdir);

    std::string reason;
    AnalysisPhase phase = AnalysisPhase::kFailed;
    bool error = false;
    switch (why) {
      case Why::kExited:
        if (WIFEXITED(*wstatus) && WEXITSTATUS(*wstatus) == 0) {
          phase = AnalysisPhase::kSuccessful;
        } else {
          reason = DescribeWaitStatus(*wstatus);
          if (backoff_limit > 0) {
            reason += " (failed " + std::to_string(failures) + " times, backoffLimit " +
                      std::to_string(backoff_limit) + ")";
          }
        }
        break;
      case Why::kSpawn:
        reason = spawn_error;
        break;
      case Why::kDeadline:
        reason = "deadline exceeded after " + std::to_string(secs.value_or(0)) + "s";
        break;
      case Why::kTerminate:
        phase = AnalysisPhase::kInconclusive;
        reason = "job terminated";
        break;
      case Why::kShutdown:
        error = true;
        reason = "job stopped: the job provider is shutting down";
        break;
    }
    std::string tail = OutputTail(output, options_.output_limit, truncated);
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
    std::string message = reason;
    if (!tail.empty()) message = message.empty() ? tail : message + "\n" + tail;
    message = Redact(std::move(message), secrets);
    m.finished_at = *m.started_at + (clock_->Now() - clock_start);
    MeasurementUpdate update;
    if (error) {
      update = MeasurementUpdate::Error(std::move(m), std::move(message));
    } else {
      m.phase = phase;
      m.message = std::move(message);
      update = MeasurementUpdate::Judged(std::move(m));
    }
    std::vector<MeasurementCallback> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job.finished = true;
      waiters.swap(job.terminate_waiters);
    }
    for (auto& w : waiters) w(update);
    done(std::move(update));
  }

  // Joins the supervisors of finished jobs.
  void ReapFinished() {
    std::vector<std::shared_ptr<JobState>> finished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = jobs_.begin(); it != jobs_.end();) {
        if (it->second->finished) {
          finished.push_back(it->second);
          it = jobs_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& job : finished) {
      if (job->thread.joinable()) job->thread.join();
    }
  }

  const Clock* clock_;
  JobProviderOptions options_;
  std::string inherited_path_;
  std::string inherited_home_;
  std::mutex mu_;
  uint64_t next_id_ = 1;                                // guarded by mu_
  std::map<uint64_t, std::shared_ptr<JobState>> jobs_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<MetricProvider> NewJobProvider(const Clock* clock, JobProviderOptions options) {
  return std::make_unique<JobProvider>(clock, std::move(options));
}

}  // namespace ramp::metrics
