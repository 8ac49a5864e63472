// Go's duration and time-layout syntax (time.ParseDuration, Duration.String, time.Parse,
// Time.Format), restricted to UTC: the layouts of expr's date() and of Time.Format() keep their
// Go meaning, and every instant is a UTC time point at nanosecond resolution.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "expr/internal.h"

namespace ramp::expr::internal {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// ---- Durations --------------------------------------------------------------------------------

Status InvalidDuration(std::string_view orig) {
  return InvalidArgumentError("time: invalid duration " + Quote(orig));
}

}  // namespace

StatusOr<Duration> ParseGoDuration(std::string_view s) {
  const std::string_view orig = s;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration(0);
  if (s.empty()) return Fail(InvalidDuration(orig));
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return Fail(InvalidDuration(orig));
    // Integer part.
    uint64_t v = 0;
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (v > (kLimit - 1) / 10) return Fail(InvalidDuration(orig));
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return Fail(InvalidDuration(orig));
      ++i;
    }
    bool pre = i > 0;
    s.remove_prefix(i);
    // Fraction.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9') {
        if (!overflow) {
          if (f > (kLimit - 1) / 10) {
            overflow = true;
          } else {
            uint64_t next = f * 10 + static_cast<uint64_t>(s[j] - '0');
            if (next > kLimit) {
              overflow = true;
            } else {
              f = next;
              scale *= 10;
            }
          }
        }
        ++j;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return Fail(InvalidDuration(orig));
    // Unit.
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !(s[u] >= '0' && s[u] <= '9')) ++u;
    if (u == 0) return Fail(InvalidArgumentError("time: missing unit in duration " + Quote(orig)));
    std::string_view unit_name = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_name == "ns") {
      unit = 1;
    } else if (unit_name == "us" || unit_name == "\xC2\xB5s" || unit_name == "\xCE\xBCs") {
      unit = 1'000;
    } else if (unit_name == "ms") {
      unit = 1'000'000;
    } else if (unit_name == "s") {
      unit = 1'000'000'000;
    } else if (unit_name == "m") {
      unit = 60'000'000'000;
    } else if (unit_name == "h") {
      unit = 3'600'000'000'000;
    } else {
      return Fail(InvalidArgumentError("time: unknown unit " + Quote(unit_name) + " in duration " +
                                       Quote(orig)));
    }
    if (v > kLimit / unit) return Fail(InvalidDuration(orig));
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return Fail(InvalidDuration(orig));
    }
    total += v;
    if (total > kLimit) return Fail(InvalidDuration(orig));
  }
  if (neg) return Duration(static_cast<int64_t>(0 - total));
  if (total > kLimit - 1) return Fail(InvalidDuration(orig));
  return Duration(static_cast<int64_t>(total));
}

namespace {

// Writes v / 10^prec's fraction (".123", trailing zeros dropped, nothing when zero) before
// `w` in buf; returns the new start and v / 10^prec.
size_t FmtFrac(char* buf, size_t w, uint64_t v, int prec, uint64_t* rest) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    int digit = static_cast<int>(v % 10);
    print = print || digit != 0;
    if (print) buf[--w] = static_cast<char>('0' + digit);
    v /= 10;
  }
  if (print) buf[--w] = '.';
  *rest = v;
  return w;
}

size_t FmtInt(char* buf, size_t w, uint64_t v) {
  if (v == 0) {
    buf[--w] = '0';
    return w;
  }
  while (v > 0) {
    buf[--w] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return w;
}

}  // namespace

std::string FormatGoDuration(Duration d) {
  char buf[40];
  size_t w = sizeof(buf);
  int64_t n = d.count();
  uint64_t u = static_cast<uint64_t>(n);
  bool neg = n < 0;
  if (neg) u = 0 - u;
  if (u < static_cast<uint64_t>(kNanosPerSecond)) {
    int prec = 0;
    buf[--w] = 's';
    if (u == 0) return "0s";
    if (u < 1'000) {
      prec = 0;
      buf[--w] = 'n';
    } else if (u < 1'000'000) {
      prec = 3;
      buf[--w] = '\xB5';  // U+00B5 'µ' as UTF-8 C2 B5
      buf[--w] = '\xC2';
    } else {
      prec = 6;
      buf[--w] = 'm';
    }
    w = FmtFrac(buf, w, u, prec, &u);
    w = FmtInt(buf, w, u);
  } else {
    buf[--w] = 's';
    w = FmtFrac(buf, w, u, 9, &u);
    w = FmtInt(buf, w, u % 60);
    u /= 60;
    if (u > 0) {
      buf[--w] = 'm';
      w = FmtInt(buf, w, u % 60);
      u /= 60;
      if (u > 0) {
        buf[--w] = 'h';
        w = FmtInt(buf, w, u);
      }
    }
  }
  if (neg) buf[--w] = '-';
  return std::string(buf + w, sizeof(buf) - w);
}

namespace {

// ---- Layouts ----------------------------------------------------------------------------------

enum class Std {
  kNone,
  kLongMonth,
  kMonth,
  kNumMonth,
  kZeroMonth,
  kLongWeekDay,
  kWeekDay,
  kDay,
  kUnderDay,
  kZeroDay,
  kUnderYearDay,
  kZeroYearDay,
  kHour,
  kHour12,
  kZeroHour12,
  kMinute,
  kZeroMinute,
  kSecond,
  kZeroSecond,
  kLongYear,
  kYear,
  kPM,
  kpm,
  kTZ,
  kISO8601TZ,
  kISO8601SecondsTZ,
  kISO8601ShortTZ,
  kISO8601ColonTZ,
  kISO8601ColonSecondsTZ,
  kNumTZ,
  kNumSecondsTZ,
  kNumShortTZ,
  kNumColonTZ,
  kNumColonSecondsTZ,
  kFracSecond0,
  kFracSecond9,
};

struct Chunk {
  std::string_view prefix;
  Std std = Std::kNone;
  std::string_view suffix;
  int frac_digits = 0;
  char frac_sep = '.';
};

bool StartsWithLower(std::string_view s) { return !s.empty() && s[0] >= 'a' && s[0] <= 'z'; }
bool IsDigitAt(std::string_view s, size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; }

Chunk NextChunk(std::string_view layout) {
  auto at = [&](size_t i, Std std, size_t len) {
    return Chunk{layout.substr(0, i), std, layout.substr(i + len)};
  };
  auto has = [&](size_t i, std::string_view s) { return layout.substr(i, s.size()) == s; };
  for (size_t i = 0; i < layout.size(); ++i) {
    switch (layout[i]) {
      case 'J':
        if (has(i, "Jan")) {
          if (has(i, "January")) return at(i, Std::kLongMonth, 7);
          if (!StartsWithLower(layout.substr(i + 3))) return at(i, Std::kMonth, 3);
        }
        break;
      case 'M':
        if (has(i, "Mon")) {
          if (has(i, "Monday")) return at(i, Std::kLongWeekDay, 6);
          if (!StartsWithLower(layout.substr(i + 3))) return at(i, Std::kWeekDay, 3);
        }
        if (has(i, "MST")) return at(i, Std::kTZ, 3);
        break;
      case '0':
        if (i + 1 < layout.size() && layout[i + 1] >= '1' && layout[i + 1] <= '6') {
          static constexpr Std kZero[] = {Std::kZeroMonth,  Std::kZeroDay,    Std::kZeroHour12,
                                          Std::kZeroMinute, Std::kZeroSecond, Std::kYear};
          return at(i, kZero[layout[i + 1] - '1'], 2);
        }
        if (has(i, "002")) return at(i, Std::kZeroYearDay, 3);
        break;
      case '1':
        if (has(i, "15")) return at(i, Std::kHour, 2);
        return at(i, Std::kNumMonth, 1);
      case '2':
        if (has(i, "2006")) return at(i, Std::kLongYear, 4);
        return at(i, Std::kDay, 1);
      case '_':
        if (has(i, "_2")) {
          if (has(i + 1, "2006"))
            return Chunk{layout.substr(0, i + 1), Std::kLongYear, layout.substr(i + 5)};
          return at(i, Std::kUnderDay, 2);
        }
        if (has(i, "__2")) return at(i, Std::kUnderYearDay, 3);
        break;
      case '3':
        return at(i, Std::kHour12, 1);
      case '4':
        return at(i, Std::kMinute, 1);
      case '5':
        return at(i, Std::kSecond, 1);
      case 'P':
        if (has(i, "PM")) return at(i, Std::kPM, 2);
        break;
      case 'p':
        if (has(i, "pm")) return at(i, Std::kpm, 2);
        break;
      case '-':
        if (has(i, "-070000")) return at(i, Std::kNumSecondsTZ, 7);
        if (has(i, "-07:00:00")) return at(i, Std::kNumColonSecondsTZ, 9);
        if (has(i, "-0700")) return at(i, Std::kNumTZ, 5);
        if (has(i, "-07:00")) return at(i, Std::kNumColonTZ, 6);
        if (has(i, "-07")) return at(i, Std::kNumShortTZ, 3);
        break;
      case 'Z':
        if (has(i, "Z070000")) return at(i, Std::kISO8601SecondsTZ, 7);
        if (has(i, "Z07:00:00")) return at(i, Std::kISO8601ColonSecondsTZ, 9);
        if (has(i, "Z0700")) return at(i, Std::kISO8601TZ, 5);
        if (has(i, "Z07:00")) return at(i, Std::kISO8601ColonTZ, 6);
        if (has(i, "Z07")) return at(i, Std::kISO8601ShortTZ, 3);
        break;
      case '.':
      case ',':
        if (i + 1 < layout.size() && (layout[i + 1] == '0' || layout[i + 1] == '9')) {
          char ch = layout[i + 1];
          size_t j = i + 1;
          while (j < layout.size() && layout[j] == ch) ++j;
          if (!IsDigitAt(layout, j)) {
            Chunk c{layout.substr(0, i), ch == '0' ? Std::kFracSecond0 : Std::kFracSecond9,
                    layout.substr(j)};
            c.frac_digits = static_cast<int>(j - (i + 1));
            c.frac_sep = layout[i];
            return c;
          }
        }
        break;
      default:
        break;
    }
  }
  return Chunk{layout, Std::kNone, {}};
}

constexpr std::array<std::string_view, 12> kLongMonths = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
constexpr std::array<std::string_view, 12> kShortMonths = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 7> kShortDays = {"Sun", "Mon", "Tue", "Wed",
                                                        "Thu", "Fri", "Sat"};

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

template <size_t N>
bool Lookup(const std::array<std::string_view, N>& names, std::string_view& value, int* index) {
  for (size_t i = 0; i < N; ++i) {
    std::string_view n = names[i];
    if (value.size() < n.size()) continue;
    bool eq = true;
    for (size_t k = 0; k < n.size(); ++k) {
      if (Lower(value[k]) != Lower(n[k])) {
        eq = false;
        break;
      }
    }
    if (eq) {
      value.remove_prefix(n.size());
      *index = static_cast<int>(i);
      return true;
    }
  }
  return false;
}

// One or two digits (exactly two when `fixed`).
bool GetNum(std::string_view& s, bool fixed, int* out) {
  if (!IsDigitAt(s, 0)) return false;
  if (!IsDigitAt(s, 1)) {
    if (fixed) return false;
    *out = s[0] - '0';
    s.remove_prefix(1);
    return true;
  }
  *out = (s[0] - '0') * 10 + (s[1] - '0');
  s.remove_prefix(2);
  return true;
}

// One to three digits (exactly three when `fixed`).
bool GetNum3(std::string_view& s, bool fixed, int* out) {
  int n = 0;
  size_t i = 0;
  for (; i < 3 && IsDigitAt(s, i); ++i) n = n * 10 + (s[i] - '0');
  if (i == 0 || (fixed && i != 3)) return false;
  s.remove_prefix(i);
  *out = n;
  return true;
}

// The length of a zone abbreviation at the start of `value`, or 0.
size_t ParseZoneName(std::string_view value) {
  if (value.size() < 3) return 0;
  if (value.substr(0, 4) == "ChST" || value.substr(0, 4) == "MeST") return 4;
  if (value.substr(0, 3) == "GMT") {
    // GMT, or GMT+h / GMT-h with -23 < h < 23.
    size_t n = 3;
    if (value.size() > 3 && (value[3] == '+' || value[3] == '-')) {
      size_t j = 4;
      int h = 0;
      while (j < value.size() && value[j] >= '0' && value[j] <= '9' && j < 7) {
        h = h * 10 + (value[j] - '0');
        ++j;
      }
      if (j > 4 && h <= 23) n = j;
    }
    return n;
  }
  if (value[0] == '+' || value[0] == '-') {
    // Numeric abbreviations like "+03" or "-0530".
    size_t j = 1;
    while (j < value.size() && IsDigitAt(value, j)) ++j;
    return (j == 3 || j == 5) ? j : 0;
  }
  size_t upper = 0;
  while (upper < value.size() && upper < 6 && value[upper] >= 'A' && value[upper] <= 'Z') ++upper;
  switch (upper) {
    case 3:
      return 3;
    case 4:
      return (value[3] == 'T' || value.substr(0, 4) == "WITA") ? 4 : 0;
    case 5:
      return value[4] == 'T' ? 5 : 0;
    default:
      return 0;
  }
}

bool IsLeap(int y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int DaysIn(int month, int year) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && IsLeap(year)) return 29;
  return kDays[month - 1];
}

Status ParseError(std::string_view layout, std::string_view value, std::string_view layout_elem,
                  std::string_view value_elem, std::string_view message) {
  if (message.empty()) {
    return InvalidArgumentError("parsing time " + Quote(value) + " as " + Quote(layout) +
                                ": cannot parse " + Quote(value_elem) + " as " +
                                Quote(layout_elem));
  }
  return InvalidArgumentError("parsing time " + Quote(value) + std::string(message));
}

// Parses ".123" / ",123" (the separator and n-1 digits) into nanoseconds.
bool ParseNanos(std::string_view value, size_t nbytes, int* ns) {
  if (nbytes > 10) nbytes = 10;
  int v = 0;
  for (size_t i = 1; i < nbytes; ++i) {
    if (!IsDigitAt(value, i)) return false;
    v = v * 10 + (value[i] - '0');
  }
  for (size_t i = 0; i < 10 - nbytes; ++i) v *= 10;
  *ns = v;
  return true;
}

StatusOr<Time> MakeTime(int year, int month, int day, int hour, int min, int sec, int nsec,
                        int64_t offset_seconds) {
  auto ymd =
      year_month_day(std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                     std::chrono::day(static_cast<unsigned>(day)));
  int64_t d = sys_days(ymd).time_since_epoch().count();
  int64_t secs = d * 86400 + hour * 3600 + min * 60 + sec - offset_seconds;
  int64_t ns = 0;
  if (__builtin_mul_overflow(secs, kNanosPerSecond, &ns) || __builtin_add_overflow(ns, nsec, &ns)) {
    return Fail(InvalidArgumentError(
        "date out of range: ramp represents times from 1677-09-21 to 2262-04-11 (UTC)"));
  }
  return Time(Duration(ns));
}

}  // namespace

StatusOr<Time> ParseGoTime(std::string_view layout_in, std::string_view value_in) {
  std::string_view layout = layout_in;
  std::string_view value = value_in;
  bool am = false;
  bool pm = false;
  int year = 0;
  int month = -1;
  int day = -1;
  int yday = -1;
  int hour = 0;
  int min = 0;
  int sec = 0;
  int nsec = 0;
  bool utc = false;
  int64_t offset = 0;
  bool have_offset = false;
  for (;;) {
    Chunk c = NextChunk(layout);
    std::string_view std_str =
        layout.substr(c.prefix.size(), layout.size() - c.prefix.size() - c.suffix.size());
    // Skip the literal prefix; a space in the layout matches any run of spaces.
    std::string_view prefix = c.prefix;
    while (!prefix.empty()) {
      if (prefix[0] == ' ') {
        if (!value.empty() && value[0] != ' ') {
          return Fail(ParseError(layout_in, value_in, c.prefix, value, ""));
        }
        while (!prefix.empty() && prefix[0] == ' ') prefix.remove_prefix(1);
        while (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        continue;
      }
      if (value.empty() || value[0] != prefix[0]) {
        return Fail(ParseError(layout_in, value_in, c.prefix, value, ""));
      }
      prefix.remove_prefix(1);
      value.remove_prefix(1);
    }
    if (c.std == Std::kNone) {
      if (!value.empty()) {
        return Fail(ParseError(layout_in, value_in, "", value, ": extra text: " + Quote(value)));
      }
      break;
    }
    layout = c.suffix;
    std::string_view hold = value;
    bool ok = true;
    std::string range;
    switch (c.std) {
      case Std::kYear:
        if (value.size() < 2 || !IsDigitAt(value, 0) || !IsDigitAt(value, 1)) {
          ok = false;
          break;
        }
        year = (value[0] - '0') * 10 + (value[1] - '0');
        year += year >= 69 ? 1900 : 2000;
        value.remove_prefix(2);
        break;
      case Std::kLongYear:
        if (value.size() < 4) {
          ok = false;
          break;
        }
        year = 0;
        for (size_t i = 0; i < 4; ++i) {
          if (!IsDigitAt(value, i)) ok = false;
          year = year * 10 + (value[i] - '0');
        }
        if (ok) value.remove_prefix(4);
        break;
      case Std::kMonth:
        ok = Lookup(kShortMonths, value, &month);
        ++month;
        break;
      case Std::kLongMonth:
        ok = Lookup(kLongMonths, value, &month);
        ++month;
        break;
      case Std::kNumMonth:
      case Std::kZeroMonth:
        ok = GetNum(value, c.std == Std::kZeroMonth, &month);
        if (ok && (month <= 0 || month > 12)) range = "month";
        break;
      case Std::kWeekDay: {
        int ignored = 0;
        ok = Lookup(kShortDays, value, &ignored);
        break;
      }
      case Std::kLongWeekDay: {
        int ignored = 0;
        ok = Lookup(kLongDays, value, &ignored);
        break;
      }
      case Std::kDay:
      case Std::kUnderDay:
      case Std::kZeroDay:
        if (c.std == Std::kUnderDay && !value.empty() && value[0] == ' ') value.remove_prefix(1);
        ok = GetNum(value, c.std == Std::kZeroDay, &day);
        break;
      case Std::kUnderYearDay:
      case Std::kZeroYearDay:
        for (int i = 0; i < 2; ++i) {
          if (c.std == Std::kUnderYearDay && !value.empty() && value[0] == ' ') {
            value.remove_prefix(1);
          }
        }
        ok = GetNum3(value, c.std == Std::kZeroYearDay, &yday);
        break;
      case Std::kHour:
        ok = GetNum(value, false, &hour);
        if (ok && hour >= 24) range = "hour";
        break;
      case Std::kHour12:
      case Std::kZeroHour12:
        ok = GetNum(value, c.std == Std::kZeroHour12, &hour);
        if (ok && hour > 12) range = "hour";
        break;
      case Std::kMinute:
      case Std::kZeroMinute:
        ok = GetNum(value, c.std == Std::kZeroMinute, &min);
        if (ok && min >= 60) range = "minute";
        break;
      case Std::kSecond:
      case Std::kZeroSecond: {
        ok = GetNum(value, c.std == Std::kZeroSecond, &sec);
        if (!ok) break;
        if (sec >= 60) {
          range = "second";
          break;
        }
        // A fractional second in the value that the layout does not spell out.
        if (value.size() >= 2 && (value[0] == '.' || value[0] == ',') && IsDigitAt(value, 1)) {
          Std next = NextChunk(layout).std;
          if (next == Std::kFracSecond0 || next == Std::kFracSecond9) break;
          size_t n = 2;
          while (n < value.size() && IsDigitAt(value, n)) ++n;
          ok = ParseNanos(value, n, &nsec);
          value.remove_prefix(n);
        }
        break;
      }
      case Std::kPM:
      case Std::kpm: {
        if (value.size() < 2) {
          ok = false;
          break;
        }
        std::string_view p = value.substr(0, 2);
        value.remove_prefix(2);
        bool upper = c.std == Std::kPM;
        if (p == (upper ? "PM" : "pm")) {
          pm = true;
        } else if (p == (upper ? "AM" : "am")) {
          am = true;
        } else {
          ok = false;
        }
        break;
      }
      case Std::kISO8601TZ:
      case Std::kISO8601ShortTZ:
      case Std::kISO8601ColonTZ:
      case Std::kISO8601SecondsTZ:
      case Std::kISO8601ColonSecondsTZ:
      case Std::kNumTZ:
      case Std::kNumShortTZ:
      case Std::kNumColonTZ:
      case Std::kNumSecondsTZ:
      case Std::kNumColonSecondsTZ: {
        bool iso = c.std == Std::kISO8601TZ || c.std == Std::kISO8601ShortTZ ||
                   c.std == Std::kISO8601ColonTZ || c.std == Std::kISO8601SecondsTZ ||
                   c.std == Std::kISO8601ColonSecondsTZ;
        if (iso && !value.empty() && value[0] == 'Z') {
          value.remove_prefix(1);
          utc = true;
          break;
        }
        std::string_view hh, mm = "00", ss = "00";
        char sign = value.empty() ? '\0' : value[0];
        if (c.std == Std::kISO8601ColonTZ || c.std == Std::kNumColonTZ) {
          if (value.size() < 6 || value[3] != ':') {
            ok = false;
            break;
          }
          hh = value.substr(1, 2);
          mm = value.substr(4, 2);
          value.remove_prefix(6);
        } else if (c.std == Std::kNumShortTZ || c.std == Std::kISO8601ShortTZ) {
          if (value.size() < 3) {
            ok = false;
            break;
          }
          hh = value.substr(1, 2);
          value.remove_prefix(3);
        } else if (c.std == Std::kISO8601ColonSecondsTZ || c.std == Std::kNumColonSecondsTZ) {
          if (value.size() < 9 || value[3] != ':' || value[6] != ':') {
            ok = false;
            break;
          }
          hh = value.substr(1, 2);
          mm = value.substr(4, 2);
          ss = value.substr(7, 2);
          value.remove_prefix(9);
        } else if (c.std == Std::kISO8601SecondsTZ || c.std == Std::kNumSecondsTZ) {
          if (value.size() < 7) {
            ok = false;
            break;
          }
          hh = value.substr(1, 2);
          mm = value.substr(3, 2);
          ss = value.substr(5, 2);
          value.remove_prefix(7);
        } else {
          if (value.size() < 5) {
            ok = false;
            break;
          }
          hh = value.substr(1, 2);
          mm = value.substr(3, 2);
          value.remove_prefix(5);
        }
        int h = 0, m = 0, s = 0;
        ok = GetNum(hh, true, &h) && GetNum(mm, true, &m) && GetNum(ss, true, &s);
        if (h > 24) range = "time zone offset hour";
        if (m > 60) range = "time zone offset minute";
        if (s > 60) range = "time zone offset second";
        offset = (h * 60 + m) * 60 + s;
        if (sign == '-') {
          offset = -offset;
        } else if (sign != '+') {
          ok = false;
        }
        have_offset = true;
        break;
      }
      case Std::kTZ: {
        if (value.substr(0, 3) == "UTC") {
          value.remove_prefix(3);
          utc = true;
          break;
        }
        size_t n = ParseZoneName(value);
        if (n == 0) {
          ok = false;
          break;
        }
        // An abbreviation's offset is unknown here; Go then keeps the wall clock as UTC.
        value.remove_prefix(n);
        break;
      }
      case Std::kFracSecond0: {
        size_t n = 1 + static_cast<size_t>(c.frac_digits);
        if (value.size() < n || (value[0] != '.' && value[0] != ',')) {
          ok = false;
          break;
        }
        ok = ParseNanos(value, n, &nsec);
        value.remove_prefix(n);
        break;
      }
      case Std::kFracSecond9: {
        if (value.size() < 2 || (value[0] != '.' && value[0] != ',') || !IsDigitAt(value, 1)) {
          break;  // omitted
        }
        size_t i = 0;
        while (i + 1 < value.size() && IsDigitAt(value, i + 1)) ++i;
        ok = ParseNanos(value, 1 + i, &nsec);
        value.remove_prefix(1 + i);
        break;
      }
      case Std::kNone:
        break;
    }
    if (!range.empty()) {
      return Fail(ParseError(layout_in, value_in, std_str, value, ": " + range + " out of range"));
    }
    if (!ok) return Fail(ParseError(layout_in, value_in, std_str, hold, ""));
  }
  if (pm && hour < 12) {
    hour += 12;
  } else if (am && hour == 12) {
    hour = 0;
  }
  if (yday >= 0) {
    static constexpr int kDaysBefore[] = {0,   31,  59,  90,  120, 151, 181,
                                          212, 243, 273, 304, 334, 365};
    int d = 0;
    int m = 0;
    if (IsLeap(year)) {
      if (yday == 31 + 29) {
        m = 2;
        d = 29;
      } else if (yday > 31 + 29) {
        --yday;
      }
    }
    if (yday < 1 || yday > 365) {
      return Fail(ParseError(layout_in, value_in, "", value, ": day-of-year out of range"));
    }
    if (m == 0) {
      m = (yday - 1) / 31 + 1;
      if (kDaysBefore[m] < yday) ++m;
      d = yday - kDaysBefore[m - 1];
    }
    if (month >= 0 && month != m) {
      return Fail(ParseError(layout_in, value_in, "", value, ": day-of-year does not match month"));
    }
    month = m;
    if (day >= 0 && day != d) {
      return Fail(ParseError(layout_in, value_in, "", value, ": day-of-year does not match day"));
    }
    day = d;
  } else {
    if (month < 0) month = 1;
    if (day < 0) day = 1;
  }
  if (day < 1 || day > DaysIn(month, year)) {
    return Fail(ParseError(layout_in, value_in, "", value, ": day out of range"));
  }
  (void)utc;  // UTC and unknown abbreviations both keep the wall clock as UTC
  return MakeTime(year, month, day, hour, min, sec, nsec, have_offset ? offset : 0);
}

namespace {

struct Civil {
  int year;
  int month;
  int day;
  int hour;
  int min;
  int sec;
  int nsec;
  int weekday;  // 0 = Sunday
  int yday;     // 1-based
};

Civil ToCivil(Time t) {
  int64_t ns = t.time_since_epoch().count();
  int64_t secs = ns / kNanosPerSecond;
  int64_t rem = ns % kNanosPerSecond;
  if (rem < 0) {
    rem += kNanosPerSecond;
    --secs;
  }
  int64_t d = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --d;
  }
  sys_days sd{days(d)};
  year_month_day ymd(sd);
  Civil c{};
  c.year = static_cast<int>(ymd.year());
  c.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  c.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  c.hour = static_cast<int>(sod / 3600);
  c.min = static_cast<int>(sod / 60 % 60);
  c.sec = static_cast<int>(sod % 60);
  c.nsec = static_cast<int>(rem);
  c.weekday = static_cast<int>(std::chrono::weekday(sd).c_encoding());
  c.yday = static_cast<int>((sd - sys_days(ymd.year() / 1 / 1)).count()) + 1;
  return c;
}

void AppendInt(std::string& out, int v, int width, char pad = '0') {
  std::string digits = std::to_string(v < 0 ? -v : v);
  if (v < 0) out += '-';
  for (int i = static_cast<int>(digits.size()); i < width; ++i) out += pad;
  out += digits;
}

}  // namespace

std::string FormatGoTime(Time t, std::string_view layout) {
  Civil c = ToCivil(t);
  std::string out;
  for (;;) {
    Chunk ch = NextChunk(layout);
    out += ch.prefix;
    if (ch.std == Std::kNone) break;
    layout = ch.suffix;
    switch (ch.std) {
      case Std::kYear:
        AppendInt(out, c.year % 100, 2);
        break;
      case Std::kLongYear:
        AppendInt(out, c.year, 4);
        break;
      case Std::kMonth:
        out += kShortMonths[static_cast<size_t>(c.month - 1)];
        break;
      case Std::kLongMonth:
        out += kLongMonths[static_cast<size_t>(c.month - 1)];
        break;
      case Std::kNumMonth:
        AppendInt(out, c.month, 0);
        break;
      case Std::kZeroMonth:
        AppendInt(out, c.month, 2);
        break;
      case Std::kWeekDay:
        out += kShortDays[static_cast<size_t>(c.weekday)];
        break;
      case Std::kLongWeekDay:
        out += kLongDays[static_cast<size_t>(c.weekday)];
        break;
      case Std::kDay:
        AppendInt(out, c.day, 0);
        break;
      case Std::kUnderDay:
        AppendInt(out, c.day, 2, ' ');
        break;
      case Std::kZeroDay:
        AppendInt(out, c.day, 2);
        break;
      case Std::kUnderYearDay:
        AppendInt(out, c.yday, 3, ' ');
        break;
      case Std::kZeroYearDay:
        AppendInt(out, c.yday, 3);
        break;
      case Std::kHour:
        AppendInt(out, c.hour, 2);
        break;
      case Std::kHour12:
        AppendInt(out, c.hour % 12 == 0 ? 12 : c.hour % 12, 0);
        break;
      case Std::kZeroHour12:
        AppendInt(out, c.hour % 12 == 0 ? 12 : c.hour % 12, 2);
        break;
      case Std::kMinute:
        AppendInt(out, c.min, 0);
        break;
      case Std::kZeroMinute:
        AppendInt(out, c.min, 2);
        break;
      case Std::kSecond:
        AppendInt(out, c.sec, 0);
        break;
      case Std::kZeroSecond:
        AppendInt(out, c.sec, 2);
        break;
      case Std::kPM:
        out += c.hour >= 12 ? "PM" : "AM";
        break;
      case Std::kpm:
        out += c.hour >= 12 ? "pm" : "am";
        break;
      case Std::kISO8601TZ:
      case Std::kISO8601ShortTZ:
      case Std::kISO8601ColonTZ:
      case Std::kISO8601SecondsTZ:
      case Std::kISO8601ColonSecondsTZ:
        out += 'Z';
        break;
      case Std::kNumTZ:
        out += "+0000";
        break;
      case Std::kNumShortTZ:
        out += "+00";
        break;
      case Std::kNumColonTZ:
        out += "+00:00";
        break;
      case Std::kNumSecondsTZ:
        out += "+000000";
        break;
      case Std::kNumColonSecondsTZ:
        out += "+00:00:00";
        break;
      case Std::kTZ:
        out += "UTC";
        break;
      case Std::kFracSecond0:
      case Std::kFracSecond9: {
        std::string digits = std::to_string(c.nsec);
        digits.insert(0, 9 - digits.size(), '0');
        digits.resize(static_cast<size_t>(std::min(ch.frac_digits, 9)));
        if (ch.std == Std::kFracSecond9) {
          while (!digits.empty() && digits.back() == '0') digits.pop_back();
          if (digits.empty()) break;
        }
        out += ch.frac_sep;
        out += digits;
        break;
      }
      case Std::kNone:
        break;
    }
  }
  return out;
}

std::string GoTimeString(Time t) {
  return FormatGoTime(t, "2006-01-02 15:04:05.999999999 -0700 MST");
}

std::string Rfc3339Nano(Time t) { return FormatGoTime(t, "2006-01-02T15:04:05.999999999Z07:00"); }

}  // namespace ramp::expr::internal
