// Notifier: delivers Argo-style notifications of Rollout events (docs/notifications.md). For each
// event it resolves the rollout's subscriptions against the NotificationConfig
// (notification_config.h) into sends, renders each into an HTTP request and sends it through the
// shared HttpClient. Notify only plans and starts the sends and returns at once: a slow, failing
// or dead receiver never delays the rollout that recorded the event. A send that gets no answer,
// a 5xx or a 429 is tried again with exponential back-off, at most `attempts` times in all; a
// send that fails for good is logged (trigger, service, recipient, the error — secret values cut
// out) and counted. Counters: notification_send_success / notification_send_error per
// (namespace, name, type = the service's name, reason = the trigger), as Prometheus text.
//
// Thread-safety: Notify, Counters and MetricsText may be called from any thread. Callbacks run on
// the HTTP client's and the timers' threads. Destroying the Notifier stops further attempts;
// answers still in flight are dropped (the HttpClient and Timers must outlive the Notifier).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "hooks/notification_config.h"
#include "ramp/clock.h"
#include "ramp/http_client.h"
#include "ramp/status.h"

namespace ramp::hooks {

struct NotifierOptions {
  HttpClient* http = nullptr;                        // required; must outlive the notifier
  Timers* timers = nullptr;                          // required; must outlive the notifier
  const Clock* clock = nullptr;                      // required: the time base of `timers`
  std::shared_ptr<const NotificationConfig> config;  // required
  int32_t attempts = 3;                              // per send, the first one included
  Duration backoff_min = std::chrono::seconds(1);
  Duration backoff_max = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(10);  // per attempt
  // One log line about a rollout ("namespace/name"); never carries a secret value.
  std::function<void(std::string_view rollout, std::string_view line)> log;
};

// Sends that ended, per (namespace, name, service, trigger).
struct NotificationCounts {
  int64_t success = 0;
  int64_t error = 0;
};
using NotificationCounterKey = std::tuple<std::string, std::string, std::string, std::string>;

class Notifier {
 public:
  // kInvalidArgument when http, timers, clock or config is missing.
  static StatusOr<std::unique_ptr<Notifier>> New(NotifierOptions options);

  virtual ~Notifier() = default;

  // Starts the sends of `event`; returns at once. Returns how many sends were started.
  virtual int Notify(const NotificationEvent& event) = 0;

  virtual std::map<NotificationCounterKey, NotificationCounts> Counters() const = 0;

  // notification_send_success and notification_send_error as Prometheus text (HELP, TYPE and a
  // line per key; only the HELP and TYPE lines before the first send).
  virtual std::string MetricsText() const = 0;
};

}  // namespace ramp::hooks
