#include "kube/leader_election.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <utility>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace ramp::kube {
namespace {

using json = nlohmann::json;

// client-go's LeaderElectionRecord, as it maps onto a Lease's spec.
struct Record {
  std::string holder;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;  // MicroTime text as stored ("" = absent)
  std::string renew_time;
  int64_t transitions = 0;
};

// LeaderElectionRecordToLeaseSpec: every field is a non-nil pointer, so all five are written
// (holderIdentity "" and leaseTransitions 0 included).
json ToSpec(const Record& r) {
  return json{{"holderIdentity", r.holder},
              {"leaseDurationSeconds", r.lease_duration_seconds},
              {"acquireTime", r.acquire_time.empty() ? json(nullptr) : json(r.acquire_time)},
              {"renewTime", r.renew_time.empty() ? json(nullptr) : json(r.renew_time)},
              {"leaseTransitions", r.transitions}};
}

std::string StringField(const json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t IntField(const json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// LeaseSpecToLeaderElectionRecord; missing or mistyped fields read as zero values.
Record FromSpec(const json& spec) {
  Record r;
  if (!spec.is_object()) return r;
  r.holder = StringField(spec, "holderIdentity");
  r.lease_duration_seconds = IntField(spec, "leaseDurationSeconds");
  r.acquire_time = StringField(spec, "acquireTime");
  r.renew_time = StringField(spec, "renewTime");
  r.transitions = IntField(spec, "leaseTransitions");
  return r;
}

const json& SpecOf(const json& lease) {
  static const json kEmpty = json::object();
  auto it = lease.find("spec");
  return it != lease.end() && it->is_object() ? *it : kEmpty;
}

}  // namespace

struct LeaderElector::State : std::enable_shared_from_this<State> {
  enum class Phase { kCandidate, kLeading, kStopped };

  explicit State(LeaderElectionOptions options)
      : o(std::move(options)), rng(std::random_device{}()) {}

  const LeaderElectionOptions o;

  // Held for the whole of every entry (timer, HTTP completion, Release) and while a user callback
  // runs, so callbacks are serialized and the destructor can wait for them. Recursive: a client
  // may complete inline, and Release may be called from inside on_stopped_leading.
  std::recursive_mutex entry_mu;
  bool destroyed = false;  // guarded by entry_mu

  mutable std::mutex mu;  // guards everything below
  Phase phase = Phase::kCandidate;
  uint64_t epoch = 0;  // bumps when the elector stops: stale completions are dropped
  Record observed;
  std::string observed_raw;
  Time observed_time{};
  std::string reported_leader;
  json lease;  // the Lease as last read or written (Release PUTs it with its resourceVersion)
  Timers::TimerId attempt_timer = 0;
  Timers::TimerId deadline_timer = 0;
  bool in_cycle = false;  // leading: a renewal cycle is running
  Time cycle_deadline{};
  std::mt19937_64 rng;

  std::string LockRef() const { return o.namespace_ + "/" + o.lock_name; }

  // With entry_mu held: runs a user callback unless the elector is gone.
  void Call(const std::function<void()>& f) {
    if (f && !destroyed) f();
  }
  void Log(const std::string& message) {
    if (o.log && !destroyed) o.log(message);
  }

  // With mu held: stops timers and makes outstanding completions stale.
  void StopLocked() {
    phase = Phase::kStopped;
    ++epoch;
    in_cycle = false;
    if (attempt_timer != 0) o.timers->Cancel(attempt_timer);
    if (deadline_timer != 0) o.timers->Cancel(deadline_timer);
    attempt_timer = deadline_timer = 0;
  }

  bool CurrentLocked(uint64_t e) const { return phase != Phase::kStopped && e == epoch; }

  // With mu held: records what the Lease says now (observedTime moves only when it changed).
  // Returns the "new leader" message to log, if the holder changed.
  std::string ObserveLocked(const json& lease_now, Time now) {
    const json& spec = SpecOf(lease_now);
    std::string raw = spec.dump();
    if (raw != observed_raw) {
      observed = FromSpec(spec);
      observed_raw = std::move(raw);
      observed_time = now;
    }
    lease = lease_now;
    if (observed.holder != reported_leader) {
      reported_leader = observed.holder;
      if (!reported_leader.empty()) {
        return fmt::format("lease {}: new leader elected: {}", LockRef(), reported_leader);
      }
    }
    return {};
  }

  // tryAcquireOrRenew, asynchronously: GET, then CREATE or a conditional UPDATE.
  void Attempt(uint64_t e) {
    auto self = shared_from_this();
    o.client->Get(Leases(), o.namespace_, o.lock_name,
                  [self, e](StatusOr<json> got) { self->OnGet(e, std::move(got)); });
  }

  void OnGet(uint64_t e, StatusOr<json> got) {
    std::lock_guard<std::recursive_mutex> entry(entry_mu);
    if (destroyed) return;
    std::unique_lock<std::mutex> l(mu);
    if (!CurrentLocked(e)) return;
    const Time now = o.clock->Now();
    Record next;
    next.holder = o.identity;
    next.lease_duration_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(o.lease_duration).count();
    next.acquire_time = next.renew_time = KubeMicroTime(now);
    auto self = shared_from_this();
    if (!got) {
      if (got.error().code() != StatusCode::kNotFound) {
        l.unlock();
        return Failed(e, fmt::format("error retrieving resource lock {}: {}", LockRef(),
                                     got.error().message()));
      }
      json lease_new = {{"metadata", {{"name", o.lock_name}, {"namespace", o.namespace_}}},
                        {"spec", ToSpec(next)}};
      l.unlock();
      o.client->Create(Leases(), o.namespace_, std::move(lease_new),
                       [self, e](StatusOr<json> r) { self->OnWritten(e, "create", std::move(r)); });
      return;
    }
    std::string new_leader = ObserveLocked(*got, now);
    const bool we_hold = observed.holder == o.identity;
    const bool valid = observed_time + std::chrono::seconds(observed.lease_duration_seconds) > now;
    if (!observed.holder.empty() && valid && !we_hold) {
      l.unlock();
      if (!new_leader.empty()) Log(new_leader);
      return Failed(e, "");
    }
    if (we_hold) {
      next.acquire_time = observed.acquire_time.empty() ? next.acquire_time : observed.acquire_time;
      next.transitions = observed.transitions;
    } else {
      next.transitions = observed.transitions + 1;
    }
    json updated = *got;
    updated["spec"] = ToSpec(next);
    l.unlock();
    if (!new_leader.empty()) Log(new_leader);
    o.client->Update(Leases(), o.namespace_, std::move(updated), "",
                     [self, e](StatusOr<json> r) { self->OnWritten(e, "update", std::move(r)); });
  }

  void OnWritten(uint64_t e, const char* verb, StatusOr<json> written) {
    std::lock_guard<std::recursive_mutex> entry(entry_mu);
    if (destroyed) return;
    std::unique_lock<std::mutex> l(mu);
    if (!CurrentLocked(e)) return;
    if (!written) {
      l.unlock();
      return Failed(
          e, fmt::format("failed to {} lock {}: {}", verb, LockRef(), written.error().message()));
    }
    const Time now = o.clock->Now();
    std::string new_leader = ObserveLocked(*written, now);
    observed_time = now;  // setObservedRecord: our own write is an observation
    const bool started = phase == Phase::kCandidate;
    phase = Phase::kLeading;
    in_cycle = false;
    if (deadline_timer != 0) o.timers->Cancel(deadline_timer);
    deadline_timer = 0;
    ScheduleAttemptLocked(now + o.retry_period, /*new_cycle=*/true);
    l.unlock();
    if (!new_leader.empty()) Log(new_leader);
    if (started) {
      Log(fmt::format("lease {}: successfully acquired lease as {}", LockRef(), o.identity));
      Call(o.on_started_leading);
    }
  }

  // A failed attempt: `message` "" = the lease is validly held by another candidate.
  void Failed(uint64_t e, const std::string& message) {
    std::unique_lock<std::mutex> l(mu);
    if (!CurrentLocked(e)) return;
    const Time now = o.clock->Now();
    if (phase == Phase::kCandidate) {
      std::uniform_real_distribution<double> u(0.0, 1.0);
      const double factor = o.jitter_factor > 0 ? 1.0 + u(rng) * o.jitter_factor : 1.0;
      ScheduleAttemptLocked(now + std::chrono::duration_cast<Duration>(o.retry_period * factor),
                            false);
      l.unlock();
      if (!message.empty()) Log(message);
      return;
    }
    if (now >= cycle_deadline) {
      l.unlock();
      if (!message.empty()) Log(message);
      return LoseIfCurrent(e);
    }
    ScheduleAttemptLocked(now + o.retry_period, false);
    l.unlock();
    if (!message.empty()) Log(message);
  }

  void ScheduleAttemptLocked(Time when, bool new_cycle) {
    auto self = shared_from_this();
    const uint64_t e = epoch;
    if (attempt_timer != 0) o.timers->Cancel(attempt_timer);
    attempt_timer = o.timers->ScheduleAt(when, [self, e, new_cycle] {
      std::lock_guard<std::recursive_mutex> entry(self->entry_mu);
      if (self->destroyed) return;
      {
        std::lock_guard<std::mutex> l(self->mu);
        if (!self->CurrentLocked(e)) return;
        self->attempt_timer = 0;
        if (new_cycle && self->phase == Phase::kLeading) {
          // renew(): each cycle must succeed within renew_deadline of its start.
          self->in_cycle = true;
          self->cycle_deadline = self->o.clock->Now() + self->o.renew_deadline;
          self->deadline_timer = self->o.timers->ScheduleAt(self->cycle_deadline, [self, e] {
            std::lock_guard<std::recursive_mutex> entry(self->entry_mu);
            {
              std::lock_guard<std::mutex> l(self->mu);
              if (!self->CurrentLocked(e)) return;
              self->deadline_timer = 0;
              if (!self->in_cycle) return;
            }
            self->LoseIfCurrent(e);
          });
        }
      }
      self->Attempt(e);
    });
  }

  // With entry_mu held: leadership is lost (renewal failed past the deadline).
  void LoseIfCurrent(uint64_t e) {
    {
      std::lock_guard<std::mutex> l(mu);
      if (!CurrentLocked(e) || phase != Phase::kLeading) return;
      StopLocked();
    }
    Log(fmt::format(
        "lease {}: failed to renew lease within the renew deadline; leader election lost",
        LockRef()));
    Call(o.on_stopped_leading);
  }
};

LeaderElector::LeaderElector(std::shared_ptr<State> state) : state_(std::move(state)) {}

StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::Start(LeaderElectionOptions options) {
  if (options.client == nullptr || options.timers == nullptr || options.clock == nullptr) {
    return Fail(InvalidArgumentError("leader election needs a client, timers and a clock"));
  }
  if (options.namespace_.empty() || options.lock_name.empty()) {
    return Fail(InvalidArgumentError("leader election needs the lease's namespace and name"));
  }
  if (options.identity.empty()) return Fail(InvalidArgumentError("Lock identity is empty"));
  if (options.lease_duration < std::chrono::seconds(1) || options.renew_deadline <= Duration(0) ||
      options.retry_period <= Duration(0) || options.jitter_factor < 0) {
    return Fail(InvalidArgumentError(
        "leaseDuration must be at least 1s; renewDeadline, retryPeriod must be positive"));
  }
  if (options.lease_duration <= options.renew_deadline) {
    return Fail(InvalidArgumentError("leaseDuration must be greater than renewDeadline"));
  }
  const double jitter = options.jitter_factor > 0 ? options.jitter_factor : 1.0;
  if (std::chrono::duration<double>(options.renew_deadline).count() <=
      jitter * std::chrono::duration<double>(options.retry_period).count()) {
    return Fail(
        InvalidArgumentError("renewDeadline must be greater than retryPeriod*JitterFactor"));
  }
  auto state = std::make_shared<State>(std::move(options));
  std::unique_ptr<LeaderElector> elector(new LeaderElector(state));
  {
    std::lock_guard<std::recursive_mutex> entry(state->entry_mu);
    state->Log(fmt::format("lease {}: attempting to acquire leader lease as {}", state->LockRef(),
                           state->o.identity));
    state->Attempt(0);
  }
  return elector;
}

LeaderElector::~LeaderElector() {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    state_->StopLocked();
  }
  std::lock_guard<std::recursive_mutex> entry(state_->entry_mu);
  state_->destroyed = true;
}

bool LeaderElector::IsLeader() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->phase == State::Phase::kLeading;
}

std::string LeaderElector::Leader() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->observed.holder;
}

void LeaderElector::Release(StatusCallback done) {
  State& s = *state_;
  std::lock_guard<std::recursive_mutex> entry(s.entry_mu);
  std::unique_lock<std::mutex> l(s.mu);
  const bool leading = s.phase == State::Phase::kLeading;
  s.StopLocked();
  if (!leading) {
    l.unlock();
    if (done) done(OkStatus());
    return;
  }
  Record released;
  released.lease_duration_seconds = 1;
  released.acquire_time = released.renew_time = KubeMicroTime(s.o.clock->Now());
  released.transitions = s.observed.transitions;
  json lease = s.lease;
  lease["spec"] = ToSpec(released);
  l.unlock();
  s.Log(fmt::format("lease {}: releasing leadership", s.LockRef()));
  s.Call(s.o.on_stopped_leading);
  auto keep = state_;
  s.o.client->Update(Leases(), s.o.namespace_, std::move(lease), "",
                     [keep, done = std::move(done)](StatusOr<json> r) {
                       if (done) done(r ? OkStatus() : r.error());
                     });
}

std::string LeaderLockName(std::string_view instance_id) {
  std::string name = "ramp-controller-lock";
  if (!instance_id.empty()) name += "-" + std::string(instance_id);
  return name;
}

std::string NewLeaderIdentity(std::string_view hostname) {
  std::string host(hostname);
  if (host.empty()) {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) == 0) host = buf;
    if (host.empty()) host = "localhost";
  }
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  uint64_t hi = gen(), lo = gen();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  return fmt::format("{}_{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", host, hi >> 32, (hi >> 16) & 0xffff,
                     hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

std::string KubeMicroTime(Time t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  std::string text = KubeTime(Time(secs));  // "…:SSZ"
  text.pop_back();
  return fmt::format("{}.{:06d}Z", text, micros);
}

}  // namespace ramp::kube
