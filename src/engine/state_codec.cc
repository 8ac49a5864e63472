// RolloutState to JSON and back (state_codec.h). Decoding turns the JSON into the spec
// decoders' tree once, so every part — the state's own fields, the Rollout status and the
// AnalysisRuns — is read by the strict readers the manifests use, with their JSON paths.
#include "engine/state_codec.h"

#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "engine/status.h"
#include "spec/analysis.h"
#include "spec/common.h"
#include "spec/decode.h"
#include "spec/diagnostics.h"
#include "spec/yaml_tree.h"

namespace ramp::engine {
namespace {

using json = nlohmann::json;
using spec::DecodeContext;
using spec::Node;
using spec::ObjectReader;

constexpr char kPrefix[] = "rollout state: ";
// Deeper JSON is refused rather than walked (the spec parser's own limit).
constexpr int kMaxDepth = 256;
// Errors quoted in the message; the rest are counted.
constexpr size_t kMaxErrorsShown = 8;

// A JSON value for a message: never throws, even on text that is not UTF-8.
std::string Show(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string Describe(const Node& n) {
  std::string type(n.TypeName());
  if (!n.IsScalar()) return type;
  std::string v = n.scalar.size() > 40 ? n.scalar.substr(0, 40) + "…" : n.scalar;
  return type + " " + (n.quoted ? "\"" + v + "\"" : v);
}

// ---- Times: RFC 3339 in UTC with the nanoseconds Go's RFC3339Nano keeps ----

std::string FormatTime(Time t) {
  const int64_t nanos = ToUnixNanos(t);
  int64_t frac = nanos % 1'000'000'000;
  if (frac < 0) frac += 1'000'000'000;
  std::string text = FormatMetaTime(t);  // whole seconds, "…Z"
  if (frac == 0) return text;
  std::string digits = std::to_string(frac + 1'000'000'000).substr(1);
  while (digits.back() == '0') digits.pop_back();
  text.insert(text.size() - 1, "." + digits);
  return text;
}

void PutTime(json* j, const char* key, const std::optional<Time>& t) {
  if (t) (*j)[key] = FormatTime(*t);
}

// A JSON string field: a number or bool where text belongs is an error (the spec readers take a
// plain YAML scalar as written, which a JSON document never needs).
std::optional<std::string> ReadText(ObjectReader* r, std::string_view key) {
  const Node* n = r->Field(key);
  if (n == nullptr) return std::nullopt;
  if (!n->IsScalar() || !n->quoted) {
    r->ctx()->Error(n->mark, r->FieldPath(key), "expected a string, got " + Describe(*n));
    return std::nullopt;
  }
  return n->scalar;
}

std::optional<Time> ReadTime(ObjectReader* r, std::string_view key) {
  auto text = ReadText(r, key);
  if (!text) return std::nullopt;
  auto nanos = spec::ParseMetaTime(*text);
  if (!nanos) {
    r->ctx()->Error(
        r->FieldMark(key), r->FieldPath(key),
        "invalid time \"" + *text + "\": expected RFC 3339 such as 2026-01-01T00:00:00.25Z");
    return std::nullopt;
  }
  return FromUnixNanos(*nanos);
}

// Reports `key` of the map `obj` when it is absent (or null, unless `null_ok`).
void Require(ObjectReader* r, const Node& obj, std::string_view key, std::string_view what,
             bool null_ok = false) {
  if (!r->valid()) return;
  const Node* v = obj.Find(key);
  if (v == nullptr || (!null_ok && v->IsPlainNull())) {
    r->ctx()->Error(obj.mark, r->FieldPath(key), "Required value: " + std::string(what));
  }
}

// ---- JSON to the decoders' tree ----

// JSON strings become quoted scalars (always strings), numbers, bools and null plain scalars,
// as the YAML parser makes them for the same document. False when nested deeper than
// kMaxDepth; `where` then receives the path down to there, innermost first.
bool ToNode(const json& j, int depth, Node* out, std::vector<std::string>* where) {
  if (depth > kMaxDepth) return false;
  switch (j.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
    case json::value_t::binary:
      out->kind = Node::Kind::kNull;
      return true;
    case json::value_t::boolean:
      out->kind = Node::Kind::kScalar;
      out->scalar = j.get<bool>() ? "true" : "false";
      return true;
    case json::value_t::number_integer:
      out->kind = Node::Kind::kScalar;
      out->scalar = std::to_string(j.get<int64_t>());
      return true;
    case json::value_t::number_unsigned:
      out->kind = Node::Kind::kScalar;
      out->scalar = std::to_string(j.get<uint64_t>());
      return true;
    case json::value_t::number_float: {
      const double d = j.get<double>();
      out->kind = Node::Kind::kScalar;
      if (std::isnan(d)) {
        out->scalar = ".nan";
      } else if (std::isinf(d)) {
        out->scalar = d > 0 ? ".inf" : "-.inf";
      } else {
        out->scalar = j.dump();
      }
      return true;
    }
    case json::value_t::string:
      out->kind = Node::Kind::kScalar;
      out->quoted = true;
      out->scalar = j.get_ref<const std::string&>();
      return true;
    case json::value_t::array:
      out->kind = Node::Kind::kSequence;
      out->items.resize(j.size());
      for (size_t i = 0; i < j.size(); ++i) {
        if (!ToNode(j[i], depth + 1, &out->items[i], where)) {
          where->push_back("[" + std::to_string(i) + "]");
          return false;
        }
      }
      return true;
    case json::value_t::object:
      out->kind = Node::Kind::kMap;
      out->entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        spec::MapEntry e;
        e.key = it.key();
        if (!ToNode(it.value(), depth + 1, &e.value, where)) {
          where->push_back(it.key());
          return false;
        }
        out->entries.push_back(std::move(e));
      }
      return true;
  }
  return true;
}

// ---- Revisions ----

// A revision's template as the Rollout decoder reads spec.template: the JSON kept as written,
// the metadata and the containers decoded from it.
spec::PodTemplate DecodePodTemplate(DecodeContext* ctx, const Node& n, const std::string& path) {
  spec::PodTemplate t;
  t.raw = spec::ToJson(n);
  ObjectReader r(ctx, &n, path, ObjectReader::Mode::kLenient);
  if (!r.valid()) return t;
  t.empty = n.entries.empty();
  t.metadata = spec::DecodeObjectMeta(ctx, r.Field("metadata"), r.FieldPath("metadata"));
  if (const Node* pod_spec = r.Field("spec")) {
    ObjectReader sr(ctx, pod_spec, r.FieldPath("spec"), ObjectReader::Mode::kLenient);
    t.containers = sr.List("containers", spec::DecodeContainer);
  }
  return t;
}

RevisionRecord DecodeRevision(DecodeContext* ctx, const Node& n, const std::string& path) {
  RevisionRecord rec;
  ObjectReader r(ctx, &n, path);
  rec.hash = ReadText(&r, "hash").value_or("");
  rec.revision = r.Int64("revision").value_or(0);
  // A null template is kept as null, as the Rollout decoder keeps `template: null`.
  r.Field("podTemplate");
  if (const Node* t = n.IsMap() ? n.Find("podTemplate") : nullptr) {
    rec.pod_template = DecodePodTemplate(ctx, *t, r.FieldPath("podTemplate"));
  }
  rec.scale_down_at = ReadTime(&r, "scaleDownAt");
  rec.created_at = ReadTime(&r, "createdAt");
  Require(&r, n, "hash", "the revision's pod-template hash");
  Require(&r, n, "revision", "the revision number");
  Require(&r, n, "podTemplate", "the revision's pod template", /*null_ok=*/true);
  if (const Node* h = r.valid() ? n.Find("hash") : nullptr;
      h != nullptr && !h->IsPlainNull() && rec.hash.empty()) {
    ctx->Error(n.mark, r.FieldPath("hash"), "must not be empty");
  }
  r.Finish();
  return rec;
}

json RevisionJson(const RevisionRecord& rec) {
  json j{{"hash", rec.hash}, {"revision", rec.revision}, {"podTemplate", rec.pod_template.raw}};
  PutTime(&j, "scaleDownAt", rec.scale_down_at);
  PutTime(&j, "createdAt", rec.created_at);
  return j;
}

// ---- Attached hooks' progress ----

HookRound DecodeHookRound(DecodeContext* ctx, const Node& n, const std::string& path) {
  HookRound r;
  ObjectReader rd(ctx, &n, path);
  r.key = ReadText(&rd, "key").value_or("");
  r.next = rd.Int32("next").value_or(0);
  r.awaiting = ReadText(&rd, "awaiting").value_or("");
  r.called_at = ReadTime(&rd, "calledAt");
  r.started_at = ReadTime(&rd, "startedAt");
  r.phase = ReadText(&rd, "phase").value_or("");
  r.result = ReadText(&rd, "result").value_or("");
  r.message = ReadText(&rd, "message").value_or("");
  Require(&rd, n, "key", "the round's key");
  rd.Finish();
  return r;
}

HookProgress DecodeHookProgress(DecodeContext* ctx, const Node& n, const std::string& path) {
  HookProgress p;
  ObjectReader r(ctx, &n, path);
  p.revision = ReadText(&r, "revision").value_or("");
  p.update = r.Bool("update").value_or(false);
  p.passed = r.StringList("passed");
  if (const Node* f = r.Field("failedChecks")) {
    const std::string fp = r.FieldPath("failedChecks");
    if (!f->IsMap()) {
      ctx->Error(f->mark, fp, "expected a map of object name to count, got " + Describe(*f));
    } else {
      for (const spec::MapEntry& e : f->entries) {
        if (auto v = spec::ReadInt32(ctx, e.value, spec::KeyPath(fp, e.key))) {
          p.failed_checks[e.key] = *v;
        }
      }
    }
  }
  p.rounds = r.List("rounds", DecodeHookRound);
  p.ended = ReadText(&r, "ended").value_or("");
  p.calls = r.Int64("calls").value_or(0);
  Require(&r, n, "revision", "the revision the progress belongs to");
  r.Finish();
  return p;
}

json HookProgressJson(const HookProgress& p) {
  json rounds = json::array();
  for (const HookRound& r : p.rounds) {
    json j{{"key", r.key},     {"next", r.next},     {"awaiting", r.awaiting},
           {"phase", r.phase}, {"result", r.result}, {"message", r.message}};
    PutTime(&j, "calledAt", r.called_at);
    PutTime(&j, "startedAt", r.started_at);
    rounds.push_back(std::move(j));
  }
  json failed = json::object();
  for (const auto& [object, count] : p.failed_checks) failed[object] = count;
  return json{{"revision", p.revision}, {"update", p.update},          {"passed", p.passed},
              {"failedChecks", failed}, {"rounds", std::move(rounds)}, {"ended", p.ended},
              {"calls", p.calls}};
}

// ---- Errors ----

std::string ErrorText(const spec::Diagnostics& diags) {
  std::string out;
  size_t shown = 0;
  size_t total = 0;
  for (const spec::Diagnostic& d : diags.items()) {
    if (d.severity != spec::Severity::kError) continue;
    ++total;
    if (shown == kMaxErrorsShown) continue;
    ++shown;
    if (!out.empty()) out += "; ";
    out += (d.path.empty() ? "(the state)" : d.path) + ": " + d.message;
  }
  if (total > shown) out += "; and " + std::to_string(total - shown) + " more";
  return out;
}

// Decodes the AnalysisRun documents, each with its own context so its paths can be prefixed
// with analysisRuns[i].
std::vector<spec::AnalysisRun> DecodeRuns(ObjectReader* r) {
  std::vector<spec::AnalysisRun> runs;
  const Node* list = r->Field("analysisRuns");
  if (list == nullptr) return runs;
  const std::string path = r->FieldPath("analysisRuns");
  if (!list->IsSequence()) {
    r->ctx()->Error(list->mark, path, "expected a list, got " + Describe(*list));
    return runs;
  }
  for (size_t i = 0; i < list->items.size(); ++i) {
    spec::Diagnostics run_diags;
    DecodeContext run_ctx("", &run_diags, nullptr);
    runs.push_back(spec::DecodeAnalysisRun(&run_ctx, list->items[i]));
    const std::string prefix = spec::IndexPath(path, i);
    for (const spec::Diagnostic& d : run_diags.items()) {
      if (d.severity != spec::Severity::kError) continue;  // warnings were seen when it was made
      r->ctx()->Error(d.mark, d.path.empty() ? prefix : spec::ChildPath(prefix, d.path), d.message);
    }
  }
  return runs;
}

StatusOr<RolloutState> Decode(const json& j) {
  if (!j.is_object()) {
    return Fail(InvalidArgumentError(std::string(kPrefix) + "expected a JSON object, got " +
                                     j.type_name()));
  }
  // The schema first: a state of another version is not read at all.
  auto schema = j.find("schema");
  if (schema == j.end()) {
    return Fail(InvalidArgumentError(
        std::string(kPrefix) + "schema: Required value: the format version (this ramp writes " +
        std::to_string(kRolloutStateSchema) + ")"));
  }
  if (!schema->is_number_integer()) {
    return Fail(InvalidArgumentError(std::string(kPrefix) + "schema: expected an integer, got " +
                                     schema->type_name() + " " + Show(*schema)));
  }
  const bool supported = schema->is_number_unsigned()
                             ? schema->get<uint64_t>() == kRolloutStateSchema
                             : schema->get<int64_t>() == kRolloutStateSchema;
  if (!supported) {
    return Fail(
        InvalidArgumentError(std::string(kPrefix) + "schema: unsupported version " + Show(*schema) +
                             ": this ramp reads schema " + std::to_string(kRolloutStateSchema) +
                             " only (a state written by a newer ramp cannot be read by this one)"));
  }

  Node root;
  std::vector<std::string> where;
  if (!ToNode(j, 0, &root, &where)) {
    std::string path;
    for (auto it = where.rbegin(); it != where.rend(); ++it) {
      path = (*it)[0] == '[' ? path + *it : spec::ChildPath(path, *it);
      if (path.size() > 200) {
        path += "…";
        break;
      }
    }
    return Fail(InvalidArgumentError(std::string(kPrefix) + path + ": nested deeper than " +
                                     std::to_string(kMaxDepth) + " levels"));
  }

  spec::Diagnostics diags;
  DecodeContext ctx("", &diags, nullptr);
  RolloutState state;
  ObjectReader r(&ctx, &root, "");
  r.Int64("schema");  // checked above
  if (const Node* status = r.Field("status")) {
    state.status = DecodeRolloutStatus(&ctx, *status, "status");
  }
  state.revisions = r.List("revisions", DecodeRevision);
  state.analysis_runs = DecodeRuns(&r);
  state.stable_selector = ReadText(&r, "stableSelector").value_or("");
  state.canary_selector = ReadText(&r, "canarySelector").value_or("");
  state.managed_routes = r.Bool("managedRoutes").value_or(false);
  state.weight_verify_sent = ReadTime(&r, "weightVerifySent");
  // Optional: states written before RolloutWebhooks existed have no hook progress.
  if (const Node* hooks = r.Field("hooks")) {
    state.hooks = DecodeHookProgress(&ctx, *hooks, r.FieldPath("hooks"));
  }
  Require(&r, root, "status", "the Rollout status");
  Require(&r, root, "revisions", "the list of revisions (may be empty)");
  Require(&r, root, "analysisRuns", "the list of AnalysisRuns (may be empty)");
  Require(&r, root, "stableSelector", "the stable selector (may be empty)");
  Require(&r, root, "canarySelector", "the canary selector (may be empty)");
  Require(&r, root, "managedRoutes", "whether managed routes are in place");
  // `secrets` is never written: a state that has it was not written by this codec.
  r.Finish();
  if (diags.HasErrors()) return Fail(InvalidArgumentError(std::string(kPrefix) + ErrorText(diags)));
  return state;
}

}  // namespace

json EncodeRolloutState(const RolloutState& state) {
  json j = json::object();
  j["schema"] = kRolloutStateSchema;
  j["status"] = ToJson(state.status);
  json revisions = json::array();
  for (const RevisionRecord& rec : state.revisions) revisions.push_back(RevisionJson(rec));
  j["revisions"] = std::move(revisions);
  json runs = json::array();
  for (const spec::AnalysisRun& run : state.analysis_runs) runs.push_back(spec::ToJson(run));
  j["analysisRuns"] = std::move(runs);
  j["stableSelector"] = state.stable_selector;
  j["canarySelector"] = state.canary_selector;
  j["managedRoutes"] = state.managed_routes;
  PutTime(&j, "weightVerifySent", state.weight_verify_sent);
  if (state.hooks != HookProgress{}) j["hooks"] = HookProgressJson(state.hooks);
  // state.secrets: never written (state_codec.h).
  return j;
}

StatusOr<RolloutState> DecodeRolloutState(const json& j) {
  try {
    return Decode(j);
  } catch (const std::exception& e) {
    return Fail(InvalidArgumentError(std::string(kPrefix) + "cannot be decoded: " + e.what()));
  } catch (...) {
    return Fail(InvalidArgumentError(std::string(kPrefix) + "cannot be decoded"));
  }
}

}  // namespace ramp::engine
