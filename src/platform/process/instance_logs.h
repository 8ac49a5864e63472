// Reading the output the process platform keeps for each instance: every instance's stdout and
// stderr go to <state_dir>/instances/<namespace>/<rollout>/<hash>/<instance>/output.log
// (instance_record.h), and stay there until the revision is deleted. `ramp logs` reads them
// through the daemon's API.
//
// Thread-safety: free functions over the file system; call from any thread. A log may grow while
// it is read: the reader sees a prefix of what was written.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp::platform {

// A directory or file name made of letters, digits, '-', '.', '_' (anything else becomes '_');
// never empty, "." or "..". How the platform names the parts of its state paths.
std::string FileSafe(std::string s);

struct InstanceLog {
  std::string instance;  // the instance's directory name, e.g. "i-3"
  std::string path;      // its output.log
};

// The logs of revision `hash` of `rollout` under the platform's `state_dir`, ordered by instance;
// empty when the revision has none (or never ran here).
std::vector<InstanceLog> ListInstanceLogs(const std::string& state_dir, const ObjectRef& rollout,
                                          std::string_view hash);

// The last `lines` lines of the file (all when 0), at most `max_bytes` from its end (a cut first
// line is dropped). kNotFound when the file does not exist, kInternal when it cannot be read.
StatusOr<std::string> TailFile(const std::string& path, size_t lines, size_t max_bytes);

}  // namespace ramp::platform
