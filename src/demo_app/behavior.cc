#include "demo_app/behavior.h"

#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "spec/common.h"

namespace ramp::demo_app {
namespace {

// The flag if given, else the environment variable, else nothing.
std::optional<std::string> Pick(const std::optional<std::string>& flag, const GetEnv& getenv,
                                const char* variable) {
  if (flag) return flag;
  if (getenv) return getenv(variable);
  return std::nullopt;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string PromLabel(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

StatusOr<DemoOptions> ResolveOptions(const DemoFlags& flags, const GetEnv& getenv) {
  DemoOptions options;
  if (auto bind = Pick(flags.bind, getenv, "BIND_ADDRESS"); bind && !bind->empty()) {
    options.bind = *bind;
  }
  if (auto port = Pick(flags.port, getenv, "PORT")) {
    int value = -1;
    auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), value);
    if (ec != std::errc() || end != port->data() + port->size() || value < 0 || value > 65535) {
      return Fail(InvalidArgumentError(
          fmt::format("port (--port or PORT) must be 0..65535, got \"{}\"", *port)));
    }
    options.port = value;
  }
  if (auto version = Pick(flags.version, getenv, "VERSION")) {
    if (version->empty())
      return Fail(InvalidArgumentError("version (--version or VERSION) is empty"));
    options.version = *version;
  }
  if (auto rate = Pick(flags.error_rate, getenv, "ERROR_RATE")) {
    double value = -1;
    auto [end, ec] = std::from_chars(rate->data(), rate->data() + rate->size(), value);
    if (ec != std::errc() || end != rate->data() + rate->size() || !(value >= 0 && value <= 1)) {
      return Fail(InvalidArgumentError(
          fmt::format("error rate (--error-rate or ERROR_RATE) must be 0..1, got \"{}\"", *rate)));
    }
    options.error_rate = value;
  }
  if (auto latency = Pick(flags.latency, getenv, "LATENCY")) {
    auto nanos = spec::ParseGoDuration(*latency);
    if (!nanos || *nanos < 0 || *nanos > int64_t{60} * 1'000'000'000) {
      return Fail(InvalidArgumentError(fmt::format(
          "latency (--latency or LATENCY) must be a duration from 0 to 60s such as 250ms, got "
          "\"{}\"",
          *latency)));
    }
    options.latency = std::chrono::nanoseconds(*nanos);
  }
  if (flags.max_connections) {
    if (*flags.max_connections < 1) {
      return Fail(InvalidArgumentError(
          fmt::format("--max-connections must be at least 1, got {}", *flags.max_connections)));
    }
    options.max_connections = *flags.max_connections;
  }
  return options;
}

void DemoCounters::Count(int status) {
  size_t index = status >= 500 ? 2 : status >= 400 ? 1 : 0;
  by_class_[index].fetch_add(1, std::memory_order_relaxed);
}

std::string DemoCounters::Render(std::string_view version) const {
  static constexpr const char* kClasses[] = {"2xx", "4xx", "5xx"};
  std::string out =
      "# HELP ramp_demo_requests_total Requests answered, by status class.\n"
      "# TYPE ramp_demo_requests_total counter\n";
  for (size_t i = 0; i < by_class_.size(); ++i) {
    out += fmt::format("ramp_demo_requests_total{{code=\"{}\",version={}}} {}\n", kClasses[i],
                       PromLabel(version), by_class_[i].load(std::memory_order_relaxed));
  }
  return out;
}

Answer AnswerRequest(const DemoOptions& options, std::string_view method, std::string_view target,
                     double draw) {
  std::string_view path = target.substr(0, target.find('?'));
  bool read = method == "GET" || method == "HEAD";
  if (read && path == "/healthz") return Answer{.body = "ok\n"};
  if (read && path == "/version") return Answer{.body = options.version + "\n"};
  if (read && path == "/metrics") {
    return Answer{.content_type = "text/plain; version=0.0.4; charset=utf-8"};
  }
  if (draw < options.error_rate) {
    return Answer{.status = 500,
                  .body = fmt::format("injected error from version {}\n", options.version),
                  .delay = true};
  }
  return Answer{.content_type = "application/json",
                .body = fmt::format("{{\"version\":{},\"path\":{}}}\n", JsonString(options.version),
                                    JsonString(path)),
                .delay = true};
}

}  // namespace ramp::demo_app
