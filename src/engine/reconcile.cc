// One reconcile of a Rollout (reconcile.h). The structure follows Argo Rollouts' controller
// (rollout/canary.go, bluegreen.go, sync.go, analysis.go, pause.go, trafficrouting.go,
// replicaset.go and service.go) so that each rule can be checked against the reference: a
// "pause context" collects pause and abort decisions during the reconcile and applies them when
// the status is computed, the canary and blue-green paths run the same stages in the same order,
// and the status is persisted by one function that computes conditions, phase and events.
#include "engine/reconcile.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "engine/replica_math.h"

namespace ramp::engine {

bool operator==(const RevisionRecord& a, const RevisionRecord& b) {
  return a.hash == b.hash && a.revision == b.revision && a.pod_template.raw == b.pod_template.raw &&
         a.scale_down_at == b.scale_down_at && a.created_at == b.created_at;
}

namespace {

using spec::AnalysisPhase;

constexpr char kSafeAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
constexpr char kWebhookStep[] = "ramp/webhook";
// Argo's ROLLOUT_VERIFY_RETRY_INTERVAL default.
constexpr Duration kVerifyRetryInterval = std::chrono::seconds(10);

// A ramp/webhook step's configuration (docs/manifests.md); lint has validated it.
struct WebhookStep {
  HookCall call;
  Duration interval = std::chrono::seconds(10);
  bool gate = false;
};

Duration JsonDuration(const nlohmann::json& config, const char* key, Duration fallback) {
  auto it = config.find(key);
  if (it == config.end() || !it->is_string()) return fallback;
  std::optional<int64_t> nanos = spec::ParseGoDuration(it->get<std::string>());
  return nanos ? Duration(*nanos) : fallback;
}

WebhookStep ParseWebhookStep(const spec::PluginStep& plugin, int32_t index) {
  WebhookStep w;
  const nlohmann::json config =
      plugin.config && plugin.config->is_object() ? *plugin.config : nlohmann::json::object();
  auto text = [&](const char* key) {
    auto it = config.find(key);
    return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  w.call.type = ParseHookType(text("type")).value_or(HookType::kRollout);
  w.call.name = text("name");
  if (w.call.name.empty()) w.call.name = fmt::format("ramp/webhook step {}", index);
  w.call.url = text("url");
  w.call.timeout = JsonDuration(config, "timeout", std::chrono::seconds(10));
  if (auto it = config.find("retries"); it != config.end() && it->is_number_integer()) {
    w.call.retries = it->get<int32_t>();
  }
  if (auto it = config.find("disableTLS"); it != config.end() && it->is_boolean()) {
    w.call.disable_tls = it->get<bool>();
  }
  if (auto it = config.find("metadata"); it != config.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (v.is_string()) w.call.metadata[k] = v.get<std::string>();
    }
  }
  w.interval = JsonDuration(config, "interval", std::chrono::seconds(10));
  w.gate = w.call.type == HookType::kConfirmRollout ||
           w.call.type == HookType::kConfirmTrafficIncrease ||
           w.call.type == HookType::kConfirmPromotion;
  return w;
}

uint32_t Fnv32a(std::string_view data, uint32_t h = 2166136261u) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// Kubernetes' SafeEncodeString over the decimal text of the hash.
std::string SafeEncode(uint32_t value) {
  std::string decimal = std::to_string(value);
  std::string out;
  out.reserve(decimal.size());
  for (unsigned char c : decimal) out.push_back(kSafeAlphabet[c % (sizeof(kSafeAlphabet) - 1)]);
  return out;
}

// A fingerprint of the canary steps: any change to them restarts the steps (currentStepHash).
std::string StepsText(const spec::RolloutSpec& spec) {
  std::string out;
  if (!spec.canary) return out;
  auto args_text = [](const spec::RolloutAnalysis& a) {
    std::string t;
    for (const auto& ref : a.templates) t += "t:" + ref.template_name + ";";
    for (const auto& arg : a.args) t += "a:" + arg.name + "=" + arg.value.value_or("") + ";";
    return t;
  };
  for (const spec::CanaryStep& s : spec.canary->steps) {
    if (s.set_weight) out += "w" + std::to_string(*s.set_weight);
    if (s.pause) out += "p" + (s.pause->duration ? s.pause->duration->ToString() : "-");
    if (s.analysis) out += "a{" + args_text(*s.analysis) + "}";
    if (s.set_canary_scale) {
      const auto& c = *s.set_canary_scale;
      out += fmt::format("c{}/{}/{}", c.weight.value_or(-1), c.replicas.value_or(-1),
                         c.match_traffic_weight);
    }
    if (s.set_header_route) out += "h" + s.set_header_route->name;
    if (s.set_mirror_route) out += "m" + s.set_mirror_route->name;
    if (s.experiment) out += "x";
    if (s.plugin) out += "g" + s.plugin->name;
    out += "|";
  }
  return out;
}

// Argo's CanaryStepString.
std::string StepText(const spec::CanaryStep& s) {
  if (s.set_weight) return fmt::format("setWeight: {}", *s.set_weight);
  if (s.pause) {
    return s.pause->duration ? "pause: " + s.pause->duration->ToString() : std::string("pause");
  }
  if (s.experiment) return "experiment";
  if (s.analysis) return "analysis";
  if (s.set_canary_scale) {
    const auto& c = *s.set_canary_scale;
    if (c.weight) return fmt::format("setCanaryScale{{weight: {}}}", *c.weight);
    if (c.match_traffic_weight) return "setCanaryScale{matchTrafficWeight: true}";
    if (c.replicas) return fmt::format("setCanaryScale{{replicas: {}}}", *c.replicas);
  }
  if (s.plugin) return "plugin: " + s.plugin->name;
  if (s.set_header_route) return "setHeaderRoute: " + s.set_header_route->name;
  if (s.set_mirror_route) return "setMirrorRoute: " + s.set_mirror_route->name;
  return "invalid";
}

std::optional<StringMatch> ToMatch(const std::optional<spec::StringMatch>& s) {
  if (!s) return std::nullopt;
  if (!s->prefix.empty()) return StringMatch{StringMatch::Kind::kPrefix, s->prefix};
  if (!s->regex.empty()) return StringMatch{StringMatch::Kind::kRegex, s->regex};
  return StringMatch{StringMatch::Kind::kExact, s->exact};
}

HeaderRoute ToHeaderRoute(const spec::SetHeaderRoute& r) {
  HeaderRoute out;
  out.name = r.name;
  for (const auto& m : r.match) {
    HeaderMatch hm;
    hm.header_name = m.header_name;
    if (auto v = ToMatch(m.header_value)) hm.header_value = *v;
    out.matches.push_back(std::move(hm));
  }
  return out;
}

MirrorRoute ToMirrorRoute(const spec::SetMirrorRoute& r) {
  MirrorRoute out;
  out.name = r.name;
  out.percentage = r.EffectivePercentage();
  for (const auto& m : r.match) {
    RouteMatch rm;
    rm.method = ToMatch(m.method);
    rm.path = ToMatch(m.path);
    for (const auto& [k, v] : m.headers) rm.headers[k] = *ToMatch(v);
    out.matches.push_back(std::move(rm));
  }
  return out;
}

// One revision during a reconcile: its record and what the platform reports.
struct Rev {
  size_t record = 0;    // index into state.revisions
  int32_t desired = 0;  // spec.replicas of the ReplicaSet
  int32_t current = 0;  // instances not terminating
  int32_t ready = 0;
  int32_t available = 0;
  const RevisionStatus* observed = nullptr;
};

// Instance counts summed over every revision (Argo's Get*ReplicaCountForReplicaSets).
struct Totals {
  int32_t desired = 0;
  int32_t current = 0;
  int32_t ready = 0;
  int32_t available = 0;
};

// Argo's pauseContext: pause and abort decisions taken during the reconcile.
struct PauseDecisions {
  std::vector<std::string> add;
  std::vector<std::string> remove;
  bool clear = false;
  bool add_abort = false;
  bool remove_abort = false;
  std::string abort_message;

  bool HasAddPause() const { return !add.empty(); }
  bool IsAborted(const RolloutStatus& stored) const {
    if (remove_abort) return false;
    return add_abort || stored.abort;
  }
  void AddAbort(std::string message) {
    add_abort = true;
    abort_message = std::move(message);
  }
};

const PauseCondition* FindPause(const RolloutStatus& status, std::string_view reason) {
  for (const auto& c : status.pause_conditions) {
    if (c.reason == reason) return &c;
  }
  return nullptr;
}

class Reconciler {
 public:
  Reconciler(const ReconcileContext& ctx, const RolloutState& state, const Observed& observed,
             Time now)
      : ctx_(ctx),
        ro_(*ctx.rollout),
        spec_(ctx.rollout->spec),
        st_(state),
        obs_(observed),
        now_(now) {}

  ReconcileResult Run();

 private:
  // ---- Revisions ----
  void LoadRevisions();
  void EnsureNewRevision();
  void AdoptUnknownRevisions();
  std::string RsName(const std::string& hash) const { return ro_.metadata.name + "-" + hash; }
  RevisionRecord& Record(const Rev& r) { return st_.revisions[r.record]; }
  const RevisionRecord& Record(const Rev& r) const { return st_.revisions[r.record]; }
  Rev* NewRs() { return new_ < 0 ? nullptr : &revs_[static_cast<size_t>(new_)]; }
  Rev* StableRs() { return stable_ < 0 ? nullptr : &revs_[static_cast<size_t>(stable_)]; }
  Rev* FindRev(const std::string& hash);
  std::vector<Rev*> OtherRevs();
  Totals Sum() const;
  ReplicaSetInfo Info(const Rev& r) const;
  CanaryReplicaSets Sets();
  CanaryState MathState(const std::optional<TrafficWeightsStatus>& weights) const;
  bool Scale(Rev* rev, int32_t replicas);
  bool IsReferenced(const std::string& hash) const;
  bool HasDeadline(const Rev& r) const { return Record(r).scale_down_at.has_value(); }
  void RemoveScaleDownDeadlines();
  std::optional<int32_t> AbortScaleDownDelay() const;
  bool ShouldDelayScaleDownOnAbort();
  // Returns whether the new revision's count should be left as it is this reconcile.
  bool ApplyAbortDelay(int32_t* count);
  int32_t NewRsReplicas(const std::optional<TrafficWeightsStatus>& weights);
  bool IsSaturated(const Rev* rs) const;
  bool ReadyForPause();
  void ReconcileRevisionHistory();
  std::pair<int32_t, int32_t> ScaleDownDelayHelper(Rev* rs, int32_t annotated,
                                                   int32_t keep_replicas);

  // ---- Restart ----
  std::optional<Time> RestartAt() const;
  int32_t RestartInstances();

  // ---- Steps ----
  int32_t StepCount() const {
    return spec_.canary ? static_cast<int32_t>(spec_.canary->steps.size()) : 0;
  }
  std::optional<int32_t> StepIndex() const;
  const spec::CanaryStep* CurrentStep() const;
  bool UnsupportedSteps(std::string* message) const;

  // ---- Rollback ----
  bool IsRollback();
  bool IsRollbackWithinWindow();
  bool IsFastRollback();
  bool FullyPromoted() const { return prev_.stable_rs == prev_.current_pod_hash; }
  bool Halt() const {
    return spec_.paused || FindPause(prev_, pause_reason::kInconclusiveAnalysisRun) != nullptr;
  }

  // ---- Services and traffic ----
  void SwitchSelector(ServiceRole role, const std::string& service, std::string* selector,
                      const std::string& hash);
  void EnsureCanaryTarget(ServiceRole role, const std::string& service, std::string* selector,
                          Rev* rs);
  void ReconcileCanaryServices();
  void ReconcileTrafficRouting();
  int32_t DesiredWeightOnAbort();
  bool AtDesiredCounts(const std::optional<TrafficWeightsStatus>& weights);
  void RemoveManagedRoutes();

  // ---- Analysis ----
  spec::AnalysisRun* FindRun(const std::string& name);
  spec::AnalysisRun* CurrentRun(const std::optional<RolloutAnalysisRunStatus>& s) {
    return s ? FindRun(s->name) : nullptr;
  }
  void Cancel(spec::AnalysisRun* run, std::string_view reason);
  bool NeedsNewRun(const spec::AnalysisRun* current) const;
  spec::AnalysisRun* CreateRun(const spec::RolloutAnalysis& analysis, AnalysisRunKind kind,
                               std::optional<int32_t> step_index);
  spec::AnalysisRun* ReconcileStepRun();
  spec::AnalysisRun* ReconcileBackgroundRun();
  spec::AnalysisRun* ReconcilePrePromotionRun();
  spec::AnalysisRun* ReconcilePostPromotionRun();
  // Argo's reaction to a current run: Inconclusive pauses, Failed or Error aborts with
  // "<failed>: <the run's message>".
  void PauseOrAbortFor(const spec::AnalysisRun* run, std::string_view failed);
  void ReconcileAnalysisRuns();
  void EmitRunChange(const std::optional<RolloutAnalysisRunStatus>& prev,
                     const spec::AnalysisRun* run, std::string_view type);
  void AssessRuns(bool only_touched);
  void TrimRuns();

  // ---- ramp/webhook steps ----
  StepPluginStatus* WebhookStatus(RolloutStatus* status, int32_t index);
  void ReconcileWebhookStep();
  bool WebhookStepCompleted();
  std::string gate_waiting_;  // "waiting for confirm-promotion" while a gate is closed

  // ---- Attached hooks (RolloutWebhooks, ctx_.webhooks) ----
  bool HasHooks() const { return ctx_.webhooks != nullptr && !ctx_.webhooks->empty(); }
  std::vector<const spec::AttachedWebhook*> HooksOf(HookType type) const;
  bool HasHooksOf(HookType type) const { return !HooksOf(type).empty(); }
  Duration IntervalOf(HookType type) const;
  // The update's hooks run: hooks attached, an update in progress, not aborted, not promoted.
  bool HooksRunning() const;
  bool Passed(const std::string& key) const;
  HookRound* FindRound(const std::string& key);
  void BeginHooks();
  void StartRound(HookType type, const std::string& key, std::string phase);
  void CallRoundHook(HookRound* round, HookType type);
  void ApplyHookAnswer(HookRound* round, HookType type, const spec::AttachedWebhook& hook,
                       const HookResult& result);
  // Whether gate `key` (hooks of `type`) has passed; otherwise drives its round (a new one
  // starts when `may_start` and the interval since the last one has passed) and returns false.
  bool Gate(HookType type, const std::string& key, bool may_start = true);
  void PeriodicHooks(HookType type);
  void EvaluateCanaryGates();
  void EvaluateBlueGreenPreRollout();
  void EvaluateBlueGreenPromotion();
  void EndHooks();
  void EventHooks();
  bool hooks_on_ = false;   // the progress belongs to an update whose hooks still run
  bool hold_new_ = false;   // confirm-rollout closed: the new revision stays at 0 instances
  bool hold_step_ = false;  // a canary gate is closed: no step completes, no promotion
  std::optional<int32_t> hold_weight_;  // the canary weight cap while a gate is closed
  bool hold_pre_analysis_ = false;      // blue-green: pre-rollout has not passed
  bool hold_switch_ = false;            // blue-green: confirm-promotion is closed
  std::string hook_gate_waiting_;       // "waiting for <type>" of a closed attached gate

  // ---- Canary ----
  void Canary();
  bool ReconcileCanaryReplicaSets();
  void ReconcileCanaryPause();
  bool CompletedCurrentCanaryStep();
  bool CompletedCanaryPauseStep(const spec::RolloutPause& pause);
  void SyncCanaryStatus();

  // ---- Blue-green ----
  void BlueGreen();
  void ReconcileBlueGreenReplicaSets();
  bool FastTracked();
  bool NeedsBlueGreenControllerPause() const;
  bool CompletedBlueGreenPause();
  bool CompletedPrePromotionAnalysis();
  void ReconcileBlueGreenPause();
  void ReconcileActiveService();
  void SyncBlueGreenStatus();
  bool ScaleUpPreviewCheckPoint();

  // ---- Status ----
  RolloutStatus BaseStatus();
  void ResetStatus(RolloutStatus* ns);
  std::string ShouldFullPromote(const RolloutStatus& ns);
  void PromoteStable(RolloutStatus* ns, const std::string& reason);
  void Persist(RolloutStatus ns);
  void CalculatePauseStatus(RolloutStatus* ns);
  void EvaluateProgressDeadlineAbort(const RolloutStatus& ns);
  void InvalidSpec(const std::string& message);

  // ---- Failures of the previous batch ----
  void RecordFailures();
  std::set<ServiceRole> force_switch_;  // switches that failed: asked again even if unchanged

  // ---- Output ----
  void Event(std::string_view reason, std::string message, EventType type = EventType::kNormal) {
    intents_.push_back(EmitEvent{std::string(reason), std::move(message), type});
  }
  void WakeAt(Time t) {
    if (t <= now_) return;
    if (!wake_ || t < *wake_) wake_ = t;
  }
  void WakeForAvailability();
  void WakeForProgressDeadline();

  const ReconcileContext& ctx_;
  const spec::Rollout& ro_;
  const spec::RolloutSpec& spec_;
  RolloutState st_;
  const Observed& obs_;
  const Time now_;

  RolloutStatus prev_;  // the stored status (after the pause-condition sync)
  RolloutStatus ns_;    // Argo's c.newStatus: fields set by the stages before the status sync
  PauseDecisions pause_;
  std::vector<Intent> intents_;
  std::optional<Time> wake_;
  std::vector<Rev> revs_;
  int new_ = -1;
  int stable_ = -1;
  std::string new_hash_;
  std::string step_hash_;
  bool template_changed_ = false;
  std::set<std::string> touched_runs_;
  // Runs current after the analysis stage (Argo's currentArs).
  spec::AnalysisRun* cur_step_ = nullptr;
  spec::AnalysisRun* cur_background_ = nullptr;
  spec::AnalysisRun* cur_pre_ = nullptr;
  spec::AnalysisRun* cur_post_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Revisions

void Reconciler::LoadRevisions() {
  revs_.clear();
  std::map<std::string, const RevisionStatus*> seen;
  if (obs_.revisions) {
    for (const RevisionStatus& r : *obs_.revisions) seen[r.hash] = &r;
  }
  const Duration min_ready = std::chrono::seconds(spec_.min_ready_seconds);
  for (size_t i = 0; i < st_.revisions.size(); ++i) {
    Rev rev;
    rev.record = i;
    auto it = seen.find(st_.revisions[i].hash);
    if (it != seen.end()) {
      rev.desired = it->second->desired_replicas;
      rev.current = it->second->Current();
      rev.ready = it->second->Ready();
      rev.available = it->second->Available(now_, min_ready);
      rev.observed = it->second;
    }
    revs_.push_back(rev);
  }
  new_ = -1;
  stable_ = -1;
  for (size_t i = 0; i < revs_.size(); ++i) {
    const std::string& h = st_.revisions[revs_[i].record].hash;
    if (h == new_hash_) new_ = static_cast<int>(i);
    if (!prev_.stable_rs.empty() && h == prev_.stable_rs) stable_ = static_cast<int>(i);
  }
}

void Reconciler::EnsureNewRevision() {
  int64_t max_revision = 0;
  for (const auto& r : st_.revisions) max_revision = std::max(max_revision, r.revision);
  auto it = std::find_if(st_.revisions.begin(), st_.revisions.end(),
                         [&](const RevisionRecord& r) { return r.hash == new_hash_; });
  if (it == st_.revisions.end()) {
    RevisionRecord rec;
    rec.hash = new_hash_;
    rec.revision = max_revision + 1;
    rec.pod_template = spec_.template_;
    rec.created_at = TruncateToSeconds(now_);
    st_.revisions.push_back(rec);
    intents_.push_back(ScaleRevision{new_hash_, 0, {}, {}});
    Event(reason::kNewReplicaSetCreated,
          fmt::format("Created ReplicaSet {} (revision {})", RsName(new_hash_), rec.revision));
    Event(reason::kRolloutUpdated, fmt::format("Rollout updated to revision {}", rec.revision));
  } else if (it->revision != max_revision) {
    // A revision that comes back (undo) becomes the newest one again.
    it->revision = max_revision + 1;
    Event(reason::kRolloutUpdated, fmt::format("Rollout updated to revision {}", it->revision));
  }
  std::sort(
      st_.revisions.begin(), st_.revisions.end(),
      [](const RevisionRecord& a, const RevisionRecord& b) { return a.revision < b.revision; });
}

// A revision the platform runs that the state does not know (a lost state, instances started by
// hand) becomes one of the rollout's old revisions, so it is scaled down like any other.
void Reconciler::AdoptUnknownRevisions() {
  for (const RevisionStatus& r : *obs_.revisions) {
    const bool known = std::any_of(st_.revisions.begin(), st_.revisions.end(),
                                   [&](const RevisionRecord& rec) { return rec.hash == r.hash; });
    if (known || r.hash.empty()) continue;
    RevisionRecord rec;
    rec.hash = r.hash;
    rec.revision = r.revision;
    st_.revisions.push_back(std::move(rec));
  }
  std::stable_sort(
      st_.revisions.begin(), st_.revisions.end(),
      [](const RevisionRecord& a, const RevisionRecord& b) { return a.revision < b.revision; });
}

Totals Reconciler::Sum() const {
  Totals t;
  for (const Rev& r : revs_) {
    t.desired += r.desired;
    t.current += r.current;
    t.ready += r.ready;
    t.available += r.available;
  }
  return t;
}

Rev* Reconciler::FindRev(const std::string& hash) {
  for (Rev& r : revs_) {
    if (Record(r).hash == hash) return &r;
  }
  return nullptr;
}

std::vector<Rev*> Reconciler::OtherRevs() {
  std::vector<Rev*> out;
  for (size_t i = 0; i < revs_.size(); ++i) {
    if (static_cast<int>(i) == new_ || static_cast<int>(i) == stable_) continue;
    out.push_back(&revs_[i]);
  }
  return out;
}

ReplicaSetInfo Reconciler::Info(const Rev& r) const {
  ReplicaSetInfo info;
  const RevisionRecord& rec = Record(r);
  info.hash = rec.hash;
  info.replicas = r.desired;
  info.available = r.available;
  info.revision = rec.revision;
  info.referenced = IsReferenced(rec.hash);
  info.has_scale_down_deadline = rec.scale_down_at.has_value();
  info.scale_down_deadline_passed = rec.scale_down_at && *rec.scale_down_at <= now_;
  return info;
}

CanaryReplicaSets Reconciler::Sets() {
  CanaryReplicaSets sets;
  if (Rev* n = NewRs()) sets.new_rs = Info(*n);
  if (Rev* s = StableRs()) sets.stable_rs = Info(*s);
  for (Rev* o : OtherRevs()) sets.older.push_back(Info(*o));
  return sets;
}

CanaryState Reconciler::MathState(const std::optional<TrafficWeightsStatus>& weights) const {
  CanaryState s;
  s.abort = prev_.abort;
  s.promote_full = prev_.promote_full;
  s.stable_rs = prev_.stable_rs;
  s.current_pod_hash = prev_.current_pod_hash;
  s.current_step_index = prev_.current_step_index;
  if (weights) s.weights = TrafficWeights{weights->canary.weight, weights->stable.weight};
  return s;
}

bool Reconciler::IsReferenced(const std::string& hash) const {
  if (hash.empty()) return false;
  if (st_.stable_selector == hash || st_.canary_selector == hash) return true;
  if (prev_.canary.weights && (prev_.canary.weights->canary.pod_template_hash == hash ||
                               prev_.canary.weights->stable.pod_template_hash == hash)) {
    return true;
  }
  return prev_.blue_green.active_selector == hash || prev_.blue_green.preview_selector == hash;
}

bool Reconciler::Scale(Rev* rev, int32_t replicas) {
  if (rev == nullptr || rev->desired == replicas) return false;
  RevisionRecord& rec = Record(*rev);
  ScaleRevision intent{rec.hash, replicas, {}, {}};
  const spec::PodMetadata* meta = nullptr;
  if (spec_.canary) {
    const bool is_new = static_cast<int>(rev - revs_.data()) == new_;
    const bool is_stable = static_cast<int>(rev - revs_.data()) == stable_;
    if (is_new && !is_stable && spec_.canary->canary_metadata)
      meta = &*spec_.canary->canary_metadata;
    if (is_stable && spec_.canary->stable_metadata) meta = &*spec_.canary->stable_metadata;
  }
  if (meta != nullptr) {
    intent.labels = meta->labels;
    intent.annotations = meta->annotations;
  }
  intents_.push_back(std::move(intent));
  Event(reason::kScalingReplicaSet,
        fmt::format("Scaled {} ReplicaSet {} (revision {}) from {} to {}",
                    replicas > rev->desired ? "up" : "down", RsName(rec.hash), rec.revision,
                    rev->desired, replicas));
  rev->desired = replicas;
  // Instances leave at once when scaled down; counts shrink now so the status is right.
  rev->current = std::min(rev->current, replicas);
  rev->ready = std::min(rev->ready, replicas);
  rev->available = std::min(rev->available, replicas);
  return true;
}

void Reconciler::RemoveScaleDownDeadlines() {
  Rev* n = NewRs();
  if (n != nullptr && !ShouldDelayScaleDownOnAbort()) Record(*n).scale_down_at.reset();
  if (Rev* s = StableRs()) Record(*s).scale_down_at.reset();
}

std::optional<int32_t> Reconciler::AbortScaleDownDelay() const {
  if (spec_.canary) {
    if (!spec_.canary->traffic_routing) return std::nullopt;
    const int32_t d = spec_.canary->EffectiveAbortScaleDownDelaySeconds();
    if (d == 0) return std::nullopt;
    return d;
  }
  if (spec_.blue_green) {
    const int32_t d = spec_.blue_green->EffectiveAbortScaleDownDelaySeconds();
    if (d == 0) return std::nullopt;
    return d;
  }
  return std::nullopt;
}

bool Reconciler::ShouldDelayScaleDownOnAbort() {
  if (!AbortScaleDownDelay()) return false;
  Rev* n = NewRs();
  Rev* s = StableRs();
  return pause_.IsAborted(prev_) && n != nullptr && s != nullptr && n != s;
}

bool Reconciler::ApplyAbortDelay(int32_t* count) {
  if (!ShouldDelayScaleDownOnAbort()) return false;
  Rev* n = NewRs();
  Rev* s = StableRs();
  RevisionRecord& rec = Record(*n);
  if (rec.scale_down_at) {
    if (*rec.scale_down_at > now_) {
      WakeAt(*rec.scale_down_at);
      return true;
    }
    *count = 0;
    return false;
  }
  // §11.1 item 2: the deadline is set only once the stable revision is fully available.
  if (s->available >= spec_.EffectiveReplicas()) {
    rec.scale_down_at = TruncateToSeconds(now_) + std::chrono::seconds(*AbortScaleDownDelay());
    WakeAt(*rec.scale_down_at);
  }
  return true;
}

int32_t Reconciler::NewRsReplicas(const std::optional<TrafficWeightsStatus>& weights) {
  Rev* n = NewRs();
  if (n == nullptr) return 0;
  if (spec_.blue_green) {
    BlueGreenState bg;
    bg.active_selector = prev_.blue_green.active_selector;
    bg.active_rs_exists = FindRev(prev_.blue_green.active_selector) != nullptr;
    bg.promote_full = prev_.promote_full;
    bg.current_pod_hash = prev_.current_pod_hash;
    bg.scale_up_preview_checkpoint = prev_.blue_green.scale_up_preview_check_point;
    bg.has_pause_conditions = !prev_.pause_conditions.empty();
    return BlueGreenNewReplicas(spec_, bg, new_hash_);
  }
  return CalculateReplicaCountsForCanary(spec_, MathState(weights), Sets()).new_rs;
}

bool Reconciler::IsSaturated(const Rev* rs) const {
  if (rs == nullptr) return false;
  const int32_t replicas = spec_.EffectiveReplicas();
  return rs->desired == replicas && rs->available >= replicas;
}

bool Reconciler::ReadyForPause() {
  Rev* n = NewRs();
  if (n == nullptr) return false;
  const int32_t want = NewRsReplicas(std::nullopt);
  return n->desired == want && n->available == want;
}

void Reconciler::ReconcileRevisionHistory() {
  // Old revisions scaled to 0 beyond revisionHistoryLimit are deleted, oldest first; the stable
  // and new revisions and any still referenced are kept.
  std::vector<std::string> candidates;
  for (Rev* r : OtherRevs()) {
    if (r->desired == 0 && r->current == 0 && !IsReferenced(Record(*r).hash)) {
      candidates.push_back(Record(*r).hash);
    }
  }
  const int32_t limit = spec_.EffectiveRevisionHistoryLimit();
  const int64_t excess = static_cast<int64_t>(candidates.size()) - limit;
  if (excess <= 0) return;
  // st_.revisions is sorted by revision, so candidates are oldest first.
  std::set<std::string> doomed(candidates.begin(), candidates.begin() + excess);
  for (const std::string& h : candidates) {
    if (doomed.count(h) != 0) intents_.push_back(DeleteRevision{h});
  }
  st_.revisions.erase(std::remove_if(st_.revisions.begin(), st_.revisions.end(),
                                     [&](const RevisionRecord& r) { return doomed.count(r.hash); }),
                      st_.revisions.end());
  LoadRevisions();
}

std::pair<int32_t, int32_t> Reconciler::ScaleDownDelayHelper(Rev* rs, int32_t annotated,
                                                             int32_t keep_replicas) {
  int32_t desired = 0;
  int32_t limit = INT32_MAX;
  if (spec_.blue_green && spec_.blue_green->scale_down_delay_revision_limit) {
    limit = *spec_.blue_green->scale_down_delay_revision_limit;
  } else if (spec_.canary && spec_.canary->scale_down_delay_revision_limit) {
    limit = *spec_.canary->scale_down_delay_revision_limit;
  }
  RevisionRecord& rec = Record(*rs);
  if (!rec.scale_down_at && rs->desired > 0) {
    if (annotated < limit) {
      ++annotated;
      desired = rs->desired;
      const int32_t delay = spec_.blue_green ? spec_.blue_green->EffectiveScaleDownDelaySeconds()
                                             : spec_.canary->EffectiveScaleDownDelaySeconds();
      rec.scale_down_at = TruncateToSeconds(now_) + std::chrono::seconds(delay);
      WakeAt(*rec.scale_down_at);
    }
  } else if (rec.scale_down_at) {
    ++annotated;
    if (annotated <= limit && *rec.scale_down_at > now_) {
      WakeAt(*rec.scale_down_at);
      desired = keep_replicas;
    }
  }
  return {annotated, desired};
}

// ---------------------------------------------------------------------------------------------
// Restart (rollout/restart.go)

std::optional<Time> Reconciler::RestartAt() const {
  if (spec_.restart_at.empty()) return std::nullopt;
  std::optional<int64_t> nanos = spec::ParseMetaTime(spec_.restart_at);
  if (!nanos) return std::nullopt;
  return TruncateToSeconds(Time(std::chrono::nanoseconds(*nanos)));
}

int32_t Reconciler::RestartInstances() {
  const std::optional<Time> at = RestartAt();
  if (!at) return 0;
  if (*at > now_) {
    WakeAt(*at);
    return 0;
  }
  if (prev_.restarted_at == *at) return 0;
  // Stable first, then the new revision, then the others oldest first.
  std::vector<Rev*> order;
  if (Rev* s = StableRs()) order.push_back(s);
  if (Rev* n = NewRs(); n != nullptr && n != StableRs()) order.push_back(n);
  std::vector<Rev*> others = OtherRevs();
  std::sort(others.begin(), others.end(),
            [&](Rev* a, Rev* b) { return Record(*a).revision < Record(*b).revision; });
  order.insert(order.end(), others.begin(), others.end());
  const Totals totals = Sum();
  const int32_t concurrent = std::max(MaxUnavailable(spec_), 1);
  int32_t can_restart =
      totals.available - (std::max(spec_.EffectiveReplicas(), totals.desired) - concurrent);
  int32_t needs = 0, restarted = 0;
  for (Rev* r : order) {
    if (r->observed == nullptr) continue;
    for (const InstanceStatus& i : r->observed->instances) {
      if (i.created_at && *i.created_at >= *at) continue;
      ++needs;
      if (can_restart <= 0 || i.state == InstanceState::kTerminating) continue;
      intents_.push_back(RestartInstance{Record(*r).hash, i.id});
      --can_restart;
      ++restarted;
    }
  }
  if (needs != restarted) {
    WakeAt(now_ + std::chrono::seconds(30));
  } else {
    ns_.restarted_at = *at;
  }
  return restarted;
}

// ---------------------------------------------------------------------------------------------
// Steps and rollback

std::optional<int32_t> Reconciler::StepIndex() const {
  if (StepCount() == 0) return std::nullopt;
  return std::min(prev_.current_step_index.value_or(0), StepCount());
}

const spec::CanaryStep* Reconciler::CurrentStep() const {
  std::optional<int32_t> i = StepIndex();
  if (!i || *i >= StepCount()) return nullptr;
  return &spec_.canary->steps[static_cast<size_t>(*i)];
}

bool Reconciler::UnsupportedSteps(std::string* message) const {
  if (!spec_.canary) return false;
  for (size_t i = 0; i < spec_.canary->steps.size(); ++i) {
    const auto& s = spec_.canary->steps[i];
    if (s.experiment) {
      *message = fmt::format(
          "spec.strategy.canary.steps[{}].experiment: experiment steps are "
          "not supported yet",
          i);
      return true;
    }
    if (s.plugin && s.plugin->name != kWebhookStep) {
      *message = fmt::format(
          "spec.strategy.canary.steps[{}].plugin: step plugins are not "
          "supported yet",
          i);
      return true;
    }
  }
  return false;
}

bool Reconciler::IsRollback() {
  Rev* n = NewRs();
  Rev* s = StableRs();
  if (n == nullptr || s == nullptr) return false;
  if (prev_.stable_rs == new_hash_) return true;
  return Record(*n).created_at.value_or(Time{}) < Record(*s).created_at.value_or(Time{});
}

bool Reconciler::IsRollbackWithinWindow() {
  Rev* n = NewRs();
  Rev* s = StableRs();
  if (n == nullptr || s == nullptr || n == s) return false;
  const Time n_created = Record(*n).created_at.value_or(Time{});
  const Time s_created = Record(*s).created_at.value_or(Time{});
  if (!(n_created < s_created)) return false;
  if (!spec_.rollback_window_revisions || *spec_.rollback_window_revisions <= 0) return false;
  int32_t window = 0;
  for (const auto& r : st_.revisions) {
    const Time c = r.created_at.value_or(Time{});
    if (c < s_created && n_created < c) ++window;
  }
  return window < *spec_.rollback_window_revisions;
}

bool Reconciler::IsFastRollback() {
  if (!IsRollback()) return false;
  Rev* n = NewRs();
  const bool within_delay = spec_.blue_green && n != nullptr && Record(*n).scale_down_at &&
                            *Record(*n).scale_down_at > now_;
  return IsRollbackWithinWindow() || within_delay || prev_.stable_rs == new_hash_;
}

// ---------------------------------------------------------------------------------------------
// Services and traffic routing

void Reconciler::SwitchSelector(ServiceRole role, const std::string& service, std::string* selector,
                                const std::string& hash) {
  if (*selector == hash && force_switch_.count(role) == 0) return;
  force_switch_.erase(role);
  intents_.push_back(SwitchService{role, hash});
  if (!service.empty()) {
    Event(reason::kSwitchService,
          fmt::format("Switched selector for service '{}' from '{}' to '{}'", service, *selector,
                      hash));
  }
  *selector = hash;
}

void Reconciler::EnsureCanaryTarget(ServiceRole role, const std::string& service,
                                    std::string* selector, Rev* rs) {
  if (rs == nullptr) return;
  // A selector moves to a revision only once it has an available instance (or when it selects
  // nothing yet), so that traffic never goes to nothing.
  if (rs->available == 0 && !selector->empty()) return;
  SwitchSelector(role, service, selector, Record(*rs).hash);
}

void Reconciler::ReconcileCanaryServices() {
  const auto& c = *spec_.canary;
  EnsureCanaryTarget(ServiceRole::kStable, c.stable_service, &st_.stable_selector, StableRs());
  if (pause_.IsAborted(prev_)) {
    // Argo points the canary Service at the new revision here and, with a router, back at the
    // stable one in the traffic stage of the same reconcile; ramp goes to the stable directly so
    // the canary backend set does not flap while aborted.
    if (!c.traffic_routing) {
      EnsureCanaryTarget(ServiceRole::kCanary, c.canary_service, &st_.canary_selector, StableRs());
    }
    return;
  }
  if (FullyPromoted() && c.traffic_routing && c.dynamic_stable_scale && prev_.canary.weights &&
      prev_.canary.weights->canary.pod_template_hash != new_hash_) {
    Rev* n = NewRs();
    if (n != nullptr && n->available < spec_.EffectiveReplicas()) return;  // rolling back
  }
  EnsureCanaryTarget(ServiceRole::kCanary, c.canary_service, &st_.canary_selector, NewRs());
}

bool Reconciler::AtDesiredCounts(const std::optional<TrafficWeightsStatus>& weights) {
  CanaryReplicaCounts want = CalculateReplicaCountsForCanary(spec_, MathState(weights), Sets());
  Rev* n = NewRs();
  Rev* s = StableRs();
  if (n == nullptr || want.new_rs != n->desired || want.new_rs != n->available) return false;
  if (s == nullptr || want.stable_rs != s->desired || want.stable_rs != s->available) return false;
  for (Rev* o : OtherRevs()) {
    if (o->available != 0) return false;
  }
  return true;
}

int32_t Reconciler::DesiredWeightOnAbort() {
  Rev* n = NewRs();
  Rev* s = StableRs();
  const int32_t replicas = spec_.EffectiveReplicas();
  if (!spec_.canary->dynamic_stable_scale || n == nullptr || s == nullptr || replicas == 0) {
    return 0;
  }
  const int32_t max_weight = MaxTrafficWeight(spec_);
  // With dynamicStableScale the weight comes back only as fast as the stable fills up.
  const int32_t expected = std::max(0, max_weight - (max_weight * s->available) / replicas);
  if (!prev_.canary.weights) return expected;
  return std::min(expected, prev_.canary.weights->canary.weight);
}

void Reconciler::RemoveManagedRoutes() {
  if (!st_.managed_routes) return;
  intents_.push_back(engine::RemoveManagedRoutes{});
  st_.managed_routes = false;
}

void Reconciler::ReconcileTrafficRouting() {
  const auto& c = *spec_.canary;
  if (!c.traffic_routing) {
    ns_.canary.weights.reset();
    return;
  }
  const int32_t max_weight = MaxTrafficWeight(spec_);
  Rev* n = NewRs();
  Rev* s = StableRs();
  int32_t desired = 0;
  std::string canary_hash = n != nullptr ? Record(*n).hash : "";
  const std::string stable_hash = s != nullptr ? Record(*s).hash : "";
  const std::optional<int32_t> index = StepIndex();
  const bool rolling_back_dynamically =
      FullyPromoted() && c.dynamic_stable_scale && prev_.canary.weights &&
      prev_.canary.weights->canary.pod_template_hash != new_hash_ && n != nullptr &&
      n->available < spec_.EffectiveReplicas();
  if (rolling_back_dynamically) {
    desired = DesiredWeightOnAbort();
    canary_hash = prev_.canary.weights->canary.pod_template_hash;
  } else if (FullyPromoted()) {
    RemoveManagedRoutes();
  } else if (pause_.IsAborted(prev_)) {
    desired = DesiredWeightOnAbort();
    if (!c.dynamic_stable_scale || desired == 0) {
      EnsureCanaryTarget(ServiceRole::kCanary, c.canary_service, &st_.canary_selector, s);
    }
    RemoveManagedRoutes();
  } else if (n == nullptr || n->available == 0) {
    RemoveManagedRoutes();
  } else if (prev_.promote_full) {
    if (c.dynamic_stable_scale) {
      desired = max_weight * n->available / std::max(1, spec_.EffectiveReplicas());
    } else if (prev_.canary.weights) {
      desired = prev_.canary.weights->canary.weight;
    }
    RemoveManagedRoutes();
  } else if (index) {
    if (!AtDesiredCounts(std::nullopt)) {
      for (int32_t i = *index - 1; i >= 0; --i) {
        const auto& step = c.steps[static_cast<size_t>(i)];
        if (step.set_weight) {
          desired = *step.set_weight;
          break;
        }
      }
    } else if (*index != StepCount()) {
      desired = CurrentSetWeight(spec_, MathState(std::nullopt));
    } else {
      desired = max_weight;
    }
  }
  // A closed attached gate holds the weight where it was before the step.
  if (hold_weight_ && desired > *hold_weight_) desired = *hold_weight_;
  // Shift weight away from the stable only when it can carry the rest.
  if (s != nullptr && s->available < TrafficWeightToReplicas(spec_.EffectiveReplicas(),
                                                             max_weight - desired, max_weight)) {
    return;
  }
  const spec::CanaryStep* step = CurrentStep();
  const int64_t revision = n != nullptr ? Record(*n).revision : 0;
  if (step != nullptr && revision > 1) {
    if (step->set_header_route) {
      intents_.push_back(SetHeaderRoute{ToHeaderRoute(*step->set_header_route)});
      st_.managed_routes = !step->set_header_route->match.empty() || st_.managed_routes;
    }
    if (step->set_mirror_route) {
      intents_.push_back(SetMirrorRoute{ToMirrorRoute(*step->set_mirror_route)});
      st_.managed_routes = !step->set_mirror_route->match.empty() || st_.managed_routes;
    }
  }
  TrafficWeightsStatus weights;
  weights.canary = WeightDestination{c.canary_service, canary_hash, desired};
  weights.stable = WeightDestination{c.stable_service, stable_hash, max_weight - desired};
  const auto& old = prev_.canary.weights;
  const bool modified = !old || old->canary != weights.canary || old->stable != weights.stable ||
                        !old->additional.empty();
  auto verify = [&](int32_t weight) {
    intents_.push_back(VerifyWeight{weight, {}});
    st_.weight_verify_sent = TruncateToSeconds(now_);
    ns_.canary.weights->verified = false;
    WakeAt(*st_.weight_verify_sent + kVerifyRetryInterval);
  };
  if (modified) {
    // A change of hashes alone is the SwitchService intents' business; the router's weight
    // moves only when the number does.
    if (!old || old->canary.weight != desired) intents_.push_back(SetWeight{desired, {}});
    std::string detail = !old ? fmt::format("to {}", desired)
                         : old->canary.weight != desired
                             ? fmt::format("from {} to {}", old->canary.weight, desired)
                             : std::string();
    Event(reason::kTrafficWeightUpdated, fmt::format("Traffic weight updated {}", detail));
    ns_.canary.weights = weights;
    verify(desired);
    return;
  }
  // The answer to the last VerifyWeight, or a retry when the weight is still not in effect.
  if (!ns_.canary.weights) return;
  if (obs_.weight && obs_.weight->weight == ns_.canary.weights->canary.weight) {
    const WeightCheck& check = obs_.weight->check;
    switch (check.verification) {
      case WeightVerification::kVerified:
        ns_.canary.weights->verified = true;
        break;
      case WeightVerification::kNotSupported:
        ns_.canary.weights->verified.reset();
        break;
      case WeightVerification::kNotVerified:
        ns_.canary.weights->verified = false;
        if (!check.message.empty()) {
          Event(reason::kWeightVerifyError,
                fmt::format("Failed to verify weight: {}", check.message), EventType::kWarning);
        }
        break;
    }
    return;
  }
  if (ns_.canary.weights->verified == false && st_.weight_verify_sent) {
    if (now_ >= *st_.weight_verify_sent + kVerifyRetryInterval) {
      verify(ns_.canary.weights->canary.weight);
    } else {
      WakeAt(*st_.weight_verify_sent + kVerifyRetryInterval);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Analysis

spec::AnalysisRun* Reconciler::FindRun(const std::string& name) {
  for (auto& r : st_.analysis_runs) {
    if (r.metadata.name == name) return &r;
  }
  return nullptr;
}

void Reconciler::Cancel(spec::AnalysisRun* run, std::string_view why) {
  if (run == nullptr || run->spec.terminate || spec::IsCompleted(run->status.phase)) return;
  run->spec.terminate = true;
  touched_runs_.insert(run->metadata.name);
  intents_.push_back(TerminateAnalysisRun{run->metadata.name, std::string(why)});
}

bool Reconciler::NeedsNewRun(const spec::AnalysisRun* current) const {
  if (current == nullptr) return true;
  if (prev_.controller_pause && FindPause(prev_, pause_reason::kCanaryPauseStep) == nullptr &&
      FindPause(prev_, pause_reason::kBlueGreenPause) == nullptr) {
    return current->status.phase == AnalysisPhase::kInconclusive;
  }
  return prev_.aborted_at.has_value();
}

spec::AnalysisRun* Reconciler::CreateRun(const spec::RolloutAnalysis& analysis,
                                         AnalysisRunKind kind, std::optional<int32_t> step_index) {
  static const std::vector<spec::AnalysisTemplate> kNone;
  analysis::RolloutRunOptions options;
  options.rollout = &ro_;
  options.rollout_json = ctx_.rollout_json;
  options.analysis = &analysis;
  options.kind = kind;
  options.step_index = step_index;
  options.latest_hash = new_hash_;
  options.stable_hash = prev_.stable_rs;
  Rev* n = NewRs();
  options.revision = n != nullptr ? std::to_string(Record(*n).revision) : "";
  options.instance_id = ctx_.instance_id;
  StatusOr<analysis::NewRun> made = analysis::NewRolloutAnalysisRun(
      options, ctx_.templates != nullptr ? *ctx_.templates : kNone, ctx_.evaluator.secrets);
  if (!made) {
    Event(reason::kReconciliationError,
          fmt::format("Reconciliation failed with error: {}", made.error().message()),
          EventType::kWarning);
    WakeAt(now_ + std::chrono::seconds(30));
    return nullptr;
  }
  spec::AnalysisRun run = std::move(made->run);
  // A name in use by a finished run gets ".1", ".2", … (Argo's collision counter).
  const std::string base = run.metadata.name;
  for (int i = 1; FindRun(run.metadata.name) != nullptr; ++i) {
    run.metadata.name = base + "." + std::to_string(i);
  }
  for (auto& s : made->secrets) st_.secrets.push_back(std::move(s));
  const std::string name = run.metadata.name;
  st_.analysis_runs.push_back(std::move(run));
  touched_runs_.insert(name);
  intents_.push_back(StartAnalysisRun{name, kind, step_index});
  return FindRun(name);
}

spec::AnalysisRun* Reconciler::ReconcileStepRun() {
  const spec::CanaryStep* step = CurrentStep();
  const std::optional<int32_t> index = StepIndex();
  spec::AnalysisRun* current = CurrentRun(prev_.canary.current_step_analysis_run_status);
  if (!prev_.pause_conditions.empty() || prev_.abort) return current;
  const bool from_previous_step =
      step != nullptr && step->analysis && current != nullptr &&
      current->metadata.labels[analysis::kStepIndexLabel] != std::to_string(index.value_or(-1));
  if (step == nullptr || !step->analysis || step->analysis->templates.empty() || !index ||
      from_previous_step) {
    Cancel(current, "the step is over");
    return nullptr;
  }
  if (NeedsNewRun(current)) {
    return CreateRun(*step->analysis, AnalysisRunKind::kStep, index);
  }
  PauseOrAbortFor(current, "Step-based analysis phase error/failed");
  return current;
}

spec::AnalysisRun* Reconciler::ReconcileBackgroundRun() {
  spec::AnalysisRun* current = CurrentRun(prev_.canary.current_background_analysis_run_status);
  const auto& analysis = spec_.canary->analysis;
  if (!analysis || analysis->templates.empty()) {
    Cancel(current, "background analysis removed");
    return nullptr;
  }
  const std::optional<int32_t> index = StepIndex();
  const bool before_start = analysis->starting_step && index && *index < *analysis->starting_step;
  if (FullyPromoted() || prev_.stable_rs.empty() || prev_.current_pod_hash.empty() ||
      before_start) {
    return nullptr;
  }
  if (FindPause(prev_, pause_reason::kInconclusiveAnalysisRun) != nullptr) return current;
  if (NeedsNewRun(current)) {
    return CreateRun(*analysis, AnalysisRunKind::kBackground, std::nullopt);
  }
  PauseOrAbortFor(current, "Background analysis phase error/failed");
  return current;
}

spec::AnalysisRun* Reconciler::ReconcilePrePromotionRun() {
  spec::AnalysisRun* current = CurrentRun(prev_.blue_green.pre_promotion_analysis_run_status);
  const auto& analysis = spec_.blue_green->pre_promotion_analysis;
  if (!analysis || analysis->templates.empty()) {
    Cancel(current, "pre-promotion analysis removed");
    return nullptr;
  }
  Rev* n = NewRs();
  const std::string& active = prev_.blue_green.active_selector;
  bool skip = prev_.stable_rs == new_hash_ || active.empty() || active == new_hash_;
  if (!skip && current == nullptr) {
    if (spec_.blue_green->preview_replica_count) {
      const int32_t want = *spec_.blue_green->preview_replica_count;
      skip = n == nullptr || n->desired != want || n->available != want;
    } else {
      skip = !IsSaturated(n);
    }
  }
  if (skip) {
    Cancel(current, "pre-promotion analysis skipped");
    return current;
  }
  if (FindPause(prev_, pause_reason::kInconclusiveAnalysisRun) != nullptr) return current;
  if (hold_pre_analysis_) return current;  // pre-rollout hooks first
  if (NeedsNewRun(current)) {
    return CreateRun(*analysis, AnalysisRunKind::kPrePromotion, std::nullopt);
  }
  return current;
}

spec::AnalysisRun* Reconciler::ReconcilePostPromotionRun() {
  spec::AnalysisRun* current = CurrentRun(prev_.blue_green.post_promotion_analysis_run_status);
  const auto& analysis = spec_.blue_green->post_promotion_analysis;
  if (!analysis || analysis->templates.empty()) {
    Cancel(current, "post-promotion analysis removed");
    return nullptr;
  }
  const std::string& active = prev_.blue_green.active_selector;
  bool skip = prev_.stable_rs == new_hash_ || active != new_hash_;
  if (!skip && current == nullptr) skip = !IsSaturated(NewRs());
  if (skip) {
    Cancel(current, "post-promotion analysis skipped");
    return current;
  }
  if (FindPause(prev_, pause_reason::kInconclusiveAnalysisRun) != nullptr) return current;
  if (NeedsNewRun(current)) {
    return CreateRun(*analysis, AnalysisRunKind::kPostPromotion, std::nullopt);
  }
  return current;
}

void Reconciler::PauseOrAbortFor(const spec::AnalysisRun* run, std::string_view failed) {
  if (run == nullptr) return;
  switch (run->status.phase) {
    case AnalysisPhase::kInconclusive:
      pause_.add.emplace_back(pause_reason::kInconclusiveAnalysisRun);
      break;
    case AnalysisPhase::kError:
    case AnalysisPhase::kFailed: {
      std::string message(failed);
      if (!run->status.message.empty()) message += ": " + run->status.message;
      pause_.AddAbort(std::move(message));
      break;
    }
    default:
      break;
  }
}

void Reconciler::EmitRunChange(const std::optional<RolloutAnalysisRunStatus>& prev,
                               const spec::AnalysisRun* run, std::string_view type) {
  if (run == nullptr || run->status.phase == AnalysisPhase::kNone) return;
  if (prev && !(prev->name == run->metadata.name && prev->status != run->status.phase)) return;
  const std::string before =
      prev ? std::string(spec::AnalysisPhaseName(prev->status)) : "NoPreviousStatus";
  const AnalysisPhase phase = run->status.phase;
  const bool bad = phase == AnalysisPhase::kFailed || phase == AnalysisPhase::kError;
  Event("AnalysisRun" + std::string(spec::AnalysisPhaseName(phase)),
        fmt::format("{} Analysis Run '{}' Status New: '{}' Previous: '{}'", type,
                    run->metadata.name, spec::AnalysisPhaseName(phase), before),
        bad ? EventType::kWarning : EventType::kNormal);
}

void Reconciler::ReconcileAnalysisRuns() {
  // Remember names: creating a run may move the others in memory.
  auto name_of = [](const spec::AnalysisRun* r) { return r ? r->metadata.name : std::string(); };
  const bool aborted = pause_.IsAborted(prev_);
  const bool cancel = FullyPromoted() || aborted || prev_.promote_full || IsFastRollback() ||
                      prev_.stable_rs.empty();
  std::string step, background, pre, post;
  if (cancel) {
    Cancel(CurrentRun(prev_.canary.current_step_analysis_run_status), "rollout ended the step");
    Cancel(CurrentRun(prev_.canary.current_background_analysis_run_status),
           "rollout completed or aborted");
    Cancel(CurrentRun(prev_.blue_green.pre_promotion_analysis_run_status),
           "rollout completed or aborted");
    Cancel(CurrentRun(prev_.blue_green.post_promotion_analysis_run_status),
           "rollout completed or aborted");
    pre = name_of(CurrentRun(prev_.blue_green.pre_promotion_analysis_run_status));
    post = name_of(CurrentRun(prev_.blue_green.post_promotion_analysis_run_status));
  } else if (spec_.canary) {
    step = name_of(ReconcileStepRun());
    background = name_of(ReconcileBackgroundRun());
  } else if (spec_.blue_green) {
    pre = name_of(ReconcilePrePromotionRun());
    PauseOrAbortFor(FindRun(pre), "Blue/green pre-promotion analysis phase error/failed");
    post = name_of(ReconcilePostPromotionRun());
    PauseOrAbortFor(FindRun(post), "Blue/green post-promotion analysis phase error/failed");
  }
  cur_step_ = step.empty() ? nullptr : FindRun(step);
  cur_background_ = background.empty() ? nullptr : FindRun(background);
  cur_pre_ = pre.empty() ? nullptr : FindRun(pre);
  cur_post_ = post.empty() ? nullptr : FindRun(post);
  auto status_of = [](const spec::AnalysisRun* r) -> std::optional<RolloutAnalysisRunStatus> {
    if (r == nullptr) return std::nullopt;
    return RolloutAnalysisRunStatus{r->metadata.name, r->status.phase, r->status.message};
  };
  if (spec_.canary) {
    ns_.canary.current_step_analysis_run_status = status_of(cur_step_);
    ns_.canary.current_background_analysis_run_status = status_of(cur_background_);
  } else {
    ns_.blue_green.pre_promotion_analysis_run_status = status_of(cur_pre_);
    ns_.blue_green.post_promotion_analysis_run_status = status_of(cur_post_);
  }
  // Every other run that is still going is cancelled.
  std::set<std::string> current = {step, background, pre, post};
  for (auto& r : st_.analysis_runs) {
    if (current.count(r.metadata.name) == 0) Cancel(&r, "no longer current");
  }
  EmitRunChange(prev_.blue_green.post_promotion_analysis_run_status, cur_post_, "PostPromotion");
  EmitRunChange(prev_.blue_green.pre_promotion_analysis_run_status, cur_pre_, "PrePromotion");
  EmitRunChange(prev_.canary.current_step_analysis_run_status, cur_step_, "Step");
  EmitRunChange(prev_.canary.current_background_analysis_run_status, cur_background_, "Background");
}

void Reconciler::AssessRuns(bool only_touched) {
  const ObjectRef rollout_ref{ro_.metadata.namespace_, ro_.metadata.name};
  for (auto& run : st_.analysis_runs) {
    const bool touched = touched_runs_.count(run.metadata.name) != 0;
    if (only_touched != touched) continue;
    if (!touched && spec::IsCompleted(run.status.phase)) {
      // A finished run changes only when an answer it still waited for arrives.
      bool answered = false;
      for (const auto& m : obs_.measurements) answered = answered || m.run == run.metadata.name;
      if (!answered) continue;
    }
    analysis::AssessResult r = analysis::Reconcile(
        run, only_touched ? std::vector<MeasurementObservation>{} : obs_.measurements, now_,
        ctx_.evaluator);
    run = std::move(r.run);
    for (const auto& req : r.requests) {
      Measure m = analysis::ToMeasureIntent(run, req, rollout_ref, now_);
      m.context.secrets = st_.secrets;
      intents_.push_back(std::move(m));
    }
    if (r.next_wakeup) WakeAt(*r.next_wakeup);
  }
}

void Reconciler::TrimRuns() {
  std::set<std::string> current;
  for (const auto& s : {prev_.canary.current_step_analysis_run_status,
                        prev_.canary.current_background_analysis_run_status,
                        prev_.blue_green.pre_promotion_analysis_run_status,
                        prev_.blue_green.post_promotion_analysis_run_status,
                        st_.status.canary.current_step_analysis_run_status,
                        st_.status.canary.current_background_analysis_run_status,
                        st_.status.blue_green.pre_promotion_analysis_run_status,
                        st_.status.blue_green.post_promotion_analysis_run_status}) {
    if (s) current.insert(s->name);
  }
  int32_t keep_ok = spec_.EffectiveSuccessfulRunHistoryLimit();
  int32_t keep_bad = spec_.EffectiveUnsuccessfulRunHistoryLimit();
  std::vector<bool> drop(st_.analysis_runs.size(), false);
  for (size_t i = st_.analysis_runs.size(); i-- > 0;) {
    const auto& r = st_.analysis_runs[i];
    if (current.count(r.metadata.name) != 0 || !spec::IsCompleted(r.status.phase)) continue;
    int32_t& budget = r.status.phase == AnalysisPhase::kSuccessful ? keep_ok : keep_bad;
    if (budget > 0) {
      --budget;
    } else {
      drop[i] = true;
    }
  }
  std::vector<spec::AnalysisRun> kept;
  for (size_t i = 0; i < st_.analysis_runs.size(); ++i) {
    if (!drop[i]) kept.push_back(std::move(st_.analysis_runs[i]));
  }
  st_.analysis_runs = std::move(kept);
}

// ---------------------------------------------------------------------------------------------
// ramp/webhook steps: a hook call per step, kept in canary.stepPluginStatuses (Argo's shape).
// The awaited call's id is kept in the entry's `status` as {"awaiting": "<id>"}.

StepPluginStatus* Reconciler::WebhookStatus(RolloutStatus* status, int32_t index) {
  for (auto& p : status->canary.step_plugin_statuses) {
    if (p.index == index && p.name == kWebhookStep && p.operation == "Run") return &p;
  }
  return nullptr;
}

void Reconciler::ReconcileWebhookStep() {
  const spec::CanaryStep* step = CurrentStep();
  if (step == nullptr || !step->plugin || step->plugin->name != kWebhookStep) return;
  if (spec_.paused || pause_.IsAborted(prev_) || !prev_.pause_conditions.empty()) return;
  const int32_t index = *StepIndex();
  const WebhookStep hook = ParseWebhookStep(*step->plugin, index);
  StepPluginStatus* entry = WebhookStatus(&ns_, index);
  const Time now = TruncateToSeconds(now_);
  auto call = [&](StepPluginStatus* e) {
    e->executions += 1;
    const std::string id = fmt::format("webhook/{}/{}/{}", new_hash_, index, e->executions);
    HookCall c = hook.call;
    c.target = ObjectRef{ro_.metadata.namespace_, ro_.metadata.name};
    // A step runs only while the update progresses (never when aborted or paused), which is
    // the phase Flagger sends with its pre-rollout, rollout and gate hooks.
    c.phase = std::string(RolloutPhaseName(RolloutPhase::kProgressing));
    c.checksum = new_hash_;
    intents_.push_back(CallHook{id, std::move(c)});
    e->phase = "Running";
    e->updated_at = now;
    e->status = nlohmann::json{{"awaiting", id}};
  };
  if (entry == nullptr) {
    StepPluginStatus fresh;
    fresh.index = index;
    fresh.name = kWebhookStep;
    fresh.operation = "Run";
    fresh.started_at = now;
    ns_.canary.step_plugin_statuses.push_back(fresh);
    call(&ns_.canary.step_plugin_statuses.back());
    return;
  }
  if (entry->phase != "Running") return;
  const std::string awaiting =
      entry->status && entry->status->is_object() ? entry->status->value("awaiting", "") : "";
  const HookObservation* answer = nullptr;
  for (const HookObservation& h : obs_.hooks) {
    if (!awaiting.empty() && h.id == awaiting) answer = &h;
  }
  if (answer == nullptr) {
    if (awaiting.empty()) {
      // A closed gate: call again once the interval has passed.
      const Time due = entry->updated_at.value_or(now) + hook.interval;
      if (now_ >= due) {
        call(entry);
      } else {
        WakeAt(due);
      }
    }
    if (hook.gate) gate_waiting_ = fmt::format("waiting for {}", HookTypeName(hook.call.type));
    return;
  }
  const bool allowed = answer->result.verdict == HookVerdict::kAllowed;
  const std::string detail = answer->result.message.empty()
                                 ? std::string(HookVerdictName(answer->result.verdict))
                                 : answer->result.message;
  entry->updated_at = now;
  entry->status = nlohmann::json::object();
  auto finish = [&](std::string phase, std::string message) {
    entry->phase = std::move(phase);
    entry->message = std::move(message);
    entry->finished_at = now;
  };
  switch (hook.call.type) {
    case HookType::kConfirmRollout:
    case HookType::kConfirmTrafficIncrease:
    case HookType::kConfirmPromotion:
      if (allowed) {
        finish("Successful", fmt::format("{} approved", hook.call.name));
      } else {
        entry->message = fmt::format("{} closed: {}", hook.call.name, detail);
        entry->backoff = spec::FormatGoDuration(hook.interval.count());
        WakeAt(now + hook.interval);
        gate_waiting_ = fmt::format("waiting for {}", HookTypeName(hook.call.type));
      }
      break;
    case HookType::kPreRollout:
    case HookType::kRollout:
      if (allowed) {
        finish("Successful", fmt::format("{} succeeded", hook.call.name));
      } else {
        finish("Failed", fmt::format("{} failed: {}", hook.call.name, detail));
        pause_.AddAbort(fmt::format("{} webhook {} failed: {}", HookTypeName(hook.call.type),
                                    hook.call.name, detail));
      }
      break;
    case HookType::kRollback:
      finish("Successful", fmt::format("{} answered {}", hook.call.name,
                                       HookVerdictName(answer->result.verdict)));
      if (allowed) pause_.AddAbort(fmt::format("rollback webhook {}", hook.call.name));
      break;
    case HookType::kPostRollout:
    case HookType::kEvent:
      finish("Successful", fmt::format("{} answered {}", hook.call.name,
                                       HookVerdictName(answer->result.verdict)));
      if (!allowed && hook.call.type == HookType::kPostRollout) {
        Event(reason::kStepPluginTransition,
              fmt::format("post-rollout webhook {} failed: {}", hook.call.name, detail),
              EventType::kWarning);
      }
      break;
  }
  if (entry->phase != "Running") {
    Event(reason::kStepPluginTransition, fmt::format("Step plugin {} (step {}) transitioned to {}",
                                                     kWebhookStep, index, entry->phase));
  }
}

bool Reconciler::WebhookStepCompleted() {
  const StepPluginStatus* entry = WebhookStatus(&ns_, StepIndex().value_or(-1));
  return entry != nullptr && entry->phase == "Successful";
}

// ---------------------------------------------------------------------------------------------
// Attached hooks (RolloutWebhooks; docs/manifests.md "RolloutWebhooks"). Hooks of one type run
// in rounds: one call at a time in the attached order, the next call once the previous one's
// answer is observed; the first failure ends the round (for rollback hooks, the first success).
// Gates (confirm-*, and pre-rollout) are rounds repeated every interval until one passes; the
// periodic types (rollout, rollback) start a round every interval. The progress lives in
// RolloutState::hooks, never in Argo's status.

namespace {

constexpr char kPassed[] = "Passed";
constexpr char kFailed[] = "Failed";
constexpr char kTriggered[] = "Triggered";

std::string RoundKey(HookType type) { return std::string(HookTypeName(type)); }

std::optional<HookType> RoundType(const std::string& key) {
  return ParseHookType(key.substr(0, key.find('@')));
}

// How long a call may stay unanswered before it is taken as lost (a skipped intent, a restart of
// the runtime) and made again: every attempt's timeout, the longest back-offs, and a margin.
Duration CallDeadline(const spec::WebhookSpec& hook) {
  const int64_t retries = std::max<int32_t>(hook.retries, 0);
  return hook.timeout * (retries + 1) + std::chrono::seconds(30) * retries +
         std::chrono::seconds(30);
}

bool IsGateType(HookType type) {
  return type == HookType::kConfirmRollout || type == HookType::kConfirmTrafficIncrease ||
         type == HookType::kConfirmPromotion;
}

}  // namespace

std::vector<const spec::AttachedWebhook*> Reconciler::HooksOf(HookType type) const {
  std::vector<const spec::AttachedWebhook*> out;
  if (!HasHooks()) return out;
  for (const spec::AttachedWebhook& w : *ctx_.webhooks) {
    if (w.hook.type == type) out.push_back(&w);
  }
  return out;
}

// The smallest interval of the objects that attach hooks of `type`.
Duration Reconciler::IntervalOf(HookType type) const {
  std::optional<Duration> out;
  for (const spec::AttachedWebhook* w : HooksOf(type)) {
    if (!out || w->interval < *out) out = w->interval;
  }
  return std::max<Duration>(out.value_or(std::chrono::minutes(1)), std::chrono::seconds(1));
}

bool Reconciler::HooksRunning() const {
  return hooks_on_ && !pause_.IsAborted(prev_) && prev_.stable_rs != new_hash_;
}

bool Reconciler::Passed(const std::string& key) const {
  const auto& p = st_.hooks.passed;
  return std::find(p.begin(), p.end(), key) != p.end();
}

HookRound* Reconciler::FindRound(const std::string& key) {
  for (HookRound& r : st_.hooks.rounds) {
    if (r.key == key) return &r;
  }
  return nullptr;
}

void Reconciler::CallRoundHook(HookRound* round, HookType type) {
  const std::vector<const spec::AttachedWebhook*> hooks = HooksOf(type);
  if (round->next < 0 || static_cast<size_t>(round->next) >= hooks.size()) return;
  const spec::AttachedWebhook& w = *hooks[static_cast<size_t>(round->next)];
  HookProgress& p = st_.hooks;
  const std::string id =
      fmt::format("hooks/{}/{}/{}/{}", new_hash_, round->key, w.hook.name, ++p.calls);
  HookCall c;
  c.type = type;
  c.name = w.hook.name;
  c.url = w.hook.url;
  c.timeout = w.hook.timeout;
  c.retries = w.hook.retries;
  c.disable_tls = w.hook.disable_tls;
  c.target = ObjectRef{ro_.metadata.namespace_, ro_.metadata.name};
  c.phase = round->phase;
  c.checksum = new_hash_;
  c.metadata = w.hook.metadata;
  intents_.push_back(CallHook{id, std::move(c)});
  round->awaiting = id;
  round->called_at = now_;
  WakeAt(now_ + CallDeadline(w.hook));
}

void Reconciler::StartRound(HookType type, const std::string& key, std::string phase) {
  HookRound* r = FindRound(key);
  if (r == nullptr) {
    st_.hooks.rounds.push_back(HookRound{});
    r = &st_.hooks.rounds.back();
    r->key = key;
  }
  r->next = 0;
  r->awaiting.clear();
  r->called_at.reset();
  r->started_at = now_;
  r->phase = std::move(phase);
  r->result.clear();
  r->message.clear();
  CallRoundHook(r, type);
}

void Reconciler::ApplyHookAnswer(HookRound* round, HookType type, const spec::AttachedWebhook& w,
                                 const HookResult& result) {
  const bool allowed = result.verdict == HookVerdict::kAllowed;
  const std::string detail =
      result.message.empty() ? std::string(HookVerdictName(result.verdict)) : result.message;
  const size_t count = HooksOf(type).size();
  const std::string_view type_name = HookTypeName(type);
  // Answers that arrive after the update ended (or was aborted) decide nothing any more.
  const bool live = HooksRunning() || type == HookType::kPostRollout;
  if (type == HookType::kRollback) {
    if (allowed) {
      round->result = kTriggered;
      round->message = w.hook.name;
      if (live) pause_.AddAbort(fmt::format("rollback webhook {}", w.hook.name));
    } else if (static_cast<size_t>(++round->next) >= count) {
      round->result = kPassed;
    }
    return;
  }
  if (allowed) {
    if (static_cast<size_t>(++round->next) < count) return;
    round->result = kPassed;
    if (type == HookType::kPostRollout) {
      Event(reason::kWebhookSucceeded, fmt::format("post-rollout webhooks succeeded"));
    } else if (type != HookType::kRollout && !Passed(round->key)) {
      st_.hooks.passed.push_back(round->key);
    }
    return;
  }
  round->result = kFailed;
  round->message = fmt::format("{} {}: {}", w.hook.name, HookVerdictName(result.verdict), detail);
  if (!live) return;
  switch (type) {
    case HookType::kPreRollout:
    case HookType::kRollout: {
      const int32_t failed = ++st_.hooks.failed_checks[w.object];
      const std::string message =
          fmt::format("{} webhook {} failed: {} ({} of {} failed checks allowed by {})", type_name,
                      w.hook.name, detail, failed, w.threshold, w.object);
      if (failed >= w.threshold) {
        pause_.AddAbort(message);
      } else {
        Event(reason::kWebhookFailed, message, EventType::kWarning);
      }
      break;
    }
    case HookType::kPostRollout:
      Event(reason::kWebhookFailed,
            fmt::format("post-rollout webhook {} failed: {}", w.hook.name, detail),
            EventType::kWarning);
      break;
    default:
      break;  // a closed gate: called again after the interval
  }
}

void Reconciler::BeginHooks() {
  if (!HasHooks()) return;
  HookProgress& p = st_.hooks;
  if (p.revision != new_hash_) {
    const int64_t calls = p.calls;
    p = HookProgress{};
    p.calls = calls;
    p.revision = new_hash_;
    p.update = StableRs() != nullptr && !prev_.stable_rs.empty() && prev_.stable_rs != new_hash_ &&
               !IsFastRollback();
    // Hooks attached in the middle of an update do not take its instances away.
    Rev* n = NewRs();
    if (p.update && n != nullptr && (n->desired > 0 || n->current > 0)) {
      p.passed.push_back(RoundKey(HookType::kConfirmRollout));
    }
  } else if (p.ended == "Degraded" && !prev_.abort && prev_.stable_rs != new_hash_) {
    // `ramp retry` after an abort: the update runs its hooks again (its instances were approved).
    const bool confirmed = Passed(RoundKey(HookType::kConfirmRollout));
    p.passed.clear();
    if (confirmed) p.passed.push_back(RoundKey(HookType::kConfirmRollout));
    p.failed_checks.clear();
    p.rounds.clear();
    p.ended.clear();
  }
  hooks_on_ = p.update && p.ended.empty();

  // Answers to the calls in flight, then the next call of each round still going.
  for (HookRound& r : p.rounds) {
    if (r.awaiting.empty()) continue;
    const std::optional<HookType> type = RoundType(r.key);
    const std::vector<const spec::AttachedWebhook*> hooks =
        type ? HooksOf(*type) : std::vector<const spec::AttachedWebhook*>{};
    if (r.next < 0 || static_cast<size_t>(r.next) >= hooks.size()) {
      // The hooks changed under the round: it ends without a verdict.
      r.awaiting.clear();
      r.result = kFailed;
      r.message = "the attached hooks changed";
      continue;
    }
    const spec::AttachedWebhook& w = *hooks[static_cast<size_t>(r.next)];
    const HookObservation* answer = nullptr;
    for (const HookObservation& h : obs_.hooks) {
      if (h.id == r.awaiting) answer = &h;
    }
    if (answer != nullptr) {
      r.awaiting.clear();
      ApplyHookAnswer(&r, *type, w, answer->result);
    } else if (r.called_at && now_ >= *r.called_at + CallDeadline(w.hook)) {
      r.awaiting.clear();  // lost: made again below
    } else {
      if (r.called_at) WakeAt(*r.called_at + CallDeadline(w.hook));
      continue;
    }
    if (r.result.empty() && (HooksRunning() || *type == HookType::kPostRollout)) {
      CallRoundHook(&r, *type);
    }
  }

  if (!HooksRunning()) return;
  // confirm-rollout: before the new revision's first instance.
  if (!prev_.promote_full && HasHooksOf(HookType::kConfirmRollout) &&
      !Gate(HookType::kConfirmRollout, RoundKey(HookType::kConfirmRollout))) {
    hold_new_ = true;
    hold_weight_ = 0;
    return;
  }
  PeriodicHooks(HookType::kRollback);
  PeriodicHooks(HookType::kRollout);
}

bool Reconciler::Gate(HookType type, const std::string& key, bool may_start) {
  if (!HasHooksOf(type) || Passed(key)) return true;
  HookRound* r = FindRound(key);
  const bool running = r != nullptr && r->result.empty();
  if (!running) {
    const Duration interval = IntervalOf(type);
    const bool due = r == nullptr || !r->started_at || now_ >= *r->started_at + interval;
    if (due && may_start && !spec_.paused) {
      StartRound(type, key, std::string(RolloutPhaseName(RolloutPhase::kProgressing)));
    } else if (r != nullptr && r->started_at) {
      WakeAt(*r->started_at + interval);
    }
  }
  if (IsGateType(type)) hook_gate_waiting_ = fmt::format("waiting for {}", HookTypeName(type));
  return Passed(key);
}

void Reconciler::PeriodicHooks(HookType type) {
  if (!HasHooksOf(type)) return;
  if (!Passed(RoundKey(HookType::kConfirmRollout)) && HasHooksOf(HookType::kConfirmRollout)) {
    return;
  }
  if (type == HookType::kRollout && HasHooksOf(HookType::kPreRollout) &&
      !Passed(RoundKey(HookType::kPreRollout))) {
    return;
  }
  const std::string key = RoundKey(type);
  HookRound* r = FindRound(key);
  if (r != nullptr && r->result.empty()) return;  // a round is going
  const Duration interval = IntervalOf(type);
  if (r != nullptr && r->started_at && now_ < *r->started_at + interval) {
    WakeAt(*r->started_at + interval);
    return;
  }
  std::string phase = type == HookType::kRollback && !prev_.phase.empty()
                          ? prev_.phase
                          : std::string(RolloutPhaseName(RolloutPhase::kProgressing));
  StartRound(type, key, std::move(phase));
  WakeAt(now_ + interval);
}

void Reconciler::EvaluateCanaryGates() {
  if (!HooksRunning() || prev_.promote_full || hold_new_) return;
  const int32_t steps = StepCount();
  const std::optional<int32_t> index = StepIndex();
  const bool promotion = steps == 0 || (index && *index >= steps);
  // The weight in effect before the current step: the last setWeight before it.
  int32_t before = 0;
  for (int32_t i = 0; i < (promotion ? steps : index.value_or(0)); ++i) {
    const auto& s = spec_.canary->steps[static_cast<size_t>(i)];
    if (s.set_weight) before = *s.set_weight;
  }
  if (!promotion) {
    const spec::CanaryStep* step = CurrentStep();
    if (step == nullptr || !step->set_weight || *step->set_weight <= before) return;
  }
  bool open = true;
  const std::string pre = RoundKey(HookType::kPreRollout);
  if (HasHooksOf(HookType::kPreRollout) && !Passed(pre)) {
    // Once the step's instances are available, before any traffic reaches them.
    open = Gate(HookType::kPreRollout, pre, AtDesiredCounts(std::nullopt));
  }
  if (open) {
    open =
        promotion
            ? Gate(HookType::kConfirmPromotion, RoundKey(HookType::kConfirmPromotion))
            : Gate(HookType::kConfirmTrafficIncrease,
                   fmt::format("{}@{}", HookTypeName(HookType::kConfirmTrafficIncrease), *index));
  }
  if (!open) {
    hold_step_ = true;
    hold_weight_ = before;
  }
}

void Reconciler::EvaluateBlueGreenPreRollout() {
  const std::string pre = RoundKey(HookType::kPreRollout);
  if (!HooksRunning() || prev_.promote_full || hold_new_ || !HasHooksOf(HookType::kPreRollout) ||
      Passed(pre)) {
    return;
  }
  const std::string& active = prev_.blue_green.active_selector;
  if (active.empty() || active == new_hash_ || FastTracked()) return;
  Rev* n = NewRs();
  bool ready = false;
  if (spec_.blue_green->preview_replica_count) {
    const int32_t want = *spec_.blue_green->preview_replica_count;
    ready = n != nullptr && n->desired == want && n->available == want;
  } else {
    ready = IsSaturated(n);
  }
  hold_pre_analysis_ = !Gate(HookType::kPreRollout, pre, ready);
}

void Reconciler::EvaluateBlueGreenPromotion() {
  if (!HooksRunning() || prev_.promote_full || hold_new_ || hold_pre_analysis_ ||
      !HasHooksOf(HookType::kConfirmPromotion) || prev_.abort || FastTracked()) {
    return;
  }
  if (ns_.blue_green.active_selector == new_hash_ || Halt() || !ReadyForPause() ||
      !IsSaturated(NewRs()) || !CompletedBlueGreenPause() || !CompletedPrePromotionAnalysis()) {
    return;
  }
  hold_switch_ = !Gate(HookType::kConfirmPromotion, RoundKey(HookType::kConfirmPromotion));
}

void Reconciler::EndHooks() {
  if (!HasHooks()) return;
  HookProgress& p = st_.hooks;
  if (!p.update || p.revision != new_hash_ || !p.ended.empty()) return;
  std::string end;
  if (st_.status.abort) {
    end = "Degraded";
  } else if (st_.status.stable_rs == new_hash_ && st_.status.phase == "Healthy") {
    end = "Healthy";
  }
  if (end.empty()) return;
  p.ended = end;
  hooks_on_ = false;
  if (HasHooksOf(HookType::kPostRollout)) {
    StartRound(HookType::kPostRollout, RoundKey(HookType::kPostRollout), end);
  }
}

void Reconciler::EventHooks() {
  const std::vector<const spec::AttachedWebhook*> hooks = HooksOf(HookType::kEvent);
  if (hooks.empty()) return;
  const int64_t millis = ToUnixNanos(now_) / 1'000'000;
  std::vector<Intent> out;
  out.reserve(intents_.size());
  int32_t ordinal = 0;
  for (Intent& intent : intents_) {
    const auto* e = std::get_if<EmitEvent>(&intent);
    std::optional<EmitEvent> event;
    if (e != nullptr) event = *e;
    out.push_back(std::move(intent));
    if (!event) continue;
    ++ordinal;
    const uint32_t digest = Fnv32a(event->reason + "\n" + event->message);
    for (const spec::AttachedWebhook* w : hooks) {
      HookCall c;
      c.type = HookType::kEvent;
      c.name = w->hook.name;
      c.url = w->hook.url;
      c.timeout = w->hook.timeout;
      c.retries = w->hook.retries;
      c.disable_tls = w->hook.disable_tls;
      c.target = ObjectRef{ro_.metadata.namespace_, ro_.metadata.name};
      c.phase = st_.status.phase;
      c.checksum = new_hash_;
      c.metadata = w->hook.metadata;
      c.metadata["eventMessage"] = event->message;
      c.metadata["eventType"] = std::string(EventTypeName(event->type));
      c.metadata["timestamp"] = std::to_string(millis);
      out.push_back(
          CallHook{fmt::format("event/{}/{}/{}-{:08x}", w->hook.name, millis, ordinal, digest),
                   std::move(c)});
    }
  }
  intents_ = std::move(out);
}

// ---------------------------------------------------------------------------------------------
// Failures: what the previous batch could not do is forgotten, so this reconcile asks again.

void Reconciler::RecordFailures() {
  for (const IntentFailure& f : obs_.failures) {
    const std::string what = std::string(IntentName(f.intent));
    if (std::holds_alternative<SetWeight>(f.intent) ||
        std::holds_alternative<VerifyWeight>(f.intent) ||
        std::holds_alternative<SetHeaderRoute>(f.intent) ||
        std::holds_alternative<SetMirrorRoute>(f.intent) ||
        std::holds_alternative<engine::RemoveManagedRoutes>(f.intent)) {
      Event(reason::kTrafficRoutingError, f.status.message(), EventType::kWarning);
      if (std::holds_alternative<SetWeight>(f.intent)) prev_.canary.weights.reset();
      if (std::holds_alternative<engine::RemoveManagedRoutes>(f.intent)) st_.managed_routes = true;
    } else if (const auto* sw = std::get_if<SwitchService>(&f.intent)) {
      Event(reason::kReconciliationError,
            fmt::format("Reconciliation failed with error: {}: {}", what, f.status.message()),
            EventType::kWarning);
      force_switch_.insert(sw->role);
    } else {
      Event(reason::kReconciliationError,
            fmt::format("Reconciliation failed with error: {}: {}", what, f.status.message()),
            EventType::kWarning);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Canary

void Reconciler::Canary() {
  if (template_changed_) {
    SyncCanaryStatus();
    return;
  }
  // Argo ends the reconcile after evicting pods, without writing the status.
  if (RestartInstances() > 0) {
    st_.status = prev_;
    return;
  }
  ReconcileCanaryServices();
  ReconcileRevisionHistory();
  EvaluateCanaryGates();
  ReconcileTrafficRouting();
  if (hold_new_) {
    // Nothing of the update runs before confirm-rollout opens.
    for (auto& r : st_.analysis_runs) Cancel(&r, "waiting for confirm-rollout");
  } else {
    ReconcileAnalysisRuns();
  }
  if (pause_.HasAddPause()) {
    SyncCanaryStatus();
    return;
  }
  if (ReconcileCanaryReplicaSets()) {
    SyncCanaryStatus();
    return;
  }
  if (!hold_new_) {
    ReconcileCanaryPause();
    ReconcileWebhookStep();
  }
  SyncCanaryStatus();
}

bool Reconciler::ReconcileCanaryReplicaSets() {
  if (Halt()) return false;
  RemoveScaleDownDeadlines();
  const CanaryReplicaCounts want =
      CalculateReplicaCountsForCanary(spec_, MathState(ns_.canary.weights), Sets());
  Rev* n = NewRs();
  Rev* s = StableRs();
  // Held by confirm-rollout: the stable keeps every instance, the new revision gets none.
  const bool held = hold_new_ && n != nullptr && n != s;
  if (n != nullptr && s != nullptr && n != s) {
    if (Scale(s, held ? spec_.EffectiveReplicas() : want.stable_rs)) return true;
  }
  if (n != nullptr) {
    int32_t count = held ? 0 : want.new_rs;
    if (!ApplyAbortDelay(&count) && Scale(n, count)) return true;
  }
  // Older revisions.
  CanaryReplicaSets sets = Sets();
  std::vector<OldReplicaSetScale> plan =
      ScaleDownOldReplicaSetsForCanary(spec_, MathState(ns_.canary.weights), sets);
  bool scaled = false;
  for (const OldReplicaSetScale& p : plan) {
    Rev* r = FindRev(p.hash);
    if (r == nullptr) continue;
    RevisionRecord& rec = Record(*r);
    if (p.add_scale_down_deadline && !rec.scale_down_at) {
      rec.scale_down_at = TruncateToSeconds(now_) +
                          std::chrono::seconds(spec_.canary->EffectiveScaleDownDelaySeconds());
    }
    if (rec.scale_down_at && *rec.scale_down_at > now_ && r->desired > 0)
      WakeAt(*rec.scale_down_at);
    scaled = Scale(r, p.replicas) || scaled;
  }
  return scaled;
}

void Reconciler::ReconcileCanaryPause() {
  if (spec_.paused || prev_.promote_full) return;
  const spec::CanaryStep* step = CurrentStep();
  if (step == nullptr || !step->pause) return;
  const PauseCondition* cond = FindPause(prev_, pause_reason::kCanaryPauseStep);
  if (cond == nullptr) {
    if (!prev_.controller_pause) pause_.add.emplace_back(pause_reason::kCanaryPauseStep);
    return;
  }
  std::optional<int64_t> seconds = step->pause->DurationSeconds();
  if (seconds && cond->start_time) WakeAt(*cond->start_time + std::chrono::seconds(*seconds));
}

bool Reconciler::CompletedCanaryPauseStep(const spec::RolloutPause& pause) {
  const PauseCondition* cond = FindPause(prev_, pause_reason::kCanaryPauseStep);
  if (prev_.controller_pause && cond == nullptr) return true;
  std::optional<int64_t> seconds = pause.DurationSeconds();
  if (seconds && cond != nullptr && cond->start_time) {
    return now_ >= *cond->start_time + std::chrono::seconds(*seconds);
  }
  return false;
}

bool Reconciler::CompletedCurrentCanaryStep() {
  if (spec_.paused || hold_new_ || hold_step_) return false;
  const spec::CanaryStep* step = CurrentStep();
  if (step == nullptr) return false;
  if (step->pause) return CompletedCanaryPauseStep(*step->pause);
  if (step->set_canary_scale) return AtDesiredCounts(ns_.canary.weights);
  if (step->set_weight) {
    if (!AtDesiredCounts(ns_.canary.weights)) return false;
    if (ns_.canary.weights && ns_.canary.weights->verified && !*ns_.canary.weights->verified) {
      return false;
    }
    return true;
  }
  if (step->analysis) {
    return cur_step_ != nullptr && cur_step_->status.phase == AnalysisPhase::kSuccessful;
  }
  if (step->set_header_route || step->set_mirror_route) return true;
  if (step->plugin) return WebhookStepCompleted();
  return false;
}

void Reconciler::SyncCanaryStatus() {
  RolloutStatus ns = BaseStatus();
  const Totals totals = Sum();
  ns.available_replicas = totals.available;
  ns.hpa_replicas = totals.current;
  ns.canary.stable_ping_pong = prev_.canary.stable_ping_pong;
  ns.canary.step_plugin_statuses = ns_.canary.step_plugin_statuses;
  ns.stable_rs = prev_.stable_rs;
  ns.current_step_hash = step_hash_;
  const int32_t steps = StepCount();
  std::optional<int32_t> index = StepIndex();
  if (template_changed_) {
    ResetStatus(&ns);
    if (NewRs() != nullptr && steps > 0) {
      if (prev_.stable_rs == new_hash_) {
        Event(reason::kSkipSteps, "Rollback to stable ReplicaSets");
        ns.current_step_index = steps;
      } else if (IsRollbackWithinWindow() && NewRs()->desired > 0) {
        Event(reason::kSkipSteps, "Rollback to active ReplicaSets within RollbackWindow");
        ns.current_step_index = steps;
      }
    }
    Persist(std::move(ns));
    return;
  }
  if (prev_.promote_full || IsRollbackWithinWindow()) {
    pause_.clear = true;
    pause_.remove_abort = true;
    if (steps > 0) index = steps;
  }
  if (std::string why = ShouldFullPromote(ns); !why.empty()) {
    PromoteStable(&ns, why);
    Persist(std::move(ns));
    return;
  }
  if (pause_.IsAborted(prev_)) {
    if (steps > 0) ns.current_step_index = ns.stable_rs == ns.current_pod_hash ? steps : 0;
    Persist(std::move(ns));
    return;
  }
  if (CompletedCurrentCanaryStep()) {
    const spec::CanaryStep* step = CurrentStep();
    index = std::min(index.value_or(0) + 1, steps);
    ns.canary.current_step_analysis_run_status.reset();
    Event(reason::kRolloutStepCompleted,
          fmt::format("Rollout step {}/{} completed ({})", *index, steps, StepText(*step)));
    pause_.remove.emplace_back(pause_reason::kCanaryPauseStep);
  }
  ns.current_step_index = index;
  Persist(std::move(ns));
}

// ---------------------------------------------------------------------------------------------
// Blue-green

bool Reconciler::FastTracked() {
  if (IsFastRollback() || prev_.promote_full) return true;
  const std::string& active = prev_.blue_green.active_selector;
  return active.empty() || active == new_hash_;
}

bool Reconciler::NeedsBlueGreenControllerPause() const {
  const auto& bg = *spec_.blue_green;
  if (bg.auto_promotion_enabled && !*bg.auto_promotion_enabled) return true;
  return bg.auto_promotion_seconds > 0;
}

bool Reconciler::CompletedBlueGreenPause() {
  const auto& bg = *spec_.blue_green;
  const PauseCondition* cond = FindPause(prev_, pause_reason::kBlueGreenPause);
  if (pause_.HasAddPause()) return false;
  if (prev_.blue_green.scale_up_preview_check_point) return true;
  if (bg.EffectiveAutoPromotionEnabled()) {
    if (bg.auto_promotion_seconds == 0) return true;
    if (cond != nullptr && cond->start_time) {
      return now_ >= *cond->start_time + std::chrono::seconds(bg.auto_promotion_seconds);
    }
    return false;
  }
  return prev_.controller_pause && cond == nullptr;
}

bool Reconciler::CompletedPrePromotionAnalysis() {
  if (hold_pre_analysis_) return false;
  if (!spec_.blue_green->pre_promotion_analysis) return true;
  return cur_pre_ != nullptr && cur_pre_->status.phase == AnalysisPhase::kSuccessful;
}

void Reconciler::ReconcileBlueGreenReplicaSets() {
  RemoveScaleDownDeadlines();
  Rev* n = NewRs();
  Rev* s = StableRs();
  if (s != nullptr) Scale(s, spec_.EffectiveReplicas());
  if (n != nullptr) {
    int32_t count = hold_new_ && n != s ? 0 : NewRsReplicas(std::nullopt);
    if (!ApplyAbortDelay(&count)) Scale(n, count);
  }
  // Older revisions (scaleDownOldReplicaSetsForBlueGreen).
  if (FindPause(prev_, pause_reason::kInconclusiveAnalysisRun) != nullptr) return;
  const auto& bg = *spec_.blue_green;
  if (bg.post_promotion_analysis && !bg.scale_down_delay_seconds) {
    const bool skip_post =
        prev_.stable_rs == new_hash_ || prev_.blue_green.active_selector != new_hash_ ||
        (CurrentRun(prev_.blue_green.post_promotion_analysis_run_status) == nullptr &&
         !IsSaturated(n));
    spec::AnalysisRun* post = CurrentRun(prev_.blue_green.post_promotion_analysis_run_status);
    if (!skip_post && (post == nullptr || post->status.phase != AnalysisPhase::kSuccessful)) {
      return;
    }
  }
  std::vector<Rev*> others = OtherRevs();
  std::sort(others.begin(), others.end(),
            [&](Rev* a, Rev* b) { return Record(*a).revision > Record(*b).revision; });
  int32_t annotated = 0;
  for (Rev* r : others) {
    if (IsReferenced(Record(*r).hash) || r->desired == 0) continue;
    auto [count, desired] = ScaleDownDelayHelper(r, annotated, spec_.EffectiveReplicas());
    annotated = count;
    Scale(r, desired);
  }
  ReconcileRevisionHistory();
}

void Reconciler::ReconcileBlueGreenPause() {
  if (prev_.abort || !ReadyForPause() || Halt()) return;
  if (FastTracked() || prev_.blue_green.scale_up_preview_check_point ||
      !NeedsBlueGreenControllerPause()) {
    pause_.remove.emplace_back(pause_reason::kBlueGreenPause);
    return;
  }
  if (!CompletedPrePromotionAnalysis()) return;
  const PauseCondition* cond = FindPause(prev_, pause_reason::kBlueGreenPause);
  if (cond != nullptr) {
    if (!CompletedBlueGreenPause()) {
      if (spec_.blue_green->auto_promotion_seconds > 0 && cond->start_time) {
        WakeAt(*cond->start_time + std::chrono::seconds(spec_.blue_green->auto_promotion_seconds));
      }
    } else {
      pause_.remove.emplace_back(pause_reason::kBlueGreenPause);
    }
  } else if (!prev_.controller_pause) {
    pause_.add.emplace_back(pause_reason::kBlueGreenPause);
  }
}

void Reconciler::ReconcileActiveService() {
  if (Halt() || !ReadyForPause() || !IsSaturated(NewRs())) return;
  std::string hash = ns_.blue_green.active_selector;
  if (FastTracked()) hash = new_hash_;
  if (CompletedBlueGreenPause() && CompletedPrePromotionAnalysis() && !hold_switch_) {
    hash = new_hash_;
  }
  if (prev_.abort) hash = prev_.stable_rs;
  SwitchSelector(ServiceRole::kActive, spec_.blue_green->active_service,
                 &ns_.blue_green.active_selector, hash);
}

bool Reconciler::ScaleUpPreviewCheckPoint() {
  if (!spec_.blue_green->preview_replica_count) return false;
  if (prev_.blue_green.scale_up_preview_check_point) return true;
  if (!CompletedPrePromotionAnalysis() || !CompletedBlueGreenPause()) return false;
  Rev* n = NewRs();
  return n != nullptr && *spec_.blue_green->preview_replica_count == n->available;
}

void Reconciler::BlueGreen() {
  const auto& bg = *spec_.blue_green;
  if (!bg.preview_service.empty() && !Halt() && !hold_new_) {
    SwitchSelector(ServiceRole::kPreview, bg.preview_service, &ns_.blue_green.preview_selector,
                   new_hash_);
  }
  if (template_changed_) {
    SyncBlueGreenStatus();
    return;
  }
  RestartInstances();
  ReconcileBlueGreenReplicaSets();
  EvaluateBlueGreenPreRollout();
  // The analysis stage runs after the pause and the active switch in Argo, but both read the
  // current pre-promotion run, which Argo finds before any stage: find it the same way.
  cur_pre_ = CurrentRun(prev_.blue_green.pre_promotion_analysis_run_status);
  ReconcileBlueGreenPause();
  EvaluateBlueGreenPromotion();
  ReconcileActiveService();
  ReconcileAnalysisRuns();
  SyncBlueGreenStatus();
}

void Reconciler::SyncBlueGreenStatus() {
  RolloutStatus ns = BaseStatus();
  ns.stable_rs = prev_.stable_rs;
  if (template_changed_) ResetStatus(&ns);
  if (prev_.promote_full || IsRollbackWithinWindow()) {
    pause_.clear = true;
    pause_.remove_abort = true;
  }
  if (std::string why = ShouldFullPromote(ns); !why.empty()) {
    PromoteStable(&ns, why);
  } else {
    ns.blue_green.scale_up_preview_check_point = ScaleUpPreviewCheckPoint();
  }
  Rev* active = FindRev(ns.blue_green.active_selector);
  if (active != nullptr) {
    ns.hpa_replicas = active->current;
    ns.available_replicas = active->available;
    ns.ready_replicas = active->ready;
  } else {
    const Totals totals = Sum();
    ns.hpa_replicas = totals.current;
    ns.available_replicas = totals.available;
  }
  Persist(std::move(ns));
}

// ---------------------------------------------------------------------------------------------
// Status

RolloutStatus Reconciler::BaseStatus() {
  RolloutStatus ns = ns_;
  ns.current_pod_hash = new_hash_;
  const Totals totals = Sum();
  ns.replicas = totals.current;
  Rev* n = NewRs();
  ns.updated_replicas = n != nullptr ? n->current : 0;
  ns.ready_replicas = totals.ready;
  ns.collision_count = prev_.collision_count;
  ns.conditions = prev_.conditions;
  RemoveCondition(&ns, condition_type::kInvalidSpec);
  ns.promote_full = new_hash_ != prev_.stable_rs && prev_.promote_full;
  if (spec_.selector) {
    std::string sel;
    for (const auto& [k, v] : spec_.selector->match_labels) {
      sel += (sel.empty() ? "" : ",") + k + "=" + v;
    }
    ns.selector = sel;
  }
  return ns;
}

void Reconciler::ResetStatus(RolloutStatus* ns) {
  pause_.clear = true;
  pause_.remove_abort = true;
  // A template change ends any restart in progress (SetRestartedAt).
  if (std::optional<Time> at = RestartAt()) ns->restarted_at = at;
  ns->promote_full = false;
  ns->blue_green.pre_promotion_analysis_run_status.reset();
  ns->blue_green.post_promotion_analysis_run_status.reset();
  ns->blue_green.scale_up_preview_check_point = false;
  ns->canary.current_step_analysis_run_status.reset();
  ns->canary.current_background_analysis_run_status.reset();
  ns->canary.step_plugin_statuses.clear();
  ns->current_step_index = StepCount() > 0 ? std::optional<int32_t>(0) : std::nullopt;
}

std::string Reconciler::ShouldFullPromote(const RolloutStatus& ns) {
  if (StableRs() == nullptr) return "Initial deploy";
  if (spec_.canary) {
    if (pause_.IsAborted(prev_)) return "";
    Rev* n = NewRs();
    if (n == nullptr) return "";
    const int32_t replicas = spec_.EffectiveReplicas();
    if (n->available < replicas) {
      // canary.replicaProgressThreshold lets a promotion go ahead with part of the new revision
      // available (Argo's ReplicaProgressThresholdMet).
      const auto& t = spec_.canary->replica_progress_threshold;
      if (!t || t->value < 0) return "";
      const bool met = t->type == "Percent"
                           ? replicas == 0 || 100.0 * n->available / replicas >= t->value - 1e-10
                           : n->available >= t->value;
      if (!met) return "";
    }
    if (prev_.promote_full) return "Full promotion requested";
    if (IsFastRollback())
      return IsRollbackWithinWindow() ? "Rollback within window" : "Fast rollback";
    if (hold_new_ || hold_step_) return "";
    const std::optional<int32_t> index = StepIndex();
    if (StepCount() == 0 || (index && *index == StepCount())) {
      return fmt::format("Completed all {} canary steps", StepCount());
    }
    return "";
  }
  if (ns.blue_green.active_selector.empty()) return "Initial deploy";
  if (ns.blue_green.active_selector != ns.current_pod_hash) return "";
  if (prev_.promote_full) return "Full promotion requested";
  if (IsFastRollback())
    return IsRollbackWithinWindow() ? "Rollback within window" : "Fast rollback";
  if (pause_.IsAborted(prev_)) return "";
  if (spec_.blue_green->post_promotion_analysis) {
    if (cur_post_ == nullptr || cur_post_->status.phase != AnalysisPhase::kSuccessful) return "";
  }
  return "Completed blue-green update";
}

void Reconciler::PromoteStable(RolloutStatus* ns, const std::string& why) {
  pause_.clear = true;
  pause_.remove_abort = true;
  ns->promote_full = false;
  ns->blue_green.scale_up_preview_check_point = false;
  if (spec_.canary) {
    ns->current_step_index = StepCount() > 0 ? std::optional<int32_t>(StepCount()) : std::nullopt;
  }
  if (ns->stable_rs != ns->current_pod_hash) {
    if (spec_.canary && spec_.canary->ping_pong) {
      ns->canary.stable_ping_pong = prev_.canary.stable_ping_pong == "ping" ? "pong" : "ping";
    }
    ns->stable_rs = ns->current_pod_hash;
    Rev* n = NewRs();
    Event(reason::kRolloutCompleted,
          fmt::format("Rollout completed update to revision {} ({}): {}",
                      n != nullptr ? Record(*n).revision : 0, ns->current_pod_hash, why));
  }
}

void Reconciler::CalculatePauseStatus(RolloutStatus* ns) {
  // Abort first: an abort clears every pause condition.
  if (pause_.add_abort || (!pause_.remove_abort && prev_.abort)) {
    ns->abort = true;
    ns->aborted_at = prev_.aborted_at ? prev_.aborted_at : TruncateToSeconds(now_);
    ns->pause_conditions.clear();
    ns->controller_pause = false;
    return;
  }
  ns->abort = false;
  ns->aborted_at.reset();
  ns->pause_conditions.clear();
  ns->controller_pause = false;
  if (pause_.clear) return;
  bool controller_pause = prev_.controller_pause;
  std::set<std::string> remove(pause_.remove.begin(), pause_.remove.end());
  std::set<std::string> exists;
  std::vector<PauseCondition> conditions;
  for (const auto& c : prev_.pause_conditions) {
    if (remove.count(c.reason) == 0) conditions.push_back(c);
    exists.insert(c.reason);
  }
  for (const auto& reason : pause_.add) {
    if (exists.insert(reason).second) {
      conditions.push_back(PauseCondition{reason, TruncateToSeconds(now_)});
      controller_pause = true;
    }
  }
  if (conditions.empty()) return;
  ns->controller_pause = controller_pause;
  ns->pause_conditions = std::move(conditions);
}

void Reconciler::EvaluateProgressDeadlineAbort(const RolloutStatus& ns) {
  if (!spec_.progress_deadline_abort || pause_.IsAborted(prev_)) return;
  if (!hook_gate_waiting_.empty()) return;  // a closed gate is a wait, not a lack of progress
  if (RolloutCompleted(ns) || RolloutProgressing(spec_, prev_, ns)) return;
  if (CurrentStep() != nullptr) {
    const spec::CanaryStep* s = CurrentStep();
    if (s->pause || s->analysis || s->experiment) return;
  }
  for (Rev* o : OtherRevs()) {
    if (HasDeadline(*o)) return;
  }
  if (!RolloutTimedOut(prev_, spec_.EffectiveProgressDeadlineSeconds(), now_)) return;
  const std::string message =
      NewRs() != nullptr
          ? fmt::format("ReplicaSet \"{}\" has timed out progressing.", RsName(new_hash_))
          : fmt::format("Rollout \"{}\" has timed out progressing.", ro_.metadata.name);
  pause_.AddAbort(message);
  Event(reason::kRolloutAborted, message, EventType::kWarning);
}

void Reconciler::Persist(RolloutStatus ns) {
  ns.observed_generation = std::to_string(ro_.metadata.generation.value_or(1));
  EvaluateProgressDeadlineAbort(ns);
  CalculatePauseStatus(&ns);
  ConditionInputs in;
  in.generation = ro_.metadata.generation.value_or(1);
  in.rollout_name = ro_.metadata.name;
  in.new_rs_name = NewRs() != nullptr ? RsName(new_hash_) : "";
  in.revision = NewRs() != nullptr ? Record(*NewRs()).revision : 0;
  in.aborted = pause_.IsAborted(prev_);
  in.abort_message = pause_.abort_message;
  if (spec_.blue_green) {
    in.available = IsSaturated(FindRev(ns.blue_green.active_selector));
  } else {
    in.available = Sum().available >= spec_.EffectiveReplicas();
  }
  const spec::CanaryStep* step = CurrentStep();
  const RolloutCondition* paused = GetCondition(prev_, condition_type::kPaused);
  in.indefinite_step = (step != nullptr && (step->pause || step->analysis || step->experiment)) ||
                       (paused != nullptr && paused->status == condition_status::kTrue) ||
                       !hook_gate_waiting_.empty();
  for (Rev* o : OtherRevs())
    in.waiting_for_scale_down = in.waiting_for_scale_down || HasDeadline(*o);
  ConditionEvents events = CalculateRolloutConditions(spec_, in, prev_, &ns, now_);
  if (events.aborted) {
    const RolloutCondition* c = GetCondition(ns, condition_type::kProgressing);
    Event(reason::kRolloutAborted, c != nullptr ? c->message : "Rollout aborted",
          EventType::kWarning);
  }
  if (events.not_completed) {
    Event(reason::kRolloutNotCompleted,
          fmt::format("Rollout not completed, started update to revision {} ({})", in.revision,
                      ns.current_pod_hash));
  }
  PhaseResult phase = CalculateRolloutPhase(spec_, ToPhaseStatus(ns));
  ns.phase = std::string(RolloutPhaseName(phase.phase));
  ns.message = phase.message;
  if (!gate_waiting_.empty() && phase.phase == RolloutPhase::kProgressing) {
    ns.message = gate_waiting_;
  } else if (!hook_gate_waiting_.empty() && phase.phase == RolloutPhase::kProgressing) {
    ns.message = hook_gate_waiting_;
  }
  // State-change events (sendStateChangeEvents).
  const bool was_paused = !prev_.pause_conditions.empty();
  const bool is_paused = !ns.pause_conditions.empty();
  if (was_paused != is_paused) {
    if (is_paused) {
      Event(reason::kRolloutPaused,
            fmt::format("Rollout is paused ({})", ns.pause_conditions.front().reason));
    } else if (!ns.aborted_at) {
      Event(reason::kRolloutResumed, "Rollout is resumed");
    }
  }
  st_.status = std::move(ns);
}

void Reconciler::InvalidSpec(const std::string& message) {
  RolloutStatus ns = prev_;
  ns.observed_generation = std::to_string(ro_.metadata.generation.value_or(1));
  if (SetCondition(&ns, NewCondition(condition_type::kInvalidSpec, condition_status::kTrue,
                                     condition_reason::kInvalidSpec, message, now_))) {
    Event(reason::kReconciliationError, message, EventType::kWarning);
  }
  PhaseResult phase = CalculateRolloutPhase(spec_, ToPhaseStatus(ns));
  ns.phase = std::string(RolloutPhaseName(phase.phase));
  ns.message = phase.message;
  st_.status = std::move(ns);
}

void Reconciler::WakeForAvailability() {
  if (!obs_.revisions || spec_.min_ready_seconds <= 0) return;
  const Duration min_ready = std::chrono::seconds(spec_.min_ready_seconds);
  for (const RevisionStatus& r : *obs_.revisions) {
    for (const InstanceStatus& i : r.instances) {
      if (i.state == InstanceState::kReady && i.ready_since) WakeAt(*i.ready_since + min_ready);
    }
  }
}

void Reconciler::WakeForProgressDeadline() {
  const RolloutStatus& s = st_.status;
  if (s.abort || !s.pause_conditions.empty() || spec_.paused) return;
  if (RolloutCompleted(s) && s.phase == "Healthy") return;
  if (std::optional<Time> t = ProgressDeadline(s, spec_.EffectiveProgressDeadlineSeconds())) {
    // Argo's RolloutTimedOut is strict: the deadline has passed one instant after it.
    WakeAt(*t + std::chrono::seconds(1));
  }
}

ReconcileResult Reconciler::Run() {
  // The measurements that arrived first: runs move on before the rollout reads their phases.
  AssessRuns(/*only_touched=*/false);
  if (!obs_.revisions) {
    return ReconcileResult{std::move(st_), std::move(intents_), wake_};
  }
  prev_ = st_.status;
  // Pause-related conditions are brought in line with spec.paused and the pause conditions
  // before anything else (Argo's checkPausedConditions), once the spec's generation is observed.
  if (prev_.observed_generation == std::to_string(ro_.metadata.generation.value_or(1))) {
    CheckPausedConditions(!prev_.pause_conditions.empty() || spec_.paused, &prev_, now_);
  }
  RecordFailures();
  std::string unsupported;
  if (UnsupportedSteps(&unsupported)) {
    InvalidSpec(unsupported);
    EventHooks();
    return ReconcileResult{std::move(st_), std::move(intents_), wake_};
  }
  ns_.restarted_at = prev_.restarted_at;
  ns_.alb = prev_.alb;
  ns_.albs = prev_.albs;
  ns_.canary.weights = prev_.canary.weights;
  ns_.canary.step_plugin_statuses = prev_.canary.step_plugin_statuses;
  ns_.blue_green.active_selector = prev_.blue_green.active_selector;
  ns_.blue_green.preview_selector = prev_.blue_green.preview_selector;
  new_hash_ = CurrentPodHash(ro_, prev_);
  step_hash_ = spec_.canary ? SafeEncode(Fnv32a(StepsText(spec_))) : "";
  template_changed_ = prev_.current_pod_hash != new_hash_ ||
                      (spec_.canary && prev_.current_step_hash != step_hash_);
  AdoptUnknownRevisions();
  EnsureNewRevision();
  LoadRevisions();
  BeginHooks();
  if (spec_.blue_green) {
    BlueGreen();
  } else {
    Canary();
  }
  EndHooks();
  // Runs created or cancelled by this reconcile take their first step now.
  AssessRuns(/*only_touched=*/true);
  TrimRuns();
  // Old revisions keep their scale-down deadlines in view.
  for (const auto& rec : st_.revisions) {
    if (rec.scale_down_at) WakeAt(*rec.scale_down_at);
  }
  WakeForAvailability();
  WakeForProgressDeadline();
  EventHooks();
  return ReconcileResult{std::move(st_), std::move(intents_), wake_};
}

}  // namespace

ReconcileResult Reconcile(const ReconcileContext& context, const RolloutState& state,
                          const Observed& observed, Time now) {
  return Reconciler(context, state, observed, now).Run();
}

std::string PodTemplateHash(const nlohmann::json& pod_template,
                            std::optional<int32_t> collision_count) {
  uint32_t h = Fnv32a(pod_template.dump());
  if (collision_count) h = Fnv32a(std::to_string(*collision_count), h);
  return SafeEncode(h);
}

std::string CurrentPodHash(const spec::Rollout& rollout, const RolloutStatus& status) {
  nlohmann::json t = rollout.spec.template_.raw;
  // The hash label itself never takes part in the hash.
  if (t.is_object() && t.contains("metadata") && t["metadata"].is_object() &&
      t["metadata"].contains("labels") && t["metadata"]["labels"].is_object()) {
    t["metadata"]["labels"].erase("rollouts-pod-template-hash");
  }
  return PodTemplateHash(t, status.collision_count);
}

std::vector<RevisionTemplate> RevisionTemplates(const RolloutState& state) {
  std::vector<RevisionTemplate> out;
  for (const auto& r : state.revisions) out.push_back(RevisionTemplate{r.revision, r.pod_template});
  return out;
}

const spec::AnalysisRun* FindAnalysisRun(const RolloutState& state, std::string_view name) {
  for (const auto& r : state.analysis_runs) {
    if (r.metadata.name == name) return &r;
  }
  return nullptr;
}

}  // namespace ramp::engine
