// Null-safe reads of Kubernetes objects as JSON: the value at a path of object keys, or nothing
// when a step is missing or not an object — how every part of Kubernetes mode reads the objects
// the API server returns (which it does not validate against ramp's expectations).
//
// Thread-safety: pure functions over values.
#pragma once

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

namespace ramp::kube {

// The value at `path` (object keys, outermost first) of `object`, or nullptr.
template <typename Path>
const nlohmann::json* JsonAt(const nlohmann::json& object, const Path& path) {
  const nlohmann::json* cur = &object;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

inline const nlohmann::json* JsonAt(const nlohmann::json& object,
                                    std::initializer_list<const char*> path) {
  return JsonAt<std::initializer_list<const char*>>(object, path);
}

// The string at `path`, or "" when it is missing or not a string.
inline std::string JsonString(const nlohmann::json& object,
                              std::initializer_list<const char*> path) {
  const nlohmann::json* v = JsonAt(object, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace ramp::kube
