// `ramp proxy`: runs the built-in reverse proxy (src/proxy) until SIGTERM or SIGINT.
#include <CLI/CLI.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "proxy/proxy_server.h"

namespace ramp::cli {
namespace {

struct ProxyFlags {
  std::string admin_socket;
  std::string admin_address;
  std::string admin_token_file;
  std::string state_file;
  int threads = 0;
};

int RunProxy(const ProxyFlags& f) {
  proxy::ProxyOptions options;
  options.admin_socket = f.admin_socket;
  options.admin_address = f.admin_address;
  options.state_file = f.state_file;
  options.threads = f.threads;
  if (f.admin_socket.empty() == f.admin_address.empty()) {
    std::cerr << "ramp proxy: give exactly one of --admin-socket and --admin-address\n";
    return 2;
  }
  if (!f.admin_token_file.empty()) {
    std::ifstream in(f.admin_token_file);
    if (!in) {
      std::cerr << "ramp proxy: --admin-token-file " << f.admin_token_file << ": cannot read\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token = ss.str();
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
      token.pop_back();
    }
    if (token.empty()) {
      std::cerr << "ramp proxy: --admin-token-file " << f.admin_token_file << " is empty\n";
      return 2;
    }
    options.admin_token = token;
  }
  // Block the stop signals before any thread starts, then wait for one of them here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto server = proxy::ProxyServer::Start(std::move(options));
  if (!server) {
    std::cerr << "ramp proxy: " << server.error().message() << "\n";
    return 1;
  }
  std::cerr << "ramp proxy: serving";
  for (const auto& name : (*server)->List()) {
    std::cerr << " " << name << " (port " << (*server)->ServicePort(name) << ")";
  }
  if ((*server)->AdminPort() != 0) std::cerr << "; admin on port " << (*server)->AdminPort();
  std::cerr << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "ramp proxy: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
            << ": stopping (in-flight requests finish)" << std::endl;
  (*server)->Stop();
  return 0;
}

}  // namespace

void RegisterProxy(CLI::App* app) {
  auto flags = std::make_shared<ProxyFlags>();
  auto* cmd = app->add_subcommand("proxy", "Run ramp's built-in reverse proxy (see docs/proxy.md)");
  cmd->add_option("--admin-socket", flags->admin_socket, "Admin API unix socket path");
  cmd->add_option("--admin-address", flags->admin_address,
                  "Admin API on loopback, 127.0.0.1:PORT (needs --admin-token-file)");
  cmd->add_option("--admin-token-file", flags->admin_token_file,
                  "File holding the admin API's bearer token");
  cmd->add_option("--state-file", flags->state_file,
                  "Where applied route tables are persisted and reloaded from at start");
  cmd->add_option("--threads", flags->threads, "Worker threads (default: the number of cores)")
      ->check(CLI::Range(0, 256));
  cmd->callback([flags] { ExitCode() = RunProxy(*flags); });
}

}  // namespace ramp::cli
