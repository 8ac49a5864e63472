#include "slo/slo.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "slo/promql_matcher.h"
#include "spec/decode.h"
#include "spec/diagnostics.h"
#include "spec/yaml_tree.h"

namespace ramp::slo {
namespace {

using spec::ChildPath;
using spec::DecodeContext;
using spec::Document;
using spec::Mark;
using spec::Node;
using spec::ObjectReader;
using std::chrono::seconds;

constexpr std::string_view kSlothVersion = "prometheus/v1";
constexpr std::string_view kSlothApiVersion = "sloth.slok.dev/v1";
constexpr std::string_view kOpenSloApiVersion = "openslo/v1";
constexpr size_t kOpenSloMaxDescription = 1050;
constexpr seconds kSlothPeriod{30 * 24 * 3600};

double BurnFor(double budget_percent, seconds period, seconds long_window) {
  return budget_percent * static_cast<double>(period.count()) /
         (100 * static_cast<double>(long_window.count()));
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

// An OpenSLO burn-rate condition, before it meets the period of the SLO that uses it.
struct Condition {
  std::string severity;
  double threshold = 0;
  seconds lookback{0};
  std::string name;
};

// A Sloth AlertWindows object.
struct WindowSet {
  seconds period{0};
  std::vector<BurnWindow> windows;
  Mark mark;
  bool matched = false;
};

// An SLO while the file is read: windows come last, once every AlertWindows is known.
struct PendingSlo {
  Slo slo;
  bool explicit_windows = false;
  bool page_enabled = true;
  bool ticket_enabled = true;
  Mark mark;
  std::string path;
};

// A named OpenSLO object of kind SLI, AlertCondition or AlertPolicy: the decoded value, or
// nothing when it had errors (already reported).
template <typename T>
struct Named {
  std::optional<T> value;
  Mark mark;
};

class SloFileParser {
 public:
  explicit SloFileParser(std::string_view file)
      : file_(file), ctx_(std::string(file), &errors_, nullptr) {}

  StatusOr<std::vector<Slo>> Parse(std::string_view text) {
    ASSIGN_OR_RETURN(std::vector<Document> docs, spec::ParseDocuments(text, file_));
    // Pass 1: everything that does not refer to other objects; pass 2: AlertPolicies (they
    // refer to AlertConditions); pass 3: OpenSLO SLOs (they refer to SLIs and AlertPolicies).
    std::vector<const Document*> policies, openslo_slos;
    for (const Document& doc : docs) {
      const Node& root = doc.root;
      if (root.IsNull()) continue;
      if (!root.IsMap()) {
        ctx_.Error(root.mark, "",
                   "expected an SLO document (a map), got " + std::string(root.TypeName()));
        continue;
      }
      const Node* api_version = root.Find("apiVersion");
      const Node* version = root.Find("version");
      const std::string api = api_version != nullptr ? api_version->scalar : "";
      const Node* kind_node = root.Find("kind");
      const std::string kind = kind_node != nullptr ? kind_node->scalar : "";
      if (api_version == nullptr && version != nullptr) {
        DecodeSloth(root);
      } else if (api == kSlothApiVersion && kind == "AlertWindows") {
        DecodeAlertWindows(root);
      } else if (api == kSlothApiVersion && kind == "PrometheusServiceLevel") {
        Unimplemented(root.KeyMark("kind"), "kind",
                      "Sloth's Kubernetes kind PrometheusServiceLevel is not read; write the same "
                      "SLOs as a `version: prometheus/v1` file");
      } else if (api == kOpenSloApiVersion) {
        if (kind == "SLI") {
          DecodeNamed(root, "SLI", &slis_, [this](const Node* spec, const std::string& path) {
            return DecodeSliSpec(spec, path);
          });
        } else if (kind == "AlertCondition") {
          DecodeNamed(root, "AlertCondition", &conditions_,
                      [this](const Node* spec, const std::string& path) {
                        return DecodeConditionSpec(spec, path);
                      });
        } else if (kind == "AlertPolicy") {
          policies.push_back(&doc);
        } else if (kind == "SLO") {
          openslo_slos.push_back(&doc);
        } else if (kind == "Service" || kind == "DataSource" || kind == "AlertNotificationTarget") {
          continue;  // accepted, nothing ramp reads
        } else {
          ctx_.Error(kind_node != nullptr ? kind_node->mark : root.mark, "kind",
                     fmt::format("unknown OpenSLO kind \"{}\" (expected SLO, SLI, AlertPolicy, "
                                 "AlertCondition, Service, DataSource or AlertNotificationTarget)",
                                 kind));
        }
      } else if (api.starts_with("openslo/")) {
        ctx_.Error(api_version->mark, "apiVersion",
                   fmt::format("OpenSLO \"{}\" is not read; ramp reads openslo/v1", api));
      } else {
        ctx_.Error(api_version != nullptr ? api_version->mark : root.mark,
                   api_version != nullptr ? "apiVersion" : "",
                   "not an SLO document: expected Sloth `version: prometheus/v1`, Sloth "
                   "`apiVersion: sloth.slok.dev/v1` (kind AlertWindows) or `apiVersion: "
                   "openslo/v1`");
      }
    }
    for (const Document* doc : policies) {
      DecodeNamed(doc->root, "AlertPolicy", &policies_,
                  [this](const Node* spec, const std::string& path) {
                    return DecodePolicySpec(spec, path);
                  });
    }
    for (const Document* doc : openslo_slos) DecodeOpenSlo(doc->root);
    return Finish();
  }

 private:
  void Error(Mark mark, const std::string& path, std::string message) {
    ctx_.Error(mark, path, std::move(message));
  }
  void Unimplemented(Mark mark, const std::string& path, std::string message) {
    unimplemented_.Error(file_, mark, path, std::move(message));
  }

  // A required, non-empty string field.
  std::optional<std::string> RequiredString(ObjectReader* r, const Node* parent,
                                            std::string_view key) {
    auto s = r->String(key);
    if (!r->Has(key)) {
      Error(parent != nullptr ? parent->mark : Mark{}, r->FieldPath(key), "required");
      return std::nullopt;
    }
    if (s && s->empty()) {
      Error(r->FieldMark(key), r->FieldPath(key), "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  // A duration field in Prometheus notation ("30d", "5m").
  std::optional<seconds> DurationField(ObjectReader* r, std::string_view key) {
    auto s = r->String(key);
    if (!s) return std::nullopt;
    auto d = ParsePromDuration(*s);
    if (!d.has_value()) {
      Error(r->FieldMark(key), r->FieldPath(key), d.error().message());
      return std::nullopt;
    }
    return *d;
  }

  // A PromQL query field: required, and lexically sound.
  std::optional<std::string> QueryField(ObjectReader* r, const Node* parent, std::string_view key) {
    auto q = RequiredString(r, parent, key);
    if (!q) return std::nullopt;
    if (Status s = CheckPromQlLexically(*q); !s.ok()) {
      Error(r->FieldMark(key), r->FieldPath(key), s.message());
      return std::nullopt;
    }
    return q;
  }

  // ---------------------------------------------------------------------------------------------
  // Sloth prometheus/v1

  void DecodeSloth(const Node& root) {
    ObjectReader r(&ctx_, &root, "");
    auto version = r.String("version");
    if (version && *version != kSlothVersion) {
      Error(root.KeyMark("version"), "version",
            fmt::format("unsupported Sloth version \"{}\" (ramp reads prometheus/v1)", *version));
    }
    auto service = RequiredString(&r, &root, "service");
    r.StringMap("labels");
    r.Json("slo_plugins");
    if (!r.Has("slos")) {
      Error(root.mark, "slos", "required: at least one SLO");
    } else if (const Node* list = r.Field("slos"); list->IsSequence() && list->items.empty()) {
      Error(root.KeyMark("slos"), "slos", "at least one SLO is required");
    }
    auto slos = r.List("slos", [&](DecodeContext*, const Node& n, const std::string& path) {
      return DecodeSlothSlo(n, path, service.value_or(""));
    });
    r.Finish();
    for (auto& p : slos) {
      if (p) pending_.push_back(std::move(*p));
    }
  }

  std::optional<PendingSlo> DecodeSlothSlo(const Node& node, const std::string& path,
                                           const std::string& service) {
    ObjectReader r(&ctx_, &node, path);
    if (!r.valid()) return std::nullopt;
    const size_t errors_before = ctx_.error_count() + unimplemented_.ErrorCount();
    PendingSlo p;
    p.mark = node.mark;
    p.path = path;
    p.slo.service = service;
    p.slo.period = kSlothPeriod;
    p.slo.source = fmt::format("{}:{}", file_, node.mark.line);
    if (auto name = RequiredString(&r, &node, "name")) {
      if (name->find('/') != std::string::npos) {
        Error(r.FieldMark("name"), r.FieldPath("name"), "must not contain '/'");
      }
      p.slo.name = *name;
    }
    p.slo.description = r.String("description").value_or("");
    auto objective = r.Float("objective");
    if (!r.Has("objective")) {
      Error(node.mark, r.FieldPath("objective"), "required (a percentage such as 99.9)");
    } else if (objective) {
      if (!(*objective > 0 && *objective < 100)) {
        Error(r.FieldMark("objective"), r.FieldPath("objective"), "must be between 0 and 100");
      }
      p.slo.objective = *objective / 100;
    }
    r.StringMap("labels");
    r.Json("plugins");
    if (const Node* sli = r.Field("sli")) {
      DecodeSlothSli(*sli, r.FieldPath("sli"), &p.slo.sli);
    } else {
      Error(node.mark, r.FieldPath("sli"), "required: one of events, raw or plugin");
    }
    if (const Node* alerting = r.Field("alerting")) {
      ObjectReader a(&ctx_, alerting, r.FieldPath("alerting"));
      a.String("name");
      a.StringMap("labels");
      a.StringMap("annotations");
      for (std::string_view key : {"page_alert", "ticket_alert"}) {
        ObjectReader alert(&ctx_, a.Field(key), a.FieldPath(key));
        bool disabled = alert.Bool("disable").value_or(false);
        alert.StringMap("labels");
        alert.StringMap("annotations");
        alert.Finish();
        (key == "page_alert" ? p.page_enabled : p.ticket_enabled) = !disabled;
      }
      a.Finish();
    }
    r.Finish();
    if (ctx_.error_count() + unimplemented_.ErrorCount() != errors_before) return std::nullopt;
    return p;
  }

  void DecodeSlothSli(const Node& node, const std::string& path, Sli* sli) {
    ObjectReader r(&ctx_, &node, path);
    const Node* events = r.Field("events");
    const Node* raw = r.Field("raw");
    const Node* plugin = r.Field("plugin");
    const int forms = (events != nullptr) + (raw != nullptr) + (plugin != nullptr);
    if (forms == 0) {
      Error(node.mark, path, "needs one of events, raw or plugin");
    } else if (forms > 1) {
      Error(node.mark, path, "only one of events, raw or plugin may be set");
    }
    if (events != nullptr) {
      ObjectReader e(&ctx_, events, r.FieldPath("events"));
      sli->error_query = QueryField(&e, events, "error_query").value_or("");
      sli->total_query = QueryField(&e, events, "total_query").value_or("");
      e.Finish();
    }
    if (raw != nullptr) {
      ObjectReader e(&ctx_, raw, r.FieldPath("raw"));
      sli->error_ratio_query = QueryField(&e, raw, "error_ratio_query").value_or("");
      e.Finish();
    }
    if (plugin != nullptr) {
      ObjectReader e(&ctx_, plugin, r.FieldPath("plugin"));
      std::string id = e.String("id").value_or("");
      e.Json("options");
      e.Finish();
      Unimplemented(node.KeyMark("plugin"), r.FieldPath("plugin"),
                    fmt::format("Sloth SLI plugins (id \"{}\") are not supported; write the SLI as "
                                "sli.events or sli.raw",
                                id));
    }
    r.Finish();
  }

  // ---------------------------------------------------------------------------------------------
  // Sloth AlertWindows

  void DecodeAlertWindows(const Node& root) {
    ObjectReader r(&ctx_, &root, "");
    r.String("apiVersion");
    r.String("kind");
    ObjectReader meta(&ctx_, r.Field("metadata"), "metadata", ObjectReader::Mode::kLenient);
    const Node* spec = r.Field("spec");
    r.Finish();
    if (spec == nullptr) {
      Error(root.mark, "spec", "required");
      return;
    }
    const size_t errors_before = ctx_.error_count();
    ObjectReader s(&ctx_, spec, "spec");
    WindowSet set;
    set.mark = root.mark;
    auto period = DurationField(&s, "sloPeriod");
    if (!s.Has("sloPeriod")) Error(spec->mark, "spec.sloPeriod", "required");
    for (std::string_view severity : {"page", "ticket"}) {
      const Node* sev = s.Field(severity);
      if (sev == nullptr) {
        Error(spec->mark, s.FieldPath(severity), "required: quick and slow windows");
        continue;
      }
      ObjectReader sr(&ctx_, sev, s.FieldPath(severity));
      for (std::string_view speed : {"quick", "slow"}) {
        const Node* w = sr.Field(speed);
        if (w == nullptr) {
          Error(s.FieldMark(severity), sr.FieldPath(speed), "required");
          continue;
        }
        ObjectReader wr(&ctx_, w, sr.FieldPath(speed));
        auto percent = wr.Float("errorBudgetPercent");
        auto short_window = DurationField(&wr, "shortWindow");
        auto long_window = DurationField(&wr, "longWindow");
        for (std::string_view key : {"errorBudgetPercent", "shortWindow", "longWindow"}) {
          if (!wr.Has(key)) Error(w->mark, wr.FieldPath(key), "required");
        }
        wr.Finish();
        if (percent && !(*percent > 0 && *percent <= 100)) {
          Error(wr.FieldMark("errorBudgetPercent"), wr.FieldPath("errorBudgetPercent"),
                "must be more than 0 and at most 100");
          continue;
        }
        if (!percent || !short_window || !long_window) continue;
        if (*short_window >= *long_window) {
          Error(wr.FieldMark("shortWindow"), wr.FieldPath("shortWindow"),
                fmt::format("must be shorter than longWindow ({} is not shorter than {})",
                            FormatPromDuration(*short_window), FormatPromDuration(*long_window)));
          continue;
        }
        if (period && *long_window > *period) {
          Error(wr.FieldMark("longWindow"), wr.FieldPath("longWindow"),
                fmt::format("{} is longer than the SLO period {}", FormatPromDuration(*long_window),
                            FormatPromDuration(*period)));
          continue;
        }
        set.windows.push_back(BurnWindow{
            .severity = std::string(severity),
            .long_window = *long_window,
            .short_window = *short_window,
            .burn_rate = period ? BurnFor(*percent, *period, *long_window) : 0,
            .budget_percent = *percent,
        });
      }
      sr.Finish();
    }
    s.Finish();
    if (!period || ctx_.error_count() != errors_before) return;
    set.period = *period;
    for (const WindowSet& other : window_sets_) {
      if (other.period == set.period) {
        Error(spec->KeyMark("sloPeriod"), "spec.sloPeriod",
              fmt::format("a second AlertWindows for the {} period (the first is at line {})",
                          FormatPromDuration(set.period), other.mark.line));
        return;
      }
    }
    window_sets_.push_back(std::move(set));
  }

  // ---------------------------------------------------------------------------------------------
  // OpenSLO

  // Checks apiVersion/kind/metadata/spec of a top-level OpenSLO object and returns its name, the
  // spec node and the mark of metadata.name (name empty when it is missing).
  struct Header {
    std::string name;
    const Node* spec = nullptr;
    Mark name_mark;
  };
  Header DecodeHeader(const Node& root, const std::string& path) {
    Header h;
    ObjectReader r(&ctx_, &root, path);
    r.String("apiVersion");
    r.String("kind");
    const Node* meta = r.Field("metadata");
    if (meta == nullptr) {
      Error(root.mark, r.FieldPath("metadata"), "required (with a name)");
    } else {
      ObjectReader m(&ctx_, meta, r.FieldPath("metadata"), ObjectReader::Mode::kLenient);
      if (auto name = RequiredString(&m, meta, "name")) {
        h.name = *name;
        h.name_mark = m.FieldMark("name");
      }
      m.String("displayName");
      m.StringMap("labels");
      m.StringMap("annotations");
    }
    h.spec = r.Field("spec");
    if (h.spec == nullptr) Error(root.mark, r.FieldPath("spec"), "required");
    r.Finish();
    return h;
  }

  template <typename T, typename F>
  void DecodeNamed(const Node& root, std::string_view kind, std::map<std::string, Named<T>>* out,
                   F&& decode) {
    Header h = DecodeHeader(root, "");
    if (h.spec == nullptr) return;
    std::optional<T> value = decode(h.spec, "spec");
    if (h.name.empty()) return;
    auto it = out->find(h.name);
    if (it != out->end()) {
      Error(h.name_mark, "metadata.name",
            fmt::format("a second {} named \"{}\" (the first is at line {})", kind, h.name,
                        it->second.mark.line));
      return;
    }
    (*out)[h.name] = Named<T>{std::move(value), h.name_mark};
  }

  // The query of a `{metricSource: {metricSourceRef, type, spec: {query}}}` item.
  std::optional<std::string> DecodeMetric(const Node* node, const std::string& path) {
    ObjectReader r(&ctx_, node, path);
    const Node* source = r.Field("metricSource");
    r.Finish();
    if (source == nullptr) {
      Error(node->mark, r.FieldPath("metricSource"), "required");
      return std::nullopt;
    }
    ObjectReader s(&ctx_, source, r.FieldPath("metricSource"));
    s.String("metricSourceRef");
    s.String("type");
    const Node* spec = s.Field("spec");
    s.Finish();
    if (spec == nullptr) {
      Error(source->mark, s.FieldPath("spec"), "required: the query (spec.query)");
      return std::nullopt;
    }
    // The spec is free-form per backend: ramp reads the PromQL in `query` (or `promql`).
    ObjectReader q(&ctx_, spec, s.FieldPath("spec"), ObjectReader::Mode::kLenient);
    const char* key = q.Has("query") ? "query" : q.Has("promql") ? "promql" : nullptr;
    if (key == nullptr) {
      Error(spec->mark, q.FieldPath("query"),
            "required: ramp reads the Prometheus query of a metricSource from spec.query");
      return std::nullopt;
    }
    return QueryField(&q, spec, key);
  }

  std::optional<Sli> DecodeSliSpec(const Node* node, const std::string& path) {
    const size_t errors_before = ctx_.error_count() + unimplemented_.ErrorCount();
    ObjectReader r(&ctx_, node, path);
    r.String("description");
    const Node* threshold = r.Field("thresholdMetric");
    const Node* ratio = r.Field("ratioMetric");
    r.Finish();
    if (threshold != nullptr) {
      Unimplemented(node->KeyMark("thresholdMetric"), r.FieldPath("thresholdMetric"),
                    "OpenSLO thresholdMetric SLIs are not supported; ramp gates on error ratios "
                    "(ratioMetric)");
      return std::nullopt;
    }
    if (ratio == nullptr) {
      Error(node->mark, r.FieldPath("ratioMetric"), "required (an error-ratio SLI)");
      return std::nullopt;
    }
    const std::string rp = r.FieldPath("ratioMetric");
    ObjectReader m(&ctx_, ratio, rp);
    m.Bool("counter");
    const Node* good = m.Field("good");
    const Node* bad = m.Field("bad");
    const Node* total = m.Field("total");
    const Node* raw = m.Field("raw");
    auto raw_type = m.String("rawType");
    m.Finish();
    Sli sli;
    if (raw != nullptr || raw_type) {
      if (good != nullptr || bad != nullptr || total != nullptr) {
        Error(ratio->mark, rp, "raw/rawType cannot be combined with good, bad or total");
      }
      if (raw == nullptr) Error(ratio->mark, ChildPath(rp, "raw"), "required with rawType");
      if (!m.Has("rawType")) {
        Error(ratio->mark, ChildPath(rp, "rawType"), "required with raw: success or failure");
      } else if (raw_type && *raw_type != "success" && *raw_type != "failure") {
        Error(m.FieldMark("rawType"), ChildPath(rp, "rawType"),
              fmt::format("must be success or failure, got \"{}\"", *raw_type));
      }
      if (raw != nullptr) {
        sli.error_ratio_query = DecodeMetric(raw, ChildPath(rp, "raw")).value_or("");
      }
      sli.raw_is_success = raw_type.value_or("") == "success";
    } else {
      if (total == nullptr) Error(ratio->mark, ChildPath(rp, "total"), "required");
      if ((good != nullptr) == (bad != nullptr)) {
        Error(ratio->mark, rp,
              "needs exactly one of good or bad (with total), or raw with rawType");
      }
      if (good != nullptr) sli.good_query = DecodeMetric(good, ChildPath(rp, "good")).value_or("");
      if (bad != nullptr) sli.error_query = DecodeMetric(bad, ChildPath(rp, "bad")).value_or("");
      if (total != nullptr) {
        sli.total_query = DecodeMetric(total, ChildPath(rp, "total")).value_or("");
      }
    }
    if (ctx_.error_count() + unimplemented_.ErrorCount() != errors_before) return std::nullopt;
    return sli;
  }

  std::optional<Condition> DecodeConditionSpec(const Node* node, const std::string& path) {
    const size_t errors_before = ctx_.error_count();
    ObjectReader r(&ctx_, node, path);
    r.String("description");
    Condition c;
    if (auto severity = RequiredString(&r, node, "severity")) {
      std::string lower = *severity;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lower != "page" && lower != "ticket") {
        Error(r.FieldMark("severity"), r.FieldPath("severity"),
              fmt::format("ramp reads severity page or ticket, got \"{}\"", *severity));
      }
      c.severity = lower;
    }
    const Node* cond = r.Field("condition");
    r.Finish();
    if (cond == nullptr) {
      Error(node->mark, r.FieldPath("condition"), "required");
      return std::nullopt;
    }
    ObjectReader k(&ctx_, cond, r.FieldPath("condition"));
    if (auto kind = RequiredString(&k, cond, "kind"); kind && *kind != "burnrate") {
      Error(k.FieldMark("kind"), k.FieldPath("kind"),
            fmt::format("must be burnrate, got \"{}\"", *kind));
    }
    if (auto op = k.String("op"); op && *op != "gte" && *op != "gt") {
      Error(k.FieldMark("op"), k.FieldPath("op"),
            fmt::format("must be gte or gt (a burn rate at or above the threshold), got \"{}\"",
                        *op));
    }
    auto threshold = k.Float("threshold");
    if (!k.Has("threshold")) {
      Error(cond->mark, k.FieldPath("threshold"), "required: the burn rate, e.g. 14.4");
    } else if (threshold && !(*threshold > 0 && std::isfinite(*threshold))) {
      Error(k.FieldMark("threshold"), k.FieldPath("threshold"), "must be a positive burn rate");
    }
    auto lookback = DurationField(&k, "lookbackWindow");
    if (!k.Has("lookbackWindow")) {
      Error(cond->mark, k.FieldPath("lookbackWindow"), "required, e.g. 1h");
    } else if (lookback && *lookback < seconds(12)) {
      Error(k.FieldMark("lookbackWindow"), k.FieldPath("lookbackWindow"),
            "must be at least 12s (the short window is a twelfth of it)");
    }
    DurationField(&k, "alertAfter");  // checked; a `for:` delay has no meaning for a gate
    k.Finish();
    if (ctx_.error_count() != errors_before) return std::nullopt;
    c.threshold = threshold.value_or(0);
    c.lookback = lookback.value_or(seconds(0));
    return c;
  }

  // The conditions of an AlertPolicy spec (inline or by conditionRef).
  std::optional<std::vector<Condition>> DecodePolicySpec(const Node* node,
                                                         const std::string& path) {
    const size_t errors_before = ctx_.error_count();
    ObjectReader r(&ctx_, node, path);
    r.String("description");
    r.Bool("alertWhenNoData");
    r.Bool("alertWhenResolved");
    r.Bool("alertWhenBreaching");
    r.Json("notificationTargets");
    if (!r.Has("conditions")) Error(node->mark, r.FieldPath("conditions"), "required");
    std::vector<Condition> out;
    r.List("conditions", [&](DecodeContext*, const Node& item, const std::string& ipath) {
      if (auto c = ConditionItem(item, ipath)) out.push_back(std::move(*c));
      return 0;
    });
    if (const Node* list = r.Field("conditions");
        list != nullptr && list->IsSequence() && list->items.size() != 1) {
      Error(r.FieldMark("conditions"), r.FieldPath("conditions"),
            fmt::format("OpenSLO allows exactly one condition per AlertPolicy, got {}; write one "
                        "AlertPolicy per burn-rate rule",
                        list->items.size()));
    }
    r.Finish();
    if (ctx_.error_count() != errors_before) return std::nullopt;
    return out;
  }

  std::optional<Condition> ConditionItem(const Node& item, const std::string& path) {
    if (item.Find("conditionRef") != nullptr) {
      ObjectReader r(&ctx_, &item, path);
      auto name = r.String("conditionRef");
      r.Finish();
      if (!name) return std::nullopt;
      return Resolve(conditions_, *name, "AlertCondition", item.KeyMark("conditionRef"),
                     ChildPath(path, "conditionRef"));
    }
    Header h = DecodeInline(item, path, "AlertCondition");
    if (h.spec == nullptr) return std::nullopt;
    auto c = DecodeConditionSpec(h.spec, ChildPath(path, "spec"));
    if (c) c->name = h.name;
    return c;
  }

  // An inline object in a list ({kind, metadata, spec}; apiVersion optional).
  Header DecodeInline(const Node& item, const std::string& path, std::string_view kind) {
    if (const Node* k = item.Find("kind"); k != nullptr && k->scalar != kind) {
      Error(k->mark, ChildPath(path, "kind"),
            fmt::format("must be {}, got \"{}\"", kind, k->scalar));
    }
    return DecodeHeader(item, path);
  }

  template <typename T>
  std::optional<T> Resolve(const std::map<std::string, Named<T>>& objects, const std::string& name,
                           std::string_view kind, Mark mark, const std::string& path) {
    auto it = objects.find(name);
    if (it == objects.end()) {
      std::vector<std::string> names;
      for (const auto& [n, v] : objects) names.push_back("\"" + n + "\"");
      Error(mark, path,
            fmt::format("no {} named \"{}\" in this file ({})", kind, name,
                        names.empty() ? fmt::format("it has no {}", kind)
                                      : fmt::format("{}s here: {}", kind, Join(names))));
      return std::nullopt;
    }
    return it->second.value;  // nothing when the object had errors (already reported)
  }

  void DecodeOpenSlo(const Node& root) {
    const size_t errors_before = ctx_.error_count() + unimplemented_.ErrorCount();
    Header h = DecodeHeader(root, "");
    if (h.spec == nullptr) return;
    const Node* spec = h.spec;
    ObjectReader r(&ctx_, spec, "spec");
    PendingSlo p;
    p.mark = root.mark;
    p.path = "spec";
    p.slo.name = h.name;
    p.slo.source = fmt::format("{}:{}", file_, root.mark.line);
    p.slo.description = r.String("description").value_or("");
    if (p.slo.description.size() > kOpenSloMaxDescription) {
      Error(r.FieldMark("description"), r.FieldPath("description"),
            fmt::format("is {} characters long; OpenSLO allows at most {}",
                        p.slo.description.size(), kOpenSloMaxDescription));
    }
    p.slo.service = r.String("service").value_or("");

    // The indicator.
    std::optional<Sli> sli;
    const Node* indicator = r.Field("indicator");
    const bool has_ref = r.Has("indicatorRef");
    auto ref = r.String("indicatorRef");
    if (indicator != nullptr && has_ref) {
      Error(spec->mark, "spec", "only one of indicator or indicatorRef may be set");
    } else if (indicator != nullptr) {
      Header ih = DecodeInline(*indicator, "spec.indicator", "SLI");
      if (ih.spec != nullptr) sli = DecodeSliSpec(ih.spec, "spec.indicator.spec");
    } else if (ref) {
      sli = Resolve(slis_, *ref, "SLI", r.FieldMark("indicatorRef"), "spec.indicatorRef");
    }

    // The period.
    const Node* windows = r.Field("timeWindow");
    if (windows != nullptr) {
      if (!windows->IsSequence() || windows->items.size() != 1) {
        Error(r.FieldMark("timeWindow"), "spec.timeWindow",
              "must be a list of exactly one time window");
      } else {
        DecodeTimeWindow(windows->items[0], "spec.timeWindow[0]", &p.slo.period);
      }
    }

    // Budgeting.
    auto method = r.String("budgetingMethod");
    if (!r.Has("budgetingMethod")) {
      Error(spec->mark, "spec.budgetingMethod", "required: Occurrences");
    } else if (method && (*method == "Timeslices" || *method == "RatioTimeslices")) {
      Unimplemented(r.FieldMark("budgetingMethod"), "spec.budgetingMethod",
                    fmt::format("{} budgeting is not supported; ramp gates on Occurrences "
                                "(the error ratio of all events)",
                                *method));
    } else if (method && *method != "Occurrences") {
      Error(r.FieldMark("budgetingMethod"), "spec.budgetingMethod",
            fmt::format("must be Occurrences, Timeslices or RatioTimeslices, got \"{}\"", *method));
    }

    // Objectives.
    std::vector<double> targets;
    if (!r.Has("objectives")) Error(spec->mark, "spec.objectives", "required");
    if (const Node* list = r.Field("objectives");
        list != nullptr && list->IsSequence() && list->items.empty()) {
      Error(r.FieldMark("objectives"), "spec.objectives", "at least one objective is required");
    }
    r.List("objectives", [&](DecodeContext*, const Node& item, const std::string& path) {
      if (auto t = DecodeObjective(item, path)) targets.push_back(*t);
      return 0;
    });
    bool composite = false;  // objectives with their own indicators: reported as unimplemented
    if (const Node* list = spec->Find("objectives"); list != nullptr && list->IsSequence()) {
      for (const Node& item : list->items) {
        composite |= item.Find("indicator") != nullptr || item.Find("indicatorRef") != nullptr;
      }
    }
    if (!r.Has("indicator") && !has_ref && !composite) {
      Error(spec->mark, "spec", "needs an indicator or an indicatorRef");
    }

    // Alert policies.
    if (r.Has("alertPolicies")) {
      p.explicit_windows = true;
      r.List("alertPolicies", [&](DecodeContext*, const Node& item, const std::string& path) {
        AddPolicyWindows(item, path, &p);
        return 0;
      });
    }
    r.Finish();

    if (ctx_.error_count() + unimplemented_.ErrorCount() != errors_before || !sli) return;
    p.slo.sli = *sli;
    for (size_t i = 0; i < targets.size(); ++i) {
      PendingSlo copy = p;
      copy.slo.objective = targets[i];
      if (targets.size() > 1) copy.slo.name = fmt::format("{}/{}", h.name, i);
      pending_.push_back(std::move(copy));
    }
  }

  void DecodeTimeWindow(const Node& node, const std::string& path, seconds* period) {
    ObjectReader r(&ctx_, &node, path);
    auto duration = r.String("duration");
    auto rolling = r.Bool("isRolling");
    const bool calendar = r.Has("calendar");
    r.Json("calendar");
    r.Finish();
    if (calendar || (rolling && !*rolling)) {
      Unimplemented(node.mark, path,
                    "calendar-aligned time windows are not supported; use a rolling window "
                    "(duration with isRolling: true)");
      return;
    }
    if (!r.Has("duration")) {
      Error(node.mark, ChildPath(path, "duration"), "required, e.g. 28d");
      return;
    }
    if (!duration) return;
    auto d = ParsePromDuration(*duration);
    if (!d.has_value()) {
      const bool calendar_unit = duration->find_first_of("MQYy") != std::string::npos;
      if (calendar_unit) {
        Unimplemented(r.FieldMark("duration"), ChildPath(path, "duration"), d.error().message());
      } else {
        Error(r.FieldMark("duration"), ChildPath(path, "duration"), d.error().message());
      }
      return;
    }
    *period = *d;
  }

  // The target of one objective as a fraction.
  std::optional<double> DecodeObjective(const Node& node, const std::string& path) {
    ObjectReader r(&ctx_, &node, path);
    r.String("displayName");
    for (std::string_view key : {"indicator", "indicatorRef", "compositeWeight"}) {
      if (r.Has(key)) {
        Unimplemented(r.FieldMark(key), r.FieldPath(key),
                      "composite SLOs (an indicator per objective) are not supported");
      }
    }
    for (std::string_view key : {"op", "value"}) {
      if (r.Has(key)) {
        Error(r.FieldMark(key), r.FieldPath(key),
              "applies to thresholdMetric SLIs only; ramp reads ratioMetric SLIs");
      }
    }
    for (std::string_view key : {"timeSliceTarget", "timeSliceWindow"}) {
      if (r.Has(key)) {
        Error(r.FieldMark(key), r.FieldPath(key),
              "applies to Timeslices budgeting only; ramp reads Occurrences");
      }
    }
    auto target = r.Float("target");
    auto percent = r.Float("targetPercent");
    r.Finish();
    const bool has_target = r.Has("target"), has_percent = r.Has("targetPercent");
    if (has_target && has_percent) {
      Error(node.mark, path, "only one of target or targetPercent may be set");
      return std::nullopt;
    }
    if (!has_target && !has_percent) {
      Error(node.mark, path, "needs target (e.g. 0.999) or targetPercent (e.g. 99.9)");
      return std::nullopt;
    }
    if (has_target && target) {
      if (!(*target > 0 && *target < 1)) {
        Error(r.FieldMark("target"), r.FieldPath("target"), "must be between 0 and 1");
        return std::nullopt;
      }
      return *target;
    }
    if (has_percent && percent) {
      if (!(*percent > 0 && *percent < 100)) {
        Error(r.FieldMark("targetPercent"), r.FieldPath("targetPercent"),
              "must be between 0 and 100");
        return std::nullopt;
      }
      return *percent / 100;
    }
    return std::nullopt;
  }

  void AddPolicyWindows(const Node& item, const std::string& path, PendingSlo* p) {
    std::optional<std::vector<Condition>> conditions;
    if (item.Find("alertPolicyRef") != nullptr) {
      ObjectReader r(&ctx_, &item, path);
      auto name = r.String("alertPolicyRef");
      r.Finish();
      if (name) {
        conditions = Resolve(policies_, *name, "AlertPolicy", item.KeyMark("alertPolicyRef"),
                             ChildPath(path, "alertPolicyRef"));
      }
    } else {
      Header h = DecodeInline(item, path, "AlertPolicy");
      if (h.spec != nullptr) conditions = DecodePolicySpec(h.spec, ChildPath(path, "spec"));
    }
    if (!conditions) return;
    for (const Condition& c : *conditions) {
      if (c.lookback > p->slo.period) {
        Error(
            item.mark, path,
            fmt::format("the lookbackWindow {} of condition \"{}\" is longer than the SLO "
                        "period {}",
                        FormatPromDuration(c.lookback), c.name, FormatPromDuration(p->slo.period)));
        continue;
      }
      p->slo.windows.push_back(BurnWindow{
          .severity = c.severity,
          .long_window = c.lookback,
          .short_window = c.lookback / 12,
          .burn_rate = c.threshold,
          .budget_percent = c.threshold * static_cast<double>(c.lookback.count()) * 100 /
                            static_cast<double>(p->slo.period.count()),
      });
    }
  }

  // ---------------------------------------------------------------------------------------------

  StatusOr<std::vector<Slo>> Finish() {
    std::vector<Slo> out;
    std::map<std::pair<std::string, std::string>, int> seen;  // (service, name) → line
    for (PendingSlo& p : pending_) {
      if (!p.explicit_windows) {
        p.slo.windows = DefaultWindows(p.slo.period);
        for (WindowSet& set : window_sets_) {
          if (set.period == p.slo.period) {
            set.matched = true;
            p.slo.windows = set.windows;
          }
        }
        if (p.slo.windows.empty()) {
          Error(p.mark, p.path,
                fmt::format("the period {} is shorter than every default burn-rate window (the "
                            "shortest is 1h); give the windows explicitly",
                            FormatPromDuration(p.slo.period)));
        }
      } else {
        for (WindowSet& set : window_sets_) set.matched |= set.period == p.slo.period;
      }
      std::erase_if(p.slo.windows, [&](const BurnWindow& w) {
        return (w.severity == "page" && !p.page_enabled) ||
               (w.severity == "ticket" && !p.ticket_enabled);
      });
      auto key = std::make_pair(p.slo.service, p.slo.name);
      if (auto it = seen.find(key); it != seen.end()) {
        Error(p.mark, p.path,
              fmt::format("a second SLO named \"{}\"{} (the first is at line {})", p.slo.name,
                          p.slo.service.empty() ? "" : " for service \"" + p.slo.service + "\"",
                          it->second));
      } else {
        seen[key] = p.mark.line;
      }
      out.push_back(std::move(p.slo));
    }
    for (const WindowSet& set : window_sets_) {
      // An SLO with errors is not in `pending_`; its period cannot be told apart then.
      if (!set.matched && !errors_.HasErrors()) {
        Error(set.mark, "spec.sloPeriod",
              fmt::format("no SLO in this file has a {} period (Sloth prometheus/v1 SLOs have "
                          "30d; an OpenSLO SLO takes spec.timeWindow[0].duration)",
                          FormatPromDuration(set.period)));
      }
    }
    if (out.empty() && !errors_.HasErrors() && !unimplemented_.HasErrors()) {
      return Fail(InvalidArgumentError(
          fmt::format("{}: no SLO in this file (expected Sloth `version: prometheus/v1` or "
                      "OpenSLO `apiVersion: openslo/v1` with kind SLO)",
                      file_)));
    }
    if (errors_.HasErrors()) {
      errors_.SortByPosition();
      std::string text = errors_.ErrorText();
      while (!text.empty() && text.back() == '\n') text.pop_back();
      return Fail(InvalidArgumentError(std::move(text)));
    }
    if (unimplemented_.HasErrors()) {
      unimplemented_.SortByPosition();
      std::string text = unimplemented_.ErrorText();
      while (!text.empty() && text.back() == '\n') text.pop_back();
      return Fail(UnimplementedError(std::move(text)));
    }
    return out;
  }

  std::string file_;
  spec::Diagnostics errors_;
  spec::Diagnostics unimplemented_;
  DecodeContext ctx_;
  std::vector<PendingSlo> pending_;
  std::vector<WindowSet> window_sets_;
  std::map<std::string, Named<Sli>> slis_;
  std::map<std::string, Named<Condition>> conditions_;
  std::map<std::string, Named<std::vector<Condition>>> policies_;
};

}  // namespace

std::vector<BurnWindow> DefaultWindows(seconds period) {
  struct Rule {
    const char* severity;
    seconds long_window, short_window;
    double budget_percent;
  };
  static constexpr Rule kRules[] = {
      {"page", seconds(3600), seconds(300), 2},
      {"page", seconds(6 * 3600), seconds(1800), 5},
      {"ticket", seconds(24 * 3600), seconds(2 * 3600), 10},
      {"ticket", seconds(72 * 3600), seconds(6 * 3600), 10},
  };
  std::vector<BurnWindow> out;
  for (const Rule& r : kRules) {
    if (r.long_window > period) continue;
    out.push_back(BurnWindow{.severity = r.severity,
                             .long_window = r.long_window,
                             .short_window = r.short_window,
                             .burn_rate = BurnFor(r.budget_percent, period, r.long_window),
                             .budget_percent = r.budget_percent});
  }
  return out;
}

StatusOr<seconds> ParsePromDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Fail(InvalidArgumentError(fmt::format("duration \"{}\": {}", text, why)));
  };
  if (text.empty()) return bad("empty; write e.g. 30d, 1h or 5m");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      return bad("expected a number followed by a unit (s, m, h, d, w), e.g. 30d or 1h30m");
    }
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (n > std::numeric_limits<int64_t>::max() / 10 - 10) return bad("too long");
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    if (i == text.size()) return bad("missing unit (s, m, h, d or w) after the number");
    int64_t unit = 0;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        if (i + 1 < text.size() && text[i + 1] == 's') {
          return bad("milliseconds are too fine for an SLO window; use s, m, h, d or w");
        }
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      case 'M':
      case 'Q':
      case 'y':
      case 'Y':
        return bad(
            fmt::format("the calendar unit '{}' (month, quarter or year) is not a fixed "
                        "length; write days instead, e.g. 30d or 28d",
                        text[i]));
      default:
        return bad(fmt::format("unknown unit '{}' (use s, m, h, d or w)", text[i]));
    }
    ++i;
    if (n > (std::numeric_limits<int64_t>::max() - total) / unit) return bad("too long");
    total += n * unit;
  }
  if (total <= 0) return bad("must be longer than zero");
  return seconds(total);
}

std::string FormatPromDuration(seconds d) {
  int64_t s = d.count();
  if (s == 0) return "0s";
  std::string out;
  if (s < 0) {
    out = "-";
    s = -s;
  }
  static constexpr std::pair<int64_t, char> kUnits[] = {
      {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (const auto& [unit, name] : kUnits) {
    if (s >= unit) {
      out += fmt::format("{}{}", s / unit, name);
      s %= unit;
    }
  }
  return out;
}

std::string RenderWindow(std::string_view query, seconds window) {
  const std::string duration = FormatPromDuration(window);
  std::string out;
  size_t i = 0;
  while (i < query.size()) {
    size_t open = query.find("{{", i);
    if (open == std::string_view::npos) break;
    size_t close = query.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    std::string_view inner = query.substr(open + 2, close - open - 2);
    while (!inner.empty() && std::isspace(static_cast<unsigned char>(inner.front()))) {
      inner.remove_prefix(1);
    }
    while (!inner.empty() && std::isspace(static_cast<unsigned char>(inner.back()))) {
      inner.remove_suffix(1);
    }
    out.append(query.substr(i, open - i));
    if (inner == ".window") {
      out.append(duration);
    } else {
      out.append(query.substr(open, close + 2 - open));
    }
    i = close + 2;
  }
  out.append(query.substr(std::min(i, query.size())));
  return out;
}

StatusOr<std::vector<Slo>> ParseSloFile(std::string_view text, std::string_view file_name) {
  SloFileParser parser(file_name);
  return parser.Parse(text);
}

StatusOr<Slo> FindSlo(const std::vector<Slo>& slos, std::string_view name) {
  std::vector<const Slo*> matches;
  for (const Slo& s : slos) {
    if (s.name == name || (!s.service.empty() && s.service + "/" + s.name == name)) {
      matches.push_back(&s);
    }
  }
  if (matches.size() == 1) return *matches[0];
  if (matches.size() > 1) {
    std::vector<std::string> qualified;
    for (const Slo* s : matches) qualified.push_back("\"" + s->service + "/" + s->name + "\"");
    return Fail(InvalidArgumentError(
        fmt::format("SLO name \"{}\" is ambiguous; name one of {}", name, Join(qualified))));
  }
  std::vector<std::string> names;
  for (const Slo& s : slos) names.push_back("\"" + s.name + "\"");
  if (names.empty())
    return Fail(NotFoundError(fmt::format("no SLO named \"{}\": there are no SLOs", name)));
  return Fail(
      NotFoundError(fmt::format("no SLO named \"{}\"; the SLOs are {}", name, Join(names))));
}

}  // namespace ramp::slo
