// Time and timers: the only way ramp's code learns the time or waits for it.
//
// `Time` is wall-clock UTC, a std::chrono::system_clock time point at nanosecond resolution
// (std::chrono::sys_time<std::chrono::nanoseconds>); `Duration` is std::chrono::nanoseconds, the
// unit spec durations are decoded to. Wall-clock time is what Argo stores (startedAt, pause
// startTime, scale-down deadlines), so deadlines are computed in it; the engine tolerates a clock
// that steps backwards by re-evaluating at the next call.
//
// The functional core (spec/, expr/, analysis/, engine/) never holds a Clock: time comes in as
// `now`. The runtime reads a Clock and arms Timers for the engine's next wake-up; `ramp simulate`
// and the tests drive a virtual clock instead, which is what makes them exact and fast. No code
// outside the Clock implementations calls system_clock::now() or sleeps.
//
// Thread-safety: Clock::Now() and Timers::ScheduleAt/Cancel may be called from any thread.
// Timer callbacks run on the timer implementation's thread (an event loop, or the thread that
// advances a ManualClock), never inline inside ScheduleAt, and must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace ramp {

using Duration = std::chrono::nanoseconds;
using Time = std::chrono::time_point<std::chrono::system_clock, Duration>;

// Nanoseconds since the Unix epoch, and back; what persisted timestamps and spec durations use.
inline int64_t ToUnixNanos(Time t) { return t.time_since_epoch().count(); }
inline Time FromUnixNanos(int64_t nanos) { return Time(Duration(nanos)); }

// A source of the current time.
class Clock {
 public:
  virtual ~Clock() = default;

  // The current wall-clock time.
  virtual Time Now() const = 0;
};

// Runs callbacks at given times.
class Timers {
 public:
  // Identifies a scheduled callback; never 0 for a scheduled one.
  using TimerId = uint64_t;

  virtual ~Timers() = default;

  // Arranges for `callback` to run once, at or soon after `when`. A `when` in the past means "as
  // soon as possible" (still never inline). Returns the id that Cancel takes.
  virtual TimerId ScheduleAt(Time when, std::function<void()> callback) = 0;

  // Cancels a scheduled callback. Returns true when it had not started and now never will; false
  // when it already ran, is running, was cancelled before, or `id` is unknown.
  virtual bool Cancel(TimerId id) = 0;
};

// The process's wall clock (std::chrono::system_clock). Real-time Timers come from the event
// loop that owns the sockets (src/net/), not from here.
std::unique_ptr<Clock> NewSystemClock();

// A Clock and Timers that move only when told, for tests: Advance runs every callback that
// falls due, in time order (ties in scheduling order), on the calling thread, with Now() equal
// to the callback's due time while it runs (or the current time, for one scheduled in the past).
// Callbacks may schedule and cancel timers; those due within the advanced span run in the same
// Advance call. The clock never moves backwards.
//
// Thread-safety: all methods may be called from any thread; callbacks run without the internal
// lock held. Advance must not be called concurrently with itself.
class ManualClock final : public Clock, public Timers {
 public:
  explicit ManualClock(Time start = FromUnixNanos(0)) : now_(start) {}

  Time Now() const override;
  TimerId ScheduleAt(Time when, std::function<void()> callback) override;
  bool Cancel(TimerId id) override;

  // Moves the clock forward by `d` (negative is treated as 0) and runs what falls due.
  void Advance(Duration d);
  // Moves the clock to `t` (a time before Now() only runs callbacks already due).
  void AdvanceTo(Time t);
  // The due time of the earliest pending callback, if any.
  std::optional<Time> NextDue() const;
  // How many callbacks are pending.
  size_t Pending() const;

 private:
  mutable std::mutex mu_;
  Time now_;                                                     // guarded by mu_
  TimerId next_id_ = 1;                                          // guarded by mu_
  std::map<std::pair<Time, TimerId>, std::function<void()>> q_;  // guarded by mu_
  std::map<TimerId, Time> due_;                                  // guarded by mu_
};

}  // namespace ramp
