// Value: construction, accessors, equality, Go-style formatting and JSON conversion.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "expr/expr.h"
#include "expr/internal.h"

namespace ramp::expr {

struct Value::ArrayRep {
  Array items;
  int depth = 1;
};

struct Value::MapRep {
  MapEntries entries;
  int depth = 1;
};

namespace {

const std::string& EmptyString() {
  static const std::string* const kEmpty = new std::string();
  return *kEmpty;
}

const Array& EmptyArray() {
  static const Array* const kEmpty = new Array();
  return *kEmpty;
}

const MapEntries& EmptyMap() {
  static const MapEntries* const kEmpty = new MapEntries();
  return *kEmpty;
}

}  // namespace

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.scalar_.b = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.scalar_.i = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.scalar_.d = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::MakeArray(Array items) {
  int depth = 0;
  for (const Value& item : items) depth = std::max(depth, item.depth());
  auto rep = std::make_shared<ArrayRep>();
  rep->items = std::move(items);
  rep->depth = depth + 1;
  Value v;
  v.kind_ = Kind::kArray;
  v.ptr_ = std::move(rep);
  return v;
}

Value Value::MakeMap(MapEntries entries) {
  // Stable sort keeps the input order among equal keys; the last of them wins.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  MapEntries unique;
  unique.reserve(entries.size());
  for (auto& e : entries) {
    if (!unique.empty() && unique.back().first == e.first) {
      unique.back().second = std::move(e.second);
    } else {
      unique.push_back(std::move(e));
    }
  }
  int depth = 0;
  for (const auto& e : unique) depth = std::max(depth, e.second.depth());
  auto rep = std::make_shared<MapRep>();
  rep->entries = std::move(unique);
  rep->depth = depth + 1;
  Value v;
  v.kind_ = Kind::kMap;
  v.ptr_ = std::move(rep);
  return v;
}

Value Value::MakeTime(Time t) {
  Value v;
  v.kind_ = Kind::kTime;
  v.scalar_.i = t.time_since_epoch().count();
  return v;
}

Value Value::MakeDuration(Duration d) {
  Value v;
  v.kind_ = Kind::kDuration;
  v.scalar_.i = d.count();
  return v;
}

const std::string& Value::string_value() const {
  if (kind_ != Kind::kString) return EmptyString();
  return *static_cast<const std::string*>(ptr_.get());
}

const Array& Value::array() const {
  if (kind_ != Kind::kArray) return EmptyArray();
  return static_cast<const ArrayRep*>(ptr_.get())->items;
}

const MapEntries& Value::map() const {
  if (kind_ != Kind::kMap) return EmptyMap();
  return static_cast<const MapRep*>(ptr_.get())->entries;
}

const Value* Value::Find(std::string_view key) const {
  if (kind_ != Kind::kMap) return nullptr;
  const MapEntries& entries = map();
  auto it = std::lower_bound(entries.begin(), entries.end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  if (it == entries.end() || it->first != key) return nullptr;
  return &it->second;
}

int Value::depth() const {
  if (kind_ == Kind::kArray) return static_cast<const ArrayRep*>(ptr_.get())->depth;
  if (kind_ == Kind::kMap) return static_cast<const MapRep*>(ptr_.get())->depth;
  return 0;
}

std::string_view Value::TypeName() const {
  switch (kind_) {
    case Kind::kNil:
      return "nil";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "string";
    case Kind::kArray:
      return "array";
    case Kind::kMap:
      return "map";
    case Kind::kTime:
      return "time.Time";
    case Kind::kDuration:
      return "time.Duration";
  }
  return "unknown";
}

bool Equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::kInt && b.kind() == Kind::kInt) return a.int_value() == b.int_value();
    return a.AsDouble() == b.AsDouble();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kNil:
      return true;
    case Kind::kBool:
      return a.bool_value() == b.bool_value();
    case Kind::kString:
      return a.string_value() == b.string_value();
    case Kind::kTime:
    case Kind::kDuration:
      return a.int_value() == b.int_value();
    case Kind::kArray: {
      const Array& x = a.array();
      const Array& y = b.array();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equal(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::kMap: {
      const MapEntries& x = a.map();
      const MapEntries& y = b.map();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i].first != y[i].first || !Equal(x[i].second, y[i].second)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

namespace {

// Shortest round-trip digits of a finite, non-zero |d|: digits "d1d2…" and the decimal exponent
// such that the value is 0.d1d2… × 10^point.
void ShortestDigits(double d, std::string& digits, int& point) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), std::fabs(d), std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  size_t e = s.find('e');
  std::string_view mant = s.substr(0, e);
  int exp = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+' ? 1 : 0), s.data() + s.size(), exp);
  digits.clear();
  for (char c : mant) {
    if (c != '.') digits.push_back(c);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  point = exp + 1;
}

std::string FixedFromDigits(const std::string& digits, int point) {
  std::string out;
  if (point <= 0) {
    out = "0.";
    out.append(static_cast<size_t>(-point), '0');
    out += digits;
  } else if (static_cast<size_t>(point) >= digits.size()) {
    out = digits;
    out.append(static_cast<size_t>(point) - digits.size(), '0');
  } else {
    out = digits.substr(0, static_cast<size_t>(point));
    out += '.';
    out += digits.substr(static_cast<size_t>(point));
  }
  return out;
}

std::string ExpFromDigits(const std::string& digits, int point, bool two_digit_min) {
  std::string out(1, digits[0]);
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  int exp = point - 1;
  out += 'e';
  out += exp < 0 ? '-' : '+';
  int a = exp < 0 ? -exp : exp;
  if (two_digit_min && a < 10) out += '0';
  out += std::to_string(a);
  return out;
}

}  // namespace

namespace internal {

std::string FormatGoFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  std::string digits;
  int point = 0;
  ShortestDigits(d, digits, point);
  int exp = point - 1;
  std::string out =
      (exp < -4 || exp >= 6) ? ExpFromDigits(digits, point, true) : FixedFromDigits(digits, point);
  return d < 0 ? "-" + out : out;
}

std::string FormatJsonFloat(double d) {
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  std::string digits;
  int point = 0;
  ShortestDigits(d, digits, point);
  double a = std::fabs(d);
  std::string out;
  if (a < 1e-6 || a >= 1e21) {
    out = ExpFromDigits(digits, point, true);
    // encoding/json writes e-7, not e-07.
    size_t n = out.size();
    if (n >= 4 && out[n - 4] == 'e' && out[n - 3] == '-' && out[n - 2] == '0') {
      out.erase(n - 2, 1);
    }
  } else {
    out = FixedFromDigits(digits, point);
  }
  return d < 0 ? "-" + out : out;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence; invalid bytes become U+FFFD as in Go.
    int len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
    uint32_t cp = 0;
    if (ok) {
      cp = c & (0x7F >> len);
      for (int k = 1; k < len; ++k) {
        unsigned char cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
        if ((cc & 0xC0) != 0x80) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (cc & 0x3F);
      }
      if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                 (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))) {
        ok = false;
      }
    }
    if (!ok) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      out += cp == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, static_cast<size_t>(len)));
    }
    i += static_cast<size_t>(len);
  }
  out += '"';
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

}  // namespace internal

namespace {

void AppendGo(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Kind::kNil:
      out += "<nil>";
      return;
    case Kind::kBool:
      out += v.bool_value() ? "true" : "false";
      return;
    case Kind::kInt:
      out += std::to_string(v.int_value());
      return;
    case Kind::kFloat:
      out += internal::FormatGoFloat(v.float_value());
      return;
    case Kind::kString:
      out += v.string_value();
      return;
    case Kind::kArray: {
      out += '[';
      bool first = true;
      for (const Value& item : v.array()) {
        if (!first) out += ' ';
        first = false;
        AppendGo(out, item);
      }
      out += ']';
      return;
    }
    case Kind::kMap: {
      out += "map[";
      bool first = true;
      for (const auto& [k, item] : v.map()) {
        if (!first) out += ' ';
        first = false;
        out += k;
        out += ':';
        AppendGo(out, item);
      }
      out += ']';
      return;
    }
    case Kind::kTime:
      out += internal::GoTimeString(v.time_value());
      return;
    case Kind::kDuration:
      out += internal::FormatGoDuration(v.duration_value());
      return;
  }
}

Value FromJsonAt(const nlohmann::json& j, int depth) {
  switch (j.type()) {
    case nlohmann::json::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Int(static_cast<int64_t>(u));
      }
      return Value::Float(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::Float(j.get<double>());
    case nlohmann::json::value_t::string:
      return Value::String(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      if (depth >= kMaxValueDepth) return Value();
      Array items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJsonAt(e, depth + 1));
      return Value::MakeArray(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      if (depth >= kMaxValueDepth) return Value();
      MapEntries entries;
      entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        entries.emplace_back(it.key(), FromJsonAt(it.value(), depth + 1));
      }
      return Value::MakeMap(std::move(entries));
    }
    default:
      return Value();
  }
}

}  // namespace

std::string Value::ToString() const {
  std::string out;
  AppendGo(out, *this);
  return out;
}

nlohmann::json Value::ToJson() const {
  switch (kind_) {
    case Kind::kNil:
      return nullptr;
    case Kind::kBool:
      return scalar_.b;
    case Kind::kInt:
      return scalar_.i;
    case Kind::kFloat:
      return scalar_.d;
    case Kind::kString:
      return string_value();
    case Kind::kArray: {
      nlohmann::json out = nlohmann::json::array();
      for (const Value& item : array()) out.push_back(item.ToJson());
      return out;
    }
    case Kind::kMap: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, item] : map()) out[k] = item.ToJson();
      return out;
    }
    case Kind::kTime:
      return internal::Rfc3339Nano(time_value());
    case Kind::kDuration:
      return scalar_.i;
  }
  return nullptr;
}

Value FromJson(const nlohmann::json& json) { return FromJsonAt(json, 0); }

}  // namespace ramp::expr
