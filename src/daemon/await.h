// Await: waits on the calling thread for one asynchronous call (ramp/common.h style: the call
// takes a callback) — the daemon's start-up and shutdown reads of the state store, and the
// standalone AnalysisRuns' writes on their own threads. Never call it on an event-loop thread:
// the answer may need that thread.
//
// Thread-safety: a free function; the callback may run on any thread.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <utility>

#include "ramp/status.h"

namespace ramp::daemon {

// Calls `call(done)` and waits up to 30 s for `done(StatusOr<T>)`; kUnavailable after that.
template <typename T, typename Call>
StatusOr<T> Await(Call call) {
  auto promise = std::make_shared<std::promise<StatusOr<T>>>();
  std::future<StatusOr<T>> future = promise->get_future();
  call([promise](StatusOr<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return Fail(UnavailableError("the state store did not answer within 30s"));
  }
  return future.get();
}

}  // namespace ramp::daemon
