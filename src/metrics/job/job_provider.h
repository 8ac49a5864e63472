// The `job` metric provider off Kubernetes: runs `spec.template.spec.containers[0]` of Argo's
// `provider.job` as a local process and reports its verdict (exit 0 → Successful, non-zero or
// killed → Failed, past activeDeadlineSeconds → Failed, terminated → Inconclusive), with the last
// 4 KiB of its output (secrets redacted) as the measurement message.
//
// A failed attempt is retried `backoffLimit` times (default 6, as Kubernetes) after a back-off of
// 10 s doubled per failure, at most 6 min, measured on the clock; activeDeadlineSeconds bounds
// every attempt together.
//
// Each job runs in its own session (and so its own process group) in a fresh temporary working
// directory, removed afterwards; the whole group is killed (SIGTERM, then SIGKILL after a grace
// period) on deadline, Terminate, or destruction of the provider, and any process of the group
// still alive when the main process exits is killed too. One supervisor thread per running job
// completes `done`; Run never blocks.
//
// Thread-safety: all methods may be called concurrently from any thread. The destructor stops
// every running job and waits for its supervisor; it must not be called from inside a callback.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/subprocess.h"
#include "ramp/clock.h"
#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::metrics {

struct JobProviderOptions {
  // Resolves env[].valueFrom.secretKeyRef (same signature as analysis::SecretLookup; see
  // src/secrets). Null = secretKeyRef is an Error. Resolved values are redacted from output.
  std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)> secrets;
  // Between SIGTERM and SIGKILL of the job's process group.
  std::chrono::milliseconds kill_grace{2000};
  // How much of the job's output (stdout and stderr together, the end of it) is kept.
  size_t output_limit = 4096;
  // Where temporary working directories are made; empty = $TMPDIR or /tmp.
  std::string temp_root;
};

// `clock` (for activeDeadlineSeconds) must outlive the provider.
std::unique_ptr<MetricProvider> NewJobProvider(const Clock* clock, JobProviderOptions options = {});

// Kubernetes' $(VAR) expansion (src/common/subprocess.h), under its former name.
using ::ramp::ExpandKubernetesVars;

}  // namespace ramp::metrics
