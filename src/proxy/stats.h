// RevisionStats: the golden signals of one revision (stable or canary) of one proxied service —
// request and 5xx counts, a latency histogram with Prometheus' default buckets, and per-second
// counters for the last hour so that a window ending now can be summed.
//
// Thread-safety: Record, Totals and Window may be called from any thread concurrently (totals are
// atomics; the per-second ring is guarded by a mutex). Time is passed in, never read here.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ramp::proxy {

// Upper bounds of the latency buckets in seconds (Prometheus client defaults); +Inf is implied.
inline constexpr std::array<double, 11> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                           0.5,   1.0,  2.5,   5.0,  10.0};
inline constexpr int kSecondsKept = 3600;

struct SignalCounts {
  uint64_t requests = 0;
  uint64_t errors = 0;  // status >= 500
  double latency_sum_seconds = 0;
  std::array<uint64_t, kLatencyBuckets.size() + 1> buckets{};  // non-cumulative; last = +Inf
};

class RevisionStats {
 public:
  RevisionStats();
  // One completed request answered with `status` after `latency_seconds`, at unix second `now`.
  void Record(int status, double latency_seconds, int64_t now_unix_seconds);
  SignalCounts Totals() const;
  // The sum over the `seconds` seconds ending at `now_unix_seconds` (inclusive), 1..3600.
  SignalCounts Window(int64_t now_unix_seconds, int seconds) const;

 private:
  struct Slot {
    int64_t second = -1;
    SignalCounts counts;
  };
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> latency_micros_{0};
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> buckets_{};
  mutable std::mutex mu_;
  std::vector<Slot> ring_;  // kSecondsKept slots, indexed by second % kSecondsKept
};

}  // namespace ramp::proxy
