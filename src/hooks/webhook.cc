#include "hooks/webhook.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ramp::hooks {
namespace {

class WebhookHook : public Hook {
 public:
  explicit WebhookHook(WebhookOptions options) : options_(options) {}

  std::string_view Type() const override { return "webhook"; }

  void Call(const HookCall& call, HookCallback done) override {
    Attempt(std::make_shared<State>(State{call, std::move(done), 0}));
  }

 private:
  struct State {
    HookCall call;
    HookCallback done;
    int32_t attempts;
  };

  void Attempt(std::shared_ptr<State> state) {
    ++state->attempts;
    HttpRequest req;
    req.method = "POST";
    req.url = state->call.url;
    req.headers.push_back({"Content-Type", "application/json"});
    req.body = WebhookPayload(state->call);
    req.timeout = state->call.timeout.count() > 0 ? state->call.timeout : std::chrono::seconds(10);
    req.insecure_skip_verify = state->call.disable_tls;
    req.max_response_bytes = 1 << 20;
    options_.http->Send(req, [this, state](StatusOr<HttpResponse> r) {
      const bool retryable = !r || r->status >= 500 || r->status == 429;
      if (retryable && state->attempts <= state->call.retries) {
        // Exponential back-off: backoff_min × 2^(attempt-1), at most backoff_max.
        Duration wait = options_.backoff_min;
        for (int i = 1; i < state->attempts && wait < options_.backoff_max; ++i) wait *= 2;
        wait = std::min(wait, options_.backoff_max);
        options_.timers->ScheduleAt(options_.clock->Now() + wait,
                                    [this, state] { Attempt(state); });
        return;
      }
      HookResult result;
      result.attempts = state->attempts;
      if (!r) {
        result.verdict = HookVerdict::kError;
        result.message = state->attempts > 1 ? fmt::format("giving up after {} attempt(s): {}",
                                                           state->attempts, r.error().message())
                                             : r.error().message();
      } else if (retryable && state->call.retries > 0) {
        result.verdict = HookVerdict::kError;
        result.http_status = r->status;
        result.message = fmt::format("{} {} giving up after {} attempt(s)", "POST", state->call.url,
                                     state->attempts);
      } else {
        result.http_status = r->status;
        result.verdict = r->status <= 202 ? HookVerdict::kAllowed : HookVerdict::kDenied;
        std::string body = r->body.substr(0, 1024);
        while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
        result.message = result.verdict == HookVerdict::kAllowed
                             ? fmt::format("{} answered {}", state->call.name, r->status)
                             : fmt::format("{} answered {}: {}", state->call.name, r->status, body);
      }
      state->done(std::move(result));
    });
  }

  WebhookOptions options_;
};

}  // namespace

std::string WebhookPayload(const HookCall& call) {
  nlohmann::json payload = {{"name", call.target.name},
                            {"namespace", call.target.namespace_},
                            {"phase", call.phase},
                            {"checksum", call.checksum}};
  if (!call.metadata.empty()) payload["metadata"] = call.metadata;
  return payload.dump();
}

StatusOr<std::unique_ptr<Hook>> NewWebhookHook(WebhookOptions options) {
  if (options.http == nullptr || options.timers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("NewWebhookHook: http, timers and clock are required"));
  }
  return std::unique_ptr<Hook>(std::make_unique<WebhookHook>(options));
}

}  // namespace ramp::hooks
