#include "net/event_loop.h"

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

namespace ramp::net {
namespace {

constexpr auto kBound = std::chrono::seconds(10);

TEST(EventLoopTest, RunsPostedTasksAndSurvivesOneThatThrows) {
  auto loop = EventLoop::Start(2);
  loop->Post([] { throw std::runtime_error("boom"); });
  std::promise<void> ran;
  loop->Post([&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(kBound), std::future_status::ready);
}

TEST(EventLoopTest, AStrandRunsItsTasksOneAtATimeInOrder) {
  auto loop = EventLoop::Start(4);
  auto strand = loop->NewStrand();
  constexpr int kTasks = 2000;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::vector<int> order;
  std::promise<void> all_done;
  for (int i = 0; i < kTasks; ++i) {
    strand->Post([&, i] {
      if (inside.fetch_add(1) != 0) overlapped = true;
      order.push_back(i);
      inside.fetch_sub(1);
      if (i == kTasks - 1) all_done.set_value();
    });
  }
  ASSERT_EQ(all_done.get_future().wait_for(kBound), std::future_status::ready);
  EXPECT_FALSE(overlapped.load());
  ASSERT_EQ(order.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(order[i], i);
}

TEST(EventLoopTest, AStuckStrandDoesNotHoldUpAnother) {
  auto loop = EventLoop::Start(2);
  auto slow = loop->NewStrand();
  auto fast = loop->NewStrand();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> fast_ran;
  slow->Post([released] { released.wait_for(kBound); });
  slow->Post([] {});  // queued behind the stuck task
  fast->Post([&] { fast_ran.set_value(); });
  EXPECT_EQ(fast_ran.get_future().wait_for(kBound), std::future_status::ready);
  release.set_value();
}

TEST(EventLoopTest, ATimerFiresNotBeforeItsTime) {
  auto loop = EventLoop::Start(1);
  auto clock = NewSystemClock();
  const Time when = clock->Now() + std::chrono::milliseconds(30);
  std::promise<Time> fired;
  auto id = loop->ScheduleAt(when, [&] { fired.set_value(clock->Now()); });
  EXPECT_NE(id, 0u);
  auto f = fired.get_future();
  ASSERT_EQ(f.wait_for(kBound), std::future_status::ready);
  EXPECT_GE(f.get(), when);
  EXPECT_FALSE(loop->Cancel(id)) << "a timer that ran cannot be cancelled";
}

TEST(EventLoopTest, ACancelledTimerNeverRuns) {
  auto loop = EventLoop::Start(1);
  auto clock = NewSystemClock();
  std::atomic<bool> ran{false};
  auto id = loop->ScheduleAt(clock->Now() + std::chrono::hours(1), [&] { ran = true; });
  EXPECT_TRUE(loop->Cancel(id));
  EXPECT_FALSE(loop->Cancel(id));
  EXPECT_FALSE(loop->Cancel(987654));
  // A timer in the past runs as soon as possible, and after the cancelled one would have been
  // considered: once it ran, the cancelled one has had its chance.
  std::promise<void> later;
  loop->ScheduleAt(clock->Now() - std::chrono::seconds(1), [&] { later.set_value(); });
  ASSERT_EQ(later.get_future().wait_for(kBound), std::future_status::ready);
  EXPECT_FALSE(ran.load());
}

TEST(EventLoopTest, StopWithPendingTimersReturnsAndIsIdempotent) {
  auto loop = EventLoop::Start(2);
  auto clock = NewSystemClock();
  std::atomic<bool> ran{false};
  for (int i = 0; i < 10; ++i) {
    loop->ScheduleAt(clock->Now() + std::chrono::hours(1), [&] { ran = true; });
  }
  loop->Stop();
  loop->Stop();
  EXPECT_EQ(loop->ScheduleAt(clock->Now(), [&] { ran = true; }), 0u);
  loop->Post([&] { ran = true; });
  EXPECT_FALSE(ran.load());
}

}  // namespace
}  // namespace ramp::net
