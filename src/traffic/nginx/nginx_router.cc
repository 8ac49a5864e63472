// The ramp/nginx traffic router (nginx_router.h).
#include "traffic/nginx/nginx_router.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <re2/re2.h>
#include <nlohmann/json.hpp>

#include "spec/common.h"
#include "traffic/pcre_literal.h"

extern char** environ;

namespace ramp::nginx {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;

bool IsNameChar(char c, bool allow_dash_dot) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (allow_dash_dot && (c == '-' || c == '.'));
}

bool IsName(std::string_view s, bool allow_dash_dot) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsNameChar(c, allow_dash_dot)) return false;
  }
  return true;
}

Status FieldError(std::string_view field, std::string_view what) {
  return InvalidArgumentError(
      fmt::format("trafficRouting.plugins[\"ramp/nginx\"].{}: {}", field, what));
}

StatusOr<std::string> ReadString(const nlohmann::json& j, std::string_view field) {
  if (!j.is_string()) return Fail(FieldError(field, "must be a string"));
  return j.get<std::string>();
}

StatusOr<std::vector<std::string>> ReadArgv(const nlohmann::json& j, std::string_view field) {
  if (!j.is_array() || j.empty()) {
    return Fail(FieldError(field, "must be a non-empty list of strings (program name first)"));
  }
  std::vector<std::string> argv;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string()) {
      return Fail(FieldError(fmt::format("{}[{}]", field, i), "must be a string"));
    }
    argv.push_back(j[i].get<std::string>());
  }
  if (argv[0].empty()) return Fail(FieldError(field, "the program name is empty"));
  return argv;
}

// "$request_id" → "${request_id}" (each plain variable reference braced, so that text right
// after it cannot extend its name).
std::string BraceVariables(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '$' && i + 1 < key.size() && IsNameChar(key[i + 1], false)) {
      size_t end = i + 1;
      while (end < key.size() && IsNameChar(key[end], false)) ++end;
      out += "${";
      out += key.substr(i + 1, end - i - 1);
      out += '}';
      i = end - 1;
    } else {
      out += key[i];
    }
  }
  return out;
}

// Instance addresses go into the file verbatim: only host:port / [v6]:port characters.
Status CheckEndpoint(std::string_view address) {
  if (address.empty()) return InvalidArgumentError("ramp/nginx: empty instance address");
  for (char c : address) {
    if (!IsNameChar(c, true) && c != ':' && c != '[' && c != ']') {
      return InvalidArgumentError(
          fmt::format("ramp/nginx: instance address \"{}\" has a character other than letters, "
                      "digits, '.', '-', '_', ':', '[' and ']'",
                      address));
    }
  }
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == address.size() || colon == 0) {
    return InvalidArgumentError(
        fmt::format("ramp/nginx: instance address \"{}\" is not host:port", address));
  }
  return OkStatus();
}

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

std::string Trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

std::string DescribeResult(const CommandResult& r, Duration timeout) {
  if (r.timed_out) {
    return fmt::format("timed out after {}", spec::FormatGoDuration(timeout.count()));
  }
  if (r.exit_code >= 0) return fmt::format("exit code {}", r.exit_code);
  return "killed by a signal";
}

StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Fail(UnavailableError(
        fmt::format("ramp/nginx: cannot read {}: {}", path, std::strerror(errno))));
  }
  std::string text;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Fail(UnavailableError(
          fmt::format("ramp/nginx: cannot read {}: {}", path, std::strerror(err))));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(text));
}

// Writes `text` to `path` through a temporary file in the same directory and a rename, so NGINX
// never reads a half-written file.
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".ramp-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return UnavailableError(
        fmt::format("ramp/nginx: cannot create {}: {}", tmp, std::strerror(errno)));
  }
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return UnavailableError(
          fmt::format("ramp/nginx: cannot write {}: {}", tmp, std::strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return UnavailableError(
        fmt::format("ramp/nginx: cannot rename {} to {}: {}", tmp, path, std::strerror(err)));
  }
  return OkStatus();
}

// ---- Routes: strings matched by `map` regexes ----

// Letters, digits, '-' and '_': what $http_<name> can name.
bool IsNginxHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(),
                                      [](char c) { return IsNameChar(c, false) || c == '-'; });
}

// "$http_x_canary" for "X-Canary".
std::string HeaderVariable(std::string_view name) {
  std::string v = "$http_";
  for (char c : name) {
    v += c == '-' ? '_' : (c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  }
  return v;
}

using traffic::PcreLiteral;

// A regex without the leading '^' and trailing '$' that full matching makes redundant.
std::string_view StripAnchors(std::string_view r) {
  if (r.starts_with('^')) r.remove_prefix(1);
  if (r.ends_with('$') && !(r.size() >= 2 && r[r.size() - 2] == '\\')) r.remove_suffix(1);
  return r;
}

Status CheckStringMatch(const StringMatch& m, std::string_view what) {
  if (std::any_of(m.value.begin(), m.value.end(), [](char c) {
        return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == '\x7f';
      })) {
    return InvalidArgumentError(fmt::format("{} has a control character", what));
  }
  if (m.kind == StringMatch::Kind::kRegex) {
    std::string_view r = StripAnchors(m.value);
    RE2 re{re2::StringPiece(r.data(), r.size()), RE2::Quiet};
    if (!re.ok()) {
      return InvalidArgumentError(
          fmt::format("{}: regex \"{}\" is invalid: {}", what, m.value, re.error()));
    }
  }
  return OkStatus();
}

// The anchored PCRE for a StringMatch; a path also matches with a query string after it.
std::string MatchRegex(const StringMatch& m, bool path) {
  const std::string query = path ? "(?:\\?.*)?" : "";
  switch (m.kind) {
    case StringMatch::Kind::kExact:
      return "^" + PcreLiteral(m.value) + query + "$";
    case StringMatch::Kind::kPrefix:
      return "^" + PcreLiteral(m.value);
    case StringMatch::Kind::kRegex:
      break;
  }
  return "^(?:" + std::string(StripAnchors(m.value)) + ")" + query + "$";
}

// A double-quoted NGINX string ('\\' and '"' escaped).
std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

StatusOr<NginxConfig> DecodeNginxConfig(const RouterContext& context) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(context.config_json.empty() ? "{}" : context.config_json);
  } catch (const nlohmann::json::exception& e) {
    return Fail(InvalidArgumentError(
        fmt::format("trafficRouting.plugins[\"ramp/nginx\"]: not valid JSON: {}", e.what())));
  }
  if (!j.is_object()) {
    return Fail(InvalidArgumentError("trafficRouting.plugins[\"ramp/nginx\"]: must be an object"));
  }
  NginxConfig c;
  c.stable_upstream =
      !context.stable_service.empty() ? context.stable_service : context.active_service;
  c.canary_upstream =
      !context.canary_service.empty() ? context.canary_service : context.preview_service;
  c.variable = "ramp_" + context.rollout.name;
  for (char& ch : c.variable) {
    if (ch == '-' || ch == '.') ch = '_';
  }
  bool variable_given = false;
  for (const auto& [key, value] : j.items()) {
    if (key == "configFile") {
      ASSIGN_OR_RETURN(c.config_file, ReadString(value, key));
    } else if (key == "stableUpstream") {
      ASSIGN_OR_RETURN(c.stable_upstream, ReadString(value, key));
    } else if (key == "canaryUpstream") {
      ASSIGN_OR_RETURN(c.canary_upstream, ReadString(value, key));
    } else if (key == "variable") {
      ASSIGN_OR_RETURN(c.variable, ReadString(value, key));
      variable_given = true;
    } else if (key == "splitKey") {
      ASSIGN_OR_RETURN(c.split_key, ReadString(value, key));
    } else if (key == "testCommand") {
      ASSIGN_OR_RETURN(c.test_command, ReadArgv(value, key));
    } else if (key == "reloadCommand") {
      ASSIGN_OR_RETURN(c.reload_command, ReadArgv(value, key));
    } else if (key == "commandTimeout") {
      ASSIGN_OR_RETURN(std::string text, ReadString(value, key));
      std::optional<int64_t> nanos = spec::ParseGoDuration(text);
      if (!nanos) {
        return Fail(FieldError(key, fmt::format("\"{}\" is not a duration (e.g. \"30s\")", text)));
      }
      if (*nanos < 1'000'000'000) {
        return Fail(FieldError(key, fmt::format("\"{}\" is below the minimum of 1s", text)));
      }
      c.command_timeout = Duration(*nanos);
    } else {
      return Fail(FieldError(key,
                             "unknown field (known: configFile, stableUpstream, "
                             "canaryUpstream, variable, splitKey, testCommand, "
                             "reloadCommand, commandTimeout)"));
    }
  }
  if (c.config_file.empty()) return Fail(FieldError("configFile", "is required"));
  if (c.config_file.find('\n') != std::string::npos) {
    return Fail(FieldError("configFile", "contains a newline"));
  }
  if (c.stable_upstream.empty()) {
    return Fail(FieldError("stableUpstream",
                           "is required when the strategy names no stable or "
                           "active service"));
  }
  if (c.canary_upstream.empty()) {
    return Fail(FieldError("canaryUpstream",
                           "is required when the strategy names no canary or "
                           "preview service"));
  }
  if (!IsName(c.stable_upstream, true)) {
    return Fail(FieldError(
        "stableUpstream",
        fmt::format("\"{}\" is not a name (letters, digits, '_', '-', '.')", c.stable_upstream)));
  }
  if (!IsName(c.canary_upstream, true)) {
    return Fail(FieldError(
        "canaryUpstream",
        fmt::format("\"{}\" is not a name (letters, digits, '_', '-', '.')", c.canary_upstream)));
  }
  if (c.stable_upstream == c.canary_upstream) {
    return Fail(FieldError(
        "canaryUpstream",
        fmt::format("\"{}\" is also the stable upstream; they must differ", c.canary_upstream)));
  }
  if (!IsName(c.variable, false)) {
    return Fail(FieldError(
        "variable",
        fmt::format("\"{}\" is not a variable name (letters, digits, '_'; no '$'){}", c.variable,
                    variable_given ? "" : " (derived from the Rollout name)")));
  }
  if (c.split_key.find('$') == std::string::npos) {
    return Fail(FieldError(
        "splitKey", fmt::format("\"{}\" has no NGINX variable (e.g. $request_id)", c.split_key)));
  }
  for (char ch : c.split_key) {
    if (ch == '"' || ch == '\\' || ch == '\n' || ch == '\r' || ch == ';' || ch == '{' ||
        ch == '}') {
      return Fail(FieldError("splitKey", fmt::format("\"{}\" has a character NGINX would not "
                                                     "read as part of the key (\" \\ ; {{ }} or "
                                                     "a newline)",
                                                     c.split_key)));
    }
  }
  return c;
}

int32_t CanaryBasisPoints(int32_t weight, int32_t max_weight) {
  if (max_weight <= 0 || weight <= 0) return 0;
  if (weight >= max_weight) return 10000;
  int64_t scaled = static_cast<int64_t>(weight) * 10000;
  int64_t bp = (scaled + max_weight / 2) / max_weight;
  if (bp < 1) bp = 1;
  if (bp > 9999) bp = 9999;
  return static_cast<int32_t>(bp);
}

std::string FormatPercent(int32_t basis_points) {
  int32_t whole = basis_points / 100;
  int32_t frac = basis_points % 100;
  if (frac == 0) return fmt::format("{}%", whole);
  if (frac % 10 == 0) return fmt::format("{}.{}%", whole, frac / 10);
  return fmt::format("{}.{:02}%", whole, frac);
}

std::string SplitVariable(const NginxFileSpec& spec) {
  return spec.header_routes.empty() ? spec.variable : spec.variable + "_weighted";
}

Status CheckHeaderRoute(const HeaderRoute& route) {
  for (const HeaderMatch& m : route.matches) {
    if (!IsNginxHeaderName(m.header_name)) {
      return InvalidArgumentError(
          fmt::format("ramp/nginx: header route \"{}\": header name \"{}\" is not letters, "
                      "digits, '-' and '_' (NGINX reads a header as $http_<name>)",
                      route.name, m.header_name));
    }
    RETURN_IF_ERROR(CheckStringMatch(
        m.header_value,
        fmt::format("ramp/nginx: header route \"{}\": header {}", route.name, m.header_name)));
  }
  return OkStatus();
}

Status CheckMirrorRoute(const MirrorRoute& route) {
  if (route.percentage && (*route.percentage < 0 || *route.percentage > 100)) {
    return InvalidArgumentError(
        fmt::format("ramp/nginx: mirror route \"{}\": percentage {} is outside 0..100", route.name,
                    *route.percentage));
  }
  const std::string where = fmt::format("ramp/nginx: mirror route \"{}\"", route.name);
  for (const RouteMatch& m : route.matches) {
    if (m.method) RETURN_IF_ERROR(CheckStringMatch(*m.method, where + ": method"));
    if (m.path) RETURN_IF_ERROR(CheckStringMatch(*m.path, where + ": path"));
    for (const auto& [name, value] : m.headers) {
      if (!IsNginxHeaderName(name)) {
        return InvalidArgumentError(
            fmt::format("{}: header name \"{}\" is not letters, digits, '-' and '_'", where, name));
      }
      RETURN_IF_ERROR(CheckStringMatch(value, where + ": header " + name));
    }
  }
  return OkStatus();
}

namespace {

// One `map` of a chain: `source` matched with `regex` (none: always) gives `on_match`, any other
// value `otherwise`.
void RenderMap(std::string& out, std::string_view source, std::string_view variable,
               const std::optional<std::string>& regex, std::string_view on_match,
               std::string_view otherwise) {
  out += fmt::format("map {} ${} {{\n", source, variable);
  if (regex) {
    out += fmt::format("    {} {};\n", Quoted("~" + *regex), on_match);
    out += fmt::format("    default {};\n", otherwise);
  } else {
    out += fmt::format("    default {};\n", on_match);
  }
  out += "}\n";
}

void RenderHeaderRoutes(std::string& out, const NginxFileSpec& spec) {
  std::vector<const HeaderMatch*> matches;
  for (const HeaderRoute& r : spec.header_routes) {
    out += fmt::format("# header route \"{}\"\n", r.name);
    for (const HeaderMatch& m : r.matches) matches.push_back(&m);
  }
  auto name = [&](size_t i) {
    return i == 0 ? spec.variable : fmt::format("{}_h{}", spec.variable, i);
  };
  for (size_t i = 0; i < matches.size(); ++i) {
    const std::string otherwise =
        i + 1 < matches.size() ? "$" + name(i + 1) : "$" + SplitVariable(spec);
    RenderMap(out, HeaderVariable(matches[i]->header_name), name(i),
              MatchRegex(matches[i]->header_value, false), spec.canary_upstream, otherwise);
  }
}

void RenderMirrorRoutes(std::string& out, const NginxFileSpec& spec) {
  struct Condition {
    std::string source;
    std::optional<std::string> regex;
  };
  struct Group {  // one RouteMatch: its conditions ANDed
    std::vector<Condition> conditions;
    std::string target;
  };
  std::vector<Group> groups;
  const std::string mirror = spec.variable + "_mirror";
  for (size_t k = 0; k < spec.mirror_routes.size(); ++k) {
    const MirrorRoute& r = spec.mirror_routes[k];
    const int32_t percent = r.percentage.value_or(100);
    out += fmt::format("# mirror route \"{}\", {}%\n", r.name, percent);
    if (percent <= 0) continue;
    std::string target = spec.canary_upstream;
    if (percent < 100) {
      target = fmt::format("${}_pick{}", mirror, k);
      out += fmt::format("split_clients \"${{request_id}}\" {} {{\n    {} {};\n    * \"\";\n}}\n",
                         target, FormatPercent(percent * 100), spec.canary_upstream);
    }
    for (const RouteMatch& m : r.matches) {
      Group g;
      g.target = target;
      if (m.method) g.conditions.push_back({"$request_method", MatchRegex(*m.method, false)});
      if (m.path) g.conditions.push_back({"$request_uri", MatchRegex(*m.path, true)});
      for (const auto& [header, value] : m.headers) {
        g.conditions.push_back({HeaderVariable(header), MatchRegex(value, false)});
      }
      if (g.conditions.empty()) g.conditions.push_back({"\"\"", std::nullopt});
      groups.push_back(std::move(g));
    }
  }
  if (groups.empty()) {
    RenderMap(out, "\"\"", mirror, std::nullopt, "\"\"", "");
    return;
  }
  int next_id = 0;
  std::vector<std::vector<std::string>> names(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t c = 0; c < groups[g].conditions.size(); ++c) {
      names[g].push_back(next_id == 0 ? mirror : fmt::format("{}_{}", mirror, next_id));
      ++next_id;
    }
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string otherwise = g + 1 < groups.size() ? "$" + names[g + 1][0] : "\"\"";
    for (size_t c = 0; c < groups[g].conditions.size(); ++c) {
      const Condition& cond = groups[g].conditions[c];
      const std::string on_match =
          c + 1 < groups[g].conditions.size() ? "$" + names[g][c + 1] : groups[g].target;
      RenderMap(out, cond.source, names[g][c], cond.regex, on_match, otherwise);
    }
  }
}

}  // namespace

std::string RenderNginxFile(const NginxFileSpec& spec) {
  std::string out;
  if (!spec.header_comment.empty()) out += fmt::format("# {}\n", spec.header_comment);
  auto upstream = [&out](const std::string& name, const std::vector<std::string>& endpoints) {
    out += fmt::format("upstream {} {{", name);
    if (endpoints.empty()) {
      out += " server 127.0.0.1:1 down;";
    } else {
      for (const auto& e : endpoints) out += fmt::format(" server {};", e);
    }
    out += " }\n";
  };
  upstream(spec.stable_upstream, spec.stable_endpoints);
  upstream(spec.canary_upstream, spec.canary_endpoints);
  out += fmt::format("split_clients \"{}\" ${} {{\n", BraceVariables(spec.split_key),
                     SplitVariable(spec));
  if (spec.canary_basis_points >= 10000) {
    out += fmt::format("    * {};\n", spec.canary_upstream);
  } else {
    if (spec.canary_basis_points > 0) {
      out += fmt::format("    {} {};\n", FormatPercent(spec.canary_basis_points),
                         spec.canary_upstream);
    }
    out += fmt::format("    * {};\n", spec.stable_upstream);
  }
  out += "}\n";
  RenderHeaderRoutes(out, spec);
  RenderMirrorRoutes(out, spec);
  return out;
}

StatusOr<int32_t> ParseCanaryBasisPoints(std::string_view text, std::string_view variable,
                                         std::string_view canary_upstream) {
  std::string marker = fmt::format(" ${} {{\n", variable);
  size_t block = std::string_view::npos;
  for (size_t pos = text.find("split_clients "); pos != std::string_view::npos;
       pos = text.find("split_clients ", pos + 1)) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) break;
    std::string_view line = text.substr(pos, eol + 1 - pos);
    if (line.size() >= marker.size() && line.substr(line.size() - marker.size()) == marker) {
      block = eol + 1;
      break;
    }
  }
  if (block == std::string_view::npos) {
    return Fail(NotFoundError(fmt::format("no split_clients block sets ${}", variable)));
  }
  size_t end = text.find("\n}", block - 1);
  if (end == std::string_view::npos) {
    return Fail(InvalidArgumentError(
        fmt::format("the split_clients block of ${} is not closed", variable)));
  }
  std::string_view body = text.substr(block, end + 1 - block);
  int32_t bp = 0;
  while (!body.empty()) {
    size_t eol = body.find('\n');
    std::string_view line = body.substr(0, eol);
    body = eol == std::string_view::npos ? std::string_view() : body.substr(eol + 1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty()) continue;
    size_t space = line.find(' ');
    if (space == std::string_view::npos || line.back() != ';') {
      return Fail(InvalidArgumentError(fmt::format("unreadable split_clients line \"{}\"", line)));
    }
    std::string_view share = line.substr(0, space);
    std::string_view target = line.substr(space + 1, line.size() - space - 2);
    if (target != canary_upstream) continue;
    if (share == "*") return 10000 - bp;
    if (share.back() != '%') {
      return Fail(InvalidArgumentError(fmt::format("unreadable split_clients line \"{}\"", line)));
    }
    share.remove_suffix(1);
    size_t dot = share.find('.');
    std::string whole(share.substr(0, dot));
    std::string frac = dot == std::string_view::npos ? "" : std::string(share.substr(dot + 1));
    if (whole.empty() || whole.size() > 3 || frac.size() > 2 ||
        whole.find_first_not_of("0123456789") != std::string::npos ||
        frac.find_first_not_of("0123456789") != std::string::npos) {
      return Fail(InvalidArgumentError(fmt::format("unreadable split_clients line \"{}\"", line)));
    }
    while (frac.size() < 2) frac += '0';
    bp += std::stoi(whole) * 100 + std::stoi(frac);
  }
  return bp;
}

StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, Duration timeout) {
  if (argv.empty() || argv[0].empty()) {
    return Fail(InvalidArgumentError("ramp/nginx: empty command"));
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Fail(InternalError(fmt::format("cannot create a pipe: {}", std::strerror(errno))));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    if (rc == ENOENT || rc == EACCES) {
      return Fail(NotFoundError(fmt::format("cannot run \"{}\": {}", argv[0], std::strerror(rc))));
    }
    return Fail(InternalError(fmt::format("cannot run \"{}\": {}", argv[0], std::strerror(rc))));
  }
  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<int> wait_status;
  bool eof = false;
  char buf[4096];
  // Bounded by the deadline: each round waits at most 50 ms.
  while (true) {
    if (!wait_status) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) wait_status = st;
    }
    if (wait_status && eof) break;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      result.timed_out = !wait_status.has_value();
      break;
    }
    if (eof) {
      ::poll(nullptr, 0, 20);
      continue;
    }
    pollfd p{fds[0], POLLIN, 0};
    int ready = ::poll(&p, 1, 50);
    if (ready > 0) {
      ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n > 0) {
        size_t room = kMaxOutput - std::min(kMaxOutput, result.output.size());
        result.output.append(buf, std::min(room, static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        eof = true;
      }
    } else if (wait_status) {
      // The process is gone and nothing more is buffered; a grandchild may still hold the pipe.
      break;
    }
  }
  ::close(fds[0]);
  ::kill(-pid, SIGKILL);  // whatever is left of the group (the whole group on timeout)
  if (!wait_status) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    wait_status = st;
  }
  if (!result.timed_out && WIFEXITED(*wait_status)) result.exit_code = WEXITSTATUS(*wait_status);
  return result;
}

namespace {

class NginxRouter final : public TrafficRouter {
 public:
  NginxRouter(NginxConfig config, RouterContext context)
      : config_(std::move(config)), context_(std::move(context)) {
    worker_ = std::thread([this] { Run(); });
  }

  ~NginxRouter() override {
    std::deque<std::function<void(bool)>> cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cancelled.swap(queue_);
    }
    cv_.notify_all();
    worker_.join();
    for (auto& op : cancelled) op(false);
  }

  std::string_view Type() const override { return kNginxRouterName; }

  void SetWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                 StatusCallback done) override {
    if (weight < 0 || weight > context_.max_weight) {
      done(InvalidArgumentError(
          fmt::format("ramp/nginx: weight {} is outside 0..{}", weight, context_.max_weight)));
      return;
    }
    for (const auto& d : additional) {
      if (d.weight != 0) {
        done(UnimplementedError(
            "ramp/nginx: additional weighted destinations (experiments) are not supported"));
        return;
      }
    }
    Post(std::move(done), [this, weight] {
      weight_ = weight;
      return Apply();
    });
  }

  void SetHeaderRoute(const HeaderRoute& route, StatusCallback done) override {
    if (Status s = CheckHeaderRoute(route); !s.ok()) {
      done(s);
      return;
    }
    Post(std::move(done), [this, route] {
      if (route.matches.empty()) {
        header_routes_.erase(route.name);
      } else {
        header_routes_[route.name] = route;
      }
      return Apply();
    });
  }

  void SetMirrorRoute(const MirrorRoute& route, StatusCallback done) override {
    if (Status s = CheckMirrorRoute(route); !s.ok()) {
      done(s);
      return;
    }
    Post(std::move(done), [this, route] {
      if (route.matches.empty()) {
        mirror_routes_.erase(route.name);
      } else {
        mirror_routes_[route.name] = route;
      }
      return Apply();
    });
  }

  void RemoveManagedRoutes(StatusCallback done) override {
    Post(std::move(done), [this] {
      header_routes_.clear();
      mirror_routes_.clear();
      return Apply();
    });
  }

  void SwitchService(ServiceRole role, std::string_view hash, StatusCallback done) override {
    Post(std::move(done), [this, role, h = std::string(hash)] {
      if (role == ServiceRole::kStable || role == ServiceRole::kActive) {
        stable_hash_ = h;
      } else {
        canary_hash_ = h;
      }
      return Apply();
    });
  }

  void SetRevisionEndpoints(std::string_view hash, const std::vector<std::string>& addresses,
                            StatusCallback done) override {
    for (const auto& a : addresses) {
      Status s = CheckEndpoint(a);
      if (!s.ok()) {
        done(s);
        return;
      }
    }
    Post(std::move(done), [this, h = std::string(hash), addresses] {
      if (addresses.empty()) {
        endpoints_.erase(h);
      } else {
        endpoints_[h] = addresses;
      }
      return Apply();
    });
  }

  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>& additional,
                    StatusOrCallback<WeightCheck> done) override {
    (void)additional;
    auto shared_done = std::make_shared<StatusOrCallback<WeightCheck>>(std::move(done));
    Enqueue([this, weight, shared_done](bool run) {
      if (!run) {
        (*shared_done)(Fail(CancelledError("ramp/nginx: router destroyed")));
        return;
      }
      (*shared_done)(Verify(weight));
    });
  }

 private:
  void Enqueue(std::function<void(bool)> op) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stop_) {
        queue_.push_back(std::move(op));
        op = nullptr;
      }
    }
    if (op) {
      op(false);
      return;
    }
    cv_.notify_all();
  }

  void Post(StatusCallback done, std::function<Status()> work) {
    auto shared_done = std::make_shared<StatusCallback>(std::move(done));
    Enqueue([shared_done, work = std::move(work)](bool run) {
      if (!run) {
        (*shared_done)(CancelledError("ramp/nginx: router destroyed"));
        return;
      }
      (*shared_done)(work());
    });
  }

  void Run() {
    while (true) {
      std::function<void(bool)> op;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        op = std::move(queue_.front());
        queue_.pop_front();
      }
      op(true);
    }
  }

  std::vector<std::string> EndpointsOf(const std::string& hash) const {
    if (hash.empty()) return {};
    auto it = endpoints_.find(hash);
    return it == endpoints_.end() ? std::vector<std::string>() : it->second;
  }

  std::string Render() const {
    NginxFileSpec spec;
    spec.header_comment = fmt::format("{} - written by ramp for Rollout {}; do not edit",
                                      config_.config_file, context_.rollout.Key());
    spec.stable_upstream = config_.stable_upstream;
    spec.stable_endpoints = EndpointsOf(stable_hash_);
    spec.canary_upstream = config_.canary_upstream;
    spec.canary_endpoints = EndpointsOf(canary_hash_);
    spec.variable = config_.variable;
    spec.split_key = config_.split_key;
    spec.canary_basis_points = CanaryBasisPoints(weight_, context_.max_weight);
    spec.header_routes = Ordered(header_routes_);
    spec.mirror_routes = Ordered(mirror_routes_);
    return RenderNginxFile(spec);
  }

  // Routes in trafficRouting.managedRoutes order; names it does not list come after, by name.
  template <typename Route>
  std::vector<Route> Ordered(const std::map<std::string, Route>& routes) const {
    std::vector<Route> out;
    for (const auto& name : context_.managed_routes) {
      auto it = routes.find(name);
      if (it != routes.end()) out.push_back(it->second);
    }
    for (const auto& [name, route] : routes) {
      const auto& managed = context_.managed_routes;
      if (std::find(managed.begin(), managed.end(), name) == managed.end()) out.push_back(route);
    }
    return out;
  }

  // Runs on the worker: writes, tests and reloads, unless NGINX already loaded this text.
  Status Apply() {
    std::string text = Render();
    if (loaded_text_ && *loaded_text_ == text) return OkStatus();
    ASSIGN_OR_RETURN(std::optional<std::string> previous, ReadFileIfExists(config_.config_file));
    if (previous != text) {
      RETURN_IF_ERROR(WriteFileAtomically(config_.config_file, text));
      StatusOr<CommandResult> test = RunCommand(config_.test_command, config_.command_timeout);
      if (!test || test->exit_code != 0) {
        Status restore = previous ? WriteFileAtomically(config_.config_file, *previous)
                                  : (::unlink(config_.config_file.c_str()) == 0 || errno == ENOENT
                                         ? OkStatus()
                                         : UnavailableError(std::strerror(errno)));
        std::string restored =
            restore.ok() ? (previous ? "the previous file was restored"
                                     : "the new file was removed (there was none before)")
                         : fmt::format("restoring the previous file failed: {}", restore.message());
        if (!test) {
          return UnavailableError(fmt::format("ramp/nginx: testCommand `{}` could not run: {}; {}",
                                              JoinArgv(config_.test_command),
                                              test.error().message(), restored));
        }
        std::string what = fmt::format(
            "ramp/nginx: testCommand `{}` rejected {} ({}); {}; output: {}",
            JoinArgv(config_.test_command), config_.config_file,
            DescribeResult(*test, config_.command_timeout), restored, Trimmed(test->output));
        if (test->timed_out) return UnavailableError(what);
        return FailedPreconditionError(what);
      }
    }
    loaded_text_.reset();
    StatusOr<CommandResult> reload = RunCommand(config_.reload_command, config_.command_timeout);
    if (!reload) {
      last_reload_error_ = reload.error().message();
      return UnavailableError(fmt::format("ramp/nginx: reloadCommand `{}` could not run: {}",
                                          JoinArgv(config_.reload_command),
                                          reload.error().message()));
    }
    if (reload->exit_code != 0) {
      last_reload_error_ =
          fmt::format("reloadCommand `{}` failed ({}): {}", JoinArgv(config_.reload_command),
                      DescribeResult(*reload, config_.command_timeout), Trimmed(reload->output));
      return UnavailableError("ramp/nginx: " + last_reload_error_);
    }
    last_reload_error_.clear();
    loaded_text_ = text;
    return OkStatus();
  }

  StatusOr<WeightCheck> Verify(int32_t weight) {
    ASSIGN_OR_RETURN(std::optional<std::string> text, ReadFileIfExists(config_.config_file));
    WeightCheck check;
    check.verification = WeightVerification::kNotVerified;
    if (!text) {
      check.message = fmt::format("{} does not exist", config_.config_file);
      return check;
    }
    NginxFileSpec routes;
    routes.variable = config_.variable;
    routes.header_routes = Ordered(header_routes_);
    StatusOr<int32_t> bp =
        ParseCanaryBasisPoints(*text, SplitVariable(routes), config_.canary_upstream);
    if (!bp) {
      check.message = fmt::format("{}: {}", config_.config_file, bp.error().message());
      return check;
    }
    int32_t max = context_.max_weight;
    check.observed_weight = static_cast<int32_t>((static_cast<int64_t>(*bp) * max + 5000) / 10000);
    int32_t expected = CanaryBasisPoints(weight, max);
    if (*bp != expected) {
      check.message =
          fmt::format("{} sends {} to {}, expected {}", config_.config_file, FormatPercent(*bp),
                      config_.canary_upstream, FormatPercent(expected));
      return check;
    }
    if (!last_reload_error_.empty()) {
      check.message = "the file is right but NGINX did not load it: " + last_reload_error_;
      return check;
    }
    if (!loaded_text_ || *loaded_text_ != *text) {
      check.message =
          fmt::format("{} was not loaded by this router (or changed since)", config_.config_file);
      return check;
    }
    check.verification = WeightVerification::kVerified;
    return check;
  }

  const NginxConfig config_;
  const RouterContext context_;

  // Worker state (touched only by the worker thread).
  int32_t weight_ = 0;
  std::string stable_hash_;
  std::string canary_hash_;
  std::map<std::string, std::vector<std::string>> endpoints_;
  std::map<std::string, HeaderRoute> header_routes_;
  std::map<std::string, MirrorRoute> mirror_routes_;
  std::optional<std::string> loaded_text_;  // the text the last successful reload loaded
  std::string last_reload_error_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(bool)>> queue_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace

StatusOr<std::unique_ptr<TrafficRouter>> NewNginxRouter(const RouterContext& context) {
  ASSIGN_OR_RETURN(NginxConfig config, DecodeNginxConfig(context));
  if (context.max_weight <= 0) {
    return Fail(InvalidArgumentError(
        fmt::format("ramp/nginx: maxTrafficWeight {} must be positive", context.max_weight)));
  }
  return std::unique_ptr<TrafficRouter>(std::make_unique<NginxRouter>(std::move(config), context));
}

}  // namespace ramp::nginx
