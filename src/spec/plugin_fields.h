// PluginFields: the typed reads a ramp plugin configuration parser needs (ramp/judge-*,
// ramp/slo), each failing with InvalidArgument "<provider>: <field>: <what>". Numbers may be
// written as text, as an {{args.…}} substitution leaves them.
//
// Pure. Thread-safety: const methods on an immutable object; safe to share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "ramp/status.h"

namespace ramp::spec {

class PluginFields {
 public:
  explicit PluginFields(std::string_view provider) : provider_(provider) {}

  Status Error(std::string_view field, std::string_view what) const;
  StatusOr<double> Number(const nlohmann::json& v, std::string_view field) const;
  StatusOr<int64_t> Integer(const nlohmann::json& v, std::string_view field) const;
  // A non-empty string.
  StatusOr<std::string> String(const nlohmann::json& v, std::string_view field) const;
  // A Go duration ("1s", "10m") ≥ 0, in milliseconds.
  StatusOr<int64_t> Millis(const nlohmann::json& v, std::string_view field) const;

 private:
  std::string_view provider_;
};

}  // namespace ramp::spec
