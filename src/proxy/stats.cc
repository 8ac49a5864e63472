// RevisionStats implementation.
#include "proxy/stats.h"

namespace ramp::proxy {
namespace {

size_t BucketOf(double seconds) {
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) return i;
  }
  return kLatencyBuckets.size();
}

}  // namespace

RevisionStats::RevisionStats() : ring_(kSecondsKept) {}

void RevisionStats::Record(int status, double latency_seconds, int64_t now) {
  if (latency_seconds < 0) latency_seconds = 0;
  const bool error = status >= 500;
  const size_t bucket = BucketOf(latency_seconds);
  requests_.fetch_add(1, std::memory_order_relaxed);
  if (error) errors_.fetch_add(1, std::memory_order_relaxed);
  latency_micros_.fetch_add(static_cast<uint64_t>(latency_seconds * 1e6),
                            std::memory_order_relaxed);
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = ring_[static_cast<size_t>(((now % kSecondsKept) + kSecondsKept) % kSecondsKept)];
  if (slot.second != now) {
    slot.second = now;
    slot.counts = SignalCounts{};
  }
  ++slot.counts.requests;
  if (error) ++slot.counts.errors;
  slot.counts.latency_sum_seconds += latency_seconds;
  ++slot.counts.buckets[bucket];
}

SignalCounts RevisionStats::Totals() const {
  SignalCounts c;
  c.requests = requests_.load(std::memory_order_relaxed);
  c.errors = errors_.load(std::memory_order_relaxed);
  c.latency_sum_seconds =
      static_cast<double>(latency_micros_.load(std::memory_order_relaxed)) / 1e6;
  for (size_t i = 0; i < c.buckets.size(); ++i) {
    c.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return c;
}

SignalCounts RevisionStats::Window(int64_t now, int seconds) const {
  if (seconds < 1) seconds = 1;
  if (seconds > kSecondsKept) seconds = kSecondsKept;
  SignalCounts c;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Slot& slot : ring_) {
    if (slot.second > now || slot.second <= now - seconds) continue;
    c.requests += slot.counts.requests;
    c.errors += slot.counts.errors;
    c.latency_sum_seconds += slot.counts.latency_sum_seconds;
    for (size_t i = 0; i < c.buckets.size(); ++i) c.buckets[i] += slot.counts.buckets[i];
  }
  return c;
}

}  // namespace ramp::proxy
