#include "ramp/clock.h"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace ramp {
namespace {

class SystemClock final : public Clock {
 public:
  Time Now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

}  // namespace

std::unique_ptr<Clock> NewSystemClock() { return std::make_unique<SystemClock>(); }

Time ManualClock::Now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

Timers::TimerId ManualClock::ScheduleAt(Time when, std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  TimerId id = next_id_++;
  q_.emplace(std::make_pair(when, id), std::move(callback));
  due_.emplace(id, when);
  return id;
}

bool ManualClock::Cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = due_.find(id);
  if (it == due_.end()) return false;
  q_.erase(std::make_pair(it->second, id));
  due_.erase(it);
  return true;
}

void ManualClock::Advance(Duration d) {
  if (d < Duration::zero()) d = Duration::zero();
  AdvanceTo(Now() + d);
}

void ManualClock::AdvanceTo(Time t) {
  while (true) {
    std::function<void()> callback;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto first = q_.begin();
      if (first == q_.end() || first->first.first > t) {
        if (t > now_) now_ = t;
        return;
      }
      if (first->first.first > now_) now_ = first->first.first;
      callback = std::move(first->second);
      due_.erase(first->first.second);
      q_.erase(first);
    }
    callback();
  }
}

std::optional<Time> ManualClock::NextDue() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (q_.empty()) return std::nullopt;
  return q_.begin()->first.first;
}

size_t ManualClock::Pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return q_.size();
}

}  // namespace ramp
