// Out-of-line helpers of the interface headers in include/ramp/: enum spellings and small value
// computations. Interfaces themselves have no code.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <string>
#include <string_view>

#include "ramp/common.h"
#include "ramp/hook.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/platform.h"
#include "ramp/traffic_router.h"

namespace ramp {

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kNormal:
      return "Normal";
    case EventType::kWarning:
      return "Warning";
  }
  return "Unknown";
}

// platform.h

std::string_view InstanceStateName(InstanceState state) {
  switch (state) {
    case InstanceState::kPending:
      return "Pending";
    case InstanceState::kStarting:
      return "Starting";
    case InstanceState::kReady:
      return "Ready";
    case InstanceState::kUnready:
      return "Unready";
    case InstanceState::kTerminating:
      return "Terminating";
    case InstanceState::kFailed:
      return "Failed";
  }
  return "Unknown";
}

int32_t RevisionStatus::Current() const {
  return static_cast<int32_t>(std::count_if(instances.begin(), instances.end(), [](const auto& i) {
    return i.state != InstanceState::kTerminating;
  }));
}

int32_t RevisionStatus::Ready() const {
  return static_cast<int32_t>(std::count_if(instances.begin(), instances.end(), [](const auto& i) {
    return i.state == InstanceState::kReady;
  }));
}

int32_t RevisionStatus::Available(Time now, Duration min_ready) const {
  return static_cast<int32_t>(std::count_if(instances.begin(), instances.end(), [&](const auto& i) {
    return i.state == InstanceState::kReady && i.ready_since.has_value() &&
           *i.ready_since + min_ready <= now;
  }));
}

// traffic_router.h

std::string_view StringMatchKindName(StringMatch::Kind kind) {
  switch (kind) {
    case StringMatch::Kind::kExact:
      return "exact";
    case StringMatch::Kind::kPrefix:
      return "prefix";
    case StringMatch::Kind::kRegex:
      return "regex";
  }
  return "unknown";
}

std::string_view ServiceRoleName(ServiceRole role) {
  switch (role) {
    case ServiceRole::kStable:
      return "stable";
    case ServiceRole::kCanary:
      return "canary";
    case ServiceRole::kActive:
      return "active";
    case ServiceRole::kPreview:
      return "preview";
  }
  return "unknown";
}

std::string_view WeightVerificationName(WeightVerification v) {
  switch (v) {
    case WeightVerification::kVerified:
      return "Verified";
    case WeightVerification::kNotVerified:
      return "NotVerified";
    case WeightVerification::kNotSupported:
      return "NotSupported";
  }
  return "Unknown";
}

// metric_provider.h

namespace {
constexpr AnalysisPhase kAllPhases[] = {
    AnalysisPhase::kPending, AnalysisPhase::kRunning, AnalysisPhase::kSuccessful,
    AnalysisPhase::kFailed,  AnalysisPhase::kError,   AnalysisPhase::kInconclusive,
};
}  // namespace

std::string_view AnalysisPhaseName(AnalysisPhase phase) {
  switch (phase) {
    case AnalysisPhase::kPending:
      return "Pending";
    case AnalysisPhase::kRunning:
      return "Running";
    case AnalysisPhase::kSuccessful:
      return "Successful";
    case AnalysisPhase::kFailed:
      return "Failed";
    case AnalysisPhase::kError:
      return "Error";
    case AnalysisPhase::kInconclusive:
      return "Inconclusive";
  }
  return "Unknown";
}

std::optional<AnalysisPhase> ParseAnalysisPhase(std::string_view name) {
  for (AnalysisPhase p : kAllPhases) {
    if (AnalysisPhaseName(p) == name) return p;
  }
  return std::nullopt;
}

bool IsTerminal(AnalysisPhase phase) {
  return phase == AnalysisPhase::kSuccessful || phase == AnalysisPhase::kFailed ||
         phase == AnalysisPhase::kError || phase == AnalysisPhase::kInconclusive;
}

// hook.h

namespace {
constexpr HookType kAllHookTypes[] = {
    HookType::kConfirmRollout,   HookType::kPreRollout,
    HookType::kRollout,          HookType::kConfirmTrafficIncrease,
    HookType::kConfirmPromotion, HookType::kPostRollout,
    HookType::kRollback,         HookType::kEvent,
};
}  // namespace

std::string_view HookTypeName(HookType type) {
  switch (type) {
    case HookType::kConfirmRollout:
      return "confirm-rollout";
    case HookType::kPreRollout:
      return "pre-rollout";
    case HookType::kRollout:
      return "rollout";
    case HookType::kConfirmTrafficIncrease:
      return "confirm-traffic-increase";
    case HookType::kConfirmPromotion:
      return "confirm-promotion";
    case HookType::kPostRollout:
      return "post-rollout";
    case HookType::kRollback:
      return "rollback";
    case HookType::kEvent:
      return "event";
  }
  return "unknown";
}

std::optional<HookType> ParseHookType(std::string_view name) {
  if (name.empty()) return HookType::kRollout;
  for (HookType t : kAllHookTypes) {
    if (HookTypeName(t) == name) return t;
  }
  return std::nullopt;
}

std::string_view HookVerdictName(HookVerdict verdict) {
  switch (verdict) {
    case HookVerdict::kAllowed:
      return "Allowed";
    case HookVerdict::kDenied:
      return "Denied";
    case HookVerdict::kError:
      return "Error";
  }
  return "Unknown";
}

// http_client.h

const std::string* FindHeader(const HttpHeaders& headers, std::string_view name) {
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(),
                   [&](char a, char b) { return lower(a) == lower(b); })) {
      return &value;
    }
  }
  return nullptr;
}

namespace {

// The handle of a buffered stream: dropping it makes the pending callback a no-op.
class BufferedStream : public Subscription {
 public:
  explicit BufferedStream(std::shared_ptr<std::atomic<bool>> live) : live_(std::move(live)) {}
  ~BufferedStream() override { live_->store(false); }

 private:
  std::shared_ptr<std::atomic<bool>> live_;
};

}  // namespace

std::unique_ptr<Subscription> HttpClient::Stream(HttpRequest request, HttpStreamHandlers handlers,
                                                 StatusCallback done) {
  auto live = std::make_shared<std::atomic<bool>>(true);
  auto handle = std::make_unique<BufferedStream>(live);
  Send(std::move(request),
       [live, handlers = std::move(handlers), done = std::move(done)](StatusOr<HttpResponse> r) {
         if (!live->load()) return;
         if (!r) return done(r.error());
         HttpResponse head{r->status, r->headers, ""};
         if (handlers.on_head) handlers.on_head(head);
         if (live->load() && handlers.on_data && !r->body.empty()) handlers.on_data(r->body);
         if (live->load()) done(OkStatus());
       });
  return handle;
}

}  // namespace ramp
