// The `job` metric provider in Kubernetes mode: each measurement is a batch/v1 Job created through
// the API, as Argo Rollouts' job provider does it (metricproviders/job/job.go). The metric's
// configuration is the same `provider.job` (metadata + JobSpec) the local provider reads.
//
//   * Run creates Job `<run uid>.<metric>.<n>` (the metric name cut so the name fits 63
//     characters) in the AnalysisRun's namespace, or in `job_namespace` when set. The Job gets
//     provider.job's labels and annotations plus label analysisrun.argoproj.io/uid and
//     annotations analysisrun.argoproj.io/name, /namespace and /metric-name; its pod template
//     gets the uid label too; in the run's namespace it is owned by the AnalysisRun (controller
//     owner reference), elsewhere it has no owner. The JobSpec is sent as given (backoffLimit,
//     ttlSecondsAfterFinished, activeDeadlineSeconds are the API server's and job controller's
//     business). A Job of that name that already exists and belongs to the same run is adopted.
//     The answer is Running with resume_at = now and metadata job-name and job-namespace.
//   * Resume reads the Job: condition Complete=True → Successful, Failed=True → Failed with the
//     condition's message. Otherwise, when a pod of the Job has a container waiting with
//     ErrImagePull, ImagePullBackOff or InvalidImageName, Inconclusive (Argo: the job cannot make
//     progress without a human); else still Running, resumed after √(2·elapsed seconds). A Job
//     that no longer exists is an Error saying so.
//   * Terminate deletes the Job (propagation Foreground, as Argo) and answers Inconclusive; a
//     Job already gone is fine. A Terminate that arrives while this provider's Run is still
//     creating the Job waits for the create, then deletes it.
//   * GarbageCollect deletes the oldest Jobs of the run and metric beyond `limit` (by
//     creationTimestamp, then measurement number).
//   * Every API failure is a measurement Error (or GarbageCollect's error) carrying the API
//     server's message; secrets of the run are redacted from every message.
//
// Thread-safety: all methods may be called concurrently from any thread; answers come on the
// KubeClient's callback threads. The provider may be destroyed while requests are out (their
// answers are still delivered); the KubeClient must outlive every request.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "ramp/metric_provider.h"
#include "ramp/status.h"

namespace ramp::kube {
class KubeClient;
}  // namespace ramp::kube

namespace ramp::metrics {

struct KubeJobProviderOptions {
  kube::KubeClient* client = nullptr;  // required
  // Where Jobs are created; empty = each AnalysisRun's own namespace (Argo's
  // ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE; see AnalysisJobNamespaceFromEnv).
  std::string job_namespace;
  // The uid the API server gave an AnalysisRun (Kubernetes mode: the kubernetes store's
  // ClusterUid), used for the Job's name, uid label and owner reference; empty answers, or no
  // function, keep the run's own uid.
  std::function<std::string(const ObjectRef&)> run_uid;
};

// kInvalidArgument without a client.
StatusOr<std::unique_ptr<MetricProvider>> NewKubeJobProvider(KubeJobProviderOptions options);

// $ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE, or "" when unset.
std::string AnalysisJobNamespaceFromEnv();

}  // namespace ramp::metrics
