#include "net/event_loop.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_timer.hpp>

namespace ramp::net {
namespace {

namespace asio = boost::asio;

// Runs a task, keeping an exception from ending the worker thread.
void RunGuarded(const std::function<void()>& task) {
  try {
    task();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ramp: a task on the event loop threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ramp: a task on the event loop threw\n");
  }
}

class AsioStrand final : public Strand {
 public:
  explicit AsioStrand(asio::io_context& ioc) : strand_(asio::make_strand(ioc)) {}
  void Post(std::function<void()> task) override {
    asio::post(strand_, [task = std::move(task)] { RunGuarded(task); });
  }

 private:
  asio::strand<asio::io_context::executor_type> strand_;
};

class AsioEventLoop final : public EventLoop {
 public:
  explicit AsioEventLoop(int threads) : work_(asio::make_work_guard(ioc_)) {
    for (int i = 0; i < std::max(threads, 1); ++i) {
      threads_.emplace_back([this] {
        for (;;) {
          try {
            ioc_.run();
            return;
          } catch (...) {
            // RunGuarded catches task exceptions; anything else must not end the thread.
          }
        }
      });
    }
  }

  ~AsioEventLoop() override { Stop(); }

  void Post(std::function<void()> task) override {
    if (stopped_.load()) return;
    asio::post(ioc_, [task = std::move(task)] { RunGuarded(task); });
  }

  std::unique_ptr<Strand> NewStrand() override { return std::make_unique<AsioStrand>(ioc_); }

  TimerId ScheduleAt(Time when, std::function<void()> callback) override {
    auto timer = std::make_shared<Timer>(ioc_);
    TimerId id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_.load()) return 0;
      id = next_id_++;
      timers_[id] = timer;
    }
    timer->timer.expires_at(
        std::chrono::time_point_cast<std::chrono::system_clock::duration>(when));
    timer->timer.async_wait(
        [this, id, timer, callback = std::move(callback)](const boost::system::error_code& ec) {
          bool run;
          {
            std::lock_guard<std::mutex> lock(mu_);
            run = !ec && timers_.erase(id) == 1;
          }
          if (run) RunGuarded(callback);
        });
    return id;
  }

  bool Cancel(TimerId id) override {
    std::shared_ptr<Timer> timer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = timers_.find(id);
      if (it == timers_.end()) return false;  // ran, running, cancelled or unknown
      timer = std::move(it->second);
      timers_.erase(it);
    }
    asio::post(ioc_, [timer] { timer->timer.cancel(); });
    return true;
  }

  void Stop() override {
    std::map<TimerId, std::shared_ptr<Timer>> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_.exchange(true)) return;
      pending.swap(timers_);
    }
    for (auto& [id, timer] : pending) {
      asio::post(ioc_, [timer] { timer->timer.cancel(); });
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }

 private:
  struct Timer {
    explicit Timer(asio::io_context& ioc) : timer(ioc) {}
    asio::system_timer timer;
  };

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::map<TimerId, std::shared_ptr<Timer>> timers_;  // pending ones; guarded by mu_
  TimerId next_id_ = 1;                               // guarded by mu_
};

}  // namespace

std::unique_ptr<EventLoop> EventLoop::Start(int threads) {
  return std::make_unique<AsioEventLoop>(threads);
}

}  // namespace ramp::net
