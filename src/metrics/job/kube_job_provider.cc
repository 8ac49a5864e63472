#include "metrics/job/kube_job_provider.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/json_path.h"
#include "kube/kube_client.h"
#include "metrics/common/provider_util.h"
#include "metrics/job/job_config.h"

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

// The Job's label and annotations that link it to its run (Argo's job.go constants).
constexpr char kUidLabel[] = "analysisrun.argoproj.io/uid";
constexpr char kRunNameAnnotation[] = "analysisrun.argoproj.io/name";
constexpr char kRunNamespaceAnnotation[] = "analysisrun.argoproj.io/namespace";
constexpr char kMetricAnnotation[] = "analysisrun.argoproj.io/metric-name";
// Argo deletes its Jobs with foreground propagation.
constexpr char kPropagation[] = "Foreground";

struct JobRef {
  std::string ns;
  std::string name;
  std::string Key() const { return ns + "/" + name; }
  std::string Text() const { return "job " + ns + "/" + name; }
};

// What the provider's requests share; callbacks hold it, so they may outlive the provider.
struct Core {
  kube::KubeClient* client = nullptr;
  std::string job_namespace;
  std::mutex mu;
  // Jobs whose create is out, by JobRef::Key(), with the Terminates that wait for it: each is
  // called with the result of the delete that follows the create.
  std::map<std::string, std::vector<StatusCallback>> creating;  // guarded by mu
};

// Short names for the shared path reads (kube/json_path.h).
const json* Find(const json& j, std::initializer_list<const char*> path) {
  return kube::JsonAt(j, path);
}
std::string Str(const json& j, std::initializer_list<const char*> path) {
  return kube::JsonString(j, path);
}

// `*slot` as an object: a missing or null value becomes {}; anything else is an error.
Status EnsureObject(json* slot, const char* what) {
  if (slot->is_null()) *slot = json::object();
  if (!slot->is_object())
    return InvalidArgumentError(std::string("job ") + what + " is not an object");
  return OkStatus();
}

// The Job Argo's newMetricJob builds for this measurement.
StatusOr<json> BuildJob(const RunContext& ctx, const std::string& metric, JobConfig cfg,
                        const JobRef& ref) {
  json labels = json::object();
  for (auto& [k, v] : cfg.labels) labels[k] = v;
  labels[kUidLabel] = ctx.run_uid;
  json annotations = json::object();
  for (auto& [k, v] : cfg.annotations) annotations[k] = v;
  annotations[kRunNameAnnotation] = ctx.run.name;
  annotations[kRunNamespaceAnnotation] = ctx.run.namespace_;
  annotations[kMetricAnnotation] = metric;

  json meta = json::object();
  meta["name"] = ref.name;
  meta["namespace"] = ref.ns;
  meta["labels"] = std::move(labels);
  meta["annotations"] = std::move(annotations);
  // Owned by the run only in its own namespace (an owner in another namespace is invalid).
  if (ref.ns == ctx.run.namespace_) {
    json owner = json::object();
    owner["apiVersion"] = kube::AnalysisRuns().ApiVersion();
    owner["kind"] = kube::AnalysisRuns().kind;
    owner["name"] = ctx.run.name;
    owner["uid"] = ctx.run_uid;
    owner["controller"] = true;
    owner["blockOwnerDeletion"] = true;
    meta["ownerReferences"] = json::array({std::move(owner)});
  }

  // The pod template carries the uid label too (Argo's pod informer selects on it).
  json spec = std::move(cfg.spec);
  json& tmpl = spec["template"];
  RETURN_IF_ERROR(EnsureObject(&tmpl, "spec.template"));
  json& tmeta = tmpl["metadata"];
  RETURN_IF_ERROR(EnsureObject(&tmeta, "spec.template.metadata"));
  json& tlabels = tmeta["labels"];
  RETURN_IF_ERROR(EnsureObject(&tlabels, "spec.template.metadata.labels"));
  tlabels[kUidLabel] = ctx.run_uid;

  json job = json::object();
  job["apiVersion"] = kube::Jobs().ApiVersion();
  job["kind"] = kube::Jobs().kind;
  job["metadata"] = std::move(meta);
  job["spec"] = std::move(spec);
  return job;
}

// The uid of the run that owns an existing Job: its controller owner reference, or, outside the
// run's namespace (no owner), its uid label — as Argo's duplicate-create check reads it.
std::string OwnerUid(const json& job, bool by_label) {
  if (by_label) return Str(job, {"metadata", "labels", kUidLabel});
  const json* owners = Find(job, {"metadata", "ownerReferences"});
  if (owners == nullptr || !owners->is_array()) return "";
  for (const json& o : *owners) {
    const json* controller = Find(o, {"controller"});
    if (controller != nullptr && controller->is_boolean() && controller->get<bool>()) {
      return Str(o, {"uid"});
    }
  }
  return "";
}

// A Job's spec.selector as label selector text; "" when it has none.
StatusOr<std::string> SelectorText(const json& job) {
  const json* sel = Find(job, {"spec", "selector"});
  if (sel == nullptr || sel->is_null()) return std::string();
  const Status bad = InvalidArgumentError("job spec.selector is not a label selector");
  if (!sel->is_object()) return Fail(bad);
  std::vector<std::string> terms;
  if (const json* ml = Find(*sel, {"matchLabels"}); ml != nullptr && !ml->is_null()) {
    if (!ml->is_object()) return Fail(bad);
    for (const auto& [k, v] : ml->items()) {
      if (!v.is_string()) return Fail(bad);
      terms.push_back(k + "=" + v.get<std::string>());
    }
  }
  if (const json* me = Find(*sel, {"matchExpressions"}); me != nullptr && !me->is_null()) {
    if (!me->is_array()) return Fail(bad);
    for (const json& e : *me) {
      const std::string key = Str(e, {"key"});
      const std::string op = Str(e, {"operator"});
      std::string values;
      if (const json* vs = Find(e, {"values"}); vs != nullptr && vs->is_array()) {
        for (const json& v : *vs) {
          if (!v.is_string()) return Fail(bad);
          values += (values.empty() ? "" : ",") + v.get<std::string>();
        }
      }
      if (key.empty()) return Fail(bad);
      if (op == "In") {
        terms.push_back(key + " in (" + values + ")");
      } else if (op == "NotIn") {
        terms.push_back(key + " notin (" + values + ")");
      } else if (op == "Exists") {
        terms.push_back(key);
      } else if (op == "DoesNotExist") {
        terms.push_back("!" + key);
      } else {
        return Fail(bad);
      }
    }
  }
  std::string out;
  for (const std::string& t : terms) out += (out.empty() ? "" : ",") + t;
  return out;
}

// The first container of `pods` stuck in a state it cannot leave by itself (Argo's
// terminalWaitingReasons), described; nothing when there is none.
std::optional<std::string> StuckContainer(const std::vector<json>& pods) {
  static constexpr std::string_view kReasons[] = {"ErrImagePull", "ImagePullBackOff",
                                                  "InvalidImageName"};
  for (const json& pod : pods) {
    for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
      const json* statuses = Find(pod, {"status", list});
      if (statuses == nullptr || !statuses->is_array()) continue;
      for (const json& cs : *statuses) {
        const std::string reason = Str(cs, {"state", "waiting", "reason"});
        if (std::find(std::begin(kReasons), std::end(kReasons), reason) == std::end(kReasons)) {
          continue;
        }
        std::string text = "pod " + Str(pod, {"metadata", "name"}) + ", container " +
                           Str(cs, {"name"}) + " has a terminal error (" + reason + ")";
        const std::string message = Str(cs, {"state", "waiting", "message"});
        if (!message.empty()) text += ": " + message;
        return text;
      }
    }
  }
  return std::nullopt;
}

MeasurementUpdate ErrorUpdate(Measurement m, const RunContext& ctx, std::string message) {
  m.finished_at = ctx.now;
  m.resume_at.reset();
  return MeasurementUpdate::Error(std::move(m), Redact(std::move(message), ctx.secrets));
}

MeasurementUpdate Verdict(Measurement m, const RunContext& ctx, AnalysisPhase phase,
                          std::string message) {
  m.phase = phase;
  m.message = Redact(std::move(message), ctx.secrets);
  m.finished_at = ctx.now;
  m.resume_at.reset();
  return MeasurementUpdate::Judged(std::move(m));
}

// Still running: look again after √(2·elapsed seconds), Argo's growing delay.
MeasurementUpdate StillRunning(Measurement m, const RunContext& ctx) {
  double elapsed = 0;
  if (m.started_at && ctx.now > *m.started_at) {
    elapsed = std::chrono::duration<double>(ctx.now - *m.started_at).count();
  }
  const auto delay =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(std::sqrt(2 * elapsed)));
  m.finished_at.reset();
  return MeasurementUpdate::Running(std::move(m), ctx.now + delay);
}

// Deletes a Job as Argo does (foreground); one already gone is not an error.
void DeleteJob(const std::shared_ptr<Core>& core, const JobRef& ref, StatusCallback done) {
  kube::DeleteOptions options;
  options.propagation = kPropagation;
  core->client->Delete(kube::Jobs(), ref.ns, ref.name, options, [done = std::move(done)](Status s) {
    done(s.code() == StatusCode::kNotFound ? OkStatus() : std::move(s));
  });
}

// Deletes names[i..] one after the other, stopping at the first failure.
void DeleteInOrder(std::shared_ptr<Core> core, std::string ns,
                   std::shared_ptr<const std::vector<std::string>> names, size_t i,
                   StatusCallback done) {
  if (i >= names->size()) return done(OkStatus());
  JobRef ref{ns, (*names)[i]};
  DeleteJob(core, ref, [core, ns = std::move(ns), names, i, done = std::move(done)](Status s) {
    if (!s.ok()) return done(std::move(s));
    DeleteInOrder(core, ns, names, i + 1, done);
  });
}

// The measurement number at the end of a job name (`….<n>`), or -1.
int64_t MeasurementNumber(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return -1;
  int64_t n = -1;
  auto [end, ec] = std::from_chars(name.data() + dot + 1, name.data() + name.size(), n);
  return ec == std::errc() && end == name.data() + name.size() ? n : -1;
}

class KubeJobProvider final : public MetricProvider {
 public:
  explicit KubeJobProvider(KubeJobProviderOptions options) : core_(std::make_shared<Core>()) {
    core_->client = options.client;
    core_->job_namespace = std::move(options.job_namespace);
    run_uid_ = std::move(options.run_uid);
  }

  std::string_view Type() const override { return "job"; }

  // The context with the AnalysisRun's uid as the API server gave it (options.run_uid): ramp's
  // stored run carries none and a uid sent on create is replaced by the server's, yet the Job's
  // owner reference must name the object that exists — a real cluster's garbage collector
  // deletes dependents of unknown owners. Without a lookup, or for a run it does not know, the
  // context's own uid stays.
  RunContext WithClusterUid(const RunContext& ctx) const {
    RunContext with = ctx;
    if (run_uid_) {
      std::string uid = run_uid_(ctx.run);
      if (!uid.empty()) with.run_uid = std::move(uid);
    }
    return with;
  }

  void Run(const RunContext& in, const MetricRef& metric, MeasurementCallback done) override {
    const RunContext ctx = WithClusterUid(in);
    Measurement m;
    m.started_at = ctx.now;
    StatusOr<JobConfig> cfg = ParseJobConfig(metric.provider_config_json);
    if (!cfg) return done(ErrorUpdate(std::move(m), ctx, cfg.error().message()));
    if (ctx.run_uid.empty()) {
      return done(ErrorUpdate(std::move(m), ctx, "the AnalysisRun has no uid to name its job by"));
    }
    const JobRef ref = NewJobRef(ctx, metric);
    StatusOr<json> job = BuildJob(ctx, metric.name, std::move(*cfg), ref);
    if (!job) return done(ErrorUpdate(std::move(m), ctx, job.error().message()));
    {
      std::lock_guard<std::mutex> lock(core_->mu);
      core_->creating[ref.Key()];
    }
    std::shared_ptr<Core> core = core_;
    const bool by_label = ref.ns != ctx.run.namespace_;
    core->client->Create(
        kube::Jobs(), ref.ns, std::move(*job),
        [core, ctx, ref, by_label, m = std::move(m),
         done = std::move(done)](StatusOr<json> created) mutable {
          if (created) return FinishRun(core, ctx, ref, std::move(m), std::move(done), "");
          if (created.error().code() != StatusCode::kAlreadyExists) {
            return FinishRun(core, ctx, ref, std::move(m), std::move(done),
                             created.error().message());
          }
          // A retried Run (after a restart, say) finds its own Job: adopt it.
          Status create_error = created.error();
          core->client->Get(
              kube::Jobs(), ref.ns, ref.name,
              [core, ctx, ref, by_label, m = std::move(m), done = std::move(done),
               create_error](StatusOr<json> existing) mutable {
                std::string error;
                if (!existing) {
                  error = create_error.message() + "; reading it: " + existing.error().message();
                } else if (OwnerUid(*existing, by_label) != ctx.run_uid) {
                  error = create_error.message() + " (the job belongs to another AnalysisRun)";
                }
                FinishRun(core, ctx, ref, std::move(m), std::move(done), error);
              });
        });
  }

  void Resume(const RunContext& ctx, const MetricRef&, const Measurement& measurement,
              MeasurementCallback done) override {
    std::optional<JobRef> ref = RecordedJob(ctx, measurement);
    if (!ref) return done(ErrorUpdate(measurement, ctx, "job metadata reference missing"));
    std::shared_ptr<Core> core = core_;
    core->client->Get(
        kube::Jobs(), ref->ns, ref->name,
        [core, ctx, ref = *ref, m = measurement,
         done = std::move(done)](StatusOr<json> job) mutable {
          if (!job) {
            std::string message = job.error().message();
            if (job.error().code() == StatusCode::kNotFound) {
              message = ref.Text() + " no longer exists: it was deleted before it finished (" +
                        message + ")";
            }
            return done(ErrorUpdate(std::move(m), ctx, std::move(message)));
          }
          std::optional<AnalysisPhase> phase;
          std::string message;
          if (const json* conds = Find(*job, {"status", "conditions"});
              conds != nullptr && conds->is_array()) {
            for (const json& c : *conds) {
              if (Str(c, {"status"}) != "True") continue;
              const std::string type = Str(c, {"type"});
              if (type == "Complete") {
                phase = AnalysisPhase::kSuccessful;
                message.clear();
              } else if (type == "Failed") {
                phase = AnalysisPhase::kFailed;
                message = Str(c, {"message"});
                if (message.empty()) message = Str(c, {"reason"});
                if (message.empty()) message = "job failed";
              }
            }
          }
          if (phase) return done(Verdict(std::move(m), ctx, *phase, std::move(message)));
          StatusOr<std::string> selector = SelectorText(*job);
          if (!selector) return done(ErrorUpdate(std::move(m), ctx, selector.error().message()));
          if (selector->empty()) return done(StillRunning(std::move(m), ctx));
          kube::ListOptions options;
          options.label_selector = *selector;
          core->client->List(
              kube::Pods(), ref.ns, options,
              [ctx, m = std::move(m), done = std::move(done)](StatusOr<kube::ListResult> pods) {
                if (!pods) return done(ErrorUpdate(m, ctx, pods.error().message()));
                if (std::optional<std::string> stuck = StuckContainer(pods->items)) {
                  return done(Verdict(m, ctx, AnalysisPhase::kInconclusive, *stuck));
                }
                done(StillRunning(m, ctx));
              });
        });
  }

  void Terminate(const RunContext& in, const MetricRef& metric, const Measurement& measurement,
                 MeasurementCallback done) override {
    const RunContext ctx = WithClusterUid(in);
    if (IsTerminal(measurement.phase)) {
      if (measurement.phase == AnalysisPhase::kError) {
        return done(MeasurementUpdate::Error(measurement, measurement.message));
      }
      return done(MeasurementUpdate::Judged(measurement));
    }
    std::optional<JobRef> ref = RecordedJob(ctx, measurement);
    if (!ref) {
      // Asked to stop a Run whose answer is not in: its job is the one Run names.
      if (ctx.run_uid.empty()) {
        return done(ErrorUpdate(measurement, ctx, "job metadata reference missing"));
      }
      ref = NewJobRef(ctx, metric);
    }
    StatusCallback answer = [ctx, m = measurement, done = std::move(done)](Status s) mutable {
      if (!s.ok()) return done(ErrorUpdate(std::move(m), ctx, s.message()));
      done(Verdict(std::move(m), ctx, AnalysisPhase::kInconclusive, "job terminated"));
    };
    {
      std::lock_guard<std::mutex> lock(core_->mu);
      auto it = core_->creating.find(ref->Key());
      if (it != core_->creating.end()) {
        it->second.push_back(std::move(answer));
        return;
      }
    }
    DeleteJob(core_, *ref, std::move(answer));
  }

  void GarbageCollect(const RunContext& in, const MetricRef& metric, int32_t limit,
                      StatusCallback done) override {
    const RunContext ctx = WithClusterUid(in);
    if (ctx.run_uid.empty()) return done(OkStatus());
    const std::string ns = NewJobRef(ctx, metric).ns;
    kube::ListOptions options;
    options.label_selector = std::string(kUidLabel) + "=" + ctx.run_uid;
    std::shared_ptr<Core> core = core_;
    core->client->List(
        kube::Jobs(), ns, options,
        [core, ns, metric_name = metric.name, limit,
         done = std::move(done)](StatusOr<kube::ListResult> jobs) mutable {
          if (!jobs) return done(jobs.error());
          struct Old {
            Time created;
            int64_t number;
            std::string name;
          };
          std::vector<Old> mine;
          for (const json& j : jobs->items) {
            if (Str(j, {"metadata", "annotations", kMetricAnnotation}) != metric_name) continue;
            Old o;
            o.name = Str(j, {"metadata", "name"});
            StatusOr<Time> t = kube::ParseKubeTime(Str(j, {"metadata", "creationTimestamp"}));
            o.created = t ? *t : Time{};
            o.number = MeasurementNumber(o.name);
            mine.push_back(std::move(o));
          }
          std::sort(mine.begin(), mine.end(), [](const Old& a, const Old& b) {
            return std::tie(a.created, a.number, a.name) < std::tie(b.created, b.number, b.name);
          });
          const size_t keep = static_cast<size_t>(std::max<int32_t>(limit, 0));
          auto names = std::make_shared<std::vector<std::string>>();
          for (size_t i = 0; i + keep < mine.size(); ++i) names->push_back(mine[i].name);
          DeleteInOrder(core, ns, std::move(names), 0, std::move(done));
        });
  }

  std::map<std::string, std::string> Metadata(const MetricRef&) const override { return {}; }

 private:
  // Where this measurement's Job goes and what it is called.
  JobRef NewJobRef(const RunContext& ctx, const MetricRef& metric) const {
    JobRef ref;
    ref.ns = !core_->job_namespace.empty() ? core_->job_namespace : ctx.run.namespace_;
    if (ref.ns.empty()) ref.ns = core_->client->DefaultNamespace();
    ref.name = ArgoJobName(ctx.run_uid, metric.name, ctx.measurement_number);
    return ref;
  }

  // The Job a Running measurement recorded (namespace: the run's when not recorded, as Argo).
  static std::optional<JobRef> RecordedJob(const RunContext& ctx, const Measurement& m) {
    auto name = m.metadata.find(std::string(kJobNameKey));
    if (name == m.metadata.end() || name->second.empty()) return std::nullopt;
    JobRef ref;
    ref.name = name->second;
    auto ns = m.metadata.find(std::string(kJobNamespaceKey));
    ref.ns = ns != m.metadata.end() && !ns->second.empty() ? ns->second : ctx.run.namespace_;
    return ref;
  }

  // Answers a Run whose create is done (`error` empty: the Job exists), after deleting the Job
  // for any Terminate that came meanwhile.
  static void FinishRun(const std::shared_ptr<Core>& core, const RunContext& ctx, const JobRef& ref,
                        Measurement m, MeasurementCallback done, const std::string& error) {
    MeasurementUpdate update;
    if (!error.empty()) {
      update = ErrorUpdate(std::move(m), ctx, error);
    } else {
      m.metadata[std::string(kJobNameKey)] = ref.name;
      m.metadata[std::string(kJobNamespaceKey)] = ref.ns;
      // Resume at once, so a short job is seen finishing early (as Argo).
      update = MeasurementUpdate::Running(std::move(m), ctx.now);
    }
    std::vector<StatusCallback> waiting;
    {
      std::lock_guard<std::mutex> lock(core->mu);
      auto it = core->creating.find(ref.Key());
      if (it != core->creating.end()) {
        waiting = std::move(it->second);
        core->creating.erase(it);
      }
    }
    if (waiting.empty()) return done(std::move(update));
    if (!error.empty()) {
      for (StatusCallback& w : waiting) w(OkStatus());
      return done(std::move(update));
    }
    DeleteJob(core, ref,
              [waiting = std::move(waiting), update = std::move(update),
               done = std::move(done)](Status s) mutable {
                for (StatusCallback& w : waiting) w(s);
                done(std::move(update));
              });
  }

  std::shared_ptr<Core> core_;
  std::function<std::string(const ObjectRef&)> run_uid_;
};

}  // namespace

StatusOr<std::unique_ptr<MetricProvider>> NewKubeJobProvider(KubeJobProviderOptions options) {
  if (options.client == nullptr) {
    return Fail(InvalidArgumentError("the Kubernetes job provider needs an API client"));
  }
  return std::unique_ptr<MetricProvider>(std::make_unique<KubeJobProvider>(std::move(options)));
}

std::string AnalysisJobNamespaceFromEnv() {
  const char* ns = std::getenv("ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE");
  return ns != nullptr ? ns : "";
}

}  // namespace ramp::metrics
