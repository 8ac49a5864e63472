#include "tests/integration/data_plane_testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "traffic/haproxy/haproxy_router.h"
#include "traffic/haproxy/haproxy_runtime.h"

namespace ramp::dataplane_testing {
namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

std::vector<std::string> BaseEnv() { return {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

void SetTimeouts(int fd, Duration timeout) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// SIGTERM to the group, then up to `grace` for the exit; the wait status.
int StopProcess(std::unique_ptr<Subprocess>& p, Duration grace) {
  if (!p) return 0;
  auto clock = NewSystemClock();
  int status = p->Stop(*clock, grace);
  p.reset();
  return status;
}

}  // namespace

// ---- Statistics -------------------------------------------------------------------------------

CountInterval BinomialInterval(int64_t n, double p, double confidence) {
  if (n <= 0) return {0, 0};
  if (p <= 0) return {0, 0};
  if (p >= 1) return {n, n};
  const double tail = (1.0 - confidence) / 2.0;
  std::vector<double> pmf(static_cast<size_t>(n) + 1);
  const double lg_n = std::lgamma(static_cast<double>(n) + 1);
  for (int64_t k = 0; k <= n; ++k) {
    const double kd = static_cast<double>(k);
    pmf[static_cast<size_t>(k)] =
        std::exp(lg_n - std::lgamma(kd + 1) - std::lgamma(static_cast<double>(n - k) + 1) +
                 kd * std::log(p) + static_cast<double>(n - k) * std::log1p(-p));
  }
  CountInterval out{0, n};
  double cdf = 0;
  for (int64_t k = 0; k <= n; ++k) {
    cdf += pmf[static_cast<size_t>(k)];
    if (cdf > tail) {
      out.lo = k;
      break;
    }
  }
  double sf = 0;
  for (int64_t k = n; k >= 0; --k) {
    sf += pmf[static_cast<size_t>(k)];
    if (sf > tail) {
      out.hi = k;
      break;
    }
  }
  return out;
}

// ---- HTTP client ------------------------------------------------------------------------------

HttpConnection::HttpConnection(int port, Duration io_timeout)
    : port_(port), io_timeout_(io_timeout) {}

HttpConnection::~HttpConnection() { Close(); }

void HttpConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  used_ = 0;
  buffer_.clear();
}

Status HttpConnection::Connect() {
  Close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  SetTimeouts(fd_, io_timeout_);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    Close();
    return UnavailableError("connect 127.0.0.1:" + std::to_string(port_) + ": " + why);
  }
  return OkStatus();
}

StatusOr<Reply> HttpConnection::Exchange(const std::string& request, bool* got_nothing) {
  *got_nothing = true;
  if (!SendAll(fd_, request)) return Fail(UnavailableError("send failed"));
  char tmp[16384];
  auto read_more = [&]() -> bool {
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    *got_nothing = false;
    buffer_.append(tmp, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  // Each round reads at least one byte or ends the exchange; the size cap bounds the rounds.
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > 65536) return Fail(UnavailableError("response head too large"));
    if (!read_more()) return Fail(UnavailableError("connection closed before a response head"));
  }
  Reply r;
  r.head = buffer_.substr(0, end + 4);
  buffer_.erase(0, end + 4);
  if (r.head.size() < 12 || r.head.compare(0, 5, "HTTP/") != 0) {
    return Fail(UnavailableError("not an HTTP response: " + r.head.substr(0, 40)));
  }
  r.status = std::atoi(r.head.c_str() + 9);
  const std::string lower = Lower(r.head);
  r.close = lower.find("\r\nconnection: close") != std::string::npos ||
            lower.compare(0, 8, "http/1.0") == 0;
  size_t cl = lower.find("\r\ncontent-length:");
  if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    // Chunks: size line, data, CRLF; ends with a 0 chunk and an empty trailer.
    for (int chunks = 0; chunks < 100000; ++chunks) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        if (!read_more()) return Fail(UnavailableError("closed in a chunked body"));
      }
      size_t size = std::strtoul(buffer_.c_str(), nullptr, 16);
      buffer_.erase(0, eol + 2);
      while (buffer_.size() < size + 2) {
        if (!read_more()) return Fail(UnavailableError("closed in a chunk"));
      }
      if (size == 0) {
        buffer_.erase(0, 2);
        return r;
      }
      r.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    }
    return Fail(UnavailableError("too many chunks"));
  }
  if (cl != std::string::npos) {
    size_t len = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
    while (buffer_.size() < len) {
      if (!read_more()) return Fail(UnavailableError("closed in the body"));
    }
    r.body = buffer_.substr(0, len);
    buffer_.erase(0, len);
    return r;
  }
  // No length: the body ends when the server closes.
  for (int i = 0; i < 100000 && read_more(); ++i) {
  }
  r.body = std::move(buffer_);
  buffer_.clear();
  r.close = true;
  return r;
}

StatusOr<Reply> HttpConnection::Get(std::string_view target,
                                    const std::vector<std::string>& headers) {
  std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  request += "\r\n";
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = fd_ >= 0 && used_ > 0;
    if (fd_ < 0) {
      if (connects_ > 0) ++reconnects_;
      ++connects_;
      RETURN_IF_ERROR(Connect());
    }
    bool got_nothing = true;
    auto r = Exchange(request, &got_nothing);
    if (r.has_value()) {
      ++used_;
      if (r->close) Close();
      return r;
    }
    Close();
    if (!(reused && got_nothing)) return r;
  }
  return Fail(UnavailableError("no answer"));
}

std::string DemoVersionOf(std::string_view body) {
  constexpr std::string_view kKey = "\"version\":\"";
  size_t at = body.find(kKey);
  if (at == std::string_view::npos) return "";
  size_t start = at + kKey.size();
  size_t end = body.find('"', start);
  if (end == std::string_view::npos) return "";
  return std::string(body.substr(start, end - start));
}

int64_t SplitCounts::Of(const std::string& version) const {
  auto it = by_version.find(version);
  return it == by_version.end() ? 0 : it->second;
}

std::string SplitCounts::Describe() const {
  std::string out;
  for (const auto& [v, n] : by_version)
    out += (v.empty() ? "?" : v) + "=" + std::to_string(n) + " ";
  out += "failures=" + std::to_string(failures);
  if (not_sent > 0) out += " not_sent=" + std::to_string(not_sent);
  for (const auto& r : reasons) out += "\n  " + r;
  return out;
}

SplitCounts SendRequests(const RequestPlan& plan) {
  const auto deadline = Steady::now() + plan.deadline;
  std::mutex mu;
  SplitCounts total;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  const int connections = std::max(1, plan.connections);
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&] {
      SplitCounts mine;
      HttpConnection conn(plan.port);
      // Bounded by plan.total in count and by the deadline in time.
      while (next.fetch_add(1) < plan.total) {
        if (Steady::now() >= deadline) {
          ++mine.not_sent;
          continue;
        }
        auto r = conn.Get(plan.target, plan.headers);
        if (r.has_value() && r->status == 200) {
          ++mine.by_version[DemoVersionOf(r->body)];
          ++mine.ok;
        } else {
          ++mine.failures;
          if (mine.reasons.size() < 3) {
            mine.reasons.push_back(r.has_value() ? "status " + std::to_string(r->status) + ": " +
                                                       r->body.substr(0, 200)
                                                 : r.error().ToString());
          }
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& [v, n] : mine.by_version) total.by_version[v] += n;
      total.ok += mine.ok;
      total.failures += mine.failures;
      total.not_sent += mine.not_sent;
      for (auto& r : mine.reasons) {
        if (total.reasons.size() < 5) total.reasons.push_back(std::move(r));
      }
    });
  }
  for (auto& t : threads) t.join();
  return total;
}

StatusOr<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(InternalError(std::string("socket: ") + std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return Fail(InternalError("bind 127.0.0.1:0: " + why));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

bool PollUntil(const std::function<bool()>& condition, Duration timeout, Duration every) {
  const auto deadline = Steady::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

Status Await(const std::function<void(StatusCallback)>& op, Duration timeout) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  op([promise](Status s) { promise->set_value(std::move(s)); });
  if (future.wait_for(timeout) != std::future_status::ready) {
    return DeadlineExceededError("the router operation did not complete in time");
  }
  return future.get();
}

std::vector<std::string> Pinned(int cpu, std::vector<std::string> argv) {
  if (cpu < 0 || ::access("/usr/bin/taskset", X_OK) != 0) return argv;
  argv.insert(argv.begin(), {"/usr/bin/taskset", "-c", std::to_string(cpu)});
  return argv;
}

ScratchDir::ScratchDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- ramp-demo-app ------------------------------------------------------------------------------

StatusOr<std::unique_ptr<DemoApp>> DemoApp::Start(const std::string& binary,
                                                  const std::string& version,
                                                  std::vector<std::string> extra_args) {
  std::unique_ptr<DemoApp> app(new DemoApp());
  app->dir_ = std::make_unique<ScratchDir>("ramp-demo-" + version);
  if (!app->dir_->ok()) return Fail(InternalError("mkdtemp failed"));
  app->version_ = version;
  SubprocessOptions o;
  o.argv = {binary, "--port", "0", "--version", version};
  o.argv.insert(o.argv.end(), extra_args.begin(), extra_args.end());
  o.env = BaseEnv();
  o.output_path = app->dir_->path() + "/demo.log";
  ASSIGN_OR_RETURN(app->process_, Subprocess::Start(o));
  constexpr std::string_view kListening = "listening on 127.0.0.1:";
  bool up = PollUntil(
      [&] {
        std::string log = app->Log();
        size_t at = log.find(kListening);
        if (at == std::string::npos) return false;
        app->port_ = std::atoi(log.c_str() + at + kListening.size());
        return app->port_ > 0;
      },
      std::chrono::seconds(15));
  if (!up) {
    return Fail(DeadlineExceededError("ramp-demo-app " + version +
                                      " did not start: " + app->Log().substr(0, 2000)));
  }
  return app;
}

DemoApp::~DemoApp() {
  if (process_) process_->Kill();
}

StatusOr<int64_t> DemoApp::RequestCount() const {
  HttpConnection conn(port_, std::chrono::seconds(5));
  ASSIGN_OR_RETURN(Reply r, conn.Get("/metrics", {"Connection: close"}));
  if (r.status != 200)
    return Fail(UnavailableError("/metrics: status " + std::to_string(r.status)));
  int64_t sum = 0;
  std::istringstream lines(r.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("ramp_demo_requests_total{", 0) != 0) continue;
    size_t sp = line.rfind(' ');
    if (sp != std::string::npos) sum += std::atoll(line.c_str() + sp + 1);
  }
  return sum;
}

int DemoApp::Stop() { return StopProcess(process_, std::chrono::seconds(15)); }

std::string DemoApp::Log() const { return ReadFileText(dir_->path() + "/demo.log"); }

// ---- ramp proxy ---------------------------------------------------------------------------------

StatusOr<std::unique_ptr<RampProxy>> RampProxy::Start(const RampProxyOptions& options) {
  std::unique_ptr<RampProxy> p(new RampProxy());
  p->dir_ = std::make_unique<ScratchDir>("ramp-proxy");
  if (!p->dir_->ok()) return Fail(InternalError("mkdtemp failed"));
  p->socket_ = p->dir_->path() + "/admin.sock";
  SubprocessOptions o;
  std::vector<std::string> argv = {options.binary, "proxy",     "--admin-socket",
                                   p->socket_,     "--threads", std::to_string(options.threads)};
  if (options.state_file) {
    argv.push_back("--state-file");
    argv.push_back(p->dir_->path() + "/state.json");
  }
  o.argv = Pinned(options.cpu, argv);
  o.env = BaseEnv();
  o.output_path = p->dir_->path() + "/proxy.log";
  ASSIGN_OR_RETURN(p->process_, Subprocess::Start(o));
  bool up = PollUntil([&] { return p->Admin("GET", "/healthz").status == 200; },
                      std::chrono::seconds(20));
  if (!up) {
    return Fail(
        DeadlineExceededError("ramp proxy did not answer /healthz: " + p->Log().substr(0, 2000)));
  }
  return p;
}

RampProxy::~RampProxy() {
  if (process_) process_->Kill();
}

AdminAnswer RampProxy::Admin(const std::string& method, const std::string& path,
                             const std::string& body) const {
  AdminAnswer out;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  SetTimeouts(fd, std::chrono::seconds(10));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return out;
  }
  std::string request = method + " " + path +
                        " HTTP/1.1\r\nHost: ramp\r\nConnection: close\r\nContent-Type: "
                        "application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string answer;
  if (SendAll(fd, request)) {
    char buf[8192];
    for (int i = 0; i < 100000; ++i) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  size_t end = answer.find("\r\n\r\n");
  if (answer.size() < 12 || end == std::string::npos) return out;
  out.status = std::atoi(answer.c_str() + 9);
  out.body = answer.substr(end + 4);
  // A chunked answer: keep the JSON between the first '{' and the last '}'.
  if (Lower(answer.substr(0, end)).find("transfer-encoding: chunked") != std::string::npos) {
    size_t open = out.body.find('{'), close = out.body.rfind('}');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      out.body = out.body.substr(open, close - open + 1);
    }
  }
  return out;
}

StatusOr<uint64_t> RampProxy::Put(const std::string& service, const nlohmann::json& table) const {
  AdminAnswer a = Admin("PUT", "/v1/services/" + service, table.dump());
  if (a.status != 200) {
    return Fail(FailedPreconditionError("PUT /v1/services/" + service + ": status " +
                                        std::to_string(a.status) + ": " + a.body));
  }
  auto j = nlohmann::json::parse(a.body, nullptr, false);
  if (j.is_discarded() || !j.contains("version")) {
    return Fail(InternalError("PUT answer without a version: " + a.body));
  }
  return j["version"].get<uint64_t>();
}

StatusOr<nlohmann::json> RampProxy::Table(const std::string& service) const {
  AdminAnswer a = Admin("GET", "/v1/services/" + service);
  if (a.status != 200) {
    return Fail(FailedPreconditionError("GET /v1/services/" + service + ": status " +
                                        std::to_string(a.status) + ": " + a.body));
  }
  auto j = nlohmann::json::parse(a.body, nullptr, false);
  if (j.is_discarded()) return Fail(InternalError("GET answer is not JSON: " + a.body));
  return j;
}

int RampProxy::Stop() { return StopProcess(process_, std::chrono::seconds(20)); }

std::string RampProxy::Log() const { return ReadFileText(dir_->path() + "/proxy.log"); }

// ---- HAProxy
// --------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<HaproxyProcess>> HaproxyProcess::Start(const HaproxyOptions& options) {
  std::unique_ptr<HaproxyProcess> p(new HaproxyProcess());
  p->dir_ = std::make_unique<ScratchDir>("ramp-haproxy");
  if (!p->dir_->ok()) return Fail(InternalError("mkdtemp failed"));
  ASSIGN_OR_RETURN(p->port_, FreePort());
  const std::string& n = options.name;
  {
    std::ofstream map(p->MapFile());
    map << n << " 0\n";
    // The header routes' ACL starts empty; ramp adds and deletes its entries at runtime.
    const std::string header_acl = haproxy::HeaderRouteAclFile(p->MapFile(), n);
    std::ofstream acl(header_acl);
    std::ofstream cfg(p->dir_->path() + "/haproxy.cfg");
    cfg << "global\n"
        << "    stats socket " << p->Socket() << " mode 600 level admin\n";
    if (options.nbthread > 0) cfg << "    nbthread " << options.nbthread << "\n";
    cfg << "defaults\n    mode http\n    timeout connect 2s\n"
        << "    timeout client " << options.timeout_client << "\n"
        << "    timeout server " << options.timeout_server << "\n"
        << "frontend " << n << "\n"
        << "    bind 127.0.0.1:" << p->port_ << "\n"
        << "    acl ramp_header_route req.hdrs -m reg -f " << header_acl << "\n"
        << "    use_backend " << n << "-canary if ramp_header_route\n"
        << "    http-request set-var(txn.canary_weight) str(" << n << "),map_str_int("
        << p->MapFile() << ",0)\n"
        << "    http-request set-var(txn.dice) rand(100)\n"
        << "    acl to_canary var(txn.canary_weight),sub(txn.dice) gt 0\n"
        << "    use_backend " << n << "-canary if to_canary\n"
        << "    default_backend " << n << "-stable\n"
        << "backend " << n << "-stable\n"
        << "    server-template srv 1-" << options.slots << " 127.0.0.1:1 disabled\n"
        << "backend " << n << "-canary\n"
        << "    server-template srv 1-" << options.slots << " 127.0.0.1:1 disabled\n";
    if (!map || !acl || !cfg) return Fail(InternalError("cannot write haproxy.cfg"));
  }
  SubprocessOptions o;
  o.argv =
      Pinned(options.cpu, {kHaproxyBinary, "-W", "-f", p->dir_->path() + "/haproxy.cfg", "-db"});
  o.env = BaseEnv();
  o.output_path = p->dir_->path() + "/haproxy.log";
  ASSIGN_OR_RETURN(p->process_, Subprocess::Start(o));
  ASSIGN_OR_RETURN(haproxy::RuntimeAddress api, haproxy::ParseRuntimeAddress(p->Socket()));
  bool exited = false;
  bool up = PollUntil(
      [&] {
        if (p->process_->Poll().has_value()) {
          exited = true;
          return true;
        }
        auto info = haproxy::RunRuntimeCommand(api, "show info", std::chrono::seconds(1));
        return info.has_value() && info->find("Name: HAProxy") != std::string::npos;
      },
      std::chrono::seconds(15));
  if (exited) return Fail(InternalError("haproxy exited at start: " + p->Log().substr(0, 2000)));
  if (!up) {
    return Fail(DeadlineExceededError("haproxy's runtime API did not come up: " +
                                      p->Log().substr(0, 2000)));
  }
  return p;
}

HaproxyProcess::~HaproxyProcess() { StopProcess(process_, std::chrono::seconds(10)); }

std::string HaproxyProcess::RouterConfigJson() const {
  return nlohmann::json{
      {"runtimeApi", Socket()}, {"weightMap", {{"file", MapFile()}}}, {"timeout", "2s"}}
      .dump();
}

std::string HaproxyProcess::Log() const { return ReadFileText(dir_->path() + "/haproxy.log"); }

// ---- NGINX
// ----------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<NginxProcess>> NginxProcess::Start(const NginxOptions& options) {
  std::unique_ptr<NginxProcess> p(new NginxProcess());
  p->dir_ = std::make_unique<ScratchDir>("ramp-nginx");
  if (!p->dir_->ok()) return Fail(InternalError("mkdtemp failed"));
  const std::string& d = p->dir();
  for (const auto& [name, content] : options.files) {
    std::ofstream(d + "/" + name) << ReplaceAll(content, "@DIR@", d);
  }
  {
    std::ofstream conf(d + "/nginx.conf");
    conf << "pid " << d << "/nginx.pid;\n"
         << "error_log " << d << "/error.log;\n"
         << "worker_processes 1;\n"
         << "events { worker_connections " << options.worker_connections << "; }\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  client_body_temp_path " << d << "/client_body;\n"
         << "  proxy_temp_path " << d << "/proxy;\n"
         << "  fastcgi_temp_path " << d << "/fastcgi;\n"
         << "  uwsgi_temp_path " << d << "/uwsgi;\n"
         << "  scgi_temp_path " << d << "/scgi;\n"
         << ReplaceAll(options.http_body, "@DIR@", d) << "\n}\n";
    if (!conf) return Fail(InternalError("cannot write nginx.conf"));
  }
  SubprocessOptions o;
  o.argv = Pinned(options.cpu, p->Argv({"-g", "daemon off;"}));
  o.env = BaseEnv();
  o.output_path = d + "/stdout.log";
  ASSIGN_OR_RETURN(p->process_, Subprocess::Start(o));
  bool exited = false;
  bool up = PollUntil(
      [&] {
        if (p->process_->Poll().has_value()) {
          exited = true;
          return true;
        }
        HttpConnection conn(options.probe_port, std::chrono::seconds(2));
        return conn.Get("/", {"Connection: close"}).has_value();
      },
      std::chrono::seconds(15), std::chrono::milliseconds(50));
  if (exited || !up) {
    return Fail(InternalError("nginx did not start: " + p->ErrorLog().substr(0, 2000) +
                              ReadFileText(d + "/stdout.log").substr(0, 1000)));
  }
  return p;
}

NginxProcess::~NginxProcess() {
  if (process_) process_->Kill();
}

std::vector<std::string> NginxProcess::Argv(const std::vector<std::string>& extra) const {
  std::vector<std::string> v = {kNginxBinary,         "-p", dir() + "/",          "-e",
                                dir() + "/error.log", "-c", dir() + "/nginx.conf"};
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

std::string NginxProcess::ErrorLog() const { return ReadFileText(dir() + "/error.log"); }

std::vector<std::pair<pid_t, bool>> NginxProcess::Workers() const {
  std::vector<std::pair<pid_t, bool>> out;
  if (!process_) return out;
  const pid_t master = process_->pid();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    size_t close = line.rfind(')');
    if (close == std::string::npos || close + 2 > line.size()) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != master) continue;
    std::ifstream cmd(e.path() / "cmdline");
    std::string cmdline;
    std::getline(cmd, cmdline, '\0');
    if (cmdline.rfind("nginx: worker process", 0) != 0) continue;
    out.emplace_back(static_cast<pid_t>(std::stol(name)),
                     cmdline.find("shutting down") != std::string::npos);
  }
  return out;
}

std::optional<pid_t> NginxProcess::SoleWorker() const {
  auto w = Workers();
  if (w.size() != 1 || w[0].second) return std::nullopt;
  return w[0].first;
}

pid_t NginxProcess::WaitReloaded(pid_t old) const {
  pid_t found = -1;
  PollUntil(
      [&] {
        auto w = SoleWorker();
        if (w && *w != old) found = *w;
        return found > 0;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(10));
  return found;
}

pid_t NginxProcess::WaitSettled() const {
  pid_t found = -1;
  PollUntil(
      [&] {
        if (auto w = SoleWorker()) found = *w;
        return found > 0;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(10));
  return found;
}

std::string NginxRouterConfigJson(const NginxProcess& nginx) {
  return nlohmann::json{{"configFile", nginx.dir() + "/ramp.conf"},
                        {"testCommand", nginx.Argv({"-t"})},
                        {"reloadCommand", nginx.Argv({"-s", "reload"})},
                        {"commandTimeout", "20s"}}
      .dump();
}

// ---- wrk
// ------------------------------------------------------------------------------------------

namespace {

// The number after `key` in `text` (0 when the key is absent).
int64_t CountAfter(std::string_view text, std::string_view key) {
  size_t at = text.find(key);
  if (at == std::string_view::npos) return 0;
  return std::atoll(std::string(text.substr(at + key.size(), 24)).c_str());
}

// "250.00us", "1.23ms", "2.00s", "1.50m" → milliseconds.
std::optional<double> ParseLatencyMs(std::string_view v) {
  std::string s(v);
  char* end = nullptr;
  double x = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return std::nullopt;
  std::string unit(end);
  if (unit == "us") return x / 1000.0;
  if (unit == "ms") return x;
  if (unit == "s") return x * 1000.0;
  if (unit == "m") return x * 60000.0;
  return std::nullopt;
}

}  // namespace

std::string WrkResult::Describe() const {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "requests=%lld rps=%.0f socket errors: connect %lld, read %lld, write %lld, "
                "timeout %lld; non-2xx/3xx %lld",
                static_cast<long long>(requests), requests_per_second,
                static_cast<long long>(connect_errors), static_cast<long long>(read_errors),
                static_cast<long long>(write_errors), static_cast<long long>(timeouts),
                static_cast<long long>(non_2xx_3xx));
  std::string out = buf;
  if (p50_ms && p99_ms) {
    std::snprintf(buf, sizeof buf, " p50=%.3fms p99=%.3fms", *p50_ms, *p99_ms);
    out += buf;
  }
  return out;
}

StatusOr<WrkResult> ParseWrkOutput(std::string_view text) {
  WrkResult r;
  size_t in = text.find(" requests in ");
  if (in == std::string_view::npos) {
    return Fail(InvalidArgumentError("no \"requests in\" line in wrk's output: " +
                                     std::string(text.substr(0, 2000))));
  }
  size_t line_start = text.rfind('\n', in);
  line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
  r.requests = std::atoll(std::string(text.substr(line_start, in - line_start)).c_str());
  size_t rps = text.find("Requests/sec:");
  if (rps != std::string_view::npos) {
    r.requests_per_second = std::atof(std::string(text.substr(rps + 13, 32)).c_str());
  }
  size_t socket = text.find("Socket errors:");
  if (socket != std::string_view::npos) {
    std::string_view line = text.substr(socket, text.find('\n', socket) - socket);
    r.connect_errors = CountAfter(line, "connect ");
    r.read_errors = CountAfter(line, "read ");
    r.write_errors = CountAfter(line, "write ");
    r.timeouts = CountAfter(line, "timeout ");
  }
  r.non_2xx_3xx = CountAfter(text, "Non-2xx or 3xx responses:");
  size_t dist = text.find("Latency Distribution");
  if (dist != std::string_view::npos) {
    std::istringstream lines(std::string(text.substr(dist)));
    std::string line;
    std::getline(lines, line);
    for (int i = 0; i < 8 && std::getline(lines, line); ++i) {
      std::istringstream fields(line);
      std::string pct, value;
      fields >> pct >> value;
      if (pct == "50%") r.p50_ms = ParseLatencyMs(value);
      if (pct == "99%") r.p99_ms = ParseLatencyMs(value);
    }
  }
  return r;
}

std::optional<std::string> FindWrk() {
  const char* path = std::getenv("PATH");
  return FindExecutable("wrk", path != nullptr ? path : "/usr/bin:/bin");
}

StatusOr<std::unique_ptr<WrkProcess>> WrkProcess::Start(const std::vector<std::string>& args,
                                                        int cpu) {
  auto wrk = FindWrk();
  if (!wrk) return Fail(NotFoundError("wrk is not on PATH"));
  std::unique_ptr<WrkProcess> p(new WrkProcess());
  p->dir_ = std::make_unique<ScratchDir>("ramp-wrk");
  if (!p->dir_->ok()) return Fail(InternalError("mkdtemp failed"));
  std::vector<std::string> argv = {*wrk};
  argv.insert(argv.end(), args.begin(), args.end());
  SubprocessOptions o;
  o.argv = Pinned(cpu, argv);
  o.env = BaseEnv();
  o.output_path = p->dir_->path() + "/wrk.out";
  ASSIGN_OR_RETURN(p->process_, Subprocess::Start(o));
  return p;
}

WrkProcess::~WrkProcess() {
  if (process_ && !status_) process_->Kill();
}

bool WrkProcess::Running() {
  if (status_) return false;
  status_ = process_->Poll();
  return !status_.has_value();
}

StatusOr<WrkResult> WrkProcess::Wait(Duration timeout) {
  PollUntil([&] { return !Running(); }, timeout, std::chrono::milliseconds(50));
  if (!status_) {
    status_ = process_->Kill();
    return Fail(DeadlineExceededError("wrk did not finish in time: " + Output()));
  }
  if (!WIFEXITED(*status_) || WEXITSTATUS(*status_) != 0) {
    return Fail(InternalError("wrk failed (" + DescribeWaitStatus(*status_) + "): " + Output()));
  }
  return ParseWrkOutput(Output());
}

std::string WrkProcess::Output() const { return ReadFileText(dir_->path() + "/wrk.out"); }

WeightChanges CycleWeightsWhileRunning(WrkProcess& wrk,
                                       const std::function<Status(int)>& set_weight, Duration every,
                                       int max_changes, Duration max_time) {
  constexpr int kCycle[] = {0, 10, 50, 90, 100};
  WeightChanges out;
  const auto start = Steady::now();
  for (int i = 0; i < max_changes && wrk.Running() && Steady::now() < start + max_time; ++i) {
    Status s = set_weight(kCycle[i % 5]);
    ++out.changes;
    if (!s.ok()) {
      ++out.failed;
      if (out.first_error.empty()) out.first_error = s.ToString();
    }
    // Pacing, not waiting for a condition: the next change is due `every` after this one.
    std::this_thread::sleep_until(start + every * (i + 1));
  }
  return out;
}

}  // namespace ramp::dataplane_testing
