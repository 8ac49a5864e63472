#include "metrics/job/job_config.h"

#include <utility>

namespace ramp::metrics {
namespace {

using json = nlohmann::json;

// The longest job name that still fits a label value (Argo's defaults.Kubernetes_DNS_Limit).
constexpr size_t kJobNameLimit = 63;

Status StringMap(const json& metadata, const char* field, std::map<std::string, std::string>* out) {
  auto it = metadata.find(field);
  if (it == metadata.end() || it->is_null()) return OkStatus();
  const std::string error = std::string("job metadata.") + field + " must map names to strings";
  if (!it->is_object()) return InvalidArgumentError(error);
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return InvalidArgumentError(error);
    (*out)[k] = v.get<std::string>();
  }
  return OkStatus();
}

}  // namespace

StatusOr<JobConfig> ParseJobConfig(std::string_view provider_config_json) {
  json cfg = json::parse(provider_config_json, nullptr, /*allow_exceptions=*/false);
  if (cfg.is_discarded() || !cfg.is_object()) {
    return Fail(InvalidArgumentError("job provider configuration is not a JSON object"));
  }
  JobConfig out;
  auto spec = cfg.find("spec");
  if (spec == cfg.end() || !spec->is_object()) {
    return Fail(InvalidArgumentError("job has no spec"));
  }
  out.spec = std::move(*spec);
  if (auto meta = cfg.find("metadata"); meta != cfg.end() && !meta->is_null()) {
    if (!meta->is_object()) return Fail(InvalidArgumentError("job metadata must be an object"));
    RETURN_IF_ERROR(StringMap(*meta, "labels", &out.labels));
    RETURN_IF_ERROR(StringMap(*meta, "annotations", &out.annotations));
  }
  return out;
}

std::string ArgoJobName(std::string_view run_uid, std::string_view metric,
                        int64_t measurement_number) {
  const std::string suffix = "." + std::to_string(measurement_number);
  std::string name = std::string(run_uid) + "." + std::string(metric) + suffix;
  if (name.size() <= kJobNameLimit) return name;
  const size_t over = name.size() - kJobNameLimit;
  const size_t keep = metric.size() > over ? metric.size() - over : 0;
  return std::string(run_uid) + "." + std::string(metric.substr(0, keep)) + suffix;
}

}  // namespace ramp::metrics
