#include "hooks/notifier.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ramp::hooks {
namespace {

using nlohmann::json;

// Label values are quoted; backslashes, quotes and newlines escaped.
std::string Label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::map<std::string, std::string> Annotations(const json& rollout) {
  std::map<std::string, std::string> out;
  if (!rollout.is_object()) return out;
  auto meta = rollout.find("metadata");
  if (meta == rollout.end() || !meta->is_object()) return out;
  auto a = meta->find("annotations");
  if (a == meta->end() || !a->is_object()) return out;
  for (const auto& [k, v] : a->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

// What every pending send shares; outlives the Notifier while answers are in flight.
struct Core {
  explicit Core(NotifierOptions o) : options(std::move(o)) {}

  void Log(const ObjectRef& ref, const std::string& line) {
    if (options.log) options.log(ref.Key(), RedactSecrets(line, options.config->secret_values));
  }

  void Count(const ObjectRef& ref, const NotificationSend& send, bool ok) {
    std::lock_guard<std::mutex> lock(mu);
    NotificationCounts& c = counts[{ref.namespace_, ref.name, send.service, send.trigger}];
    (ok ? c.success : c.error) += 1;
  }

  NotifierOptions options;
  std::atomic<bool> stopped{false};
  mutable std::mutex mu;
  std::map<NotificationCounterKey, NotificationCounts> counts;  // guarded by mu
};

struct Pending {
  ObjectRef ref;
  NotificationSend send;
  std::string service_type;
  HttpRequest request;
  int32_t attempts = 0;
};

std::string Describe(const NotificationSend& s) {
  return fmt::format("notification {} to {} (recipient \"{}\", template {})", s.trigger, s.service,
                     s.recipient, s.template_name);
}

void Attempt(std::shared_ptr<Core> core, std::shared_ptr<Pending> p) {
  if (core->stopped) return;
  ++p->attempts;
  core->options.http->Send(p->request, [core, p](StatusOr<HttpResponse> r) {
    if (core->stopped) return;
    Status outcome = r ? CheckNotificationResponse(p->service_type, *r) : r.error();
    if (outcome.ok()) {
      core->Count(p->ref, p->send, true);
      core->Log(p->ref, fmt::format("{} sent ({} attempt(s))", Describe(p->send), p->attempts));
      return;
    }
    const bool retryable = !r || r->status >= 500 || r->status == 429;
    if (retryable && p->attempts < core->options.attempts) {
      Duration wait = core->options.backoff_min;
      for (int i = 1; i < p->attempts && wait < core->options.backoff_max; ++i) wait *= 2;
      wait = std::min(wait, core->options.backoff_max);
      core->Log(p->ref,
                fmt::format("{}: attempt {} failed: {}; trying again in {}ms", Describe(p->send),
                            p->attempts, outcome.message(),
                            std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()));
      core->options.timers->ScheduleAt(core->options.clock->Now() + wait,
                                       [core, p] { Attempt(core, p); });
      return;
    }
    core->Count(p->ref, p->send, false);
    core->Log(p->ref, fmt::format("{} failed after {} attempt(s): {}", Describe(p->send),
                                  p->attempts, outcome.message()));
  });
}

class NotifierImpl : public Notifier {
 public:
  explicit NotifierImpl(NotifierOptions options)
      : core_(std::make_shared<Core>(std::move(options))) {}

  ~NotifierImpl() override { core_->stopped = true; }

  int Notify(const NotificationEvent& event) override {
    const std::map<std::string, std::string> annotations = Annotations(event.rollout_json);
    std::vector<std::string> problems;
    const std::vector<NotificationSubscription> subs = ParseSubscriptions(annotations, &problems);
    if (subs.empty() && problems.empty()) return 0;
    const NotificationConfig& config = *core_->options.config;
    const std::string trigger = TriggerForReason(event.reason);
    const std::vector<NotificationSend> sends = ResolveSends(config, subs, trigger, &problems);
    for (const std::string& p : problems) core_->Log(event.rollout, "notifications: " + p);
    int started = 0;
    for (const NotificationSend& send : sends) {
      auto request = BuildNotificationRequest(config, send, event);
      if (!request) {
        core_->Count(event.rollout, send, false);
        core_->Log(event.rollout,
                   fmt::format("{} not sent: {}", Describe(send), request.error().message()));
        continue;
      }
      auto p = std::make_shared<Pending>();
      p->ref = event.rollout;
      p->send = send;
      p->service_type = config.services.at(send.service).type;
      p->request = std::move(*request);
      p->request.timeout = core_->options.timeout;
      p->request.max_response_bytes = size_t{1} << 20;
      Attempt(core_, std::move(p));
      ++started;
    }
    return started;
  }

  std::map<NotificationCounterKey, NotificationCounts> Counters() const override {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->counts;
  }

  std::string MetricsText() const override {
    std::string success =
        "# HELP notification_send_success Notifications sent.\n"
        "# TYPE notification_send_success counter\n";
    std::string error =
        "# HELP notification_send_error Notifications that could not be sent.\n"
        "# TYPE notification_send_error counter\n";
    for (const auto& [key, c] : Counters()) {
      const auto& [ns, name, type, reason] = key;
      const std::string labels =
          fmt::format("namespace=\"{}\",name=\"{}\",type=\"{}\",reason=\"{}\"", Label(ns),
                      Label(name), Label(type), Label(reason));
      success += fmt::format("notification_send_success{{{}}} {}\n", labels, c.success);
      error += fmt::format("notification_send_error{{{}}} {}\n", labels, c.error);
    }
    return success + error;
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

StatusOr<std::unique_ptr<Notifier>> Notifier::New(NotifierOptions options) {
  if (options.http == nullptr || options.timers == nullptr || options.clock == nullptr ||
      options.config == nullptr) {
    return Fail(InvalidArgumentError("Notifier::New: http, timers, clock and config are required"));
  }
  if (options.attempts < 1) options.attempts = 1;
  return std::unique_ptr<Notifier>(std::make_unique<NotifierImpl>(std::move(options)));
}

}  // namespace ramp::hooks
