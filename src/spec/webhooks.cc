// RolloutWebhooks decoding (webhooks.h). ValidateRampObject (extensions.cc) owns the rules and
// their messages; this file only reads a validated document into the typed object.
#include "spec/webhooks.h"

#include <algorithm>
#include <string>
#include <utility>

#include "spec/diagnostics.h"
#include "spec/extensions.h"
#include "spec/yaml_tree.h"

namespace ramp::spec {
namespace {

using Mode = ObjectReader::Mode;

Duration ReadDuration(ObjectReader* r, std::string_view key, Duration fallback) {
  std::optional<std::string> text = r->String(key);
  if (!text) return fallback;
  std::optional<int64_t> nanos = ParseGoDuration(*text);
  return nanos ? Duration(*nanos) : fallback;
}

WebhookSpec DecodeWebhook(DecodeContext* ctx, const Node& node, const std::string& path) {
  WebhookSpec w;
  ObjectReader r(ctx, &node, path, Mode::kLenient);
  w.name = r.String("name").value_or("");
  w.type = ParseHookType(r.String("type").value_or("")).value_or(HookType::kRollout);
  w.url = r.String("url").value_or("");
  w.timeout = ReadDuration(&r, "timeout", w.timeout);
  w.retries = r.Int32("retries").value_or(0);
  w.metadata = r.StringMap("metadata");
  w.mute_alert = r.Bool("muteAlert").value_or(false);
  w.disable_tls = r.Bool("disableTLS").value_or(false);
  return w;
}

std::string Namespace(const std::string& ns) { return ns.empty() ? "default" : ns; }

}  // namespace

RolloutWebhooks DecodeRolloutWebhooks(DecodeContext* ctx, const Node& root) {
  RolloutWebhooks out;
  ObjectReader r(ctx, &root, "", Mode::kLenient);
  out.metadata = DecodeObjectMeta(ctx, r.Field("metadata"), "metadata");
  ObjectReader s(ctx, r.Field("spec"), "spec", Mode::kLenient);
  ObjectReader ref(ctx, s.Field("rolloutRef"), "spec.rolloutRef", Mode::kLenient);
  out.rollout_name = ref.String("name").value_or("");
  out.interval = ReadDuration(&s, "interval", out.interval);
  out.threshold = s.Int32("threshold").value_or(out.threshold);
  out.webhooks = s.List("webhooks", DecodeWebhook);
  return out;
}

StatusOr<RolloutWebhooks> ParseRolloutWebhooks(const nlohmann::json& document) {
  std::string text;
  try {
    text = document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string("RolloutWebhooks: ") + e.what()));
  }
  StatusOr<std::vector<Document>> docs = ParseDocuments(text, "RolloutWebhooks");
  if (!docs) return Fail(docs.error());
  if (docs->size() != 1 || !(*docs)[0].root.IsMap()) {
    return Fail(InvalidArgumentError("RolloutWebhooks: expected one JSON object"));
  }
  const Node& root = (*docs)[0].root;
  Diagnostics diags;
  DecodeContext ctx("", &diags, nullptr);
  const Node* kind = root.Find("kind");
  if (kind == nullptr || !kind->IsScalar() || kind->scalar != kRolloutWebhooksKind) {
    return Fail(InvalidArgumentError("RolloutWebhooks: kind: expected \"RolloutWebhooks\""));
  }
  ValidateRampObject(&ctx, root);
  if (diags.HasErrors()) {
    std::string message;
    for (const Diagnostic& d : diags.items()) {
      if (d.severity != Severity::kError) continue;
      message += (message.empty() ? "" : "; ") + (d.path.empty() ? "(the object)" : d.path) + ": " +
                 d.message;
    }
    return Fail(InvalidArgumentError("RolloutWebhooks: " + message));
  }
  return DecodeRolloutWebhooks(&ctx, root);
}

std::vector<AttachedWebhook> AttachedWebhooksFor(const Rollout& rollout,
                                                 const std::vector<RolloutWebhooks>& all) {
  std::vector<const RolloutWebhooks*> mine;
  const std::string ns = Namespace(rollout.metadata.namespace_);
  for (const RolloutWebhooks& w : all) {
    if (Namespace(w.metadata.namespace_) == ns && w.rollout_name == rollout.metadata.name) {
      mine.push_back(&w);
    }
  }
  std::stable_sort(mine.begin(), mine.end(),
                   [](const RolloutWebhooks* a, const RolloutWebhooks* b) {
                     return a->metadata.name < b->metadata.name;
                   });
  std::vector<AttachedWebhook> out;
  for (const RolloutWebhooks* w : mine) {
    for (const WebhookSpec& hook : w->webhooks) {
      out.push_back(AttachedWebhook{w->metadata.name, w->interval, w->threshold, hook});
    }
  }
  return out;
}

}  // namespace ramp::spec
