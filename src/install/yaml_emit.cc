#include "install/yaml_emit.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace ramp::install {
namespace {

using json = nlohmann::ordered_json;

std::string Scalar(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return IsPlainSafe(s) ? s : json(s).dump();
  }
  if (v.is_object()) return "{}";  // only empty ones reach here
  if (v.is_array()) return "[]";
  return v.dump();
}

bool IsInline(const json& v) { return !(v.is_object() || v.is_array()) || v.empty(); }

void EmitMap(const json& map, int indent, bool first_inline, std::string* out);
void EmitSeq(const json& seq, int indent, std::string* out);

// Writes "key: value" entries; with `first_inline` the first entry continues the current line
// (after "- ").
void EmitMap(const json& map, int indent, bool first_inline, std::string* out) {
  bool first = true;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!(first && first_inline)) out->append(static_cast<size_t>(indent), ' ');
    first = false;
    out->append(IsPlainSafe(it.key()) ? it.key() : json(it.key()).dump());
    out->push_back(':');
    const json& v = it.value();
    if (IsInline(v)) {
      out->push_back(' ');
      out->append(Scalar(v));
      out->push_back('\n');
    } else if (v.is_object()) {
      out->push_back('\n');
      EmitMap(v, indent + 2, false, out);
    } else {
      out->push_back('\n');
      EmitSeq(v, indent, out);
    }
  }
}

void EmitSeq(const json& seq, int indent, std::string* out) {
  for (const json& item : seq) {
    out->append(static_cast<size_t>(indent), ' ');
    out->append("-");
    if (IsInline(item)) {
      out->push_back(' ');
      out->append(Scalar(item));
      out->push_back('\n');
    } else if (item.is_object()) {
      out->push_back(' ');
      EmitMap(item, indent + 2, true, out);
    } else {
      out->push_back('\n');
      EmitSeq(item, indent + 2, out);
    }
  }
}

}  // namespace

bool IsPlainSafe(std::string_view s) {
  if (s.empty()) return false;
  const unsigned char first = static_cast<unsigned char>(s.front());
  if (!(std::isalpha(first) || first == '/' || first == '_')) return false;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) continue;
    if (std::string_view("_./-$()=+@ :").find(c) == std::string_view::npos) return false;
  }
  if (s.back() == ' ' || s.back() == ':') return false;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) {
    return false;
  }
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // YAML 1.1's booleans and null (kubectl's reader is YAML 1.1), and 1.2's.
  for (std::string_view word : {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}) {
    if (lower == word) return false;
  }
  return true;
}

std::string ToYaml(const nlohmann::ordered_json& document) {
  std::string out;
  if (document.is_object() && !document.empty()) {
    EmitMap(document, 0, false, &out);
  } else if (document.is_array() && !document.empty()) {
    EmitSeq(document, 0, &out);
  } else {
    out = Scalar(document) + "\n";
  }
  return out;
}

std::string ToYamlDocuments(const std::vector<nlohmann::ordered_json>& documents,
                            const std::vector<std::string>& header) {
  std::string out;
  for (const std::string& line : header) out += line.empty() ? "#\n" : "# " + line + "\n";
  for (const json& doc : documents) {
    out += "---\n";
    out += ToYaml(doc);
  }
  return out;
}

}  // namespace ramp::install
