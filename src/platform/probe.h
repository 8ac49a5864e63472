// Probes and lifecycle handlers of a pod template's containers[0], for the platforms that run or
// watch instances off Kubernetes (process, static): parsing Kubernetes' Probe / preStop JSON, and
// running one check against an instance — an HTTP GET, a TCP connect or a command — bounded by
// its timeout. Checks block the calling thread (a platform's supervisor or probe thread).
//
// Thread-safety: the types are plain values; RunCheck may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp::platform {

// One handler: what a probe or preStop does.
struct Check {
  enum class Kind { kHttpGet, kTcpSocket, kExec, kSleep };
  Kind kind = Kind::kTcpSocket;
  // httpGet / tcpSocket: the host (empty = the instance's own host) and the port. A port that
  // names containers[0].ports[0] (by number or name) is the instance's port (`instance_port`);
  // any other number is used as written.
  std::string host;
  int port = 0;
  bool instance_port = false;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  // exec: the argv, run without a shell.
  std::vector<std::string> command;
  // sleep: how long.
  Duration sleep{0};
};

struct Probe {
  Check check;
  Duration initial_delay{0};
  Duration period = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(1);
  int success_threshold = 1;
  int failure_threshold = 3;
};

// The parts of a pod template's containers[0] the probing code needs.
struct ProbeSet {
  std::optional<Probe> readiness;
  std::optional<Probe> liveness;
  std::optional<Check> pre_stop;
};

// Reads readinessProbe, livenessProbe and lifecycle.preStop of `container` (a JSON object).
// kInvalidArgument, naming the field, for a handler that is missing, doubled or unsupported off
// Kubernetes (grpc, HTTPS), or a port naming no declared port.
StatusOr<ProbeSet> ParseProbes(const nlohmann::json& container);

// Where a check runs: the instance's host and port, and for exec the environment and working
// directory of the instance.
struct CheckTarget {
  std::string host = "127.0.0.1";
  int port = 0;
  std::vector<std::string> env;
  std::string working_dir;
};

// Runs one check, at most `timeout` long (measured on `clock`). OK when it passes (HTTP status
// 200–399, a TCP connection accepted, exit code 0, the sleep elapsed); otherwise the status says
// why ("HTTP probe failed with statuscode: 503", "connection refused", "timed out after 1s",
// "exit code 1").
Status RunCheck(const Check& check, const CheckTarget& target, Duration timeout,
                const Clock& clock);

// "host:port" → host (brackets of an IPv6 address removed) and port. kInvalidArgument otherwise.
StatusOr<std::pair<std::string, int>> SplitHostPort(std::string_view address);

}  // namespace ramp::platform
