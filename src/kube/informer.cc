#include "kube/informer.h"

#include <algorithm>
#include <mutex>
#include <utility>

namespace ramp::kube {
namespace {

using json = nlohmann::json;

std::string ResourceVersionOf(const json& object) {
  const json& meta = object.value("metadata", json::object());
  if (!meta.is_object()) return "";
  auto it = meta.find("resourceVersion");
  return it != meta.end() && it->is_string() ? it->get<std::string>() : "";
}

class State : public std::enable_shared_from_this<State> {
 public:
  State(KubeClient* client, Timers* timers, const Clock* clock, InformerOptions options,
        std::function<void(const InformerEvent&)> on_change)
      : client_(client),
        timers_(timers),
        clock_(clock),
        o_(std::move(options)),
        on_change_(std::move(on_change)) {}

  void DoList() {
    if (Stopped()) return;
    std::weak_ptr<State> weak = weak_from_this();
    client_->List(o_.resource, o_.namespace_, ListOptions{o_.label_selector, ""},
                  [weak](StatusOr<ListResult> listed) {
                    if (auto self = weak.lock()) self->OnList(std::move(listed));
                  });
  }

  void Stop() {
    std::unique_ptr<Subscription> watch;
    Timers::TimerId timer = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      watch = std::move(watch_);
      timer = timer_;
      timer_ = 0;
    }
    if (timer != 0) timers_->Cancel(timer);
    watch.reset();
    // Wait for an on_change already running.
    std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  }

  bool Synced() const {
    std::lock_guard<std::mutex> lock(mu_);
    return synced_;
  }

  std::optional<json> Get(std::string_view ns, std::string_view name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it =
        cache_.find(ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name));
    if (it == cache_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<json> List(std::string_view ns) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<json> out;
    for (const auto& [key, object] : cache_) {
      if (!ns.empty()) {
        const json& meta = object["metadata"];
        if (meta.value("namespace", "") != ns) continue;
      }
      out.push_back(object);
    }
    return out;
  }

  InformerStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  bool Stopped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

  void OnList(StatusOr<ListResult> listed) {
    if (!listed) return Retry(listed.error(), [](State* s) { s->DoList(); });
    std::vector<InformerEvent> events;
    std::string rv;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      std::map<std::string, json> next;
      for (json& item : listed->items) {
        const std::string key = ObjectKey(item);
        if (key.empty()) continue;
        auto old = cache_.find(key);
        if (old == cache_.end()) {
          events.push_back(InformerEvent{InformerEvent::Type::kAdded, item, std::nullopt});
        } else if (ResourceVersionOf(old->second) != ResourceVersionOf(item)) {
          events.push_back(InformerEvent{InformerEvent::Type::kUpdated, item, old->second});
        }
        next.emplace(key, std::move(item));
      }
      for (const auto& [key, object] : cache_) {
        if (!next.contains(key)) {
          events.push_back(InformerEvent{InformerEvent::Type::kDeleted, object, std::nullopt});
        }
      }
      cache_ = std::move(next);
      stats_.lists++;
      stats_.resource_version = listed->resource_version;
      rv = listed->resource_version;
      failures_ = 0;
    }
    Dispatch(events);
    {
      std::lock_guard<std::mutex> lock(mu_);
      synced_ = true;
    }
    DoWatch(rv);
  }

  void DoWatch(const std::string& rv) {
    std::weak_ptr<State> weak = weak_from_this();
    WatchOptions w;
    w.resource_version = rv;
    w.label_selector = o_.label_selector;
    w.timeout = o_.watch_timeout;
    uint64_t generation = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stats_.watches++;
      generation = ++watch_generation_;
    }
    // Opened outside the lock: a watch that fails at once may call back inline.
    std::unique_ptr<Subscription> watch = client_->Watch(
        o_.resource, o_.namespace_, w,
        [weak](const WatchEvent& e) {
          if (auto self = weak.lock()) self->OnEvent(e);
        },
        [weak](Status s) {
          if (auto self = weak.lock()) self->OnWatchEnd(std::move(s));
        });
    std::unique_ptr<Subscription> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_ || generation != watch_generation_) {
        // Stopped meanwhile, or this watch ended at once and a newer one already replaced it.
        old = std::move(watch);
      } else {
        // The previous watch already ended: dropping it does not wait.
        old = std::move(watch_);
        watch_ = std::move(watch);
      }
    }
  }

  void OnEvent(const WatchEvent& e) {
    std::vector<InformerEvent> events;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      const std::string rv = ResourceVersionOf(e.object);
      if (!rv.empty()) stats_.resource_version = rv;
      if (e.type == WatchEvent::Type::kBookmark) return;
      json object = e.object;
      if (!object.contains("kind")) object["kind"] = o_.resource.kind;
      if (!object.contains("apiVersion")) object["apiVersion"] = o_.resource.ApiVersion();
      const std::string key = ObjectKey(object);
      if (key.empty()) return;
      auto old = cache_.find(key);
      if (e.type == WatchEvent::Type::kDeleted) {
        if (old == cache_.end()) return;
        cache_.erase(old);
        events.push_back(InformerEvent{InformerEvent::Type::kDeleted, object, std::nullopt});
      } else if (old == cache_.end()) {
        cache_.emplace(key, object);
        events.push_back(InformerEvent{InformerEvent::Type::kAdded, object, std::nullopt});
      } else {
        json before = std::move(old->second);
        old->second = object;
        events.push_back(InformerEvent{InformerEvent::Type::kUpdated, object, std::move(before)});
      }
    }
    Dispatch(events);
  }

  void OnWatchEnd(Status s) {
    std::string rv;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      rv = stats_.resource_version;
    }
    if (s.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        failures_ = 0;
      }
      return Later(Duration(0), [rv](State* self) { self->DoWatch(rv); });
    }
    if (s.code() == StatusCode::kOutOfRange) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.expired++;
        stats_.last_error = s.message();
      }
      return Later(Duration(0), [](State* self) { self->DoList(); });
    }
    Retry(s, [rv](State* self) { self->DoWatch(rv); });
  }

  void Retry(const Status& s, std::function<void(State*)> again) {
    Duration wait;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stats_.errors++;
      stats_.last_error = s.message();
      wait = std::min(o_.backoff_max, o_.backoff_base * (int64_t{1} << std::min(failures_, 20)));
      failures_++;
    }
    Later(wait, std::move(again));
  }

  // Runs `fn` on the timers' thread after `wait` (never inline: a watch's `done` must not open
  // the next watch from inside itself).
  void Later(Duration wait, std::function<void(State*)> fn) {
    std::weak_ptr<State> weak = weak_from_this();
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    timer_ = timers_->ScheduleAt(clock_->Now() + wait, [weak, fn = std::move(fn)] {
      if (auto self = weak.lock()) fn(self.get());
    });
  }

  void Dispatch(const std::vector<InformerEvent>& events) {
    std::lock_guard<std::mutex> dispatch(dispatch_mu_);
    for (const InformerEvent& e : events) {
      if (Stopped()) return;
      on_change_(e);
    }
  }

  KubeClient* client_;
  Timers* timers_;
  const Clock* clock_;
  const InformerOptions o_;
  std::function<void(const InformerEvent&)> on_change_;

  mutable std::mutex mu_;
  std::map<std::string, json> cache_;
  std::unique_ptr<Subscription> watch_;
  Timers::TimerId timer_ = 0;
  uint64_t watch_generation_ = 0;
  InformerStats stats_;
  int failures_ = 0;
  bool synced_ = false;
  bool stopped_ = false;

  std::mutex dispatch_mu_;  // held while on_change runs
};

class InformerImpl : public Informer {
 public:
  explicit InformerImpl(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ~InformerImpl() override { state_->Stop(); }

  bool Synced() const override { return state_->Synced(); }
  std::optional<json> Get(std::string_view ns, std::string_view name) const override {
    return state_->Get(ns, name);
  }
  std::vector<json> List(std::string_view ns) const override { return state_->List(ns); }
  InformerStats Stats() const override { return state_->Stats(); }
  void Stop() override { state_->Stop(); }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

std::string ObjectKey(const json& object) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  const std::string name = meta->value("name", "");
  if (name.empty()) return "";
  const std::string ns = meta->value("namespace", "");
  return ns.empty() ? name : ns + "/" + name;
}

std::unique_ptr<Informer> Informer::Start(KubeClient* client, Timers* timers, const Clock* clock,
                                          InformerOptions options,
                                          std::function<void(const InformerEvent&)> on_change) {
  auto state =
      std::make_shared<State>(client, timers, clock, std::move(options), std::move(on_change));
  state->DoList();
  return std::make_unique<InformerImpl>(std::move(state));
}

}  // namespace ramp::kube
