#include "spec/decode.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ramp::spec {
namespace {

std::string Describe(const Node& n) {
  std::string type(n.TypeName());
  if (n.IsScalar()) {
    std::string v = n.scalar.size() > 40 ? n.scalar.substr(0, 40) + "…" : n.scalar;
    return type + " \"" + v + "\"";
  }
  return type;
}

}  // namespace

void DecodeContext::Error(Mark mark, std::string path, std::string message) {
  ++errors_;
  diags_->Error(file_, mark, std::move(path), std::move(message));
}

void DecodeContext::Warning(Mark mark, std::string path, std::string message) {
  diags_->Warning(file_, mark, std::move(path), std::move(message));
}

void DecodeContext::Record(const std::string& path, Mark mark) {
  if (sources_ != nullptr) sources_->Record(path, mark);
}

std::optional<std::string> ReadString(DecodeContext* ctx, const Node& n, const std::string& path) {
  if (!n.IsScalar()) {
    ctx->Error(n.mark, path, "expected a string, got " + Describe(n));
    return std::nullopt;
  }
  // Like Kubernetes' YAML-to-JSON conversion into a string field, a plain scalar such as 1.10
  // or true is taken as written.
  return n.scalar;
}

std::optional<int64_t> ReadInt64(DecodeContext* ctx, const Node& n, const std::string& path) {
  int64_t v = 0;
  if (n.IsScalar() && !n.quoted && ParseYamlInt(n.scalar, &v)) return v;
  double d = 0;
  if (n.IsScalar() && !n.quoted && ParseYamlFloat(n.scalar, &d) && std::isfinite(d) &&
      d == std::floor(d) && std::fabs(d) < 9.0e15) {
    return static_cast<int64_t>(d);  // JSON writers emit 3.0 for 3
  }
  ctx->Error(n.mark, path, "expected an integer, got " + Describe(n));
  return std::nullopt;
}

std::optional<int32_t> ReadInt32(DecodeContext* ctx, const Node& n, const std::string& path) {
  auto v = ReadInt64(ctx, n, path);
  if (!v) return std::nullopt;
  if (*v < std::numeric_limits<int32_t>::min() || *v > std::numeric_limits<int32_t>::max()) {
    ctx->Error(n.mark, path, "integer " + std::to_string(*v) + " does not fit in 32 bits");
    return std::nullopt;
  }
  return static_cast<int32_t>(*v);
}

std::optional<bool> ReadBool(DecodeContext* ctx, const Node& n, const std::string& path) {
  bool b = false;
  if (n.IsScalar() && !n.quoted && ParseYamlBool(n.scalar, &b)) return b;
  ctx->Error(n.mark, path, "expected true or false, got " + Describe(n));
  return std::nullopt;
}

std::optional<double> ReadFloat(DecodeContext* ctx, const Node& n, const std::string& path) {
  double d = 0;
  if (n.IsScalar() && !n.quoted && ParseYamlFloat(n.scalar, &d)) return d;
  int64_t i = 0;
  if (n.IsScalar() && !n.quoted && ParseYamlInt(n.scalar, &i)) return static_cast<double>(i);
  ctx->Error(n.mark, path, "expected a number, got " + Describe(n));
  return std::nullopt;
}

std::optional<IntOrString> ReadIntOrString(DecodeContext* ctx, const Node& n,
                                           const std::string& path) {
  if (!n.IsScalar()) {
    ctx->Error(n.mark, path, "expected an integer or a string, got " + Describe(n));
    return std::nullopt;
  }
  int64_t v = 0;
  if (!n.quoted && ParseYamlInt(n.scalar, &v)) {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      ctx->Error(n.mark, path, "integer " + n.scalar + " does not fit in 32 bits");
      return std::nullopt;
    }
    return IntOrString::Int(static_cast<int32_t>(v));
  }
  return IntOrString::Str(n.scalar);
}

ObjectReader::ObjectReader(DecodeContext* ctx, const Node* node, std::string path, Mode mode)
    : ctx_(ctx), node_(node), path_(std::move(path)), mode_(mode) {
  if (node_ != nullptr && node_->IsNull()) node_ = nullptr;
  if (node_ != nullptr && !node_->IsMap()) {
    ctx_->Error(node_->mark, path_, "expected a map (object), got " + Describe(*node_));
    node_ = nullptr;
    valid_ = false;
  }
}

Mark ObjectReader::FieldMark(std::string_view key) const {
  if (node_ == nullptr) return Mark{};
  return node_->KeyMark(key);
}

const Node* ObjectReader::Field(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  if (node_ == nullptr) return nullptr;
  for (const auto& e : node_->entries) {
    if (e.key == key) {
      ctx_->Record(ChildPath(path_, key), e.key_mark);
      // An explicit null is an absent field, as for Go pointer fields.
      return e.value.IsPlainNull() ? nullptr : &e.value;
    }
  }
  return nullptr;
}

bool ObjectReader::Has(std::string_view key) { return Field(key) != nullptr; }

std::optional<std::string> ObjectReader::String(std::string_view key) {
  const Node* n = Field(key);
  if (n == nullptr) return std::nullopt;
  return ReadString(ctx_, *n, FieldPath(key));
}

std::optional<int32_t> ObjectReader::Int32(std::string_view key) {
  const Node* n = Field(key);
  if (n == nullptr) return std::nullopt;
  return ReadInt32(ctx_, *n, FieldPath(key));
}

std::optional<int64_t> ObjectReader::Int64(std::string_view key) {
  const Node* n = Field(key);
  if (n == nullptr) return std::nullopt;
  return ReadInt64(ctx_, *n, FieldPath(key));
}

std::optional<bool> ObjectReader::Bool(std::string_view key) {
  const Node* n = Field(key);
  if (n == nullptr) return std::nullopt;
  return ReadBool(ctx_, *n, FieldPath(key));
}

std::optional<double> ObjectReader::Float(std::string_view key) {
  const Node* n = Field(key);
  if (n == nullptr) return std::nullopt;
  return ReadFloat(ctx_, *n, FieldPath(key));
}

std::optional<IntOrString> ObjectReader::IntOrStr(std::string_view key) {
  const Node* n = Field(key);
  if (n == nullptr) return std::nullopt;
  return ReadIntOrString(ctx_, *n, FieldPath(key));
}

std::vector<std::string> ObjectReader::StringList(std::string_view key) {
  std::vector<std::string> out;
  const Node* n = Field(key);
  if (n == nullptr) return out;
  std::string p = FieldPath(key);
  if (!n->IsSequence()) {
    ctx_->Error(n->mark, p, "expected a list of strings, got " + Describe(*n));
    return out;
  }
  for (size_t i = 0; i < n->items.size(); ++i) {
    auto s = ReadString(ctx_, n->items[i], IndexPath(p, i));
    if (s) out.push_back(std::move(*s));
  }
  return out;
}

std::map<std::string, std::string> ObjectReader::StringMap(std::string_view key) {
  std::map<std::string, std::string> out;
  const Node* n = Field(key);
  if (n == nullptr) return out;
  std::string p = FieldPath(key);
  if (!n->IsMap()) {
    ctx_->Error(n->mark, p, "expected a map of strings, got " + Describe(*n));
    return out;
  }
  for (const auto& e : n->entries) {
    std::string kp = ChildPath(p, e.key);
    ctx_->Record(kp, e.key_mark);
    if (e.value.IsNull()) {
      out[e.key] = "";
      continue;
    }
    auto s = ReadString(ctx_, e.value, kp);
    if (s) out[e.key] = std::move(*s);
  }
  return out;
}

std::optional<nlohmann::json> ObjectReader::Json(std::string_view key) {
  const Node* n = Field(key);
  if (n == nullptr) return std::nullopt;
  return ToJson(*n);
}

void ObjectReader::Finish() {
  if (node_ == nullptr || mode_ == Mode::kLenient) return;
  for (const auto& e : node_->entries) {
    if (std::find(known_.begin(), known_.end(), e.key) != known_.end()) continue;
    std::string msg = "unknown field \"" + e.key + "\"";
    std::string hint = DidYouMean(e.key, known_);
    if (!hint.empty()) msg += " (did you mean \"" + hint + "\"?)";
    ctx_->Error(e.key_mark, ChildPath(path_, e.key), msg);
  }
}

}  // namespace ramp::spec
