// JobConfig: Argo's `metrics[].provider.job` (a JobMetric: `metadata` + a batch/v1 `spec`) as
// both `job` providers read it — the local process (job_provider.h) and the Kubernetes Job
// (kube_job_provider.h) — plus what they share: Argo's job name and the measurement metadata keys.
//
// Pure functions, no I/O. Thread-safety: all functions are reentrant.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ramp/status.h"

namespace ramp::metrics {

// Measurement metadata keys (Argo's JobNameKey, JobNamespaceKey).
inline constexpr std::string_view kJobNameKey = "job-name";
inline constexpr std::string_view kJobNamespaceKey = "job-namespace";

// provider.job. Of `metadata` only the labels and annotations are used (as by Argo).
struct JobConfig {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  nlohmann::json spec;  // the JobSpec as given; always an object
};

// Parses MetricRef::provider_config_json. kInvalidArgument "job provider configuration is not a
// JSON object", "job has no spec", "job metadata.labels must map names to strings", ….
StatusOr<JobConfig> ParseJobConfig(std::string_view provider_config_json);

// Argo's job name `<run uid>.<metric>.<measurement number>`; when that is longer than 63
// characters (the job controller copies it into a pod label), the metric name is cut by the
// excess, as Argo's newJobName does.
std::string ArgoJobName(std::string_view run_uid, std::string_view metric,
                        int64_t measurement_number);

}  // namespace ramp::metrics
