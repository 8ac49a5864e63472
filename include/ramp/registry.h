// Registry: named factories for one interface — how configuration names an implementation
// ("prometheus", "ramp/proxy", "sqlite", "process", …) and how it gets built.
//
// One Registry per interface, e.g. Registry<MetricProvider>, or Registry<TrafficRouter, const
// RouterContext&> when each instance is built from per-object arguments. main registers every
// factory explicitly (no static-initialisation magic: a factory in a static library that nothing
// references would silently vanish); shared dependencies (HttpClient, Clock) are captured by the
// factory when main registers it, so `Args` carry only what differs per instance.
//
// Contract: Register fails with kInvalidArgument for an empty name or an empty factory and with
// kAlreadyExists for a name already taken. Create fails with kNotFound for an unknown name, the
// message listing the known names; otherwise it returns what the factory returns (a factory
// reports bad configuration as a Status; a factory returning null is kInternal).
//
// Thread-safety: Register is for start-up, before any other thread uses the registry; after
// that, Create, Contains and Names may be called concurrently (they only read; factories must be
// safe to call concurrently).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ramp/status.h"

namespace ramp {

template <typename Interface, typename... Args>
class Registry {
 public:
  using Factory = std::function<StatusOr<std::unique_ptr<Interface>>(Args...)>;

  // `what` names the interface in messages: "metric provider", "traffic router", ….
  explicit Registry(std::string what) : what_(std::move(what)) {}

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  Registry(Registry&&) = default;
  Registry& operator=(Registry&&) = default;

  // Adds `factory` under `name`.
  Status Register(std::string name, Factory factory) {
    if (name.empty()) return InvalidArgumentError("cannot register a " + what_ + " without a name");
    if (!factory) return InvalidArgumentError("empty factory for " + what_ + " \"" + name + "\"");
    if (factories_.contains(name)) {
      return AlreadyExistsError(what_ + " \"" + name + "\" is already registered");
    }
    factories_.emplace(std::move(name), std::move(factory));
    return OkStatus();
  }

  // Builds the implementation registered under `name`.
  StatusOr<std::unique_ptr<Interface>> Create(std::string_view name, Args... args) const {
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      return Fail(NotFoundError("unknown " + what_ + " \"" + std::string(name) +
                                "\"; known: " + KnownList()));
    }
    StatusOr<std::unique_ptr<Interface>> made = it->second(std::forward<Args>(args)...);
    if (made.has_value() && *made == nullptr) {
      return Fail(
          InternalError("factory of " + what_ + " \"" + std::string(name) + "\" returned nothing"));
    }
    return made;
  }

  bool Contains(std::string_view name) const { return factories_.find(name) != factories_.end(); }

  // The registered names, sorted.
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    names.reserve(factories_.size());
    for (const auto& [name, factory] : factories_) names.push_back(name);
    return names;
  }

  const std::string& what() const { return what_; }

 private:
  // "a, b, c", or "(none)".
  std::string KnownList() const {
    if (factories_.empty()) return "(none)";
    std::string out;
    for (const auto& [name, factory] : factories_) {
      if (!out.empty()) out += ", ";
      out += name;
    }
    return out;
  }

  std::string what_;
  std::map<std::string, Factory, std::less<>> factories_;
};

}  // namespace ramp
