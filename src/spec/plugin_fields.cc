#include "spec/plugin_fields.h"

#include <cmath>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "spec/common.h"

namespace ramp::spec {

Status PluginFields::Error(std::string_view field, std::string_view what) const {
  return InvalidArgumentError(fmt::format("{}: {}: {}", provider_, field, what));
}

StatusOr<double> PluginFields::Number(const nlohmann::json& v, std::string_view field) const {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return d;
  }
  return Fail(Error(field, "must be a number, got " + v.dump()));
}

StatusOr<int64_t> PluginFields::Integer(const nlohmann::json& v, std::string_view field) const {
  ASSIGN_OR_RETURN(double d, Number(v, field));
  if (d != std::floor(d) || std::abs(d) > 9e15) {
    return Fail(Error(field, "must be a whole number, got " + v.dump()));
  }
  return static_cast<int64_t>(d);
}

StatusOr<std::string> PluginFields::String(const nlohmann::json& v, std::string_view field) const {
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    return Fail(Error(field, "must be a non-empty string, got " + v.dump()));
  }
  return v.get<std::string>();
}

StatusOr<int64_t> PluginFields::Millis(const nlohmann::json& v, std::string_view field) const {
  ASSIGN_OR_RETURN(std::string text, String(v, field));
  std::optional<int64_t> nanos = ParseGoDuration(text);
  if (!nanos || *nanos < 0) {
    return Fail(Error(field, "\"" + text + "\" is not a duration such as \"1s\" or \"10m\""));
  }
  return *nanos / 1'000'000;
}

}  // namespace ramp::spec
