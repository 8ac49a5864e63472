// Shared plumbing of the data-plane split, load and benchmark programs (tests/integration/
// *_split_test.cc, *_load_test.cc, bench/proxy): the binomial acceptance interval the split tests
// check counts against, keep-alive HTTP/1.1 clients that count which revision answered, and the
// servers they run on loopback — ramp-demo-app revisions, `ramp proxy`, HAProxy and NGINX (the
// Debian packages), each in a temp dir, in its own process group, stopped by its destructor —
// plus `wrk` started in the background and its report parsed. Test-only; no GoogleTest in here,
// so the benchmark links it too.
//
// Thread-safety: the free functions may be called from any thread. Each server object belongs to
// one thread (the test's); SendRequests starts and joins its own threads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/subprocess.h"
#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/status.h"

namespace ramp::dataplane_testing {

// ---- Statistics -------------------------------------------------------------------------------

// The counts a Binomial(n, p) draw lands in with probability `confidence`, equal-tailed and exact:
// lo is the smallest k with P(X <= k) > (1 - confidence) / 2, hi the largest k with
// P(X >= k) > (1 - confidence) / 2. A count k lies in [lo, hi] exactly when p lies inside the
// two-sided Clopper–Pearson interval of k successes in n at that confidence. p <= 0 gives [0, 0]
// and p >= 1 gives [n, n].
struct CountInterval {
  int64_t lo = 0;
  int64_t hi = 0;
  bool Contains(int64_t k) const { return k >= lo && k <= hi; }
};
CountInterval BinomialInterval(int64_t n, double p, double confidence = 0.999);

// ---- HTTP client ------------------------------------------------------------------------------

struct Reply {
  int status = 0;
  std::string head;  // status line and headers, as received
  std::string body;
  bool close = false;  // the server ends the connection after it
};

// One blocking keep-alive HTTP/1.1 connection to 127.0.0.1:port (send and receive bounded by
// `io_timeout` each). Reads Content-Length, chunked and until-close bodies.
class HttpConnection {
 public:
  HttpConnection(int port, Duration io_timeout = std::chrono::seconds(5));
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // GET `target` with `headers` ("Name: value" each). Connects on first use and again after the
  // server closed; a request on a reused connection that gets no byte back is sent once more on
  // a fresh connection (what browsers do when a keep-alive race loses). kUnavailable on failure.
  StatusOr<Reply> Get(std::string_view target, const std::vector<std::string>& headers = {});
  int reconnects() const { return reconnects_; }

 private:
  Status Connect();
  void Close();
  StatusOr<Reply> Exchange(const std::string& request, bool* got_nothing);

  int port_;
  Duration io_timeout_;
  int fd_ = -1;
  int used_ = 0;  // requests answered on the current connection
  int connects_ = 0;
  int reconnects_ = 0;
  std::string buffer_;
};

// The revision a ramp-demo-app answer names: the value of "version" in its JSON body, or "".
std::string DemoVersionOf(std::string_view body);

// `total` GETs of `target` over `connections` keep-alive connections in parallel, all within
// `deadline`; each answer is counted under DemoVersionOf(body) when its status is 200, else as a
// failure (with the first few reasons kept).
struct RequestPlan {
  int port = 0;
  int total = 4000;
  int connections = 8;
  std::string target = "/";
  std::vector<std::string> headers;
  Duration deadline = std::chrono::seconds(40);
};
struct SplitCounts {
  std::map<std::string, int64_t> by_version;  // "v1" → answers
  int64_t ok = 0;                             // 200 answers (the sum of by_version)
  int64_t failures = 0;                       // no answer or not 200
  int64_t not_sent = 0;                       // left when the deadline passed
  std::vector<std::string> reasons;           // the first failures, for messages
  int64_t Of(const std::string& version) const;
  std::string Describe() const;  // "v1=3800 v2=200 failures=0"
};
SplitCounts SendRequests(const RequestPlan& plan);

// A free TCP port on 127.0.0.1 (bound, read, released; the small race is accepted in tests).
StatusOr<int> FreePort();

// Polls `condition` every `every` until it holds or `timeout` passes; whether it held.
bool PollUntil(const std::function<bool()>& condition, Duration timeout,
               Duration every = std::chrono::milliseconds(20));

// Runs an asynchronous router operation and waits (bounded) for its `done`.
Status Await(const std::function<void(StatusCallback)>& op,
             Duration timeout = std::chrono::seconds(60));

// "taskset -c CPU" in front of argv when cpu >= 0 and taskset exists.
std::vector<std::string> Pinned(int cpu, std::vector<std::string> argv);

// A temp directory removed (with its contents) by the destructor.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
};

std::string ReadFileText(const std::string& path);

// ---- ramp-demo-app ------------------------------------------------------------------------------

// One `ramp-demo-app --port 0 --version V` process.
class DemoApp {
 public:
  static StatusOr<std::unique_ptr<DemoApp>> Start(const std::string& binary,
                                                  const std::string& version,
                                                  std::vector<std::string> extra_args = {});
  ~DemoApp();
  int port() const { return port_; }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& version() const { return version_; }
  // Answers counted by its own /metrics (every status class; the /metrics request that reads
  // them counts from the next read on). kUnavailable when it does not answer.
  StatusOr<int64_t> RequestCount() const;
  // SIGTERM, then its exit status (it lets open requests finish, at most 5 s); SIGKILL after 15 s.
  int Stop();
  bool running() const { return process_ != nullptr; }
  std::string Log() const;

 private:
  DemoApp() = default;
  std::unique_ptr<ScratchDir> dir_;
  std::unique_ptr<Subprocess> process_;
  std::string version_;
  int port_ = 0;
};

// ---- ramp proxy ---------------------------------------------------------------------------------

struct AdminAnswer {
  int status = 0;
  std::string body;
};

// `ramp proxy --admin-socket DIR/admin.sock --threads N [--state-file DIR/state.json]`.
struct RampProxyOptions {
  std::string binary;  // the built `ramp`
  int threads = 2;
  bool state_file = false;
  int cpu = -1;  // taskset -c when >= 0
};
class RampProxy {
 public:
  static StatusOr<std::unique_ptr<RampProxy>> Start(const RampProxyOptions& options);
  ~RampProxy();
  // One admin request over the unix socket (Connection: close).
  AdminAnswer Admin(const std::string& method, const std::string& path,
                    const std::string& body = "") const;
  // PUT /v1/services/<name>: the applied version, or an error with the admin's answer.
  StatusOr<uint64_t> Put(const std::string& service, const nlohmann::json& table) const;
  // GET /v1/services/<name>, decoded.
  StatusOr<nlohmann::json> Table(const std::string& service) const;
  // SIGTERM, then its exit status (SIGKILL after 20 s).
  int Stop();
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::string Log() const;

 private:
  RampProxy() = default;
  std::unique_ptr<ScratchDir> dir_;
  std::unique_ptr<Subprocess> process_;
  std::string socket_;
};

// ---- HAProxy
// --------------------------------------------------------------------------------------

inline constexpr char kHaproxyBinary[] = "/usr/sbin/haproxy";

// HAProxy in the shape docs/manifests.md documents for ramp/haproxy: one frontend on a free
// loopback port that first sends requests matching the header-route ACL (DIR/ramp-headers-
// <name>.acl, starts empty; docs/routers.md) to the canary, then compares rand(100) with the map
// value of `name` (file DIR/ramp-weights.map, starts at 0), backends `<name>-stable` and
// `<name>-canary` of `slots` disabled server slots each, and an admin runtime socket
// DIR/admin.sock. Master-worker mode (-W), foreground.
struct HaproxyOptions {
  std::string name = "catalog";
  int slots = 4;
  int nbthread = 0;  // 0: HAProxy's default
  int cpu = -1;      // taskset -c when >= 0
  std::string timeout_client = "30s";
  std::string timeout_server = "30s";
};
class HaproxyProcess {
 public:
  static StatusOr<std::unique_ptr<HaproxyProcess>> Start(const HaproxyOptions& options = {});
  ~HaproxyProcess();
  int port() const { return port_; }
  std::string Socket() const { return dir_->path() + "/admin.sock"; }
  std::string MapFile() const { return dir_->path() + "/ramp-weights.map"; }
  // The ramp/haproxy configuration JSON for this process.
  std::string RouterConfigJson() const;
  std::string Log() const;

 private:
  HaproxyProcess() = default;
  std::unique_ptr<ScratchDir> dir_;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// ---- NGINX
// ----------------------------------------------------------------------------------------

inline constexpr char kNginxBinary[] = "/usr/sbin/nginx";

// NGINX with a configuration of our own in a temp dir (pid, logs and temp paths inside it; never
// /etc/nginx): `worker_processes 1`, and `http_body` inside the http block after the temp paths.
// "@DIR@" in http_body and in `files` (name → content, written before start) is replaced by the
// temp dir. Ready once GET / on `probe_port` gets any HTTP answer.
struct NginxOptions {
  std::string http_body;
  std::map<std::string, std::string> files;
  int probe_port = 0;
  int cpu = -1;  // taskset -c when >= 0
  int worker_connections = 1024;
};
class NginxProcess {
 public:
  static StatusOr<std::unique_ptr<NginxProcess>> Start(const NginxOptions& options);
  ~NginxProcess();
  const std::string& dir() const { return dir_->path(); }
  // nginx -p DIR/ -e DIR/error.log -c DIR/nginx.conf <extra...>
  std::vector<std::string> Argv(const std::vector<std::string>& extra) const;
  std::string ErrorLog() const;
  // The master's worker processes: pid, and whether it is an old one shutting down (from /proc).
  std::vector<std::pair<pid_t, bool>> Workers() const;
  // The pid of the only worker, once exactly one runs and none is shutting down.
  std::optional<pid_t> SoleWorker() const;
  // Polls (bounded by 20 s) until one worker other than `old` runs alone; its pid, or -1.
  pid_t WaitReloaded(pid_t old) const;
  // Polls (bounded by 20 s) until one worker runs alone; its pid, or -1.
  pid_t WaitSettled() const;

 private:
  NginxProcess() = default;
  std::unique_ptr<ScratchDir> dir_;
  std::unique_ptr<Subprocess> process_;
};

// The ramp/nginx configuration JSON for a router owning DIR/ramp.conf of `nginx`.
std::string NginxRouterConfigJson(const NginxProcess& nginx);

// ---- wrk
// ------------------------------------------------------------------------------------------

// wrk's report. Error lines that wrk leaves out mean 0.
struct WrkResult {
  int64_t requests = 0;
  double requests_per_second = 0;
  int64_t connect_errors = 0, read_errors = 0, write_errors = 0, timeouts = 0;
  int64_t non_2xx_3xx = 0;
  std::optional<double> p50_ms, p99_ms;  // with --latency
  int64_t Failures() const {
    return connect_errors + read_errors + write_errors + timeouts + non_2xx_3xx;
  }
  // "requests=… rps=… socket errors: connect 0, read 0, write 0, timeout 0; non-2xx/3xx 0".
  std::string Describe() const;
};
// kInvalidArgument when the text has no "requests in" line (wrk did not run).
StatusOr<WrkResult> ParseWrkOutput(std::string_view text);

// The wrk on PATH, if any.
std::optional<std::string> FindWrk();

// wrk running in the background; its output goes to a file.
class WrkProcess {
 public:
  static StatusOr<std::unique_ptr<WrkProcess>> Start(const std::vector<std::string>& args,
                                                     int cpu = -1);
  ~WrkProcess();
  bool Running();
  // Waits (bounded) for wrk to exit and parses its report.
  StatusOr<WrkResult> Wait(Duration timeout);
  std::string Output() const;

 private:
  WrkProcess() = default;
  std::unique_ptr<ScratchDir> dir_;
  std::unique_ptr<Subprocess> process_;
  std::optional<int> status_;
};

// Calls set_weight(w) every `every` with w cycling 0, 10, 50, 90, 100, … while `wrk` runs (a slow
// call delays the next one), bounded by `max_changes` calls and `max_time`.
struct WeightChanges {
  int changes = 0;
  int failed = 0;
  std::string first_error;
};
WeightChanges CycleWeightsWhileRunning(WrkProcess& wrk,
                                       const std::function<Status(int)>& set_weight,
                                       Duration every = std::chrono::milliseconds(100),
                                       int max_changes = 400,
                                       Duration max_time = std::chrono::seconds(32));

}  // namespace ramp::dataplane_testing
