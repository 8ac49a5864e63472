// HAProxy's runtime API (the `stats socket` of haproxy.cfg) as ramp's ramp/haproxy router uses
// it: one command per connection over a unix socket or TCP host:port, bounded by a timeout, and
// the parsers of the few answers the router reads. Plain POSIX sockets and poll; no event loop.
//
// Thread-safety: free functions on values; RunRuntimeCommand blocks the calling thread for at
// most the timeout and may be called from several threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ramp/clock.h"
#include "ramp/status.h"

namespace ramp::haproxy {

// Where the runtime API listens: a unix socket path (starts with '/') or host:port.
struct RuntimeAddress {
  std::string unix_path;  // set for a unix socket
  std::string host;       // set for TCP ("127.0.0.1", "::1", "lb.example")
  int port = 0;

  // "unix socket /run/haproxy/admin.sock" or "tcp 127.0.0.1:9999", for messages.
  std::string Describe() const;
};

// Parses "/path/admin.sock", "host:port" or "[v6]:port"; kInvalidArgument saying what is wrong.
StatusOr<RuntimeAddress> ParseRuntimeAddress(std::string_view text);

// Sends `command` (one line, no newline) and returns HAProxy's whole answer (read until it closes
// the connection). kUnavailable when the socket cannot be reached (the address in the message),
// kDeadlineExceeded when the answer does not come within `timeout`, kInvalidArgument for a
// command containing a newline.
StatusOr<std::string> RunRuntimeCommand(const RuntimeAddress& address, std::string_view command,
                                        Duration timeout);

// The answer without leading and trailing blank lines and spaces.
std::string_view TrimAnswer(std::string_view answer);

// `get map <file> <key>`: the value when the key is present, nullopt when HAProxy says
// found=no; kFailedPrecondition when the map is unknown to HAProxy, kInternal for an answer that
// cannot be read.
StatusOr<std::optional<std::string>> ParseGetMapAnswer(std::string_view answer);

// Commands whose success is an empty answer (`set map`, `add map`, `set server … state`): OK, or
// an error carrying HAProxy's text (kFailedPrecondition when an object is missing, kNotFound for
// "entry not found", kPermissionDenied when the socket's level is too low).
Status CheckEmptyAnswer(std::string_view command, std::string_view answer);

// `set server <b>/<s> addr <a> port <p>`: HAProxy answers what changed ("… changed from …" or
// "no need to change …"); anything else is an error as in CheckEmptyAnswer.
Status CheckSetAddrAnswer(std::string_view command, std::string_view answer);

// `show servers state <backend>`: the names of the backend's servers in declaration order.
// kFailedPrecondition when the backend does not exist.
StatusOr<std::vector<std::string>> ParseServersState(std::string_view backend,
                                                     std::string_view answer);

// One server of `show servers state <backend>`: the fields ramp reads.
struct ServerState {
  std::string name;
  std::string addr;     // srv_addr
  int port = 0;         // srv_port
  int admin_state = 0;  // srv_admin_state bits (SRV_ADMF_*)

  // Takes new requests: none of the forced/inherited/resolver maintenance or drain bits is set.
  // The configuration's `disabled` bit (0x04, CMAINT) stays set after `state ready` and does not
  // count.
  bool Live() const { return (admin_state & 0x3b) == 0; }
};

// `show servers state <backend>`: the backend's servers in declaration order, with address, port
// and admin state. kFailedPrecondition when the backend does not exist.
StatusOr<std::vector<ServerState>> ParseServerStates(std::string_view backend,
                                                     std::string_view answer);

// `show acl <file>`: the patterns, in order (each line is "<ref> <pattern>").
// kFailedPrecondition when HAProxy has loaded no ACL from that file.
StatusOr<std::vector<std::string>> ParseShowAclAnswer(std::string_view answer);

// One argument of a runtime command, escaped the way HAProxy's CLI splits and unescapes them:
// '\' doubled, and ' ', '\t' and ';' preceded by a backslash.
std::string EscapeRuntimeArgument(std::string_view arg);

// `show info`: the worker's process id (the "Pid:" line), which changes when HAProxy reloads or
// restarts. kInternal when the answer has none.
StatusOr<std::string> ParseInfoPid(std::string_view answer);

}  // namespace ramp::haproxy
