#include "cli/api_client.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>

#include <fmt/format.h>

namespace ramp::cli {

using nlohmann::json;

void AddConnectionFlags(CLI::App* cmd, ConnectionFlags* flags) {
  cmd->add_option("--server", flags->server, "API of ramp serve (RAMP_SERVER)");
  cmd->add_option("--token-file", flags->token_file, "Bearer token file (RAMP_TOKEN_FILE)");
  cmd->add_option("--state", flags->state_dir,
                  "State directory of the local ramp serve: finds its address and operator "
                  "token (RAMP_STATE)");
  cmd->add_option("--ca-file", flags->ca_file, "CA certificates for an HTTPS server");
  cmd->add_flag("--insecure", flags->insecure, "Skip TLS certificate verification");
}

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

StatusOr<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(FailedPreconditionError("cannot read " + path));
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

std::string PathSegment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

StatusOr<std::unique_ptr<ApiClient>> ApiClient::Connect(const ConnectionFlags& flags) {
  std::unique_ptr<ApiClient> c(new ApiClient());
  std::string state = !flags.state_dir.empty() ? flags.state_dir : Env("RAMP_STATE");
  c->server_ = !flags.server.empty() ? flags.server : Env("RAMP_SERVER");
  if (c->server_.empty() && !state.empty()) {
    std::ifstream in(state + "/endpoint.json");
    json endpoint = json::parse(in, nullptr, false);
    if (endpoint.is_object() && endpoint.contains("server") && endpoint["server"].is_string()) {
      c->server_ = endpoint["server"].get<std::string>();
    }
  }
  if (c->server_.empty()) {
    return Fail(FailedPreconditionError(
        "no ramp serve to talk to: pass --server URL or --state DIR (or set RAMP_SERVER / "
        "RAMP_STATE)"));
  }
  while (!c->server_.empty() && c->server_.back() == '/') c->server_.pop_back();
  std::string token_file = !flags.token_file.empty() ? flags.token_file : Env("RAMP_TOKEN_FILE");
  if (!token_file.empty()) {
    ASSIGN_OR_RETURN(c->token_, ReadFirstLine(token_file));
  } else if (!Env("RAMP_TOKEN").empty()) {
    c->token_ = Env("RAMP_TOKEN");
  } else if (!state.empty()) {
    ASSIGN_OR_RETURN(c->token_, ReadFirstLine(state + "/tokens/operator.token"));
  } else {
    return Fail(FailedPreconditionError(
        "no token: pass --token-file FILE or --state DIR (or set RAMP_TOKEN_FILE / RAMP_TOKEN)"));
  }
  c->ca_file_ = flags.ca_file;
  c->insecure_ = flags.insecure;
  c->http_ = NewHttpClient();
  return c;
}

StatusOr<json> ApiClient::Call(const std::string& method, const std::string& path,
                               const std::string& body, const std::string& content_type) {
  HttpRequest req;
  req.method = method;
  req.url = server_ + path;
  req.body = body;
  req.ca_file = ca_file_;
  req.insecure_skip_verify = insecure_;
  req.headers.push_back({"Authorization", "Bearer " + token_});
  if (!body.empty()) req.headers.push_back({"Content-Type", content_type});
  auto promise = std::make_shared<std::promise<StatusOr<HttpResponse>>>();
  auto future = promise->get_future();
  http_->Send(req, [promise](StatusOr<HttpResponse> r) { promise->set_value(std::move(r)); });
  StatusOr<HttpResponse> r = future.get();
  if (!r) {
    return Fail(UnavailableError(fmt::format("cannot reach ramp serve at {}: {} (is it running?)",
                                             server_, r.error().message())));
  }
  json answer = json::parse(r->body, nullptr, false);
  if (r->status >= 200 && r->status < 300) {
    if (answer.is_discarded()) {
      return Fail(InternalError(fmt::format("{} {}: the answer is not JSON", method, path)));
    }
    return answer;
  }
  std::string message =
      answer.is_object() && answer.contains("error") && answer["error"].is_string()
          ? answer["error"].get<std::string>()
          : fmt::format("HTTP {}", r->status);
  if (answer.is_object() && answer.contains("hint") && answer["hint"].is_string()) {
    message += " (" + answer["hint"].get<std::string>() + ")";
  }
  StatusCode code = StatusCode::kInternal;
  switch (r->status) {
    case 400:
    case 413:
      code = StatusCode::kInvalidArgument;
      break;
    case 401:
    case 403:
      code = StatusCode::kPermissionDenied;
      break;
    case 404:
      code = StatusCode::kNotFound;
      break;
    case 409:
      code = StatusCode::kFailedPrecondition;
      break;
    case 501:
      code = StatusCode::kUnimplemented;
      break;
    case 503:
      code = StatusCode::kUnavailable;
      break;
  }
  return Fail(Status(code, message));
}

}  // namespace ramp::cli
