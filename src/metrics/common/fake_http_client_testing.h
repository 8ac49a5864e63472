// FakeHttpClient: an in-memory ramp::HttpClient for provider tests. It records every request and
// answers each with the next canned reply (a response or an error), inline or, when `hold` is
// set, later through Release().
//
// Thread-safety: for single-threaded tests only.
#pragma once

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "ramp/http_client.h"

namespace ramp::metrics {

class FakeHttpClient : public HttpClient {
 public:
  void Send(HttpRequest request, HttpCallback done) override {
    requests.push_back(std::move(request));
    if (hold) {
      pending_.push_back(std::move(done));
      return;
    }
    done(Next());
  }

  // Queues a response with `status` and `body`.
  void Reply(int status, std::string body, HttpHeaders headers = {}) {
    replies_.push_back(HttpResponse{status, std::move(headers), std::move(body)});
  }
  // Queues an error (no response).
  void ReplyError(Status status) { replies_.push_back(Fail(std::move(status))); }

  // Answers the held requests, oldest first.
  void Release() {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& done : pending) done(Next());
  }

  std::vector<HttpRequest> requests;
  bool hold = false;

 private:
  StatusOr<HttpResponse> Next() {
    if (replies_.empty()) return Fail(UnavailableError("FakeHttpClient: no canned reply"));
    StatusOr<HttpResponse> r = std::move(replies_.front());
    replies_.pop_front();
    return r;
  }

  std::deque<StatusOr<HttpResponse>> replies_;
  std::vector<HttpCallback> pending_;
};

}  // namespace ramp::metrics
