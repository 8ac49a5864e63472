// RolloutWebhooks (apiVersion ramp.dev/v1alpha1): Flagger-type webhooks attached to an Argo
// Rollout of the same namespace without editing it (docs/manifests.md, "RolloutWebhooks").
//
// The typed object is decoded from a document that ValidateRampObject (extensions.h) accepted:
// LoadManifests does both and exposes the result as ManifestSet::rollout_webhooks. The engine
// does not read these objects directly: AttachedWebhooksFor flattens the objects that name a
// Rollout into the ordered list the engine takes (engine::ReconcileContext::webhooks).
//
// Thread-safety: plain values and pure functions; call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/hook.h"
#include "spec/common.h"
#include "spec/decode.h"
#include "spec/rollout.h"

namespace ramp::spec {

inline constexpr char kRolloutWebhooksKind[] = "RolloutWebhooks";

// spec.webhooks[]: one hook in Flagger's shape.
struct WebhookSpec {
  std::string name;
  HookType type = HookType::kRollout;  // "" and absent mean rollout, as in Flagger
  std::string url;
  Duration timeout = std::chrono::seconds(10);  // per attempt
  int32_t retries = 0;
  std::map<std::string, std::string> metadata;
  bool mute_alert = false;
  bool disable_tls = false;

  friend bool operator==(const WebhookSpec&, const WebhookSpec&) = default;
};

struct RolloutWebhooks {
  ObjectMeta metadata;
  std::string rollout_name;                     // spec.rolloutRef.name
  Duration interval = std::chrono::minutes(1);  // spec.interval
  int32_t threshold = 1;                        // spec.threshold
  std::vector<WebhookSpec> webhooks;
};

// One hook as attached to a Rollout, with the settings of the object that declares it.
struct AttachedWebhook {
  std::string object;  // the RolloutWebhooks' metadata.name
  Duration interval = std::chrono::minutes(1);
  int32_t threshold = 1;
  WebhookSpec hook;

  friend bool operator==(const AttachedWebhook&, const AttachedWebhook&) = default;
};

// Decodes a RolloutWebhooks document that ValidateRampObject accepted (fields are read
// leniently: validation has reported every problem already). Defaults are applied.
RolloutWebhooks DecodeRolloutWebhooks(DecodeContext* ctx, const Node& root);

// Validates and decodes one RolloutWebhooks document given as JSON (e.g. as stored by the
// daemon). InvalidArgument lists every problem as "path: message", separated by "; ".
StatusOr<RolloutWebhooks> ParseRolloutWebhooks(const nlohmann::json& document);

// The hooks of `all` attached to `rollout`: objects of the Rollout's namespace (empty means
// "default" on both sides) whose rolloutRef.name is the Rollout's name, ordered by object name,
// then by their order in spec.webhooks.
std::vector<AttachedWebhook> AttachedWebhooksFor(const Rollout& rollout,
                                                 const std::vector<RolloutWebhooks>& all);

}  // namespace ramp::spec
