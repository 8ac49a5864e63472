// Internal to src/proxy: the ProxyServer's shared state (services, workers, counters) and the
// entry points of its translation units. Included only by src/proxy/*.cc; it brings in Asio.
//
// Thread-safety: Impl::mu guards `services`, the version counter, the state file and every
// Service's endpoint registry; a Service's routing is an atomic shared_ptr read by workers per
// request; an EndpointState is shared by all workers (atomics; ejection decisions under
// Service::eject_mu); a Worker's pool, idle set and mirror count are touched only on that
// worker's thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proxy/proxy_server.h"
#include "proxy/route_table.h"
#include "proxy/stats.h"

namespace ramp::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The live state of one upstream instance of a service, kept across table changes for as long
// as the instance stays in the table (and as long as a request in flight refers to it).
struct EndpointState {
  explicit EndpointState(Endpoint e) : endpoint(std::move(e)), key(endpoint.ToString()) {}
  const Endpoint endpoint;
  const std::string key;              // "host:port", the pool key
  std::atomic<int64_t> in_flight{0};  // requests (and upgraded connections) using it
  std::atomic<int32_t> consecutive_failures{0};
  std::atomic<int64_t> ejected_until_ms{0};  // steady-clock milliseconds; ejected while > now
};

// One applied table with the endpoint states of its two sets (same order as the table's lists).
struct Routing {
  std::shared_ptr<const RouteTable> table;
  std::vector<std::shared_ptr<EndpointState>> sets[2];
  std::unordered_set<std::string> keys;  // every endpoint key of both sets
};

struct Service {
  std::string name;
  std::atomic<std::shared_ptr<const Routing>> routing;
  std::shared_ptr<const RouteTable> Table() const { return routing.load()->table; }
  std::shared_ptr<tcp::acceptor> acceptor;  // used on Impl::accept_ioc only
  std::atomic<int> port{0};
  RevisionStats stats[2];
  std::atomic<uint64_t> round_robin[2] = {0, 0};
  std::atomic<bool> removed{false};
  // Endpoint states by key, for the endpoints of the current table (guarded by Impl::mu).
  std::map<std::string, std::shared_ptr<EndpointState>> endpoints;
  std::mutex eject_mu;  // serializes ejection decisions (the cap counts the whole set)
  std::atomic<uint64_t> ejections{0};
  std::atomic<uint64_t> mirrored{0};
  std::atomic<uint64_t> mirror_dropped_overload{0};
  std::atomic<uint64_t> mirror_dropped_body{0};
  std::atomic<uint64_t> mirror_failures{0};
  std::atomic<uint64_t> upgrades{0};
};

struct Worker {
  std::thread thread;
  std::mt19937 rng{std::random_device{}()};
  // Idle keep-alive upstream connections per endpoint ("host:port").
  std::unordered_map<std::string, std::vector<std::unique_ptr<boost::beast::tcp_stream>>> pool;
  // Client connections waiting for their next request, and upgraded (spliced) client
  // connections: cancelled on Stop.
  std::unordered_set<boost::beast::tcp_stream*> idle;
  size_t mirrors_in_flight = 0;
  asio::io_context ioc{1};  // last: destroyed first, with the sessions it owns
};

struct ProxyServer::Impl {
  ProxyOptions options;
  std::atomic<size_t> next_worker{0};
  std::thread accept_thread;
  std::unique_ptr<tcp::acceptor> admin_tcp;
  std::unique_ptr<asio::local::stream_protocol::acceptor> admin_unix;
  std::atomic<int> admin_port{0};

  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Service>> services;
  uint64_t last_version = 0;

  std::atomic<bool> stopping{false};
  bool stopped = false;
  std::atomic<size_t> connections{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> upstream_connects{0};
  std::atomic<uint64_t> upstream_reused{0};
  std::atomic<uint64_t> protocol_refusals{0};
  std::atomic<uint64_t> pooled_closed_on_removal{0};

  // Last: destroyed first, with the handlers and sessions they own.
  std::vector<std::unique_ptr<Worker>> workers;
  asio::io_context accept_ioc{1};  // listeners and the admin API

  std::shared_ptr<Service> FindService(const std::string& name) const;
  StatusOr<uint64_t> ApplyLocked(const std::string& name, RouteTable table, bool persist);
  Status PersistLocked(const std::map<std::string, std::shared_ptr<const RouteTable>>& tables);
  Status LoadState();
  // Builds the routing of `table` for `service`, reusing the states of endpoints it keeps and
  // forgetting the others (requires mu).
  std::shared_ptr<const Routing> MakeRoutingLocked(Service* service,
                                                   std::shared_ptr<const RouteTable> table);
  // Closes, on every worker, the idle pooled upstream connections to endpoints that no service
  // uses any more (requires mu).
  void PruneIdlePoolsLocked();
};

// Milliseconds of the steady clock (the time base of EndpointState::ejected_until_ms).
int64_t SteadyNowMs();

// server.cc: accepts on `service`'s acceptor forever (until it is closed).
void StartAccepting(ProxyServer::Impl* impl, std::shared_ptr<Service> service);
// admin.cc: starts the admin listener named by impl->options (none when both are empty).
Status StartAdmin(ProxyServer::Impl* impl, ProxyServer* server);

}  // namespace ramp::proxy
