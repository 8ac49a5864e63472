// Test doubles for the runtime and the daemon, named as fakes: a platform whose instances are
// ready as soon as they are asked for, a router that records what it is asked, and a metric
// provider that answers a value the test sets.
//
// Thread-safety: every fake may be called from any thread (each guards its state with a mutex).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ramp/clock.h"
#include "ramp/metric_provider.h"
#include "ramp/platform.h"
#include "ramp/traffic_router.h"

namespace ramp::runtime {

// Instances that are ready as soon as they are asked for, at 10.0.<revision>.<n>:80.
class FakePlatform : public Platform {
 public:
  explicit FakePlatform(const Clock* clock) : clock_(clock) {}
  std::string_view Type() const override { return "fake"; }
  void EnsureRevision(const RevisionSpec& spec, int32_t replicas, StatusCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      Rev& r = revs_[spec.rollout.Key()][spec.hash];
      r.revision = spec.revision;
      r.template_json = spec.pod_template_json;
      Resize(spec.hash, r, replicas);
    }
    done(OkStatus());
  }
  void ScaleRevision(const ObjectRef& rollout, std::string_view hash, int32_t replicas,
                     StatusCallback done) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto& revs = revs_[rollout.Key()];
    auto it = revs.find(std::string(hash));
    if (it == revs.end()) return done(NotFoundError("no revision " + std::string(hash)));
    Resize(it->first, it->second, replicas);
    done(OkStatus());
  }
  void RestartInstance(const ObjectRef&, std::string_view, std::string_view,
                       StatusCallback done) override {
    done(UnimplementedError("fake"));
  }
  void DeleteRevision(const ObjectRef& rollout, std::string_view hash,
                      StatusCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      revs_[rollout.Key()].erase(std::string(hash));
    }
    done(OkStatus());
  }
  void ListRevisions(const ObjectRef& rollout,
                     StatusOrCallback<std::vector<RevisionStatus>> done) override {
    std::vector<RevisionStatus> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [hash, r] : revs_[rollout.Key()]) {
        RevisionStatus s;
        s.hash = hash;
        s.revision = r.revision;
        s.desired_replicas = static_cast<int32_t>(r.instances.size());
        s.instances = r.instances;
        out.push_back(std::move(s));
      }
    }
    done(std::move(out));
  }
  StatusOr<std::unique_ptr<Subscription>> Watch(std::function<void(const ObjectRef&)>) override {
    return Fail(UnimplementedError("fake"));
  }

  // Running instances per revision hash, over every rollout (a revision's hash covers its
  // template, so hashes of different rollouts differ).
  std::map<std::string, int> Counts() {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, int> out;
    for (const auto& [rollout, revs] : revs_) {
      for (const auto& [hash, r] : revs) out[hash] = static_cast<int>(r.instances.size());
    }
    return out;
  }

 private:
  struct Rev {
    int64_t revision = 0;
    std::string template_json;
    std::vector<InstanceStatus> instances;
  };
  void Resize(const std::string& hash, Rev& r, int32_t replicas) {
    while (static_cast<int32_t>(r.instances.size()) > replicas) r.instances.pop_back();
    while (static_cast<int32_t>(r.instances.size()) < replicas) {
      InstanceStatus i;
      i.id = fmt::format("{}-{}", hash, ++created_);
      i.address = fmt::format("10.0.{}.{}:80", r.revision, created_);
      i.state = InstanceState::kReady;
      i.ready_since = clock_->Now();
      i.created_at = clock_->Now();
      r.instances.push_back(std::move(i));
    }
  }

  const Clock* clock_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, Rev>> revs_;  // rollout key → hash → revision
  int created_ = 0;
};

// Records what the controller asks of the router.
struct RouterLog {
  std::mutex mu;
  int weight = -1;
  std::map<std::string, std::string> roles;  // role → hash
  std::map<std::string, std::vector<std::string>> endpoints;
  std::vector<std::string> calls;
};

class FakeRouter : public TrafficRouter {
 public:
  explicit FakeRouter(std::shared_ptr<RouterLog> log) : log_(std::move(log)) {}
  std::string_view Type() const override { return "fake"; }
  void SetWeight(int32_t weight, const std::vector<WeightDestination>&,
                 StatusCallback done) override {
    Record(fmt::format("SetWeight {}", weight), [&] { log_->weight = weight; });
    done(OkStatus());
  }
  void SetHeaderRoute(const HeaderRoute&, StatusCallback done) override { done(OkStatus()); }
  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override { done(OkStatus()); }
  void RemoveManagedRoutes(StatusCallback done) override { done(OkStatus()); }
  void SwitchService(ServiceRole role, std::string_view hash, StatusCallback done) override {
    Record(fmt::format("SwitchService {} {}", ServiceRoleName(role), hash),
           [&] { log_->roles[std::string(ServiceRoleName(role))] = std::string(hash); });
    done(OkStatus());
  }
  void SetRevisionEndpoints(std::string_view hash, const std::vector<std::string>& addresses,
                            StatusCallback done) override {
    Record(fmt::format("Endpoints {} {}", hash, addresses.size()),
           [&] { log_->endpoints[std::string(hash)] = addresses; });
    done(OkStatus());
  }
  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    WeightCheck c;
    int current = 0;
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      current = log_->weight;
    }
    c.verification =
        current == weight ? WeightVerification::kVerified : WeightVerification::kNotVerified;
    c.observed_weight = current;
    done(c);
  }

 private:
  template <typename F>
  void Record(std::string call, F f) {
    std::lock_guard<std::mutex> lock(log_->mu);
    log_->calls.push_back(std::move(call));
    f();
  }
  std::shared_ptr<RouterLog> log_;
};

// Answers every measurement with the current value of `error_rate`.
class FixedProvider : public MetricProvider {
 public:
  explicit FixedProvider(std::shared_ptr<std::atomic<double>> value) : value_(std::move(value)) {}
  std::string_view Type() const override { return "ramp/builtin"; }
  void Run(const RunContext& ctx, const MetricRef&, MeasurementCallback done) override {
    Measurement m;
    m.started_at = ctx.now;
    m.finished_at = ctx.now;
    done(MeasurementUpdate::Value(m, std::make_shared<const nlohmann::json>(value_->load())));
  }
  void Resume(const RunContext& ctx, const MetricRef& metric, const Measurement&,
              MeasurementCallback done) override {
    Run(ctx, metric, std::move(done));
  }
  void Terminate(const RunContext&, const MetricRef&, const Measurement& m,
                 MeasurementCallback done) override {
    done(MeasurementUpdate::Judged(m));
  }
  void GarbageCollect(const RunContext&, const MetricRef&, int32_t, StatusCallback done) override {
    done(OkStatus());
  }
  std::map<std::string, std::string> Metadata(const MetricRef&) const override { return {}; }

 private:
  std::shared_ptr<std::atomic<double>> value_;
};

}  // namespace ramp::runtime
