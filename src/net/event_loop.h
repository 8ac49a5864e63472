// EventLoop: the daemon's real-time scheduler — a pool of threads that runs posted tasks, the
// Timers of ramp/clock.h on the wall clock, and Strands: serial queues on which each rollout's
// work runs one task at a time, in posting order, while different strands run in parallel. This
// is how "each rollout's reconciles are serialized, different rollouts never wait on each other"
// is built without any rollout code knowing about threads.
//
// Asio stays inside src/net: this header exposes none of it.
//
// Thread-safety: every method may be called from any thread, including from tasks and timer
// callbacks running on the loop. Tasks and callbacks must not block for long (they hold a pool
// thread); a task that throws is caught and logged to stderr, and the loop goes on. Stop (or the
// destructor) cancels pending timers, lets running tasks finish, drops tasks not yet started and
// joins the threads; tasks posted after Stop are dropped.
#pragma once

#include <functional>
#include <memory>

#include "ramp/clock.h"

namespace ramp::net {

// A serial queue: tasks posted to one strand never overlap and run in posting order.
class Strand {
 public:
  virtual ~Strand() = default;
  virtual void Post(std::function<void()> task) = 0;
};

class EventLoop : public Timers {
 public:
  // Starts `threads` worker threads (at least 1).
  static std::unique_ptr<EventLoop> Start(int threads);

  ~EventLoop() override = default;

  // Runs `task` soon on some worker thread.
  virtual void Post(std::function<void()> task) = 0;

  // A new serial queue on this loop; it must not outlive the loop.
  virtual std::unique_ptr<Strand> NewStrand() = 0;

  // Timers on the wall clock (system_clock): a change of the system time moves due times with it.
  TimerId ScheduleAt(Time when, std::function<void()> callback) override = 0;
  bool Cancel(TimerId id) override = 0;

  // Cancels pending timers, finishes running tasks, joins the threads. Idempotent; must not be
  // called from a loop thread.
  virtual void Stop() = 0;
};

}  // namespace ramp::net
