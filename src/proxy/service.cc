// ProxyServer: services, atomic table swaps, the state file, metrics and shutdown.
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "proxy/server_internal.h"

namespace ramp::proxy {
namespace {

using nlohmann::json;
using error_code = boost::system::error_code;

std::string FormatLe(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ValidServiceName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (unsigned char c : name) {
    if (std::isalnum(c) == 0 && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

StatusOr<std::shared_ptr<tcp::acceptor>> Bind(asio::io_context& ioc, const Endpoint& listen) {
  error_code ec;
  std::string host = listen.host.empty() ? "0.0.0.0" : listen.host;
  if (host == "localhost") host = "127.0.0.1";
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return Fail(InvalidArgumentError("listen: \"" + listen.host +
                                     "\" must be an IP address, \"localhost\" or empty"));
  }
  auto acceptor = std::make_shared<tcp::acceptor>(ioc);
  tcp::endpoint endpoint(address, listen.port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(FailedPreconditionError("listen: cannot listen on " + listen.ToString() + ": " +
                                        ec.message()));
  }
  return acceptor;
}

void CloseAcceptor(ProxyServer::Impl* impl, std::shared_ptr<tcp::acceptor> acceptor) {
  if (!acceptor) return;
  asio::post(impl->accept_ioc, [acceptor] {
    error_code ec;
    acceptor->close(ec);
  });
}

void AppendCounts(std::string* out, const std::string& labels, const SignalCounts& c) {
  *out += "ramp_proxy_requests_total{" + labels + "} " + std::to_string(c.requests) + "\n";
  *out += "ramp_proxy_errors_total{" + labels + "} " + std::to_string(c.errors) + "\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < c.buckets.size(); ++i) {
    cumulative += c.buckets[i];
    std::string le = i < kLatencyBuckets.size() ? FormatLe(kLatencyBuckets[i]) : "+Inf";
    *out += "ramp_proxy_request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"} " +
            std::to_string(cumulative) + "\n";
  }
  std::ostringstream sum;
  sum << c.latency_sum_seconds;
  *out += "ramp_proxy_request_duration_seconds_sum{" + labels + "} " + sum.str() + "\n";
  *out += "ramp_proxy_request_duration_seconds_count{" + labels + "} " +
          std::to_string(c.requests) + "\n";
}

json CountsJson(const SignalCounts& c) {
  json buckets = json::array();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < c.buckets.size(); ++i) {
    cumulative += c.buckets[i];
    json b = {{"count", cumulative}};
    if (i < kLatencyBuckets.size()) {
      b["le"] = kLatencyBuckets[i];
    } else {
      b["le"] = "+Inf";
    }
    buckets.push_back(b);
  }
  return {{"requests", c.requests},
          {"errors", c.errors},
          {"latencySumSeconds", c.latency_sum_seconds},
          {"latencyBuckets", buckets}};
}

}  // namespace

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<const Routing> ProxyServer::Impl::MakeRoutingLocked(
    Service* service, std::shared_ptr<const RouteTable> table) {
  auto routing = std::make_shared<Routing>();
  std::map<std::string, std::shared_ptr<EndpointState>> kept;
  for (Revision r : {Revision::kStable, Revision::kCanary}) {
    const auto& list = r == Revision::kCanary ? table->canary : table->stable;
    for (const Endpoint& ep : list) {
      const std::string key = ep.ToString();
      std::shared_ptr<EndpointState>& state = kept[key];
      if (!state) {
        auto it = service->endpoints.find(key);
        state = it != service->endpoints.end() ? it->second : std::make_shared<EndpointState>(ep);
      }
      routing->sets[static_cast<int>(r)].push_back(state);
      routing->keys.insert(key);
    }
  }
  service->endpoints = std::move(kept);
  routing->table = std::move(table);
  return routing;
}

void ProxyServer::Impl::PruneIdlePoolsLocked() {
  auto live = std::make_shared<std::unordered_set<std::string>>();
  for (const auto& [name, service] : services) {
    for (const auto& key : service->routing.load()->keys) live->insert(key);
  }
  for (auto& w : workers) {
    asio::post(w->ioc, [this, w = w.get(), live] {
      for (auto it = w->pool.begin(); it != w->pool.end();) {
        if (live->count(it->first) != 0) {
          ++it;
          continue;
        }
        pooled_closed_on_removal.fetch_add(it->second.size());
        it = w->pool.erase(it);  // closes the connections
      }
    });
  }
}

std::shared_ptr<Service> ProxyServer::Impl::FindService(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu);
  auto it = services.find(name);
  return it == services.end() ? nullptr : it->second;
}

Status ProxyServer::Impl::PersistLocked(
    const std::map<std::string, std::shared_ptr<const RouteTable>>& tables) {
  if (options.state_file.empty()) return OkStatus();
  json doc = {{"kind", "ramp-proxy-state"}, {"version", 1}, {"services", json::array()}};
  for (const auto& [name, table] : tables) doc["services"].push_back(EncodeRouteTable(*table));
  const std::string text = doc.dump(2) + "\n";
  const std::string tmp = options.state_file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("state file " + tmp + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return UnavailableError("state file " + tmp + ": " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return UnavailableError("state file " + tmp + ": fsync: " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), options.state_file.c_str()) != 0) {
    return UnavailableError("state file " + options.state_file +
                            ": rename: " + std::strerror(errno));
  }
  std::string dir = options.state_file.substr(0, options.state_file.find_last_of('/') + 1);
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

StatusOr<uint64_t> ProxyServer::Impl::ApplyLocked(const std::string& name, RouteTable table,
                                                  bool persist) {
  if (!ValidServiceName(name)) {
    return Fail(InvalidArgumentError("service name \"" + name +
                                     "\": use 1-253 letters, digits, '-', '.', '_'"));
  }
  for (const auto& [other, service] : services) {
    if (other != name && table.listen.port != 0 && service->Table()->listen == table.listen) {
      return Fail(AlreadyExistsError("listen: " + table.listen.ToString() +
                                     " is already used by service \"" + other + "\""));
    }
  }
  table.name = name;
  table.version = persist ? last_version + 1 : std::max<uint64_t>(table.version, 1);
  std::shared_ptr<Service> existing;
  if (auto it = services.find(name); it != services.end()) existing = it->second;
  const bool rebind = !existing || !(existing->Table()->listen == table.listen);
  std::shared_ptr<tcp::acceptor> acceptor;
  if (rebind) {
    auto bound = Bind(accept_ioc, table.listen);
    if (!bound) return Fail(bound.error());
    acceptor = *bound;
  }
  auto snapshot = std::make_shared<const RouteTable>(std::move(table));
  if (persist && existing && !rebind) {
    // A change of an existing service on the same address (a weight, a route, an instance) is
    // in effect for the next request at once, while the state file is written: the workers
    // read the routing atomically, and only this (admin) thread waits for the fsync. The
    // answer still waits for it, and a change that cannot be stored is taken back.
    std::shared_ptr<const Routing> previous = existing->routing.load();
    existing->routing.store(MakeRoutingLocked(existing.get(), snapshot));
    std::map<std::string, std::shared_ptr<const RouteTable>> tables;
    for (const auto& [n, s] : services) tables[n] = n == name ? snapshot : s->Table();
    if (Status st = PersistLocked(tables); !st.ok()) {
      existing->routing.store(std::move(previous));
      return Fail(st);
    }
    last_version = std::max(last_version, snapshot->version);
    PruneIdlePoolsLocked();
    return snapshot->version;
  }
  if (persist) {
    std::map<std::string, std::shared_ptr<const RouteTable>> tables;
    for (const auto& [n, s] : services) tables[n] = s->Table();
    tables[name] = snapshot;
    Status st = PersistLocked(tables);
    if (!st.ok()) {
      error_code ec;
      if (acceptor) acceptor->close(ec);
      return Fail(st);
    }
  }
  last_version = std::max(last_version, snapshot->version);
  if (!existing) {
    auto service = std::make_shared<Service>();
    service->name = name;
    service->routing.store(MakeRoutingLocked(service.get(), snapshot));
    service->acceptor = acceptor;
    error_code ec;
    service->port = acceptor->local_endpoint(ec).port();
    services[name] = service;
    StartAccepting(this, service);
  } else if (rebind) {
    // A new listen address: a new Service object (the endpoint states carry over); the old
    // acceptor is closed.
    auto service = std::make_shared<Service>();
    service->name = name;
    service->endpoints = existing->endpoints;
    service->routing.store(MakeRoutingLocked(service.get(), snapshot));
    service->acceptor = acceptor;
    error_code ec;
    service->port = acceptor->local_endpoint(ec).port();
    existing->removed = true;
    CloseAcceptor(this, existing->acceptor);
    services[name] = service;
    StartAccepting(this, service);
  } else {
    existing->routing.store(MakeRoutingLocked(existing.get(), snapshot));
  }
  PruneIdlePoolsLocked();
  return snapshot->version;
}

Status ProxyServer::Impl::LoadState() {
  if (options.state_file.empty()) return OkStatus();
  std::ifstream in(options.state_file);
  if (!in) {
    if (errno == ENOENT) return OkStatus();
    return UnavailableError("state file " + options.state_file + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json doc = json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("services") ||
      !doc["services"].is_array()) {
    return DataLossError("state file " + options.state_file + ": not a ramp proxy state file");
  }
  std::lock_guard<std::mutex> lock(mu);
  for (size_t i = 0; i < doc["services"].size(); ++i) {
    const json& entry = doc["services"][i];
    auto table = DecodeRouteTable(entry);
    if (!table || table->name.empty()) {
      return DataLossError("state file " + options.state_file + ": services[" + std::to_string(i) +
                           "]: " + (table ? std::string("name missing") : table.error().message()));
    }
    std::string name = table->name;
    auto applied = ApplyLocked(name, std::move(*table), false);
    if (!applied) {
      return applied.error().WithPrefix("state file " + options.state_file + ": service " + name);
    }
  }
  return OkStatus();
}

ProxyServer::ProxyServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProxyServer::~ProxyServer() { Stop(); }

StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(ProxyOptions options) {
  if (!options.admin_socket.empty() && !options.admin_address.empty()) {
    return Fail(InvalidArgumentError("give exactly one of an admin socket and an admin address"));
  }
  if (!options.admin_address.empty() && options.admin_token.empty()) {
    return Fail(InvalidArgumentError("an admin address needs a token (--admin-token-file)"));
  }
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (threads < 1) threads = 1;
  if (threads > 256) return Fail(InvalidArgumentError("threads: at most 256"));
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  for (int i = 0; i < threads; ++i) impl->workers.push_back(std::make_unique<Worker>());
  std::unique_ptr<ProxyServer> server(new ProxyServer(std::move(impl)));
  Impl* p = server->impl_.get();
  RETURN_IF_ERROR(p->LoadState());
  RETURN_IF_ERROR(StartAdmin(p, server.get()));
  for (auto& worker : p->workers) {
    Worker* w = worker.get();
    w->thread = std::thread([w] {
      auto guard = asio::make_work_guard(w->ioc);
      w->ioc.run();
    });
  }
  p->accept_thread = std::thread([p] {
    auto guard = asio::make_work_guard(p->accept_ioc);
    p->accept_ioc.run();
  });
  return server;
}

StatusOr<uint64_t> ProxyServer::Apply(const std::string& name, RouteTable table) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopping.load()) return Fail(UnavailableError("the proxy is stopping"));
  return impl_->ApplyLocked(name, std::move(table), true);
}

Status ProxyServer::Remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->services.find(name);
  if (it == impl_->services.end()) return NotFoundError("no service \"" + name + "\"");
  std::map<std::string, std::shared_ptr<const RouteTable>> tables;
  for (const auto& [n, s] : impl_->services) {
    if (n != name) tables[n] = s->Table();
  }
  RETURN_IF_ERROR(impl_->PersistLocked(tables));
  it->second->removed = true;
  CloseAcceptor(impl_.get(), it->second->acceptor);
  impl_->services.erase(it);
  impl_->PruneIdlePoolsLocked();
  return OkStatus();
}

std::optional<RouteTable> ProxyServer::Get(const std::string& name) const {
  auto service = impl_->FindService(name);
  if (!service) return std::nullopt;
  return *service->Table();
}

std::vector<std::string> ProxyServer::List() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> names;
  for (const auto& [name, s] : impl_->services) names.push_back(name);
  return names;
}

int ProxyServer::ServicePort(const std::string& name) const {
  auto service = impl_->FindService(name);
  return service ? service->port.load() : 0;
}

int ProxyServer::AdminPort() const { return impl_->admin_port.load(); }

std::string ProxyServer::MetricsText() const {
  std::string out;
  out += "# TYPE ramp_proxy_requests_total counter\n";
  out += "# TYPE ramp_proxy_errors_total counter\n";
  out += "# TYPE ramp_proxy_request_duration_seconds histogram\n";
  std::vector<std::shared_ptr<Service>> services;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const auto& [n, s] : impl_->services) services.push_back(s);
  }
  for (const auto& s : services) {
    for (Revision r : {Revision::kStable, Revision::kCanary}) {
      std::string labels =
          "service=\"" + s->name + "\",revision=\"" + std::string(RevisionName(r)) + "\"";
      AppendCounts(&out, labels, s->stats[static_cast<int>(r)].Totals());
    }
  }
  out += "# TYPE ramp_proxy_route_version gauge\n";
  out += "# TYPE ramp_proxy_canary_weight gauge\n";
  for (const auto& s : services) {
    auto t = s->Table();
    out += "ramp_proxy_route_version{service=\"" + s->name + "\"} " + std::to_string(t->version) +
           "\n";
    out += "ramp_proxy_canary_weight{service=\"" + s->name + "\",max=\"" +
           std::to_string(t->max_weight) + "\"} " + std::to_string(t->canary_weight) + "\n";
  }
  const int64_t now_ms = SteadyNowMs();
  out += "# TYPE ramp_proxy_mirrored_requests_total counter\n";
  out += "# TYPE ramp_proxy_mirror_dropped_total counter\n";
  out += "# TYPE ramp_proxy_mirror_failures_total counter\n";
  out += "# TYPE ramp_proxy_ejections_total counter\n";
  out += "# TYPE ramp_proxy_ejected_endpoints gauge\n";
  out += "# TYPE ramp_proxy_upgrades_total counter\n";
  for (const auto& s : services) {
    const std::string svc = "service=\"" + s->name + "\"";
    out += "ramp_proxy_mirrored_requests_total{" + svc + "} " + std::to_string(s->mirrored.load()) +
           "\n";
    out += "ramp_proxy_mirror_dropped_total{" + svc + ",reason=\"overload\"} " +
           std::to_string(s->mirror_dropped_overload.load()) + "\n";
    out += "ramp_proxy_mirror_dropped_total{" + svc + ",reason=\"body\"} " +
           std::to_string(s->mirror_dropped_body.load()) + "\n";
    out += "ramp_proxy_mirror_failures_total{" + svc + "} " +
           std::to_string(s->mirror_failures.load()) + "\n";
    out += "ramp_proxy_ejections_total{" + svc + "} " + std::to_string(s->ejections.load()) + "\n";
    auto routing = s->routing.load();
    for (Revision r : {Revision::kStable, Revision::kCanary}) {
      int ejected = 0;
      for (const auto& ep : routing->sets[static_cast<int>(r)]) {
        ejected += ep->ejected_until_ms.load() > now_ms;
      }
      out += "ramp_proxy_ejected_endpoints{" + svc + ",revision=\"" + std::string(RevisionName(r)) +
             "\"} " + std::to_string(ejected) + "\n";
    }
    out += "ramp_proxy_upgrades_total{" + svc + "} " + std::to_string(s->upgrades.load()) + "\n";
  }
  out += "# TYPE ramp_proxy_client_connections gauge\n";
  out += "ramp_proxy_client_connections " + std::to_string(impl_->connections.load()) + "\n";
  out += "# TYPE ramp_proxy_client_connections_refused_total counter\n";
  out += "ramp_proxy_client_connections_refused_total " +
         std::to_string(impl_->connections_refused.load()) + "\n";
  out += "# TYPE ramp_proxy_upstream_connects_total counter\n";
  out += "ramp_proxy_upstream_connects_total " + std::to_string(impl_->upstream_connects.load()) +
         "\n";
  out += "# TYPE ramp_proxy_upstream_reused_total counter\n";
  out += "ramp_proxy_upstream_reused_total " + std::to_string(impl_->upstream_reused.load()) + "\n";
  out += "# TYPE ramp_proxy_upstream_closed_on_removal_total counter\n";
  out += "ramp_proxy_upstream_closed_on_removal_total " +
         std::to_string(impl_->pooled_closed_on_removal.load()) + "\n";
  out += "# TYPE ramp_proxy_protocol_refusals_total counter\n";
  out += "ramp_proxy_protocol_refusals_total " + std::to_string(impl_->protocol_refusals.load()) +
         "\n";
  return out;
}

StatusOr<std::string> ProxyServer::SignalsJson(const std::string& name, int window_seconds) const {
  auto service = impl_->FindService(name);
  if (!service) return Fail(NotFoundError("no service \"" + name + "\""));
  const int64_t now = NowUnix();
  json out = {{"service", name},
              {"version", service->Table()->version},
              {"now", now},
              {"windowSeconds", window_seconds},
              {"revisions", json::object()}};
  for (Revision r : {Revision::kStable, Revision::kCanary}) {
    const RevisionStats& st = service->stats[static_cast<int>(r)];
    out["revisions"][std::string(RevisionName(r))] = {
        {"window", CountsJson(st.Window(now, window_seconds))}, {"total", CountsJson(st.Totals())}};
  }
  return out.dump();
}

void ProxyServer::Stop() {
  Impl* p = impl_.get();
  {
    std::lock_guard<std::mutex> lock(p->mu);
    if (p->stopped) return;
    p->stopped = true;
    p->stopping = true;
    for (auto& [name, s] : p->services) CloseAcceptor(p, s->acceptor);
  }
  asio::post(p->accept_ioc, [p] {
    error_code ec;
    if (p->admin_tcp) p->admin_tcp->close(ec);
    if (p->admin_unix) p->admin_unix->close(ec);
  });
  // Close idle keep-alive connections; busy ones finish their request and then close.
  const auto deadline = std::chrono::steady_clock::now() + p->options.limits.shutdown_grace;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& w : p->workers) {
      asio::post(w->ioc, [w = w.get()] {
        for (auto* stream : w->idle) stream->cancel();
      });
    }
    if (p->connections.load() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& w : p->workers) w->ioc.stop();
  p->accept_ioc.stop();
  for (auto& w : p->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  if (p->accept_thread.joinable()) p->accept_thread.join();
  // Release what refers to an io_context before the io_contexts go; pending handlers (and the
  // sessions they own) are destroyed with their io_context.
  {
    std::lock_guard<std::mutex> lock(p->mu);
    for (auto& [name, s] : p->services) s->acceptor.reset();
  }
  p->admin_tcp.reset();
  p->admin_unix.reset();
  for (auto& w : p->workers) w->pool.clear();
  if (!p->options.admin_socket.empty()) ::unlink(p->options.admin_socket.c_str());
}

}  // namespace ramp::proxy
