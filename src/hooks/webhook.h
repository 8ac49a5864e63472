// The "webhook" Hook: Flagger's webhook transport (reference/flagger.md §3.1–§3.2). A call is an
// HTTP POST of {name, namespace, phase, checksum, metadata} as JSON; it is allowed when the
// answer's status is ≤ 202 and denied otherwise (the message is the answer's body); connection
// errors, timeouts, 5xx and 429 are retried `retries` times with exponential back-off (1 s
// doubling to 30 s, as go-retryablehttp does), after which the call is an Error ("giving up
// after N attempt(s)"). Each attempt is bounded by the call's timeout; `disable_tls` skips
// certificate verification.
//
// Thread-safety: Call may be invoked concurrently from any thread (see ramp/hook.h); retries
// wait on `timers`, never on a thread.
#pragma once

#include <memory>

#include "ramp/clock.h"
#include "ramp/hook.h"
#include "ramp/http_client.h"

namespace ramp::hooks {

struct WebhookOptions {
  HttpClient* http = nullptr;    // required; must outlive the hook
  Timers* timers = nullptr;      // required; must outlive the hook
  const Clock* clock = nullptr;  // required: the time base of `timers`
  Duration backoff_min = std::chrono::seconds(1);
  Duration backoff_max = std::chrono::seconds(30);
};

// kInvalidArgument when http, timers or clock is missing. The hook must outlive its calls.
StatusOr<std::unique_ptr<Hook>> NewWebhookHook(WebhookOptions options);

// The JSON body Flagger sends for `call`; metadata is left out when empty.
std::string WebhookPayload(const HookCall& call);

}  // namespace ramp::hooks
