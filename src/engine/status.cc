#include "engine/status.h"

#include <chrono>
#include <cstdio>
#include <utility>

namespace ramp::engine {

namespace {

namespace reason = condition_reason;
namespace message = condition_message;
namespace ctype = condition_type;
namespace cstatus = condition_status;

constexpr std::string_view kRolloutProgressingMessage = "Rollout \"%\" is progressing.";
constexpr std::string_view kReplicaSetProgressingMessage = "ReplicaSet \"%\" is progressing.";
constexpr std::string_view kRolloutTimeOutMessage = "Rollout \"%\" has timed out progressing.";
constexpr std::string_view kReplicaSetTimeOutMessage =
    "ReplicaSet \"%\" has timed out progressing.";
constexpr std::string_view kReplicaSetCompletedMessage =
    "ReplicaSet \"%\" has successfully progressed.";

// Replaces the single '%' of `pattern` with `arg`.
std::string Fill(std::string_view pattern, std::string_view arg) {
  std::string out(pattern);
  size_t pos = out.find('%');
  if (pos != std::string::npos) out.replace(pos, 1, arg);
  return out;
}

// ---- Encoding ----

void PutString(nlohmann::json* j, const char* key, const std::string& v) {
  if (!v.empty()) (*j)[key] = v;
}

void PutInt(nlohmann::json* j, const char* key, int32_t v) {
  if (v != 0) (*j)[key] = v;
}

void PutBool(nlohmann::json* j, const char* key, bool v) {
  if (v) (*j)[key] = true;
}

// A *metav1.Time with omitempty.
void PutTime(nlohmann::json* j, const char* key, const std::optional<Time>& t) {
  if (t) (*j)[key] = FormatMetaTime(*t);
}

// A non-pointer metav1.Time: the zero value is written as null.
nlohmann::json TimeOrNull(const std::optional<Time>& t) {
  return t ? nlohmann::json(FormatMetaTime(*t)) : nlohmann::json(nullptr);
}

nlohmann::json RunStatusJson(const RolloutAnalysisRunStatus& s) {
  nlohmann::json j = nlohmann::json::object();
  j["name"] = s.name;
  j["status"] = std::string(spec::AnalysisPhaseName(s.status));
  PutString(&j, "message", s.message);
  return j;
}

void PutRunStatus(nlohmann::json* j, const char* key,
                  const std::optional<RolloutAnalysisRunStatus>& s) {
  if (s) (*j)[key] = RunStatusJson(*s);
}

nlohmann::json WeightJson(const WeightDestination& w) {
  nlohmann::json j = nlohmann::json::object();
  j["weight"] = w.weight;
  PutString(&j, "serviceName", w.service_name);
  PutString(&j, "podTemplateHash", w.pod_template_hash);
  return j;
}

nlohmann::json StepPluginJson(const StepPluginStatus& s) {
  nlohmann::json j = nlohmann::json::object();
  j["index"] = s.index;
  j["name"] = s.name;
  j["operation"] = s.operation;
  PutString(&j, "phase", s.phase);
  PutString(&j, "message", s.message);
  PutTime(&j, "startedAt", s.started_at);
  PutTime(&j, "updatedAt", s.updated_at);
  PutTime(&j, "finishedAt", s.finished_at);
  PutString(&j, "backoff", s.backoff);
  PutInt(&j, "executions", s.executions);
  PutBool(&j, "disabled", s.disabled);
  if (s.status && !s.status->is_null()) j["status"] = *s.status;
  return j;
}

nlohmann::json CanaryJson(const CanaryStatus& c) {
  nlohmann::json j = nlohmann::json::object();
  PutRunStatus(&j, "currentStepAnalysisRunStatus", c.current_step_analysis_run_status);
  PutRunStatus(&j, "currentBackgroundAnalysisRunStatus", c.current_background_analysis_run_status);
  PutString(&j, "currentExperiment", c.current_experiment);
  if (c.weights) {
    nlohmann::json w = nlohmann::json::object();
    w["canary"] = WeightJson(c.weights->canary);
    w["stable"] = WeightJson(c.weights->stable);
    if (!c.weights->additional.empty()) {
      nlohmann::json a = nlohmann::json::array();
      for (const WeightDestination& d : c.weights->additional) a.push_back(WeightJson(d));
      w["additional"] = std::move(a);
    }
    if (c.weights->verified) w["verified"] = *c.weights->verified;
    j["weights"] = std::move(w);
  }
  PutString(&j, "stablePingPong", c.stable_ping_pong);
  if (!c.step_plugin_statuses.empty()) {
    nlohmann::json a = nlohmann::json::array();
    for (const StepPluginStatus& s : c.step_plugin_statuses) a.push_back(StepPluginJson(s));
    j["stepPluginStatuses"] = std::move(a);
  }
  return j;
}

nlohmann::json BlueGreenJson(const BlueGreenStatus& b) {
  nlohmann::json j = nlohmann::json::object();
  PutString(&j, "previewSelector", b.preview_selector);
  PutString(&j, "activeSelector", b.active_selector);
  PutBool(&j, "scaleUpPreviewCheckPoint", b.scale_up_preview_check_point);
  PutRunStatus(&j, "prePromotionAnalysisRunStatus", b.pre_promotion_analysis_run_status);
  PutRunStatus(&j, "postPromotionAnalysisRunStatus", b.post_promotion_analysis_run_status);
  return j;
}

nlohmann::json AwsRefJson(const AwsResourceRef& r) {
  return nlohmann::json{{"name", r.name}, {"arn", r.arn}, {"fullName", r.full_name}};
}

nlohmann::json AlbJson(const AlbStatus& a) {
  nlohmann::json j = nlohmann::json::object();
  j["loadBalancer"] = AwsRefJson(a.load_balancer);
  j["canaryTargetGroup"] = AwsRefJson(a.canary_target_group);
  j["stableTargetGroup"] = AwsRefJson(a.stable_target_group);
  PutString(&j, "ingress", a.ingress);
  return j;
}

nlohmann::json DurationJson(const RolloutDurationStatus& d) {
  nlohmann::json j = nlohmann::json::object();
  PutTime(&j, "rolloutStartedAt", d.rollout_started_at);
  PutTime(&j, "manualPauseStartedAt", d.manual_pause_started_at);
  if (d.total_manual_pause_duration_seconds) {
    j["totalManualPauseDurationSeconds"] = *d.total_manual_pause_duration_seconds;
  }
  PutTime(&j, "finishedAt", d.finished_at);
  if (d.completion_status) j["completionStatus"] = *d.completion_status;
  return j;
}

// ---- Decoding ----

using spec::DecodeContext;
using spec::Node;
using spec::ObjectReader;

std::optional<Time> ReadTime(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return std::nullopt;
  auto s = spec::ReadString(r->ctx(), *n, r->FieldPath(key));
  if (!s) return std::nullopt;
  auto nanos = spec::ParseMetaTime(*s);
  if (!nanos) {
    r->ctx()->Error(n->mark, r->FieldPath(key),
                    "invalid time \"" + *s + "\": expected RFC 3339 such as 2024-05-01T10:00:00Z");
    return std::nullopt;
  }
  return TruncateToSeconds(FromUnixNanos(*nanos));
}

RolloutAnalysisRunStatus DecodeRunStatus(DecodeContext* ctx, const Node* n,
                                         const std::string& path) {
  RolloutAnalysisRunStatus s;
  ObjectReader r(ctx, n, path);
  s.name = r.String("name").value_or("");
  if (const Node* p = r.Field("status")) {
    std::string ppath = r.FieldPath("status");
    if (auto text = spec::ReadString(ctx, *p, ppath)) {
      if (auto phase = spec::ParseAnalysisPhase(*text)) {
        s.status = *phase;
      } else {
        ctx->Error(p->mark, ppath,
                   "invalid analysis phase \"" + *text +
                       "\": must be one of Pending, Running, Successful, Failed, Error, "
                       "Inconclusive");
      }
    }
  }
  s.message = r.String("message").value_or("");
  r.Finish();
  return s;
}

std::optional<RolloutAnalysisRunStatus> ReadRunStatus(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return std::nullopt;
  return DecodeRunStatus(r->ctx(), n, r->FieldPath(key));
}

WeightDestination DecodeWeight(DecodeContext* ctx, const Node& n, const std::string& path) {
  WeightDestination w;
  ObjectReader r(ctx, &n, path);
  w.weight = r.Int32("weight").value_or(0);
  w.service_name = r.String("serviceName").value_or("");
  w.pod_template_hash = r.String("podTemplateHash").value_or("");
  r.Finish();
  return w;
}

WeightDestination ReadWeight(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return {};
  return DecodeWeight(r->ctx(), *n, r->FieldPath(key));
}

TrafficWeightsStatus DecodeWeights(DecodeContext* ctx, const Node* n, const std::string& path) {
  TrafficWeightsStatus w;
  ObjectReader r(ctx, n, path);
  w.canary = ReadWeight(&r, "canary");
  w.stable = ReadWeight(&r, "stable");
  w.additional = r.List("additional", DecodeWeight);
  w.verified = r.Bool("verified");
  r.Finish();
  return w;
}

StepPluginStatus DecodeStepPlugin(DecodeContext* ctx, const Node& n, const std::string& path) {
  StepPluginStatus s;
  ObjectReader r(ctx, &n, path);
  s.index = r.Int32("index").value_or(0);
  s.name = r.String("name").value_or("");
  s.operation = r.String("operation").value_or("");
  s.phase = r.String("phase").value_or("");
  s.message = r.String("message").value_or("");
  s.started_at = ReadTime(&r, "startedAt");
  s.updated_at = ReadTime(&r, "updatedAt");
  s.finished_at = ReadTime(&r, "finishedAt");
  s.backoff = r.String("backoff").value_or("");
  s.executions = r.Int32("executions").value_or(0);
  s.disabled = r.Bool("disabled").value_or(false);
  s.status = r.Json("status");
  r.Finish();
  return s;
}

CanaryStatus DecodeCanary(DecodeContext* ctx, const Node* n, const std::string& path) {
  CanaryStatus c;
  ObjectReader r(ctx, n, path);
  c.current_step_analysis_run_status = ReadRunStatus(&r, "currentStepAnalysisRunStatus");
  c.current_background_analysis_run_status =
      ReadRunStatus(&r, "currentBackgroundAnalysisRunStatus");
  c.current_experiment = r.String("currentExperiment").value_or("");
  if (const Node* w = r.Field("weights")) c.weights = DecodeWeights(ctx, w, r.FieldPath("weights"));
  c.stable_ping_pong = r.String("stablePingPong").value_or("");
  c.step_plugin_statuses = r.List("stepPluginStatuses", DecodeStepPlugin);
  r.Finish();
  return c;
}

BlueGreenStatus DecodeBlueGreen(DecodeContext* ctx, const Node* n, const std::string& path) {
  BlueGreenStatus b;
  ObjectReader r(ctx, n, path);
  b.preview_selector = r.String("previewSelector").value_or("");
  b.active_selector = r.String("activeSelector").value_or("");
  b.scale_up_preview_check_point = r.Bool("scaleUpPreviewCheckPoint").value_or(false);
  b.pre_promotion_analysis_run_status = ReadRunStatus(&r, "prePromotionAnalysisRunStatus");
  b.post_promotion_analysis_run_status = ReadRunStatus(&r, "postPromotionAnalysisRunStatus");
  r.Finish();
  return b;
}

AwsResourceRef ReadAwsRef(ObjectReader* parent, std::string_view key) {
  AwsResourceRef ref;
  ObjectReader r(parent->ctx(), parent->Field(key), parent->FieldPath(key));
  ref.name = r.String("name").value_or("");
  ref.arn = r.String("arn").value_or("");
  ref.full_name = r.String("fullName").value_or("");
  r.Finish();
  return ref;
}

AlbStatus DecodeAlb(DecodeContext* ctx, const Node& n, const std::string& path) {
  AlbStatus a;
  ObjectReader r(ctx, &n, path);
  a.load_balancer = ReadAwsRef(&r, "loadBalancer");
  a.canary_target_group = ReadAwsRef(&r, "canaryTargetGroup");
  a.stable_target_group = ReadAwsRef(&r, "stableTargetGroup");
  a.ingress = r.String("ingress").value_or("");
  r.Finish();
  return a;
}

RolloutDurationStatus DecodeDuration(DecodeContext* ctx, const Node* n, const std::string& path) {
  RolloutDurationStatus d;
  ObjectReader r(ctx, n, path);
  d.rollout_started_at = ReadTime(&r, "rolloutStartedAt");
  d.manual_pause_started_at = ReadTime(&r, "manualPauseStartedAt");
  d.total_manual_pause_duration_seconds = r.Int64("totalManualPauseDurationSeconds");
  d.finished_at = ReadTime(&r, "finishedAt");
  d.completion_status = r.String("completionStatus");
  r.Finish();
  return d;
}

PauseCondition DecodePauseCondition(DecodeContext* ctx, const Node& n, const std::string& path) {
  PauseCondition p;
  ObjectReader r(ctx, &n, path);
  p.reason = r.String("reason").value_or("");
  p.start_time = ReadTime(&r, "startTime");
  r.Finish();
  return p;
}

RolloutCondition DecodeCondition(DecodeContext* ctx, const Node& n, const std::string& path) {
  RolloutCondition c;
  ObjectReader r(ctx, &n, path);
  c.type = r.String("type").value_or("");
  c.status = r.String("status").value_or("");
  c.last_update_time = ReadTime(&r, "lastUpdateTime");
  c.last_transition_time = ReadTime(&r, "lastTransitionTime");
  c.reason = r.String("reason").value_or("");
  c.message = r.String("message").value_or("");
  r.Finish();
  return c;
}

}  // namespace

Time TruncateToSeconds(Time t) {
  return Time(std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()));
}

std::string FormatMetaTime(Time t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t.time_since_epoch());
  const auto days = floor<std::chrono::days>(secs);
  const year_month_day ymd{sys_days{days}};
  const hh_mm_ss<seconds> hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

nlohmann::json ToJson(const RolloutStatus& s) {
  nlohmann::json j = nlohmann::json::object();
  PutBool(&j, "abort", s.abort);
  if (!s.pause_conditions.empty()) {
    nlohmann::json a = nlohmann::json::array();
    for (const PauseCondition& p : s.pause_conditions) {
      a.push_back(nlohmann::json{{"reason", p.reason}, {"startTime", TimeOrNull(p.start_time)}});
    }
    j["pauseConditions"] = std::move(a);
  }
  PutBool(&j, "controllerPause", s.controller_pause);
  PutTime(&j, "abortedAt", s.aborted_at);
  PutString(&j, "currentPodHash", s.current_pod_hash);
  PutString(&j, "currentStepHash", s.current_step_hash);
  PutInt(&j, "replicas", s.replicas);
  PutInt(&j, "updatedReplicas", s.updated_replicas);
  PutInt(&j, "readyReplicas", s.ready_replicas);
  PutInt(&j, "availableReplicas", s.available_replicas);
  if (s.current_step_index) j["currentStepIndex"] = *s.current_step_index;
  if (s.collision_count) j["collisionCount"] = *s.collision_count;
  PutString(&j, "observedGeneration", s.observed_generation);
  if (!s.conditions.empty()) {
    nlohmann::json a = nlohmann::json::array();
    for (const RolloutCondition& c : s.conditions) {
      nlohmann::json cj = nlohmann::json::object();
      cj["type"] = c.type;
      cj["status"] = c.status;
      cj["lastUpdateTime"] = TimeOrNull(c.last_update_time);
      cj["lastTransitionTime"] = TimeOrNull(c.last_transition_time);
      cj["reason"] = c.reason;
      cj["message"] = c.message;
      a.push_back(std::move(cj));
    }
    j["conditions"] = std::move(a);
  }
  j["canary"] = CanaryJson(s.canary);
  j["blueGreen"] = BlueGreenJson(s.blue_green);
  PutInt(&j, "HPAReplicas", s.hpa_replicas);
  PutString(&j, "selector", s.selector);
  PutString(&j, "stableRS", s.stable_rs);
  PutTime(&j, "restartedAt", s.restarted_at);
  PutBool(&j, "promoteFull", s.promote_full);
  PutString(&j, "phase", s.phase);
  PutString(&j, "message", s.message);
  PutString(&j, "workloadObservedGeneration", s.workload_observed_generation);
  if (s.alb) j["alb"] = AlbJson(*s.alb);
  if (!s.albs.empty()) {
    nlohmann::json a = nlohmann::json::array();
    for (const AlbStatus& alb : s.albs) a.push_back(AlbJson(alb));
    j["albs"] = std::move(a);
  }
  if (s.duration) j["duration"] = DurationJson(*s.duration);
  return j;
}

RolloutStatus DecodeRolloutStatus(spec::DecodeContext* ctx, const spec::Node& node,
                                  const std::string& path) {
  RolloutStatus s;
  ObjectReader r(ctx, &node, path);
  s.abort = r.Bool("abort").value_or(false);
  s.pause_conditions = r.List("pauseConditions", DecodePauseCondition);
  s.controller_pause = r.Bool("controllerPause").value_or(false);
  s.aborted_at = ReadTime(&r, "abortedAt");
  s.current_pod_hash = r.String("currentPodHash").value_or("");
  s.current_step_hash = r.String("currentStepHash").value_or("");
  s.replicas = r.Int32("replicas").value_or(0);
  s.updated_replicas = r.Int32("updatedReplicas").value_or(0);
  s.ready_replicas = r.Int32("readyReplicas").value_or(0);
  s.available_replicas = r.Int32("availableReplicas").value_or(0);
  s.current_step_index = r.Int32("currentStepIndex");
  s.collision_count = r.Int32("collisionCount");
  s.observed_generation = r.String("observedGeneration").value_or("");
  s.conditions = r.List("conditions", DecodeCondition);
  s.canary = DecodeCanary(ctx, r.Field("canary"), r.FieldPath("canary"));
  s.blue_green = DecodeBlueGreen(ctx, r.Field("blueGreen"), r.FieldPath("blueGreen"));
  s.hpa_replicas = r.Int32("HPAReplicas").value_or(0);
  s.selector = r.String("selector").value_or("");
  s.stable_rs = r.String("stableRS").value_or("");
  s.restarted_at = ReadTime(&r, "restartedAt");
  s.promote_full = r.Bool("promoteFull").value_or(false);
  s.phase = r.String("phase").value_or("");
  s.message = r.String("message").value_or("");
  s.workload_observed_generation = r.String("workloadObservedGeneration").value_or("");
  if (const Node* a = r.Field("alb")) s.alb = DecodeAlb(ctx, *a, r.FieldPath("alb"));
  s.albs = r.List("albs", DecodeAlb);
  if (const Node* d = r.Field("duration")) {
    s.duration = DecodeDuration(ctx, d, r.FieldPath("duration"));
  }
  r.Finish();
  return s;
}

PhaseStatus ToPhaseStatus(const RolloutStatus& s) {
  PhaseStatus p;
  for (const RolloutCondition& c : s.conditions) {
    p.conditions.push_back(ConditionView{c.type, c.status, c.reason, c.message});
  }
  for (const PauseCondition& c : s.pause_conditions) p.pause_reasons.push_back(c.reason);
  p.controller_pause = s.controller_pause;
  if (s.restarted_at) p.restarted_at = FormatMetaTime(*s.restarted_at);
  p.replicas = s.replicas;
  p.updated_replicas = s.updated_replicas;
  p.available_replicas = s.available_replicas;
  p.stable_rs = s.stable_rs;
  p.current_pod_hash = s.current_pod_hash;
  p.active_selector = s.blue_green.active_selector;
  p.post_promotion_analysis_completed =
      s.blue_green.post_promotion_analysis_run_status.has_value() &&
      spec::IsCompleted(s.blue_green.post_promotion_analysis_run_status->status);
  p.observed_generation = s.observed_generation;
  p.workload_observed_generation = s.workload_observed_generation;
  p.phase = s.phase;
  p.message = s.message;
  return p;
}

// ---- Condition helpers ----

RolloutCondition NewCondition(std::string_view type, std::string_view status,
                              std::string_view reason, std::string_view message, Time now) {
  const Time t = TruncateToSeconds(now);
  return RolloutCondition{std::string(type),   std::string(status), t, t,
                          std::string(reason), std::string(message)};
}

const RolloutCondition* GetCondition(const RolloutStatus& status, std::string_view type) {
  for (const RolloutCondition& c : status.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

bool SetCondition(RolloutStatus* status, RolloutCondition condition) {
  const RolloutCondition* current = GetCondition(*status, condition.type);
  if (current != nullptr && current->status == condition.status &&
      current->reason == condition.reason) {
    return false;
  }
  if (current != nullptr && current->status == condition.status) {
    condition.last_transition_time = current->last_transition_time;
  }
  RemoveCondition(status, condition.type);
  status->conditions.push_back(std::move(condition));
  return true;
}

void RemoveCondition(RolloutStatus* status, std::string_view type) {
  std::erase_if(status->conditions, [&](const RolloutCondition& c) { return c.type == type; });
}

// ---- Predicates ----

bool RolloutCompleted(const RolloutStatus& status) {
  return !status.stable_rs.empty() && status.stable_rs == status.current_pod_hash;
}

bool RolloutHealthy(const spec::RolloutSpec& spec, int64_t generation,
                    const RolloutStatus& old_status, const RolloutStatus& new_status) {
  const int32_t replicas = spec.EffectiveReplicas();
  bool completed_strategy = true;
  if (spec.blue_green) {
    const bool active = new_status.blue_green.active_selector == new_status.current_pod_hash;
    const bool preview = spec.blue_green->preview_service.empty() ||
                         new_status.blue_green.preview_selector == new_status.current_pod_hash;
    completed_strategy = active && preview;
  }
  if (spec.canary) {
    const size_t steps = spec.canary->steps.size();
    bool all_steps = true;
    if (steps > 0 && new_status.current_step_index) {
      all_steps = static_cast<int64_t>(steps) == *new_status.current_step_index;
    }
    completed_strategy =
        all_steps && RolloutCompleted(new_status) && new_status.replicas == replicas;
  }
  return new_status.updated_replicas == replicas && new_status.available_replicas == replicas &&
         old_status.observed_generation == std::to_string(generation) && completed_strategy;
}

bool RolloutProgressing(const spec::RolloutSpec& spec, const RolloutStatus& old_status,
                        const RolloutStatus& new_status) {
  bool strategy_progress = false;
  if (spec.blue_green) {
    strategy_progress =
        old_status.blue_green.active_selector != new_status.blue_green.active_selector ||
        old_status.blue_green.preview_selector != new_status.blue_green.preview_selector;
  }
  if (spec.canary) {
    const bool step_moved = new_status.current_step_index && old_status.current_step_index &&
                            *new_status.current_step_index != *old_status.current_step_index;
    strategy_progress = new_status.stable_rs != old_status.stable_rs || step_moved ||
                        new_status.current_step_hash != old_status.current_step_hash;
  }
  const int32_t old_old = old_status.replicas - old_status.updated_replicas;
  const int32_t new_old = new_status.replicas - new_status.updated_replicas;
  return new_status.updated_replicas != old_status.updated_replicas || new_old < old_old ||
         new_status.ready_replicas > old_status.ready_replicas ||
         new_status.available_replicas > old_status.available_replicas || strategy_progress;
}

std::optional<Time> ProgressDeadline(const RolloutStatus& status,
                                     int32_t progress_deadline_seconds) {
  const RolloutCondition* c = GetCondition(status, ctype::kProgressing);
  if (c == nullptr || !c->last_update_time || c->reason == reason::kRolloutAborted ||
      c->reason == reason::kRolloutPaused || c->reason == reason::kProgressDeadlineExceeded) {
    return std::nullopt;
  }
  return *c->last_update_time + std::chrono::seconds(progress_deadline_seconds);
}

bool RolloutTimedOut(const RolloutStatus& status, int32_t progress_deadline_seconds, Time now) {
  const RolloutCondition* c = GetCondition(status, ctype::kProgressing);
  if (c == nullptr || c->reason == reason::kRolloutAborted || c->reason == reason::kRolloutPaused) {
    return false;
  }
  if (c->reason == reason::kProgressDeadlineExceeded) return true;
  // A zero lastUpdateTime is Go's year 1: any deadline from it has long passed.
  if (!c->last_update_time) return true;
  return *c->last_update_time + std::chrono::seconds(progress_deadline_seconds) < now;
}

// ---- Calculations ----

RolloutCondition AvailableCondition(bool available, Time now) {
  return NewCondition(ctype::kAvailable, available ? cstatus::kTrue : cstatus::kFalse,
                      reason::kAvailable, available ? message::kAvailable : message::kNotAvailable,
                      now);
}

bool CheckPausedConditions(bool paused, RolloutStatus* status, Time now) {
  const RolloutCondition* prog = GetCondition(*status, ctype::kProgressing);
  const bool prog_paused = prog != nullptr && prog->reason == reason::kRolloutPaused;
  const bool abort_exists = prog != nullptr && prog->reason == reason::kRolloutAborted;
  const RolloutCondition* pause = GetCondition(*status, ctype::kPaused);
  const bool pause_true = pause != nullptr && pause->status == cstatus::kTrue;

  std::vector<RolloutCondition> updates;
  if (paused != prog_paused && !abort_exists && !RolloutCompleted(*status)) {
    updates.push_back(paused
                          ? NewCondition(ctype::kProgressing, cstatus::kUnknown,
                                         reason::kRolloutPaused, message::kRolloutPaused, now)
                          : NewCondition(ctype::kProgressing, cstatus::kUnknown,
                                         reason::kRolloutResumed, message::kRolloutResumed, now));
  }
  if (!status->abort && abort_exists) {
    updates.push_back(NewCondition(ctype::kProgressing, cstatus::kUnknown, reason::kRolloutRetry,
                                   message::kRolloutRetry, now));
  }
  if (paused != pause_true && !abort_exists) {
    updates.push_back(NewCondition(ctype::kPaused, paused ? cstatus::kTrue : cstatus::kFalse,
                                   reason::kRolloutPaused, message::kRolloutPaused, now));
  }
  for (RolloutCondition& c : updates) SetCondition(status, std::move(c));
  return !updates.empty();
}

ConditionEvents CalculateRolloutConditions(const spec::RolloutSpec& spec, const ConditionInputs& in,
                                           const RolloutStatus& old_status,
                                           RolloutStatus* new_status, Time now) {
  ConditionEvents events;
  const bool paused = !new_status->pause_conditions.empty() || spec.paused;
  const bool healthy = RolloutHealthy(spec, in.generation, old_status, *new_status);

  // Healthy.
  bool became_unhealthy = false;
  if (!paused && healthy) {
    SetCondition(new_status, NewCondition(ctype::kHealthy, cstatus::kTrue, reason::kRolloutHealthy,
                                          message::kRolloutHealthy, now));
  } else if (GetCondition(old_status, ctype::kHealthy) != nullptr) {
    became_unhealthy = SetCondition(
        new_status, NewCondition(ctype::kHealthy, cstatus::kFalse, reason::kRolloutHealthy,
                                 message::kRolloutNotHealthy, now));
  }

  // Progressing.
  if (in.aborted) {
    std::string msg = "Rollout aborted update to revision " + std::to_string(in.revision);
    if (!in.abort_message.empty()) msg += ": " + in.abort_message;
    events.aborted = SetCondition(new_status, NewCondition(ctype::kProgressing, cstatus::kFalse,
                                                           reason::kRolloutAborted, msg, now));
  } else if (healthy) {
    SetCondition(new_status,
                 NewCondition(ctype::kProgressing, cstatus::kTrue, reason::kNewReplicaSetAvailable,
                              Fill(kReplicaSetCompletedMessage, in.new_rs_name), now));
  } else if (RolloutProgressing(spec, old_status, *new_status) || became_unhealthy) {
    std::string msg = in.new_rs_name.empty() ? Fill(kRolloutProgressingMessage, in.rollout_name)
                                             : Fill(kReplicaSetProgressingMessage, in.new_rs_name);
    std::string_view why = reason::kReplicaSetUpdated;
    if (new_status->stable_rs == new_status->current_pod_hash && became_unhealthy) {
      why = reason::kReplicaSetNotAvailable;
      msg = message::kNotAvailable;
    }
    RolloutCondition c = NewCondition(ctype::kProgressing, cstatus::kTrue, why, msg, now);
    // Progress always refreshes lastUpdateTime (remove, then set), which restarts the deadline.
    if (const RolloutCondition* current = GetCondition(old_status, ctype::kProgressing)) {
      if (current->status == cstatus::kTrue) {
        c.last_transition_time = current->last_transition_time;
      }
      RemoveCondition(new_status, ctype::kProgressing);
    }
    SetCondition(new_status, std::move(c));
  } else if (!in.indefinite_step && !in.waiting_for_scale_down &&
             RolloutTimedOut(*new_status, spec.EffectiveProgressDeadlineSeconds(), now)) {
    std::string msg = in.new_rs_name.empty() ? Fill(kRolloutTimeOutMessage, in.rollout_name)
                                             : Fill(kReplicaSetTimeOutMessage, in.new_rs_name);
    SetCondition(new_status, NewCondition(ctype::kProgressing, cstatus::kFalse,
                                          reason::kProgressDeadlineExceeded, msg, now));
  }

  // Available.
  SetCondition(new_status, AvailableCondition(in.available, now));

  // ReplicaFailure.
  if (in.replica_failure) {
    SetCondition(new_status, *in.replica_failure);
  } else {
    RemoveCondition(new_status, ctype::kReplicaFailure);
  }

  // Completed: the message is the reason, as Argo writes it.
  const bool completed = RolloutCompleted(*new_status);
  const bool changed = SetCondition(
      new_status, NewCondition(ctype::kCompleted, completed ? cstatus::kTrue : cstatus::kFalse,
                               reason::kRolloutCompleted, reason::kRolloutCompleted, now));
  events.not_completed = !completed && changed;
  return events;
}

}  // namespace ramp::engine
