// Types shared by every manifest kind: object metadata, label selectors, Go durations, and the
// analysis arguments, dry-run and retention rules that both Rollouts and AnalysisTemplates carry.
//
// These are plain immutable values once decoded; the Decode* functions read them strictly from a
// YAML tree and report every problem to the DecodeContext.
//
// Thread-safety: values are safe to share for reading; decoding uses one context per call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/decode.h"

namespace ramp::spec {

inline constexpr char kArgoApiVersion[] = "argoproj.io/v1alpha1";
inline constexpr char kArgoGroup[] = "argoproj.io";
inline constexpr char kRampGroup[] = "ramp.dev";

// metav1.ObjectMeta: the fields ramp reads are type-checked; the rest (managedFields, …) pass.
struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  std::optional<int64_t> generation;
  std::string creation_timestamp;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};
ObjectMeta DecodeObjectMeta(DecodeContext* ctx, const Node* node, const std::string& path);

// {labels, annotations}: analysisRunMetadata, canaryMetadata, stableMetadata, ….
struct PodMetadata {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};
PodMetadata DecodePodMetadata(DecodeContext* ctx, const Node* node, const std::string& path);

struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};
struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
};
LabelSelector DecodeLabelSelector(DecodeContext* ctx, const Node* node, const std::string& path);

// Go's time.ParseDuration: "300ms", "1.5h", "2h45m", "-1m"; "0" alone is allowed. Units: ns,
// us, µs, ms, s, m, h (no days). Returns nanoseconds, or nothing when the text is not a duration.
std::optional<int64_t> ParseGoDuration(std::string_view text);
// A duration in nanoseconds formatted as Go prints it ("1h30m0s", "500ms").
std::string FormatGoDuration(int64_t nanos);

// A Go duration string field as written; `nanos` is set when it parses.
struct DurationString {
  std::string text;
  std::optional<int64_t> nanos;
  bool empty() const { return text.empty(); }
};
// Reads a duration-string field; a bare number ("30") is an error naming the missing unit.
std::optional<DurationString> ReadDurationString(DecodeContext* ctx, const Node& n,
                                                 const std::string& path);

// valueFrom of an argument.
struct SecretKeyRef {
  std::string name;
  std::string key;
};
struct ArgumentValueFrom {
  std::optional<SecretKeyRef> secret_key_ref;          // AnalysisTemplate args
  std::optional<std::string> field_ref;                // fieldRef.fieldPath
  std::optional<std::string> pod_template_hash_value;  // Rollout args: Stable | Latest
};
// An argument of an AnalysisTemplate (value optional: supplied by the caller) or of a Rollout's
// analysis reference (value or valueFrom).
struct Argument {
  std::string name;
  std::optional<std::string> value;
  std::optional<ArgumentValueFrom> value_from;
};
// `rollout_arg` selects the Rollout flavour of valueFrom (podTemplateHashValue, fieldRef) over
// the template flavour (secretKeyRef, fieldRef).
Argument DecodeArgument(DecodeContext* ctx, const Node& node, const std::string& path,
                        bool rollout_arg);

// A reference to an AnalysisTemplate (or, with cluster_scope, a ClusterAnalysisTemplate): in a
// Rollout's analysis and in an AnalysisTemplate's nested templates.
struct AnalysisTemplateRef {
  std::string template_name;
  bool cluster_scope = false;
};
AnalysisTemplateRef DecodeAnalysisTemplateRef(DecodeContext* ctx, const Node& node,
                                              const std::string& path);

struct DryRun {
  std::string metric_name;  // a regular expression over metric names
};
DryRun DecodeDryRun(DecodeContext* ctx, const Node& node, const std::string& path);

struct MeasurementRetention {
  std::string metric_name;  // a regular expression over metric names
  int32_t limit = 0;
};
MeasurementRetention DecodeMeasurementRetention(DecodeContext* ctx, const Node& node,
                                                const std::string& path);

// A Kubernetes resource.Quantity: 128Mi, 500m, 0.5, 2, 1e3.
bool IsKubernetesQuantity(std::string_view s);
// Checks a resource list (resources.limits or resources.requests): a bad quantity makes the API
// server refuse the whole object, so it is an error here too.
void CheckResourceList(DecodeContext* ctx, const Node* n, const std::string& path);

struct ContainerPort {
  std::string name;
  int32_t container_port = 0;
  std::string protocol;
};

struct EnvVar {
  std::string name;
  std::optional<std::string> value;
  std::optional<nlohmann::json> value_from;
};

// The container fields ramp reads from an embedded pod spec (Rollout template, Job, Experiment);
// the rest stays in the object's raw JSON.
struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::vector<ContainerPort> ports;
};

// Decodes one container leniently (Kubernetes' own fields pass untouched): type-checks what
// ramp reads, requires name and image, and checks resource quantities.
Container DecodeContainer(DecodeContext* ctx, const Node& node, const std::string& path);

// Checks apiVersion/kind of a document root against the expected kind; reports mismatches.
void CheckTypeMeta(ObjectReader* r, std::string_view expected_kind);

}  // namespace ramp::spec
