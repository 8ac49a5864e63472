// The "process" platform: every instance of a revision is a local process that ramp starts and
// supervises, described by containers[0] of the revision's pod template (docs/platforms.md).
//
// Each instance runs in its own process group with an exact environment (containers[0].env +
// PORT + PATH), a loopback port from a range as PORT, stdout and stderr appended to
// <state_dir>/instances/<namespace>/<rollout>/<hash>/<instance>/output.log; it is probed
// (readinessProbe, livenessProbe), restarted with back-off when it exits, and stopped with
// preStop, SIGTERM and SIGKILL after terminationGracePeriodSeconds on scale-down.
//
// Thread-safety: all methods may be called concurrently from any thread (see ramp/platform.h).
// One supervisor thread does the work; the destructor stops every instance (SIGTERM, then SIGKILL
// after a short grace), joins the thread and leaves nothing running. Callbacks run inline.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/platform.h"
#include "ramp/status.h"

namespace ramp::platform {

struct ProcessPlatformOptions {
  // Instance working directories and logs live under <state_dir>/instances/. Required.
  std::string state_dir;
  // PORTs are taken from [port_min, port_max], skipping ports that cannot be bound on 127.0.0.1.
  int port_min = 20000;
  int port_max = 29999;
  // Reads the time for probes, back-off and grace periods. Required; must outlive the platform.
  const Clock* clock = nullptr;
  // Resolves env[].valueFrom.secretKeyRef (the signature of secrets::NewSecretLookup). Null = such
  // an env entry makes EnsureRevision fail.
  std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)> secrets;
  // The PATH given to instances; empty = ramp's own PATH.
  std::string path;
  // Restart back-off after an instance exits: `restart_backoff`, doubled per consecutive exit, at
  // most `restart_backoff_max` (the kubelet's CrashLoopBackOff is 10 s … 5 min).
  Duration restart_backoff = std::chrono::seconds(10);
  Duration restart_backoff_max = std::chrono::minutes(5);
  // How often the supervisor looks at its instances.
  Duration tick = std::chrono::milliseconds(50);
  // Grace between SIGTERM and SIGKILL when the platform itself is destroyed.
  Duration shutdown_grace = std::chrono::seconds(5);
};

// kInvalidArgument when state_dir or clock is missing or the port range is empty.
StatusOr<std::unique_ptr<Platform>> NewProcessPlatform(ProcessPlatformOptions options);

// What a process instance runs, from the pod template (exposed for tests). `port` is the
// instance's PORT. kInvalidArgument when containers[0].command is missing ("containers[0].command
// is needed to run on the process platform") or a field is malformed.
struct ProcessCommand {
  std::vector<std::string> argv;  // after $(VAR) expansion
  std::vector<std::string> env;   // NAME=value: env (expanded, in order), PORT, PATH
  std::string working_dir;        // containers[0].workingDir, or empty
};
StatusOr<ProcessCommand> BuildProcessCommand(
    std::string_view pod_template_json, int port, std::string_view path,
    const std::function<StatusOr<std::string>(std::string_view, std::string_view)>& secrets);

}  // namespace ramp::platform
