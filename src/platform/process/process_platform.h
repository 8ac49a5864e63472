// The "process" platform: every instance of a revision is a local process that ramp starts and
// supervises, described by containers[0] of the revision's pod template (docs/platforms.md).
//
// Each instance runs in its own session and process group with an exact environment
// (containers[0].env + PORT + PATH), a loopback port from a range as PORT, stdin from /dev/null,
// stdout and stderr appended to <state_dir>/instances/<namespace>/<rollout>/<hash>/<instance>/
// output.log; it is probed (readinessProbe, livenessProbe), restarted with back-off when it
// exits, and stopped with preStop, SIGTERM and SIGKILL after terminationGracePeriodSeconds on
// scale-down, RestartInstance and DeleteRevision — and on nothing else.
//
// Instances outlive the platform (and ramp): every revision and instance has a durable record
// under the state directory (instance_record.h), written before its process is allowed to exec,
// so no process runs that the records do not name. NewProcessPlatform re-adopts what an earlier
// platform left (after a clean stop or a crash): a recorded process that still runs (same pid and
// /proc start time) is supervised again — probed, stopped on scale-down or delete, restarted when
// it exits — and is never started twice; one that is gone is restarted if its revision still
// wants it; a pid that now names another process is never signalled. One platform holds a state
// directory at a time (a lock file); a second one fails with kFailedPrecondition.
//
// Thread-safety: all methods may be called concurrently from any thread (see ramp/platform.h).
// One supervisor thread does the work; callbacks run inline. The destructor joins the thread and,
// unless stop_instances_on_exit is set, leaves every instance running for the next platform.
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
  // PORTs are taken from [port_min, port_max] in turn, from a random starting place, skipping
  // ports in use by an instance or that cannot be bound on 127.0.0.1.
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
  // Whether destroying the platform stops its instances (SIGTERM to every group, up to
  // `shutdown_grace`, then SIGKILL; their instance records are removed, the revisions' records
  // stay, so the next platform starts them again). false (the daemon): they keep running and the
  // next platform on the same state_dir adopts them.
  bool stop_instances_on_exit = false;
  // Grace between SIGTERM and SIGKILL when the platform itself is destroyed and
  // stop_instances_on_exit is set.
  Duration shutdown_grace = std::chrono::seconds(5);
};

// Creates the platform and adopts what an earlier one left under state_dir (see above) before
// returning, so ListRevisions at once reports the adopted instances. kInvalidArgument when
// state_dir or clock is missing or the port range is empty; kFailedPrecondition when another
// platform holds state_dir; kInternal when it cannot be created or locked.
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
