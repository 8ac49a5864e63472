// The checks the data-plane split tests make of every router (the built-in proxy, HAProxy,
// NGINX): a weighted split inside its 99.9 % binomial interval, and header routes that send
// exactly the matching requests to the canary. Each test passes its own way of sending requests.
// Test-only; GoogleTest assertions.
//
// Thread-safety: call from the test's thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/data_plane_testing.h"

namespace ramp::dataplane_testing {

// Sends `n` requests with extra header lines ("Name: value") and counts the answers.
using SendFunction = std::function<SplitCounts(int n, std::vector<std::string> headers)>;

// Prints the counts at `weight` (of 100) and checks them: no failure, every request answered by
// v1 or v2, the v2 share inside its 99.9 % interval, exactly none (all) at weight 0 (100).
inline void ExpectSplitWithinInterval(const char* plane, int weight, int64_t requests,
                                      const SplitCounts& c) {
  const CountInterval in = BinomialInterval(requests, weight / 100.0);
  std::printf("%s, weight %3d: %s; 99.9 %% interval [%lld, %lld]\n", plane, weight,
              c.Describe().c_str(), static_cast<long long>(in.lo), static_cast<long long>(in.hi));
  EXPECT_EQ(c.failures, 0) << c.Describe();
  EXPECT_EQ(c.Of("v1") + c.Of("v2"), requests) << c.Describe();
  EXPECT_TRUE(in.Contains(c.Of("v2")))
      << c.Of("v2") << " canary answers outside [" << in.lo << ", " << in.hi << "]";
  if (weight == 0) {
    EXPECT_EQ(c.Of("v2"), 0);
  }
  if (weight == 100) {
    EXPECT_EQ(c.Of("v1"), 0);
  }
}

// With the route {X-Canary exact "yes"} set and the weight at 0: matching requests all reach
// v2, the others v1; header names are case-insensitive, values are not.
inline void ExpectExactHeaderRoute(const SendFunction& send) {
  SplitCounts with = send(1000, {"X-Canary: yes"});
  EXPECT_EQ(with.failures, 0) << with.Describe();
  EXPECT_EQ(with.Of("v2"), 1000) << with.Describe();
  SplitCounts without = send(1000, {});
  EXPECT_EQ(without.Of("v1"), 1000) << without.Describe();
  SplitCounts other_value = send(1000, {"X-Canary: no"});
  EXPECT_EQ(other_value.Of("v1"), 1000) << other_value.Describe();
  EXPECT_EQ(send(200, {"x-CANARY: yes"}).Of("v2"), 200);
  EXPECT_EQ(send(200, {"X-Canary: YES"}).Of("v1"), 200);
  EXPECT_EQ(send(200, {"X-Canary: yess"}).Of("v1"), 200);
}

// With a second route {User-Agent prefix "Mobile Safari/", X-User regex "^u[0-9]+;beta$"} set:
// a prefix or a full regex match reaches v2, a near miss v1.
inline void ExpectPrefixAndRegexRoute(const SendFunction& send) {
  EXPECT_EQ(send(200, {"User-Agent: Mobile Safari/17"}).Of("v2"), 200);
  EXPECT_EQ(send(200, {"User-Agent: Desktop Mobile Safari/17"}).Of("v1"), 200);
  EXPECT_EQ(send(200, {"X-User: u42;beta"}).Of("v2"), 200);
  EXPECT_EQ(send(200, {"X-User: u42;betamax"}).Of("v1"), 200);
}

}  // namespace ramp::dataplane_testing
