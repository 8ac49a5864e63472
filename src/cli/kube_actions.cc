#include "cli/kube_actions.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <future>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "net/event_loop.h"

namespace ramp::cli {

using nlohmann::json;

namespace {

constexpr const char* kHashLabel = "rollouts-pod-template-hash";
constexpr const char* kRevisionAnnotation = "rollout.argoproj.io/revision";

// Null-safe reads of decoded objects: a missing key or a value of another type reads as absent.
const json& At(const json& j, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(k);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::string Str(const json& j) { return j.is_string() ? j.get<std::string>() : std::string(); }

bool Bool(const json& j) { return j.is_boolean() && j.get<bool>(); }

std::string NameOf(const json& object) { return Str(At(object, {"metadata", "name"})); }

KubePatch RolloutPatch(std::string_view name, bool status, json body) {
  KubePatch p;
  p.resource = kube::Rollouts();
  p.name = std::string(name);
  p.status_subresource = status;
  p.type = kube::PatchType::kMerge;
  p.body = std::move(body);
  return p;
}

// replicasetutil.GetCurrentCanaryStep's index: nullopt without canary steps, else
// status.currentStepIndex (0 when unset).
std::optional<int64_t> CurrentStepIndex(const json& rollout) {
  const json& steps = At(rollout, {"spec", "strategy", "canary", "steps"});
  if (!steps.is_array() || steps.empty()) return std::nullopt;
  const json& index = At(rollout, {"status", "currentStepIndex"});
  return index.is_number_integer() ? index.get<int64_t>() : 0;
}

// The index promote moves to: the next one, never past len(steps).
int64_t NextStepIndex(const json& rollout, int64_t index) {
  const int64_t steps =
      static_cast<int64_t>(At(rollout, {"spec", "strategy", "canary", "steps"}).size());
  return index < steps ? index + 1 : index;
}

// The revision annotation as Argo's undo reads it: absent = 0; nullopt when it does not parse.
std::optional<int64_t> RevisionOf(const json& object) {
  const json& v = At(object, {"metadata", "annotations", kRevisionAnnotation});
  if (v.is_null()) return 0;
  if (!v.is_string()) return std::nullopt;
  std::string_view text = v.get_ref<const std::string&>();
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

// metav1.IsControlledBy: a controller ownerReference with the owner's uid.
bool ControlledBy(const json& object, const json& owner) {
  const std::string uid = Str(At(owner, {"metadata", "uid"}));
  const json& refs = At(object, {"metadata", "ownerReferences"});
  if (uid.empty() || !refs.is_array()) return false;
  for (const json& ref : refs) {
    if (Bool(At(ref, {"controller"})) && Str(At(ref, {"uid"})) == uid) return true;
  }
  return false;
}

// Kubernetes' Semantic.DeepDerivative on decoded JSON: `a` matches `b` when everything set in `a`
// is equal in `b` (empty strings, maps, lists and nulls in `a` are "unset").
bool Derivative(const json& a, const json& b) {
  if (a.is_null()) return true;
  if (b.is_null()) return false;
  if (a.is_object()) {
    if (a.empty()) return true;
    if (!b.is_object() || a.size() > b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !Derivative(it.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.empty()) return true;
    if (!b.is_array() || a.size() > b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!Derivative(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_string()) {
    if (!b.is_string()) return false;
    const auto& sa = a.get_ref<const std::string&>();
    return sa.empty() || sa == b.get_ref<const std::string&>();
  }
  if (a.is_number_integer() || a.is_number_unsigned()) {
    if (!(b.is_number_integer() || b.is_number_unsigned())) return false;
    if (a.is_number_unsigned() || b.is_number_unsigned()) {
      if (a.is_number_unsigned() && b.is_number_unsigned()) {
        return a.get<uint64_t>() == b.get<uint64_t>();
      }
      const json& s = a.is_number_unsigned() ? b : a;  // the signed one
      const json& u = a.is_number_unsigned() ? a : b;
      return s.get<int64_t>() >= 0 && static_cast<uint64_t>(s.get<int64_t>()) == u.get<uint64_t>();
    }
    return a.get<int64_t>() == b.get<int64_t>();
  }
  if (a.is_number_float()) return b.is_number_float() && a.get<double>() == b.get<double>();
  return a == b;  // booleans (and anything else) by value
}

// A pod template as Argo's typed client has it after decoding a ReplicaSet: fields Go always
// serializes are present (metadata.creationTimestamp null, each container's resources {}).
json TypedPodTemplate(json t) {
  if (!t.is_object()) t = json::object();
  if (!t.contains("metadata") || !t["metadata"].is_object()) t["metadata"] = json::object();
  if (!t["metadata"].contains("creationTimestamp")) t["metadata"]["creationTimestamp"] = nullptr;
  if (t.contains("spec") && t["spec"].is_object()) {
    for (const char* list : {"initContainers", "containers"}) {
      if (!t["spec"].contains(list) || !t["spec"][list].is_array()) continue;
      json& cs = t["spec"][list];
      for (json& c : cs) {
        if (c.is_object() && !c.contains("resources")) c["resources"] = json::object();
      }
    }
  }
  return t;
}

void StripHashLabel(json& t) {
  if (!t.is_object() || !t.contains("metadata") || !t["metadata"].is_object()) return;
  json& meta = t["metadata"];
  if (!meta.contains("labels") || !meta["labels"].is_object()) return;
  meta["labels"].erase(kHashLabel);
}

// Go's time.ParseDuration units, in nanoseconds.
std::optional<double> UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1.0;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  if (unit == "h") return 3600e9;
  return std::nullopt;
}

std::string JoinSorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  std::string out;
  for (const std::string& v : values) out += (out.empty() ? "" : ",") + v;
  return out;
}

}  // namespace

const kube::Resource& ExperimentsResource() {
  static const kube::Resource r{"argoproj.io", "v1alpha1", "experiments", "Experiment", true};
  return r;
}

const kube::Resource& PodTemplatesResource() {
  static const kube::Resource r{"", "v1", "podtemplates", "PodTemplate", true};
  return r;
}

StatusOr<KubeActionPlan> PromotePlan(const json& rollout, const PromoteOptions& options) {
  if (options.skip_current_step && options.skip_all_steps) {
    return Fail(
        InvalidArgumentError("Cannot use skip-current-step and skip-all-steps flags at the same "
                             "time"));
  }
  const std::string name = NameOf(rollout);
  const bool canary = At(rollout, {"spec", "strategy", "canary"}).is_object();
  if (options.skip_current_step || options.skip_all_steps) {
    if (At(rollout, {"spec", "strategy", "blueGreen"}).is_object()) {
      return Fail(
          InvalidArgumentError("Cannot skip steps of a bluegreen rollout. Run without a flags"));
    }
    if (canary && !CurrentStepIndex(rollout)) {
      return Fail(InvalidArgumentError("Cannot skip steps of a rollout without steps"));
    }
  }
  const bool paused = Bool(At(rollout, {"spec", "paused"}));
  const json unpause = {{"spec", {{"paused", false}}}};
  std::optional<json> spec_patch, status_patch;
  json unified;
  if (options.skip_current_step) {
    if (auto index = CurrentStepIndex(rollout)) {
      status_patch = json{{"status", {{"currentStepIndex", NextStepIndex(rollout, *index)}}}};
      unified = *status_patch;
    }
  } else if (options.skip_all_steps) {
    if (!canary) return Fail(FailedPreconditionError("rollout has no canary strategy"));
    const json& steps = At(rollout, {"spec", "strategy", "canary", "steps"});
    status_patch = json{{"status", {{"currentStepIndex", steps.is_array() ? steps.size() : 0}}}};
    unified = *status_patch;
  } else if (options.full) {
    if (paused) spec_patch = unpause;
    if (Str(At(rollout, {"status", "currentPodHash"})) !=
        Str(At(rollout, {"status", "stableRS"}))) {
      status_patch = json{{"status", {{"promoteFull", true}}}};
    }
    unified = {{"spec", {{"paused", false}}}, {"status", {{"promoteFull", true}}}};
  } else {
    unified = {{"spec", {{"paused", false}}}, {"status", {{"pauseConditions", nullptr}}}};
    if (paused) spec_patch = unpause;
    const json& conditions = At(rollout, {"status", "pauseConditions"});
    const bool has_conditions = conditions.is_array() && !conditions.empty();
    const bool inconclusive =
        canary &&
        Str(At(rollout, {"status", "canary", "currentStepAnalysisRunStatus", "status"})) ==
            "Inconclusive";
    if (inconclusive && has_conditions && Bool(At(rollout, {"status", "controllerPause"}))) {
      if (auto index = CurrentStepIndex(rollout)) {
        status_patch = json{{"status",
                             {{"pauseConditions", nullptr},
                              {"controllerPause", false},
                              {"currentStepIndex", NextStepIndex(rollout, *index)}}}};
      }
    } else if (has_conditions) {
      status_patch = json{{"status", {{"pauseConditions", nullptr}}}};
    } else if (canary) {
      if (auto index = CurrentStepIndex(rollout)) {
        const int64_t next = NextStepIndex(rollout, *index);
        status_patch = json{{"status", {{"pauseConditions", nullptr}, {"currentStepIndex", next}}}};
        unified = {{"spec", {{"paused", false}}},
                   {"status", {{"pauseConditions", nullptr}, {"currentStepIndex", next}}}};
      }
    }
  }
  KubeActionPlan plan;
  if (status_patch) {
    plan.patches.push_back(RolloutPatch(name, true, *status_patch));
    plan.without_status_subresource.push_back(RolloutPatch(name, false, unified));
  }
  if (spec_patch) plan.patches.push_back(RolloutPatch(name, false, *spec_patch));
  plan.message = fmt::format("rollout '{}' {}", name, options.full ? "fully promoted" : "promoted");
  return plan;
}

namespace {

// Sets status.abort: one patch to /status, or to the Rollout without the subresource.
KubeActionPlan AbortFlagPlan(std::string_view name, bool abort, std::string_view done) {
  const json body = {{"status", {{"abort", abort}}}};
  KubeActionPlan plan;
  plan.patches.push_back(RolloutPatch(name, true, body));
  plan.without_status_subresource.push_back(RolloutPatch(name, false, body));
  plan.message = fmt::format("rollout '{}' {}", name, done);
  return plan;
}

}  // namespace

KubeActionPlan AbortPlan(std::string_view name) { return AbortFlagPlan(name, true, "aborted"); }

KubeActionPlan RetryRolloutPlan(std::string_view name) {
  return AbortFlagPlan(name, false, "retried");
}

KubeActionPlan RetryExperimentPlan(std::string_view name) {
  KubePatch p;
  p.resource = ExperimentsResource();
  p.name = std::string(name);
  p.body = {{"status", nullptr}};
  KubeActionPlan plan;
  plan.patches.push_back(std::move(p));
  plan.message = fmt::format("experiment '{}' retried", name);
  return plan;
}

KubeActionPlan PausePlan(std::string_view name) {
  KubeActionPlan plan;
  plan.patches.push_back(RolloutPatch(name, false, {{"spec", {{"paused", true}}}}));
  plan.message = fmt::format("rollout '{}' paused", name);
  return plan;
}

StatusOr<KubeActionPlan> ResumePlan(const json& rollout) {
  if (!Bool(At(rollout, {"spec", "paused"}))) {
    return Fail(FailedPreconditionError("rollout is not manually paused"));
  }
  const std::string name = NameOf(rollout);
  KubeActionPlan plan;
  plan.patches.push_back(RolloutPatch(name, false, {{"spec", {{"paused", false}}}}));
  plan.message = fmt::format("rollout '{}' resumed", name);
  return plan;
}

KubeActionPlan RestartPlan(std::string_view name, Time now, Duration in, std::string_view in_text) {
  KubeActionPlan plan;
  plan.patches.push_back(
      RolloutPatch(name, false, {{"spec", {{"restartAt", kube::KubeTime(now + in)}}}}));
  plan.message = fmt::format("rollout '{}' restarts in {}", name, in_text.empty() ? "0s" : in_text);
  return plan;
}

StatusOr<Duration> ParseGoDuration(std::string_view text) {
  const std::string original(text);
  auto bad = [&] {
    return Fail(InvalidArgumentError(fmt::format("time: invalid duration \"{}\"", original)));
  };
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text == "0") return Duration(0);
  if (text.empty()) return bad();
  double total = 0;
  while (!text.empty()) {
    size_t i = 0;
    bool digits = false;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
      digits = true;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
        ++i;
        digits = true;
      }
    }
    if (!digits) return bad();
    const double value = std::strtod(std::string(text.substr(0, i)).c_str(), nullptr);
    size_t u = i;
    while (u < text.size() && text[u] != '.' &&
           std::isdigit(static_cast<unsigned char>(text[u])) == 0) {
      ++u;
    }
    if (u == i) {
      return Fail(
          InvalidArgumentError(fmt::format("time: missing unit in duration \"{}\"", original)));
    }
    auto nanos = UnitNanos(text.substr(i, u - i));
    if (!nanos) {
      return Fail(InvalidArgumentError(fmt::format("time: unknown unit \"{}\" in duration \"{}\"",
                                                   text.substr(i, u - i), original)));
    }
    total += value * *nanos;
    text.remove_prefix(u);
  }
  if (total > 9.2e18) return bad();
  const auto n = static_cast<int64_t>(std::llround(total));
  return Duration(negative ? -n : n);
}

StatusOr<std::string> SelectorText(const json& label_selector) {
  std::vector<std::pair<std::string, std::string>> requirements;  // key, text
  const json& labels = At(label_selector, {"matchLabels"});
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      requirements.emplace_back(it.key(), it.key() + "=" + Str(it.value()));
    }
  }
  const json& expressions = At(label_selector, {"matchExpressions"});
  for (const json& e : expressions.is_array() ? expressions : json::array()) {
    const std::string key = Str(At(e, {"key"}));
    const std::string op = Str(At(e, {"operator"}));
    std::vector<std::string> values;
    const json& vs = At(e, {"values"});
    for (const json& v : vs.is_array() ? vs : json::array()) values.push_back(Str(v));
    if (op == "In" || op == "NotIn") {
      requirements.emplace_back(
          key, fmt::format("{} {} ({})", key, op == "In" ? "in" : "notin", JoinSorted(values)));
    } else if (op == "Exists") {
      requirements.emplace_back(key, key);
    } else if (op == "DoesNotExist") {
      requirements.emplace_back(key, "!" + key);
    } else {
      return Fail(
          InvalidArgumentError(fmt::format("\"{}\" is not a valid label selector operator", op)));
    }
  }
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [key, text] : requirements) out += (out.empty() ? "" : ",") + text;
  return out;
}

bool TemplateMatchesIgnoringHash(const json& rollout_template, const json& rs_template) {
  json a = rollout_template;
  json b = TypedPodTemplate(rs_template);
  StripHashLabel(a);
  StripHashLabel(b);
  return Derivative(a, b);
}

StatusOr<KubeActionPlan> UndoPlan(const json& rollout, const std::vector<json>& replicasets,
                                  int64_t to_revision) {
  const std::string name = NameOf(rollout);
  const json* target = nullptr;
  const json* latest = nullptr;
  const json* previous = nullptr;
  int64_t latest_revision = -1;
  int64_t previous_revision = -1;
  for (const json& rs : replicasets) {
    if (!ControlledBy(rs, rollout)) continue;
    const std::optional<int64_t> v = RevisionOf(rs);
    if (!v) continue;
    if (to_revision == 0) {
      if (latest_revision < *v) {
        previous_revision = latest_revision;
        previous = latest;
        latest_revision = *v;
        latest = &rs;
      } else if (previous_revision < *v) {
        previous_revision = *v;
        previous = &rs;
      }
    } else if (to_revision == *v) {
      target = &rs;
      break;
    }
  }
  if (target == nullptr) {
    if (to_revision > 0) {
      return Fail(FailedPreconditionError(
          fmt::format("unable to find specified revision {} in history", to_revision)));
    }
    if (previous == nullptr) {
      return Fail(
          FailedPreconditionError(fmt::format("no revision found for rollout \"{}\"", name)));
    }
    target = previous;
  }
  const json& rs_template = At(*target, {"spec", "template"});
  const json& ro_template = At(rollout, {"spec", "template"});
  KubeActionPlan plan;
  if (ro_template.is_object() && TemplateMatchesIgnoringHash(ro_template, rs_template)) {
    plan.message =
        fmt::format("skipped rollback (current template already matches revision {})", to_revision);
    return plan;
  }
  json value = TypedPodTemplate(rs_template);
  StripHashLabel(value);
  if (value["metadata"].contains("labels") && value["metadata"]["labels"].is_object() &&
      value["metadata"]["labels"].empty()) {
    value["metadata"].erase("labels");
  }
  KubePatch p;
  p.type = kube::PatchType::kJson;
  p.body = json::array({{{"op", "replace"}, {"path", "/spec/template"}, {"value", value}}});
  const json& ref = At(rollout, {"spec", "workloadRef"});
  if (ref.is_object()) {
    const std::string kind = Str(At(ref, {"kind"}));
    if (kind == "Deployment") {
      p.resource = kube::Deployments();
    } else if (kind == "ReplicaSet") {
      p.resource = kube::ReplicaSets();
    } else if (kind == "PodTemplate") {
      p.resource = PodTemplatesResource();
    } else {
      return Fail(FailedPreconditionError(
          fmt::format("failed restoring revision {}: workload of type {} is not supported",
                      to_revision, kind)));
    }
    p.name = Str(At(ref, {"name"}));
  } else {
    p.resource = kube::Rollouts();
    p.name = name;
  }
  plan.patches.push_back(std::move(p));
  plan.message = fmt::format("rollout '{}' undo", name);
  return plan;
}

Status SetImageInObject(json& object, std::string_view container, std::string_view image) {
  bool found = false;
  json* spec = nullptr;
  if (object.is_object() && object.contains("spec") && object["spec"].is_object() &&
      object["spec"].contains("template") && object["spec"]["template"].is_object() &&
      object["spec"]["template"].contains("spec") &&
      object["spec"]["template"]["spec"].is_object()) {
    spec = &object["spec"]["template"]["spec"];
  }
  for (const char* field : {"initContainers", "containers", "ephemeralContainers"}) {
    if (spec == nullptr || !spec->contains(field) || !(*spec)[field].is_array()) continue;
    for (json& c : (*spec)[field]) {
      if (!c.is_object()) continue;
      if (Str(At(c, {"name"})) == container || container == "*") {
        c["image"] = std::string(image);
        found = true;
      }
    }
  }
  if (!found) {
    return InvalidArgumentError(fmt::format("unable to find container named \"{}\"", container));
  }
  return OkStatus();
}

StatusOr<std::pair<kube::Resource, std::string>> SetImageTarget(const json& rollout) {
  const json& ref = At(rollout, {"spec", "workloadRef"});
  if (ref.is_null()) return std::make_pair(kube::Rollouts(), NameOf(rollout));
  const json& name = At(ref, {"name"});
  if (!name.is_string()) {
    return Fail(InvalidArgumentError(
        fmt::format("spec.workloadRef.name is not a string: {}", name.dump())));
  }
  return std::make_pair(kube::Deployments(), name.get<std::string>());
}

json RolloutViewFromCluster(const json& rollout, const std::vector<json>& replicasets,
                            const std::vector<json>& pods, const std::vector<json>& analysis_runs) {
  json revisions = json::array();
  for (const json& rs : replicasets) {
    if (!ControlledBy(rs, rollout)) continue;
    json instances = json::array();
    for (const json& pod : pods) {
      if (!ControlledBy(pod, rs)) continue;
      bool ready = false;
      const json& conditions = At(pod, {"status", "conditions"});
      for (const json& c : conditions.is_array() ? conditions : json::array()) {
        if (Str(At(c, {"type"})) == "Ready") ready = Str(At(c, {"status"})) == "True";
      }
      int64_t restarts = 0;
      const json& statuses = At(pod, {"status", "containerStatuses"});
      for (const json& s : statuses.is_array() ? statuses : json::array()) {
        const json& n = At(s, {"restartCount"});
        if (n.is_number_integer()) restarts += n.get<int64_t>();
      }
      std::string state = ready ? "Ready" : Str(At(pod, {"status", "phase"}));
      if (state.empty()) state = "Pending";
      if (state == "Running") state = "NotReady";
      json inst = {{"id", NameOf(pod)},
                   {"address", Str(At(pod, {"status", "podIP"}))},
                   {"state", state},
                   {"restarts", restarts}};
      if (!At(pod, {"metadata", "deletionTimestamp"}).is_null()) inst["message"] = "Terminating";
      instances.push_back(std::move(inst));
    }
    json rev = {{"hash", Str(At(rs, {"metadata", "labels", kHashLabel}))},
                {"revision", RevisionOf(rs).value_or(0)},
                {"instances", std::move(instances)}};
    const json& replicas = At(rs, {"spec", "replicas"});
    rev["desiredReplicas"] = replicas.is_number_integer() ? replicas.get<int64_t>() : 1;
    const json& containers = At(rs, {"spec", "template", "spec", "containers"});
    if (containers.is_array() && !containers.empty()) {
      rev["image"] = Str(At(containers[0], {"image"}));
    }
    revisions.push_back(std::move(rev));
  }
  json runs = json::array();
  for (const json& run : analysis_runs) {
    if (ControlledBy(run, rollout)) runs.push_back(run);
  }
  return {{"rollout", rollout}, {"revisions", revisions}, {"analysisRuns", runs}};
}

// --- KubeCli ------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<KubeCli>> KubeCli::Connect(const KubeCliOptions& options) {
  auto config = kube::ResolveKubeConfig(options.kubeconfig, options.context);
  if (!config) return Fail(config.error().WithPrefix("Kubernetes"));
  std::unique_ptr<KubeCli> cli(new KubeCli());
  cli->deadline_ = options.deadline;
  cli->clock_owner_ = NewSystemClock();
  cli->clock_ = cli->clock_owner_.get();
  cli->loop_ = net::EventLoop::Start(1);
  cli->http_ = NewHttpClient();
  kube::KubeClientOptions ko;
  ko.config = std::move(*config);
  ko.http = cli->http_.get();
  ko.timers = cli->loop_.get();
  ko.clock = cli->clock_;
  ko.request_timeout = options.deadline;
  ko.component = "ramp-cli";
  auto client = kube::KubeClient::New(std::move(ko));
  if (!client) return Fail(client.error().WithPrefix("Kubernetes"));
  cli->client_ = std::move(*client);
  return cli;
}

KubeCli::~KubeCli() {
  // In-flight requests complete (cancelled) while the client and the timers still exist.
  http_.reset();
  if (loop_) loop_->Stop();
  loop_.reset();
  client_.reset();
}

const std::string& KubeCli::DefaultNamespace() const { return client_->DefaultNamespace(); }

template <typename T, typename Start>
StatusOr<T> KubeCli::Wait(const std::string& what, Start start) {
  auto promise = std::make_shared<std::promise<StatusOr<T>>>();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  std::future<StatusOr<T>> future = promise->get_future();
  start([promise, answered](StatusOr<T> r) {
    if (!answered->exchange(true)) promise->set_value(std::move(r));
  });
  if (future.wait_for(deadline_) != std::future_status::ready) {
    return Fail(DeadlineExceededError(
        fmt::format("{}: no answer from the API server within {}s", what,
                    std::chrono::duration_cast<std::chrono::seconds>(deadline_).count())));
  }
  return future.get();
}

StatusOr<json> KubeCli::Get(const kube::Resource& r, std::string_view ns, std::string_view name) {
  return Wait<json>(kube::ResourcePath(r, ns, name), [&](StatusOrCallback<json> done) {
    client_->Get(r, ns, name, std::move(done));
  });
}

StatusOr<std::vector<json>> KubeCli::List(const kube::Resource& r, std::string_view ns,
                                          const kube::ListOptions& options) {
  auto list = Wait<kube::ListResult>(kube::ResourcePath(r, ns),
                                     [&](StatusOrCallback<kube::ListResult> done) {
                                       client_->List(r, ns, options, std::move(done));
                                     });
  if (!list) return Fail(list.error());
  return std::move(list->items);
}

StatusOr<json> KubeCli::Patch(const KubePatch& patch, std::string_view ns) {
  const std::string_view sub = patch.status_subresource ? "status" : "";
  return Wait<json>(kube::ResourcePath(patch.resource, ns, patch.name, sub),
                    [&](StatusOrCallback<json> done) {
                      client_->Patch(patch.resource, ns, patch.name, patch.type, patch.body, sub,
                                     std::move(done));
                    });
}

StatusOr<json> KubeCli::Update(const kube::Resource& r, std::string_view ns, json object) {
  const std::string path = kube::ResourcePath(r, ns, NameOf(object));
  return Wait<json>(path, [&](StatusOrCallback<json> done) {
    client_->Update(r, ns, std::move(object), "", std::move(done));
  });
}

Status KubeCli::Run(const KubeActionPlan& plan, std::string_view ns) {
  for (const KubePatch& p : plan.patches) {
    auto r = Patch(p, ns);
    if (r) continue;
    if (p.status_subresource && r.error().code() == StatusCode::kNotFound &&
        !plan.without_status_subresource.empty()) {
      // No status subresource on this CRD: the unified patches replace the rest.
      for (const KubePatch& q : plan.without_status_subresource) {
        auto f = Patch(q, ns);
        if (!f) return f.error();
      }
      return OkStatus();
    }
    return r.error();
  }
  return OkStatus();
}

StatusOr<std::string> KubeCli::Promote(std::string_view ns, std::string_view name,
                                       const PromoteOptions& options) {
  if (options.skip_current_step && options.skip_all_steps) {
    return Fail(
        InvalidArgumentError("Cannot use skip-current-step and skip-all-steps flags at the same "
                             "time"));
  }
  auto ro = Get(kube::Rollouts(), ns, name);
  if (!ro) return Fail(ro.error());
  auto plan = PromotePlan(*ro, options);
  if (!plan) return Fail(plan.error());
  RETURN_IF_ERROR(Run(*plan, ns));
  return plan->message;
}

StatusOr<std::string> KubeCli::Abort(std::string_view ns, std::string_view name) {
  const KubeActionPlan plan = AbortPlan(name);
  RETURN_IF_ERROR(Run(plan, ns));
  return plan.message;
}

StatusOr<std::string> KubeCli::RetryRollout(std::string_view ns, std::string_view name) {
  const KubeActionPlan plan = RetryRolloutPlan(name);
  RETURN_IF_ERROR(Run(plan, ns));
  return plan.message;
}

StatusOr<std::string> KubeCli::RetryExperiment(std::string_view ns, std::string_view name) {
  const KubeActionPlan plan = RetryExperimentPlan(name);
  RETURN_IF_ERROR(Run(plan, ns));
  return plan.message;
}

StatusOr<std::string> KubeCli::Pause(std::string_view ns, std::string_view name) {
  const KubeActionPlan plan = PausePlan(name);
  RETURN_IF_ERROR(Run(plan, ns));
  return plan.message;
}

StatusOr<std::string> KubeCli::Resume(std::string_view ns, std::string_view name) {
  auto ro = Get(kube::Rollouts(), ns, name);
  if (!ro) return Fail(ro.error());
  auto plan = ResumePlan(*ro);
  if (!plan) return Fail(plan.error());
  RETURN_IF_ERROR(Run(*plan, ns));
  return plan->message;
}

StatusOr<std::string> KubeCli::Restart(std::string_view ns, std::string_view name, Duration in,
                                       std::string_view in_text) {
  const KubeActionPlan plan = RestartPlan(name, clock_->Now(), in, in_text);
  RETURN_IF_ERROR(Run(plan, ns));
  return plan.message;
}

StatusOr<std::string> KubeCli::Undo(std::string_view ns, std::string_view name,
                                    int64_t to_revision) {
  auto ro = Get(kube::Rollouts(), ns, name);
  if (!ro) return Fail(ro.error());
  auto selector = SelectorText(At(*ro, {"spec", "selector"}));
  if (!selector) return Fail(selector.error());
  kube::ListOptions options;
  options.label_selector = *selector;
  auto replicasets = List(kube::ReplicaSets(), ns, options);
  if (!replicasets) {
    return Fail(replicasets.error().WithPrefix(
        fmt::format("failed to retrieve replica sets from rollout {}", name)));
  }
  auto plan = UndoPlan(*ro, *replicasets, to_revision);
  if (!plan) return Fail(plan.error());
  Status s = Run(*plan, ns);
  if (!s.ok()) return Fail(s.WithPrefix(fmt::format("failed restoring revision {}", to_revision)));
  return plan->message;
}

StatusOr<std::string> KubeCli::SetImage(std::string_view ns, std::string_view name,
                                        std::string_view container, std::string_view image) {
  // As Argo's plugin: read, change, update with the resourceVersion read; again on a conflict.
  constexpr int kMaxAttempts = 5;
  Status last;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto ro = Get(kube::Rollouts(), ns, name);
    if (!ro) return Fail(ro.error());
    auto target = SetImageTarget(*ro);
    if (!target) return Fail(target.error());
    json object = *ro;
    if (target->first.plural != kube::Rollouts().plural) {
      auto deployment = Get(target->first, ns, target->second);
      if (!deployment) return Fail(deployment.error());
      object = std::move(*deployment);
    }
    RETURN_IF_ERROR(SetImageInObject(object, container, image));
    auto updated = Update(target->first, ns, std::move(object));
    if (updated) {
      std::string kind = Str(At(*updated, {"kind"}));
      if (kind.empty()) kind = target->first.kind;
      std::transform(kind.begin(), kind.end(), kind.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string updated_name = NameOf(*updated);
      if (updated_name.empty()) updated_name = target->second;
      return fmt::format("{} \"{}\" image updated", kind, updated_name);
    }
    last = updated.error();
    if (last.code() != StatusCode::kAborted) break;
  }
  return Fail(last);
}

StatusOr<json> KubeCli::RolloutView(std::string_view ns, std::string_view name) {
  auto ro = Get(kube::Rollouts(), ns, name);
  if (!ro) return Fail(ro.error());
  auto selector = SelectorText(At(*ro, {"spec", "selector"}));
  if (!selector) return Fail(selector.error());
  kube::ListOptions options;
  options.label_selector = *selector;
  auto replicasets = List(kube::ReplicaSets(), ns, options);
  if (!replicasets) return Fail(replicasets.error());
  auto pods = List(kube::Pods(), ns, options);
  if (!pods) return Fail(pods.error());
  auto runs = List(kube::AnalysisRuns(), ns, {});
  if (!runs) return Fail(runs.error());
  return RolloutViewFromCluster(*ro, *replicasets, *pods, *runs);
}

StatusOr<json> KubeCli::RolloutList(std::string_view ns) {
  auto rollouts = List(kube::Rollouts(), ns, {});
  if (!rollouts) return Fail(rollouts.error());
  json items = json::array();
  for (json& ro : *rollouts) items.push_back({{"rollout", std::move(ro)}});
  return items;
}

}  // namespace ramp::cli
