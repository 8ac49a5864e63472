// ramp's extensions to Argo manifests, and their strict validation.
//
// A ramp manifest stays a valid Argo object: every extension lives where Argo allows free-form
// configuration — trafficRouting.plugins["ramp/<router>"], metrics[].provider.plugin
// ["ramp/<provider>"], a step plugin named "ramp/<x>", annotations under ramp.dev/ — or in
// ramp's own kinds (apiVersion ramp.dev/v1alpha1). docs/manifests.md is the field table of each.
// These functions are called by the Argo decoders when they meet such a place; each reports
// every problem to the DecodeContext and returns false when the configuration is invalid.
//
// Thread-safety: pure functions; one DecodeContext per call.
#pragma once

#include <string>
#include <string_view>

#include "spec/decode.h"

namespace ramp::spec {

// True for names in ramp's namespace of plugins ("ramp/…").
bool IsRampPluginName(std::string_view name);

// trafficRouting.plugins["ramp/proxy" | "ramp/haproxy" | "ramp/nginx"]: `config` is the value.
bool ValidateRampRouterPlugin(DecodeContext* ctx, std::string_view name, const Node& config,
                              const std::string& path);

// metrics[].provider.plugin["ramp/builtin" | "ramp/judge-errors" | "ramp/judge-latency" |
// "ramp/slo"].
bool ValidateRampMetricPlugin(DecodeContext* ctx, std::string_view name, const Node& config,
                              const std::string& path);

// steps[].plugin with name "ramp/…": `config` may be null.
bool ValidateRampStepPlugin(DecodeContext* ctx, std::string_view name, const Node* config,
                            const std::string& path);

// metadata.annotations of a Rollout: ramp.dev/* keys (platform, static instances, …) and Argo's
// notifications.argoproj.io/subscribe.<trigger>.<service> subscriptions. `annotations` is the
// annotations map node (may be nullptr); `path` is its field path.
void ValidateRolloutAnnotations(DecodeContext* ctx, const Node* annotations,
                                const std::string& path);

// spec.template.spec of a Rollout, as a process workload off Kubernetes: type-checks the fields
// ramp honours (containers[0] command, args, env, ports, probes, lifecycle.preStop,
// terminationGracePeriodSeconds) and warns about fields ignored off Kubernetes (resources,
// volumes, further containers, …). `pod_spec` may be nullptr (workloadRef).
void CheckProcessWorkload(DecodeContext* ctx, const Node* pod_spec, const std::string& path);

// Documents of ramp's own kinds (apiVersion ramp.dev/v1alpha1). Returns false and reports an
// error for an unknown kind.
bool ValidateRampObject(DecodeContext* ctx, const Node& root);

}  // namespace ramp::spec
