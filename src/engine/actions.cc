#include "engine/actions.h"

#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/types.h"
#include "spec/common.h"

namespace ramp::engine {
namespace {

constexpr char kPodTemplateHashLabelKey[] = "rollouts-pod-template-hash";

ActionResult Unchanged(const spec::RolloutSpec& spec, const RolloutStatus& status,
                       std::string message) {
  ActionResult r{spec, status, false, "", std::move(message)};
  return r;
}

// Argo's GetCurrentCanaryStep index: nullopt without canary steps, else status.currentStepIndex
// (0 when unset), which may equal len(steps) once every step is done.
std::optional<int32_t> CurrentStepIndex(const spec::RolloutSpec& spec,
                                        const RolloutStatus& status) {
  if (!spec.canary || spec.canary->steps.empty()) return std::nullopt;
  return status.current_step_index.value_or(0);
}

// The index past the current step, capped at len(steps).
int32_t NextStepIndex(const spec::RolloutSpec& spec, int32_t index) {
  return index < static_cast<int32_t>(spec.canary->steps.size()) ? index + 1 : index;
}

bool IsPaused(const spec::RolloutSpec& spec, const RolloutStatus& status) {
  return spec.paused || !status.pause_conditions.empty();
}

// The event the controller records when the pause state changes from `before` to `after`.
std::string PauseTransitionEvent(bool before, bool after) {
  if (before == after) return "";
  return std::string(after ? reason::kRolloutPaused : reason::kRolloutResumed);
}

bool IsEmptyJson(const nlohmann::json& v) {
  return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         ((v.is_object() || v.is_array()) && v.empty());
}

// apimachinery's Semantic.DeepDerivative over decoded JSON: every field set in `a` (not null,
// not an empty string, map or list) has an equal value in `b`; a list of `a` may be a prefix of
// the list in `b`. Numbers and booleans compare by value.
bool JsonDerivative(const nlohmann::json& a, const nlohmann::json& b) {
  if (IsEmptyJson(a)) return true;
  if (a.is_object()) {
    if (!b.is_object() || a.size() > b.size()) return false;
    for (const auto& [key, value] : a.items()) {
      auto it = b.find(key);
      if (it == b.end()) return false;
      if (!JsonDerivative(value, *it)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (!b.is_array() || a.size() > b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!JsonDerivative(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

// Removes metadata.labels[rollouts-pod-template-hash] from a raw template, dropping `labels`
// (and an emptied `metadata` stays, as Go writes the struct) when nothing else is left.
void StripHashLabel(nlohmann::json* raw) {
  if (!raw->is_object()) return;
  auto meta = raw->find("metadata");
  if (meta == raw->end() || !meta->is_object()) return;
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return;
  labels->erase(kPodTemplateHashLabelKey);
  if (labels->empty()) meta->erase("labels");
}

}  // namespace

StatusOr<ActionResult> PromoteRollout(const spec::RolloutSpec& spec, const RolloutStatus& status) {
  ActionResult r = Unchanged(spec, status, "promoted");
  r.spec.paused = false;
  const std::optional<int32_t> index = CurrentStepIndex(spec, status);
  const auto& step_run = status.canary.current_step_analysis_run_status;
  const bool inconclusive =
      spec.canary && step_run.has_value() && step_run->status == spec::AnalysisPhase::kInconclusive;
  if (inconclusive && !status.pause_conditions.empty() && status.controller_pause) {
    if (index) {
      r.status.pause_conditions.clear();
      r.status.controller_pause = false;
      r.status.current_step_index = NextStepIndex(spec, *index);
    }
  } else if (!status.pause_conditions.empty()) {
    r.status.pause_conditions.clear();
  } else if (spec.canary && index) {
    r.status.current_step_index = NextStepIndex(spec, *index);
  }
  r.changed = spec.paused || r.status != status;
  r.event_reason = PauseTransitionEvent(IsPaused(spec, status), IsPaused(r.spec, r.status));
  return r;
}

StatusOr<ActionResult> PromoteRolloutFull(const spec::RolloutSpec& spec,
                                          const RolloutStatus& status) {
  ActionResult r = Unchanged(spec, status, "fully promoted");
  r.spec.paused = false;
  if (status.current_pod_hash != status.stable_rs) r.status.promote_full = true;
  r.changed = spec.paused || r.status != status;
  // The controller clears pause conditions once promoteFull is set.
  r.event_reason = PauseTransitionEvent(IsPaused(spec, status),
                                        !r.status.promote_full && IsPaused(r.spec, r.status));
  return r;
}

StatusOr<ActionResult> PromoteRolloutSkipCurrentStep(const spec::RolloutSpec& spec,
                                                     const RolloutStatus& status) {
  if (spec.blue_green) {
    return Fail(
        InvalidArgumentError("Cannot skip steps of a bluegreen rollout. Run without a flags"));
  }
  if (spec.canary && spec.canary->steps.empty()) {
    return Fail(InvalidArgumentError("Cannot skip steps of a rollout without steps"));
  }
  ActionResult r = Unchanged(spec, status, "promoted");
  if (const std::optional<int32_t> index = CurrentStepIndex(spec, status)) {
    r.status.current_step_index = NextStepIndex(spec, *index);
  }
  r.changed = r.status != status;
  return r;
}

StatusOr<ActionResult> PromoteRolloutSkipAllSteps(const spec::RolloutSpec& spec,
                                                  const RolloutStatus& status) {
  if (spec.blue_green) {
    return Fail(
        InvalidArgumentError("Cannot skip steps of a bluegreen rollout. Run without a flags"));
  }
  if (!spec.canary || spec.canary->steps.empty()) {
    return Fail(InvalidArgumentError("Cannot skip steps of a rollout without steps"));
  }
  ActionResult r = Unchanged(spec, status, "promoted");
  r.status.current_step_index = static_cast<int32_t>(spec.canary->steps.size());
  r.changed = r.status != status;
  return r;
}

StatusOr<ActionResult> AbortRollout(const spec::RolloutSpec& spec, const RolloutStatus& status) {
  ActionResult r = Unchanged(spec, status, "aborted");
  r.status.abort = true;
  r.changed = !status.abort;
  if (r.changed) r.event_reason = std::string(reason::kRolloutAborted);
  return r;
}

StatusOr<ActionResult> RetryRollout(const spec::RolloutSpec& spec, const RolloutStatus& status) {
  ActionResult r = Unchanged(spec, status, "retried");
  r.status.abort = false;
  r.changed = status.abort;
  if (r.changed) r.event_reason = std::string(reason::kRolloutRetry);
  return r;
}

StatusOr<ActionResult> PauseRollout(const spec::RolloutSpec& spec, const RolloutStatus& status) {
  ActionResult r = Unchanged(spec, status, "paused");
  r.spec.paused = true;
  r.changed = !spec.paused;
  r.event_reason = PauseTransitionEvent(IsPaused(spec, status), true);
  return r;
}

StatusOr<ActionResult> ResumeRollout(const spec::RolloutSpec& spec, const RolloutStatus& status) {
  if (!spec.paused) return Fail(FailedPreconditionError("rollout is not manually paused"));
  ActionResult r = Unchanged(spec, status, "resumed");
  r.spec.paused = false;
  r.changed = true;
  r.event_reason = PauseTransitionEvent(true, IsPaused(r.spec, r.status));
  return r;
}

StatusOr<ActionResult> UndoRollout(const spec::RolloutSpec& spec, const RolloutStatus& status,
                                   std::string_view rollout_name,
                                   const std::vector<RevisionTemplate>& revisions,
                                   int64_t to_revision) {
  if (spec.workload_ref) {
    return Fail(UnimplementedError("undo of a rollout with a workloadRef patches the " +
                                   spec.workload_ref->kind + " " + spec.workload_ref->name));
  }
  const RevisionTemplate* target = nullptr;
  if (to_revision != 0) {
    for (const RevisionTemplate& rev : revisions) {
      if (rev.revision == to_revision) {
        target = &rev;
        break;
      }
    }
    if (target == nullptr && to_revision > 0) {
      return Fail(NotFoundError("unable to find specified revision " + std::to_string(to_revision) +
                                " in history"));
    }
  } else {
    // The second-highest revision number; on a tie the first one listed wins.
    const RevisionTemplate* latest = nullptr;
    for (const RevisionTemplate& rev : revisions) {
      if (latest == nullptr || latest->revision < rev.revision) {
        target = latest;
        latest = &rev;
      } else if (target == nullptr || target->revision < rev.revision) {
        target = &rev;
      }
    }
  }
  if (target == nullptr) {
    return Fail(
        NotFoundError("no revision found for rollout \"" + std::string(rollout_name) + "\""));
  }

  nlohmann::json current = spec.template_.raw;
  nlohmann::json wanted = target->pod_template.raw;
  StripHashLabel(&current);
  StripHashLabel(&wanted);
  if (JsonDerivative(current, wanted)) {
    return Unchanged(spec, status,
                     "skipped rollback (current template already matches revision " +
                         std::to_string(to_revision) + ")");
  }
  ActionResult r = Unchanged(spec, status, "undo");
  r.spec.template_ = target->pod_template;
  r.spec.template_.raw = std::move(wanted);
  r.spec.template_.metadata.labels.erase(kPodTemplateHashLabelKey);
  r.spec.template_.empty = false;
  r.changed = true;
  r.event_reason = std::string(reason::kRolloutUpdated);
  return r;
}

StatusOr<ActionResult> RestartRollout(const spec::RolloutSpec& spec, const RolloutStatus& status,
                                      Time now, Duration in) {
  if (in < Duration::zero()) {
    return Fail(InvalidArgumentError("restart delay must not be negative: " +
                                     spec::FormatGoDuration(in.count())));
  }
  ActionResult r = Unchanged(spec, status, "restarts in " + spec::FormatGoDuration(in.count()));
  r.spec.restart_at = FormatMetaTime(now + in);
  r.changed = r.spec.restart_at != spec.restart_at;
  return r;
}

StatusOr<ActionResult> SetRolloutImage(const spec::RolloutSpec& spec, const RolloutStatus& status,
                                       std::string_view container, std::string_view image) {
  if (spec.workload_ref) {
    return Fail(UnimplementedError("set image of a rollout with a workloadRef updates the " +
                                   spec.workload_ref->kind + " " + spec.workload_ref->name));
  }
  ActionResult r = Unchanged(spec, status, "image updated");
  const auto matches = [&](std::string_view name) { return container == "*" || name == container; };
  bool found = false;
  nlohmann::json& raw = r.spec.template_.raw;
  if (raw.is_object()) {
    auto pod_spec = raw.find("spec");
    if (pod_spec != raw.end() && pod_spec->is_object()) {
      for (const char* field : {"initContainers", "containers", "ephemeralContainers"}) {
        auto list = pod_spec->find(field);
        if (list == pod_spec->end() || !list->is_array()) continue;
        for (nlohmann::json& c : *list) {
          if (!c.is_object()) continue;
          auto name = c.find("name");
          const std::string name_text =
              name != c.end() && name->is_string() ? name->get<std::string>() : "";
          if (!matches(name_text)) continue;
          auto old_image = c.find("image");
          if (old_image == c.end() || *old_image != image) r.changed = true;
          c["image"] = std::string(image);
          found = true;
        }
      }
    }
  }
  for (spec::Container& c : r.spec.template_.containers) {
    if (!matches(c.name)) continue;
    if (c.image != image) r.changed = true;
    c.image = std::string(image);
    found = true;
  }
  if (!found) {
    return Fail(
        InvalidArgumentError("unable to find container named \"" + std::string(container) + "\""));
  }
  if (r.changed) r.event_reason = std::string(reason::kRolloutUpdated);
  return r;
}

}  // namespace ramp::engine
