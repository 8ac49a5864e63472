#include "platform/static/static_platform.h"

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "platform/probe.h"

namespace ramp::platform {
namespace {

using json = nlohmann::json;

constexpr std::string_view kInstancesAnnotation = "ramp.dev/static-instances";

struct Listed {
  std::string address;
  std::string host;
  int port = 0;
  InstanceState state = InstanceState::kStarting;
  std::optional<Time> ready_since;
  std::string message;
  Time next_probe;
  int successes = 0;
  int failures = 0;
};

struct Revision {
  ObjectRef rollout;
  std::string hash;
  int64_t revision = 0;
  std::string template_json;
  int32_t desired = 0;
  std::optional<Probe> readiness;
  std::vector<Listed> instances;
};

class StaticPlatform final : public Platform {
 public:
  explicit StaticPlatform(StaticPlatformOptions options) : o_(options) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~StaticPlatform() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  std::string_view Type() const override { return "static"; }

  void EnsureRevision(const RevisionSpec& spec, int32_t replicas, StatusCallback done) override {
    if (replicas < 0) {
      done(InvalidArgumentError("replicas must be >= 0"));
      return;
    }
    StatusOr<std::unique_ptr<Revision>> rev = MakeRevision(spec);
    if (!rev) {
      done(rev.error().WithPrefix("static platform: " + spec.rollout.name));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::string key = Key(spec.rollout, spec.hash);
      auto it = revisions_.find(key);
      if (it != revisions_.end() && it->second->template_json != spec.pod_template_json) {
        done(AlreadyExistsError("static platform: revision " + spec.hash + " of " +
                                spec.rollout.name + " exists with another template"));
        return;
      }
      if (it != revisions_.end()) {
        // Keep what is known of instances still listed (the annotation may have changed).
        for (Listed& in : (*rev)->instances) {
          for (const Listed& old : it->second->instances) {
            if (old.address == in.address) in = old;
          }
        }
      }
      (*rev)->desired = replicas;
      revisions_[key] = std::move(*rev);
    }
    cv_.notify_all();
    done(OkStatus());
  }

  void ScaleRevision(const ObjectRef& rollout, std::string_view hash, int32_t replicas,
                     StatusCallback done) override {
    if (replicas < 0) {
      done(InvalidArgumentError("replicas must be >= 0"));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = revisions_.find(Key(rollout, hash));
    if (it == revisions_.end()) {
      done(NotFoundError("static platform: no revision " + std::string(hash) + " of " +
                         rollout.name));
      return;
    }
    it->second->desired = replicas;
    done(OkStatus());
  }

  void RestartInstance(const ObjectRef& rollout, std::string_view, std::string_view instance_id,
                       StatusCallback done) override {
    done(UnimplementedError("static platform: cannot restart instance " + std::string(instance_id) +
                            " of " + rollout.name + " (other tooling runs it)"));
  }

  void DeleteRevision(const ObjectRef& rollout, std::string_view hash,
                      StatusCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      revisions_.erase(Key(rollout, hash));
    }
    done(OkStatus());
  }

  void ListRevisions(const ObjectRef& rollout,
                     StatusOrCallback<std::vector<RevisionStatus>> done) override {
    std::vector<RevisionStatus> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [key, rev] : revisions_) {
        if (!(rev->rollout == rollout)) continue;
        RevisionStatus rs;
        rs.hash = rev->hash;
        rs.revision = rev->revision;
        rs.desired_replicas = rev->desired;
        // A revision scaled to N has at most N instances as far as ramp is concerned, ready
        // ones first in listing order: ramp routes only to those (scaled to 0: to none), and the
        // others keep running. So replica counts mean what they mean to the engine.
        for (bool ready : {true, false}) {
          for (const Listed& in : rev->instances) {
            if ((in.state == InstanceState::kReady) != ready) continue;
            if (static_cast<int32_t>(rs.instances.size()) >= rev->desired) break;
            InstanceStatus s;
            s.id = in.address;
            s.address = in.address;
            s.state = in.state;
            if (in.state == InstanceState::kReady) s.ready_since = in.ready_since;
            s.message = in.state == InstanceState::kReady ? "" : in.message;
            rs.instances.push_back(std::move(s));
          }
        }
        out.push_back(std::move(rs));
      }
    }
    done(std::move(out));
  }

  StatusOr<std::unique_ptr<Subscription>> Watch(
      std::function<void(const ObjectRef& rollout)>) override {
    return Fail(
        UnimplementedError("static platform: Watch is not supported yet; poll with ListRevisions"));
  }

 private:
  static std::string Key(const ObjectRef& r, std::string_view hash) {
    return r.namespace_ + "/" + r.name + "/" + std::string(hash);
  }

  StatusOr<std::unique_ptr<Revision>> MakeRevision(const RevisionSpec& spec) const {
    json tmpl = json::parse(spec.pod_template_json, nullptr, false);
    const json* c = nullptr;
    if (tmpl.is_object() && tmpl.contains("spec") && tmpl["spec"].is_object()) {
      const json& s = tmpl["spec"];
      if (s.contains("containers") && s["containers"].is_array() && !s["containers"].empty()) {
        c = &s["containers"][0];
      }
    }
    if (c == nullptr || !c->is_object()) {
      return Fail(InvalidArgumentError("the pod template has no spec.containers[0]"));
    }
    auto rev = std::make_unique<Revision>();
    rev->rollout = spec.rollout;
    rev->hash = spec.hash;
    rev->revision = spec.revision;
    rev->template_json = spec.pod_template_json;
    ASSIGN_OR_RETURN(ProbeSet probes, ParseProbes(*c));
    rev->readiness = probes.readiness;
    if (rev->readiness && rev->readiness->check.kind == Check::Kind::kExec) {
      return Fail(InvalidArgumentError(
          "containers[0].readinessProbe.exec cannot run on the static platform (httpGet or "
          "tcpSocket only)"));
    }
    auto a = spec.rollout_annotations.find(std::string(kInstancesAnnotation));
    if (a == spec.rollout_annotations.end()) {
      return Fail(InvalidArgumentError("the annotation " + std::string(kInstancesAnnotation) +
                                       " is required on the static platform"));
    }
    ASSIGN_OR_RETURN(auto listed, ParseStaticInstances(a->second));
    std::string image = c->value("image", "");
    Time now = o_.clock->Now();
    if (auto it = listed.find(image); it != listed.end()) {
      for (const std::string& address : it->second) {
        Listed in;
        in.address = address;
        auto hp = SplitHostPort(address);
        in.host = hp->first;
        in.port = hp->second;
        in.next_probe = now + (rev->readiness ? rev->readiness->initial_delay : Duration(0));
        if (rev->readiness) {
          in.message = "waiting for the readiness probe";
        } else {
          in.state = InstanceState::kReady;
          in.ready_since = now;
        }
        rev->instances.push_back(std::move(in));
      }
    }
    return rev;
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      struct Due {
        std::string key;
        std::string address;
        Probe probe;
        CheckTarget target;
      };
      std::vector<Due> due;
      Time now = o_.clock->Now();
      for (auto& [key, rev] : revisions_) {
        if (!rev->readiness) continue;
        for (Listed& in : rev->instances) {
          if (now < in.next_probe) continue;
          in.next_probe = now + rev->readiness->period;
          CheckTarget t;
          t.host = in.host;
          t.port = in.port;
          due.push_back({key, in.address, *rev->readiness, t});
        }
      }
      if (!due.empty()) {
        lock.unlock();
        std::vector<Status> results;
        for (const Due& d : due) {
          results.push_back(RunCheck(d.probe.check, d.target, d.probe.timeout, *o_.clock));
        }
        lock.lock();
        now = o_.clock->Now();
        for (size_t i = 0; i < due.size(); ++i) {
          auto it = revisions_.find(due[i].key);
          if (it == revisions_.end()) continue;
          for (Listed& in : it->second->instances) {
            if (in.address == due[i].address) Apply(in, due[i].probe, results[i], now);
          }
        }
      }
      if (stop_) break;
      cv_.wait_for(lock, std::chrono::duration_cast<std::chrono::milliseconds>(o_.tick));
    }
  }

  static void Apply(Listed& in, const Probe& probe, const Status& result, Time now) {
    if (result.ok()) {
      in.failures = 0;
      if (in.state != InstanceState::kReady && ++in.successes >= probe.success_threshold) {
        in.state = InstanceState::kReady;
        in.ready_since = now;
        in.message.clear();
      }
      return;
    }
    in.successes = 0;
    in.message = "readiness probe failed: " + result.message();
    if (in.state == InstanceState::kReady && ++in.failures >= probe.failure_threshold) {
      in.state = InstanceState::kUnready;
      in.ready_since.reset();
    }
  }

  StaticPlatformOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                           // guarded by mu_
  std::map<std::string, std::unique_ptr<Revision>> revisions_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

StatusOr<std::map<std::string, std::vector<std::string>>> ParseStaticInstances(
    std::string_view value) {
  const std::string where(kInstancesAnnotation);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(value));
  } catch (const YAML::Exception& e) {
    return Fail(
        InvalidArgumentError(where + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg));
  }
  if (!root.IsMap()) {
    return Fail(InvalidArgumentError(where + " must be a map from image to a list of addresses"));
  }
  std::map<std::string, std::vector<std::string>> out;
  std::set<std::string> seen;
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) return Fail(InvalidArgumentError(where + ": a key is not an image"));
    std::string image = kv.first.as<std::string>();
    std::string at =
        where + ": " + image + " (line " + std::to_string(kv.first.Mark().line + 1) + ")";
    if (image.empty() || image.find(' ') != std::string::npos) {
      return Fail(InvalidArgumentError(at + ": not an image reference"));
    }
    if (out.count(image)) return Fail(InvalidArgumentError(at + ": listed twice"));
    if (!kv.second.IsSequence() || kv.second.size() == 0) {
      return Fail(InvalidArgumentError(at + ": must be a non-empty list of host:port"));
    }
    std::vector<std::string>& list = out[image];
    for (const auto& item : kv.second) {
      if (!item.IsScalar()) return Fail(InvalidArgumentError(at + ": an item is not host:port"));
      std::string address = item.as<std::string>();
      std::string item_at =
          where + ": " + address + " (line " + std::to_string(item.Mark().line + 1) + ")";
      if (auto hp = SplitHostPort(address); !hp) {
        return Fail(hp.error().WithPrefix(item_at));
      }
      if (!seen.insert(address).second) {
        return Fail(InvalidArgumentError(item_at + ": listed more than once (an instance runs "
                                                   "one version)"));
      }
      list.push_back(address);
    }
  }
  return out;
}

StatusOr<std::unique_ptr<Platform>> NewStaticPlatform(StaticPlatformOptions options) {
  if (options.clock == nullptr) return Fail(InvalidArgumentError("static platform: no clock"));
  return std::unique_ptr<Platform>(new StaticPlatform(options));
}

}  // namespace ramp::platform
