// Strict decoding of YAML trees into typed manifest objects.
//
// An ObjectReader reads one mapping: each typed getter names a field the schema knows, checks its
// type, records its position, and reports a clear error when the value has the wrong type.
// Finish() then reports every key nobody asked for as an unknown field, with a "did you mean"
// when a known field is close, which is how Argo's strict decoding behaves. Objects embedded from
// Kubernetes (pod templates, Services, Jobs) use a lenient reader: fields ramp reads are
// type-checked, the rest pass untouched.
//
// Decoding never stops at the first error: it collects every error in the file, and the caller
// refuses the whole object if there was any (no partial loads).
//
// Thread-safety: none; a DecodeContext and its readers belong to one decode.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/diagnostics.h"
#include "spec/yaml_tree.h"

namespace ramp::spec {

// Kubernetes' IntOrString: an integer, or a string such as "25%" or "{{args.count}}".
struct IntOrString {
  bool is_string = false;
  int32_t int_value = 0;
  std::string str_value;

  static IntOrString Int(int32_t v) { return IntOrString{false, v, {}}; }
  static IntOrString Str(std::string s) { return IntOrString{true, 0, std::move(s)}; }
  std::string ToString() const { return is_string ? str_value : std::to_string(int_value); }
  friend bool operator==(const IntOrString&, const IntOrString&) = default;
};

class DecodeContext {
 public:
  DecodeContext(std::string file, Diagnostics* diags, SourceMap* sources)
      : file_(std::move(file)), diags_(diags), sources_(sources) {}

  const std::string& file() const { return file_; }
  void Error(Mark mark, std::string path, std::string message);
  void Warning(Mark mark, std::string path, std::string message);
  void Record(const std::string& path, Mark mark);
  size_t error_count() const { return errors_; }
  // Where the fields decoded so far were written; never null after construction.
  const SourceMap& sources() const { return sources_ != nullptr ? *sources_ : empty_; }

 private:
  std::string file_;
  Diagnostics* diags_;
  SourceMap* sources_;
  size_t errors_ = 0;
  SourceMap empty_;
};

// Scalar readers for one node (used for list items and map values).
std::optional<std::string> ReadString(DecodeContext* ctx, const Node& n, const std::string& path);
std::optional<int64_t> ReadInt64(DecodeContext* ctx, const Node& n, const std::string& path);
std::optional<int32_t> ReadInt32(DecodeContext* ctx, const Node& n, const std::string& path);
std::optional<bool> ReadBool(DecodeContext* ctx, const Node& n, const std::string& path);
std::optional<double> ReadFloat(DecodeContext* ctx, const Node& n, const std::string& path);
std::optional<IntOrString> ReadIntOrString(DecodeContext* ctx, const Node& n,
                                           const std::string& path);

class ObjectReader {
 public:
  enum class Mode { kStrict, kLenient };

  // `node` may be nullptr or a YAML null (an empty object). Anything else that is not a map is
  // reported as an error, and all getters then return nothing.
  ObjectReader(DecodeContext* ctx, const Node* node, std::string path, Mode mode = Mode::kStrict);

  bool valid() const { return valid_; }
  const std::string& path() const { return path_; }
  DecodeContext* ctx() const { return ctx_; }
  std::string FieldPath(std::string_view key) const { return ChildPath(path_, key); }
  Mark FieldMark(std::string_view key) const;

  // The raw node of a known field; nullptr when absent or null.
  const Node* Field(std::string_view key);
  bool Has(std::string_view key);

  std::optional<std::string> String(std::string_view key);
  std::optional<int32_t> Int32(std::string_view key);
  std::optional<int64_t> Int64(std::string_view key);
  std::optional<bool> Bool(std::string_view key);
  std::optional<double> Float(std::string_view key);
  std::optional<IntOrString> IntOrStr(std::string_view key);
  std::vector<std::string> StringList(std::string_view key);
  std::map<std::string, std::string> StringMap(std::string_view key);
  // Free-form content (plugin config, embedded objects ramp does not read), as JSON.
  std::optional<nlohmann::json> Json(std::string_view key);

  // Decodes a list of objects; `decode(ctx, node, path)` returns the item.
  template <typename F,
            typename T = std::invoke_result_t<F&, DecodeContext*, const Node&, const std::string&>>
  std::vector<T> List(std::string_view key, F&& decode) {
    std::vector<T> out;
    const Node* n = Field(key);
    if (n == nullptr) return out;
    std::string p = FieldPath(key);
    if (!n->IsSequence()) {
      ctx_->Error(n->mark, p, "expected a list, got " + std::string(n->TypeName()));
      return out;
    }
    out.reserve(n->items.size());
    for (size_t i = 0; i < n->items.size(); ++i) {
      std::string ip = IndexPath(p, i);
      ctx_->Record(ip, n->items[i].mark);
      out.push_back(decode(ctx_, n->items[i], ip));
    }
    return out;
  }

  // Reports fields present in the map but never asked for (strict mode only).
  void Finish();

 private:
  DecodeContext* ctx_;
  const Node* node_;
  std::string path_;
  Mode mode_;
  bool valid_ = true;
  std::vector<std::string> known_;
};

}  // namespace ramp::spec
