// Durable records of the process platform, so that a ramp process that stops or crashes leaves
// enough behind for the next one to re-adopt its instances (docs/platforms.md, "Restarts and
// adoption"). Layout under <state_dir>/instances/<namespace>/<rollout>/<hash>/ (each path part
// made file-safe):
//
//   revision.json        a RevisionRecord: the revision and how many instances it wants
//   template.json        the revision's pod template JSON, exactly as EnsureRevision got it
//   <instance>/instance.json   an InstanceRecord: the process of one instance
//   <instance>/output.log      its stdout and stderr
//
// Every file is replaced atomically (a temporary file in the same directory, fsync, rename, fsync
// of the directory) and removed durably (unlink, fsync of the directory), so a reader sees either
// the old or the new content.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp::platform {

inline constexpr int kRecordVersion = 1;
inline constexpr char kRevisionRecordFile[] = "revision.json";
inline constexpr char kTemplateFile[] = "template.json";
inline constexpr char kInstanceRecordFile[] = "instance.json";

// revision.json:
//   {"version": 1, "rollout": {"namespace": "default", "name": "shop"}, "hash": "abc123",
//    "revision": 3, "desired_replicas": 2, "template_file": "template.json"}
struct RevisionRecord {
  ObjectRef rollout;
  std::string hash;
  int64_t revision = 0;
  int32_t desired_replicas = 0;
  std::string template_file = kTemplateFile;  // relative to the revision directory

  friend bool operator==(const RevisionRecord&, const RevisionRecord&) = default;
};

// instance.json (times are Unix nanoseconds; pid 0 = no process right now):
//   {"version": 1, "rollout": {...}, "hash": "abc123", "revision": 3, "id": "shop-abc123-7",
//    "ordinal": 7, "pid": 4242, "pgid": 4242, "start_time": 123456, "boot_id": "…",
//    "port": 20007, "created_at": 1700000000000000000, "ready_since": 1700000001000000000,
//    "restarts": 0, "crashes": 0, "stopping": false, "restart_after_stop": false}
struct InstanceRecord {
  ObjectRef rollout;
  std::string hash;
  int64_t revision = 0;
  std::string id;
  int64_t ordinal = 0;
  pid_t pid = 0;
  pid_t pgid = 0;
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22, clock ticks after boot
  std::string boot_id;      // /proc/sys/kernel/random/boot_id when the process started
  int port = 0;
  Time created_at;
  std::optional<Time> ready_since;
  int32_t restarts = 0;
  int32_t crashes = 0;              // exits in a row (the back-off)
  bool stopping = false;            // a stop has begun (scale-down, delete, restart)
  bool restart_after_stop = false;  // the stop is a liveness restart

  friend bool operator==(const InstanceRecord&, const InstanceRecord&) = default;
};

std::string EncodeRevisionRecord(const RevisionRecord& r);
StatusOr<RevisionRecord> DecodeRevisionRecord(std::string_view json_text);
std::string EncodeInstanceRecord(const InstanceRecord& r);
StatusOr<InstanceRecord> DecodeInstanceRecord(std::string_view json_text);

// Replaces `path` with `content` atomically and durably (the directory must exist).
Status WriteFileAtomically(const std::string& path, std::string_view content);
// Removes `path` (absent is fine) and syncs its directory.
Status RemoveFileDurably(const std::string& path);
// The whole file; kNotFound when absent.
StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace ramp::platform
