#include "proxy/stats.h"

#include <gtest/gtest.h>

namespace ramp::proxy {
namespace {

TEST(RevisionStatsTest, TotalsAndBuckets) {
  RevisionStats s;
  s.Record(200, 0.001, 1000);
  s.Record(502, 0.2, 1000);
  s.Record(200, 20.0, 1001);
  SignalCounts c = s.Totals();
  EXPECT_EQ(c.requests, 3u);
  EXPECT_EQ(c.errors, 1u);
  EXPECT_EQ(c.buckets[0], 1u);   // <= 5ms
  EXPECT_EQ(c.buckets[5], 1u);   // <= 250ms
  EXPECT_EQ(c.buckets[11], 1u);  // +Inf
}

TEST(RevisionStatsTest, WindowsSumTheLastSeconds) {
  RevisionStats s;
  for (int64_t t = 0; t < 100; ++t) s.Record(t % 10 == 0 ? 500 : 200, 0.01, 5000 + t);
  SignalCounts last10 = s.Window(5099, 10);
  EXPECT_EQ(last10.requests, 10u);
  EXPECT_EQ(last10.errors, 1u);
  EXPECT_EQ(s.Window(5099, 3600).requests, 100u);
  // An hour later the ring slots are reused and old seconds fall out.
  s.Record(200, 0.01, 5000 + 3600);
  EXPECT_EQ(s.Window(5000 + 3600, 1).requests, 1u);
  EXPECT_EQ(s.Window(5000 + 3600, 3600).requests, 100u);  // 5001..8600: 99 old + 1 new
}

}  // namespace
}  // namespace ramp::proxy
