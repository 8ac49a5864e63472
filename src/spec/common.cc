#include "spec/common.h"

#include <cctype>
#include <cmath>
#include <limits>

namespace ramp::spec {

ObjectMeta DecodeObjectMeta(DecodeContext* ctx, const Node* node, const std::string& path) {
  ObjectMeta m;
  ObjectReader r(ctx, node, path, ObjectReader::Mode::kLenient);
  m.name = r.String("name").value_or("");
  m.generate_name = r.String("generateName").value_or("");
  m.namespace_ = r.String("namespace").value_or("");
  m.uid = r.String("uid").value_or("");
  m.resource_version = r.String("resourceVersion").value_or("");
  m.generation = r.Int64("generation");
  m.creation_timestamp = r.String("creationTimestamp").value_or("");
  m.labels = r.StringMap("labels");
  m.annotations = r.StringMap("annotations");
  r.Finish();
  return m;
}

PodMetadata DecodePodMetadata(DecodeContext* ctx, const Node* node, const std::string& path) {
  PodMetadata m;
  ObjectReader r(ctx, node, path);
  m.labels = r.StringMap("labels");
  m.annotations = r.StringMap("annotations");
  r.Finish();
  return m;
}

LabelSelector DecodeLabelSelector(DecodeContext* ctx, const Node* node, const std::string& path) {
  LabelSelector s;
  ObjectReader r(ctx, node, path);
  s.match_labels = r.StringMap("matchLabels");
  s.match_expressions =
      r.List("matchExpressions", [](DecodeContext* c, const Node& n, const std::string& p) {
        LabelSelectorRequirement req;
        ObjectReader rr(c, &n, p);
        req.key = rr.String("key").value_or("");
        req.op = rr.String("operator").value_or("");
        req.values = rr.StringList("values");
        rr.Finish();
        if (req.key.empty()) c->Error(n.mark, ChildPath(p, "key"), "Required value");
        if (req.op != "In" && req.op != "NotIn" && req.op != "Exists" && req.op != "DoesNotExist") {
          c->Error(rr.FieldMark("operator"), ChildPath(p, "operator"),
                   "must be one of In, NotIn, Exists, DoesNotExist (got \"" + req.op + "\")");
        } else if ((req.op == "In" || req.op == "NotIn") && req.values.empty()) {
          c->Error(n.mark, ChildPath(p, "values"),
                   "must be specified when `operator` is 'In' or 'NotIn'");
        } else if ((req.op == "Exists" || req.op == "DoesNotExist") && !req.values.empty()) {
          c->Error(n.mark, ChildPath(p, "values"),
                   "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        }
        return req;
      });
  r.Finish();
  return s;
}

std::optional<int64_t> ParseGoDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    long double value = 0;
    size_t int_digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      value = value * 10 + (s[i] - '0');
      ++i;
      ++int_digits;
    }
    size_t frac_digits = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        value += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        ++frac_digits;
      }
    }
    if (int_digits == 0 && frac_digits == 0) return std::nullopt;
    size_t u = i;
    while (u < s.size() && !(s[u] >= '0' && s[u] <= '9') && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    long double mult;
    if (unit == "ns") {
      mult = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      mult = 1e3L;
    } else if (unit == "ms") {
      mult = 1e6L;
    } else if (unit == "s") {
      mult = 1e9L;
    } else if (unit == "m") {
      mult = 60e9L;
    } else if (unit == "h") {
      mult = 3600e9L;
    } else {
      return std::nullopt;  // missing or unknown unit
    }
    total += value * mult;
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    s.remove_prefix(u);
  }
  auto v = static_cast<int64_t>(total);
  return neg ? -v : v;
}

std::string FormatGoDuration(int64_t nanos) {
  if (nanos == 0) return "0s";
  std::string sign = nanos < 0 ? "-" : "";
  uint64_t n = nanos < 0 ? static_cast<uint64_t>(0) - static_cast<uint64_t>(nanos)
                         : static_cast<uint64_t>(nanos);
  auto frac = [](uint64_t v, uint64_t unit) {
    std::string s = std::to_string(v / unit);
    uint64_t rem = v % unit;
    if (rem != 0) {
      std::string digits = std::to_string(rem + unit).substr(1);
      while (!digits.empty() && digits.back() == '0') digits.pop_back();
      s += "." + digits;
    }
    return s;
  };
  if (n < 1000) return sign + std::to_string(n) + "ns";
  if (n < 1000000) return sign + frac(n, 1000) + "\xC2\xB5s";
  if (n < 1000000000) return sign + frac(n, 1000000) + "ms";
  uint64_t h = n / 3600000000000ULL;
  uint64_t rest = n % 3600000000000ULL;
  uint64_t m = rest / 60000000000ULL;
  rest %= 60000000000ULL;
  std::string out = sign;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  out += frac(rest, 1000000000ULL) + "s";
  return out;
}

std::optional<DurationString> ReadDurationString(DecodeContext* ctx, const Node& n,
                                                 const std::string& path) {
  auto text = ReadString(ctx, n, path);
  if (!text) return std::nullopt;
  DurationString d{*text, ParseGoDuration(*text)};
  if (!d.nanos && !d.text.empty()) {
    int64_t dummy;
    if (ParseYamlInt(d.text, &dummy)) {
      ctx->Error(n.mark, path,
                 "invalid duration \"" + d.text + "\": missing unit (write e.g. \"" + d.text +
                     "s\" or \"" + d.text + "m\")");
    } else {
      ctx->Error(n.mark, path,
                 "invalid duration \"" + d.text +
                     "\": expected a Go duration such as 30s, 5m, 1h30m (units ns, us, ms, s, "
                     "m, h)");
    }
  }
  return d;
}

Argument DecodeArgument(DecodeContext* ctx, const Node& node, const std::string& path,
                        bool rollout_arg) {
  Argument a;
  ObjectReader r(ctx, &node, path);
  a.name = r.String("name").value_or("");
  if (a.name.empty()) ctx->Error(node.mark, ChildPath(path, "name"), "Required value");
  a.value = r.String("value");
  if (const Node* vf = r.Field("valueFrom")) {
    std::string vp = r.FieldPath("valueFrom");
    ObjectReader vr(ctx, vf, vp);
    ArgumentValueFrom from;
    int set = 0;
    if (rollout_arg) {
      if (auto h = vr.String("podTemplateHashValue")) {
        from.pod_template_hash_value = *h;
        ++set;
        if (*h != "Stable" && *h != "Latest") {
          ctx->Error(vr.FieldMark("podTemplateHashValue"), ChildPath(vp, "podTemplateHashValue"),
                     "must be Stable or Latest (got \"" + *h + "\")");
        }
      }
    } else if (const Node* sk = vr.Field("secretKeyRef")) {
      std::string sp = vr.FieldPath("secretKeyRef");
      ObjectReader sr(ctx, sk, sp);
      SecretKeyRef ref{sr.String("name").value_or(""), sr.String("key").value_or("")};
      sr.Finish();
      if (ref.name.empty()) ctx->Error(sk->mark, ChildPath(sp, "name"), "Required value");
      if (ref.key.empty()) ctx->Error(sk->mark, ChildPath(sp, "key"), "Required value");
      from.secret_key_ref = ref;
      ++set;
    }
    if (const Node* fr = vr.Field("fieldRef")) {
      std::string fp = vr.FieldPath("fieldRef");
      ObjectReader frr(ctx, fr, fp);
      from.field_ref = frr.String("fieldPath").value_or("");
      frr.Finish();
      if (from.field_ref->empty()) {
        ctx->Error(fr->mark, ChildPath(fp, "fieldPath"), "Required value");
      }
      ++set;
    }
    vr.Finish();
    if (set > 1) {
      ctx->Error(vf->mark, vp, "only one source may be set in valueFrom");
    }
    a.value_from = from;
  }
  r.Finish();
  if (a.value && a.value_from) {
    ctx->Error(node.mark, path, "argument \"" + a.name + "\" sets both value and valueFrom");
  }
  return a;
}

AnalysisTemplateRef DecodeAnalysisTemplateRef(DecodeContext* ctx, const Node& node,
                                              const std::string& path) {
  ObjectReader r(ctx, &node, path);
  AnalysisTemplateRef t;
  t.template_name = r.String("templateName").value_or("");
  t.cluster_scope = r.Bool("clusterScope").value_or(false);
  r.Finish();
  if (r.valid() && t.template_name.empty()) {
    ctx->Error(node.mark, ChildPath(path, "templateName"), "Required value");
  }
  return t;
}

DryRun DecodeDryRun(DecodeContext* ctx, const Node& node, const std::string& path) {
  ObjectReader r(ctx, &node, path);
  DryRun d{r.String("metricName").value_or("")};
  r.Finish();
  if (d.metric_name.empty()) ctx->Error(node.mark, ChildPath(path, "metricName"), "Required value");
  return d;
}

MeasurementRetention DecodeMeasurementRetention(DecodeContext* ctx, const Node& node,
                                                const std::string& path) {
  ObjectReader r(ctx, &node, path);
  MeasurementRetention m{r.String("metricName").value_or(""), r.Int32("limit").value_or(0)};
  r.Finish();
  if (m.metric_name.empty()) {
    ctx->Error(node.mark, ChildPath(path, "metricName"), "Required value");
  }
  if (m.limit < 1 && r.valid()) {
    ctx->Error(node.mark, ChildPath(path, "limit"), "must be at least 1");
  }
  return m;
}

Container DecodeContainer(DecodeContext* ctx, const Node& n, const std::string& path) {
  using Mode = ObjectReader::Mode;
  ObjectReader r(ctx, &n, path, Mode::kLenient);
  Container c;
  c.name = r.String("name").value_or("");
  c.image = r.String("image").value_or("");
  // A present but wrongly typed field already has its error.
  for (const char* f : {"name", "image"}) {
    if (r.valid() && n.Find(f) == nullptr) ctx->Error(n.mark, ChildPath(path, f), "Required value");
  }
  c.command = r.StringList("command");
  c.args = r.StringList("args");
  c.env = r.List("env", [](DecodeContext* cx, const Node& en, const std::string& ep) {
    ObjectReader er(cx, &en, ep, Mode::kLenient);
    EnvVar v;
    v.name = er.String("name").value_or("");
    v.value = er.String("value");
    if (const Node* vf = er.Field("valueFrom")) {
      if (!vf->IsMap()) {
        cx->Error(vf->mark, er.FieldPath("valueFrom"),
                  "expected a map (object), got " + std::string(vf->TypeName()));
      } else {
        v.value_from = ToJson(*vf);
      }
    }
    if (er.valid() && v.name.empty()) cx->Error(en.mark, ChildPath(ep, "name"), "Required value");
    return v;
  });
  if (const Node* res = r.Field("resources")) {
    ObjectReader rr(ctx, res, r.FieldPath("resources"), Mode::kLenient);
    CheckResourceList(ctx, rr.Field("limits"), rr.FieldPath("limits"));
    CheckResourceList(ctx, rr.Field("requests"), rr.FieldPath("requests"));
  }
  c.ports = r.List("ports", [](DecodeContext* cx, const Node& pn, const std::string& pp) {
    ObjectReader pr(cx, &pn, pp, Mode::kLenient);
    ContainerPort p;
    p.name = pr.String("name").value_or("");
    p.container_port = pr.Int32("containerPort").value_or(0);
    p.protocol = pr.String("protocol").value_or("TCP");
    if (pr.valid() && (p.container_port < 1 || p.container_port > 65535)) {
      cx->Error(pr.FieldMark("containerPort"), ChildPath(pp, "containerPort"),
                "must be between 1 and 65535, inclusive");
    }
    return p;
  });
  return c;
}

void CheckTypeMeta(ObjectReader* r, std::string_view expected_kind) {
  auto api = r->String("apiVersion").value_or("");
  auto kind = r->String("kind").value_or("");
  if (api != kArgoApiVersion) {
    r->ctx()->Error(r->FieldMark("apiVersion"), "apiVersion",
                    "expected \"argoproj.io/v1alpha1\" for kind " + std::string(expected_kind) +
                        ", got \"" + api + "\"");
  }
  if (kind != expected_kind) {
    r->ctx()->Error(r->FieldMark("kind"), "kind",
                    "expected " + std::string(expected_kind) + ", got \"" + kind + "\"");
  }
}

// resource.Quantity: <signed number><suffix>, suffix one of Ki Mi Gi Ti Pi Ei, n u m "" k M G
// T P E, or an exponent e<int> / E<int>.
bool IsKubernetesQuantity(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  std::string_view suffix = s.substr(i);
  static constexpr std::string_view kSuffixes[] = {"",  "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n",
                                                   "u", "m",  "k",  "M",  "G",  "T",  "P",  "E"};
  for (auto k : kSuffixes) {
    if (suffix == k) return true;
  }
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t j = 1;
    if (suffix[j] == '+' || suffix[j] == '-') ++j;
    if (j >= suffix.size()) return false;
    for (; j < suffix.size(); ++j) {
      if (!std::isdigit(static_cast<unsigned char>(suffix[j]))) return false;
    }
    return true;
  }
  return false;
}

void CheckResourceList(DecodeContext* ctx, const Node* n, const std::string& path) {
  if (n == nullptr) return;
  if (!n->IsMap()) {
    ctx->Error(n->mark, path,
               "expected a map of resource quantities, got " + std::string(n->TypeName()));
    return;
  }
  for (const auto& e : n->entries) {
    std::string p = ChildPath(path, e.key);
    ctx->Record(p, e.key_mark);
    if (!e.value.IsScalar() || !IsKubernetesQuantity(e.value.scalar)) {
      std::string got =
          e.value.IsScalar() ? "\"" + e.value.scalar + "\"" : std::string(e.value.TypeName());
      ctx->Error(e.value.mark, p,
                 "invalid quantity " + got +
                     ": expected a number with an optional suffix such as 100m, 0.5, 64Mi or 1G");
    }
  }
}

}  // namespace ramp::spec
