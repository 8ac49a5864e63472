// ramp-kube-fake: KubeApiServerFake as a process, for tests that run outside the test binary
// (scripts, kubectl sessions, another language's client). A test fake; never used in production.
//
// Prints its URL ("http://127.0.0.1:PORT" or "https://…") as the first line of stdout, then serves
// until SIGTERM or SIGINT. The control API is served over HTTP under /fake/ (see
// kube_apiserver_fake.cc for the endpoints): POST /fake/drop-watches, /fake/compact,
// /fake/inject?status=S&count=N (body = the answer), /fake/inject-conflicts?resource=R&count=N,
// /fake/hold-pods?selector=S, /fake/release-pods?selector=S,
// /fake/pod-ready?namespace=&name=&ready=, POST|GET /fake/objects, GET|DELETE /fake/requests, GET
// /fake/watches.
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "tests/fakes/kube_apiserver_fake.h"

int main(int argc, char** argv) {
  CLI::App app{"ramp-kube-fake: a strict in-memory Kubernetes API server fake for tests"};
  int port = 0;
  std::string token;
  std::string tls_cert;
  std::string tls_key;
  int64_t bookmark_ms = 1000;
  size_t history = 1000;
  bool no_controller = false;
  app.add_option("--port", port, "Port on 127.0.0.1; 0 picks a free one [0]");
  app.add_option("--token", token, "Require `Authorization: Bearer <token>` on API requests");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)");
  app.add_option("--tls-key", tls_key, "PEM private key for --tls-cert");
  app.add_option("--bookmark-interval-ms", bookmark_ms,
                 "Interval of BOOKMARK events on watches that allow them [1000]");
  app.add_option("--history", history, "Watch events kept for resuming watches [1000]");
  app.add_flag("--no-replicaset-controller", no_controller,
               "Do not simulate the ReplicaSet controller (pods, ReplicaSet status)");
  CLI11_PARSE(app, argc, argv);
  if ((tls_cert.empty()) != (tls_key.empty())) {
    std::fprintf(stderr, "ramp-kube-fake: --tls-cert and --tls-key go together\n");
    return 2;
  }

  // Block the stop signals in every thread (the server's inherit the mask) and wait for them
  // here, so no handler runs at an arbitrary point.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  ramp::fakes::KubeFakeOptions options;
  options.address = "127.0.0.1:" + std::to_string(port);
  options.bearer_token = token;
  options.tls_cert_file = tls_cert;
  options.tls_key_file = tls_key;
  options.bookmark_interval = std::chrono::milliseconds(bookmark_ms);
  options.history = history;
  options.replicaset_controller = !no_controller;
  auto fake = ramp::fakes::KubeApiServerFake::Start(options);
  if (!fake.has_value()) {
    std::fprintf(stderr, "ramp-kube-fake: %s\n", fake.error().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", (*fake)->Url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  fake->reset();
  return 0;
}
