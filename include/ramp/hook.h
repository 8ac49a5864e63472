// Hook: a call out to someone else's endpoint at a point of a rollout — Flagger's webhooks
// (reference/flagger.md §3) and notifications of rollout events (Argo's on-<event> triggers).
//
// The engine decides when a hook is called and what its result means; a Hook only delivers the
// call and reports the outcome. Gate types (confirm-rollout, confirm-traffic-increase,
// confirm-promotion) are engine waits that read hook results: the rollout stays Progressing with
// message "waiting for <type>" until a call is allowed. Implementations (registered by name from
// main): "webhook" (Flagger's transport: POST JSON payload {name, namespace, phase, checksum,
// metadata}, per-attempt timeout, retries on 5xx/429, allowed iff status ≤ 202), "notification"
// (Argo-style notification services for kEvent calls), "sim".
//
// Contract: Call is asynchronous (see ramp/common.h) and always completes with a HookResult, never
// a Status: transport errors and timeouts are HookVerdict::kError with a message. Retries and
// timeouts happen inside Call, bounded by HookCall::timeout × (retries + 1) plus back-off.
//
// Thread-safety: one Hook instance serves every rollout; Call may be invoked concurrently from
// any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ramp/clock.h"
#include "ramp/common.h"

namespace ramp {

// Flagger's webhook types, with when each runs and what its outcome does.
enum class HookType {
  kConfirmRollout,          // before a new revision is scaled up; denied → wait (not a failure)
  kPreRollout,              // before the first traffic step; denied → failed check
  kRollout,                 // each analysis tick, before metrics; denied → failed check
  kConfirmTrafficIncrease,  // before each weight increase; denied → hold the weight
  kConfirmPromotion,        // before promotion; denied → wait, analysis continues
  kPostRollout,             // after success or rollback; outcome only logged as an event
  kRollback,                // each tick while progressing; allowed → roll back at once
  kEvent,                   // every event the rollout records; outcome only logged
};

// "confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion",
// "post-rollout", "rollback", "event".
std::string_view HookTypeName(HookType type);
// The inverse of HookTypeName; "" is kRollout (Flagger's default). Nothing for other text.
std::optional<HookType> ParseHookType(std::string_view name);

// One call: where, how, and Flagger's payload.
struct HookCall {
  HookType type = HookType::kRollout;
  std::string name;  // the webhook's name in the spec
  std::string url;
  Duration timeout = std::chrono::seconds(10);  // per attempt
  int32_t retries = 0;                          // extra attempts on 5xx/429/transport error
  bool disable_tls = false;                     // skip certificate verification
  // Payload: the target rollout, its phase, the revision checksum, and metadata (the webhook's
  // metadata; for kEvent merged with eventMessage, eventType, timestamp, event keys winning).
  ObjectRef target;
  std::string phase;
  std::string checksum;
  std::map<std::string, std::string> metadata;

  friend bool operator==(const HookCall&, const HookCall&) = default;
};

enum class HookVerdict {
  kAllowed,  // the receiver accepted (webhook: HTTP status ≤ 202)
  kDenied,   // the receiver answered no (webhook: HTTP status > 202; message = response body)
  kError,    // no answer: transport error, timeout, retries exhausted
};

// "Allowed", "Denied", "Error".
std::string_view HookVerdictName(HookVerdict verdict);

struct HookResult {
  HookVerdict verdict = HookVerdict::kError;
  std::string message;
  int32_t http_status = 0;  // the last response's status, 0 when none
  int32_t attempts = 0;

  friend bool operator==(const HookResult&, const HookResult&) = default;
};

using HookCallback = std::function<void(HookResult)>;

class Hook {
 public:
  virtual ~Hook() = default;

  // The registered name: "webhook", "notification", "sim".
  virtual std::string_view Type() const = 0;

  // Delivers `call` and reports the outcome.
  virtual void Call(const HookCall& call, HookCallback done) = 0;
};

}  // namespace ramp
