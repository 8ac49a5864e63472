// Secrets off Kubernetes: resolves `valueFrom.secretKeyRef {name, key}` (and the provider
// credentials Argo reads from Secrets) from a directory of files, `DIR/<name>/<key>`, or from
// environment variables `RAMP_SECRET_<NAME>_<KEY>`. docs/secrets.md describes the rules.
//
// The lookup returned by NewSecretLookup has the signature of analysis::SecretLookup, so it plugs
// into the analysis core without this library depending on it. Values are returned byte-exact and
// never logged.
//
// Thread-safety: the returned function may be called concurrently from any thread provided the
// injected `getenv` may be (the default, ::getenv, may as long as nothing calls setenv).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ramp/status.h"

namespace ramp::secrets {

// Reads one environment variable; nothing when it is not set.
using GetEnvFunction = std::function<std::optional<std::string>(const std::string& name)>;

struct SecretSourceOptions {
  // The --secrets-dir directory; empty = no directory (the environment only).
  std::string secrets_dir;
  // The environment; null = the process environment (::getenv).
  GetEnvFunction getenv;
};

// Same signature as analysis::SecretLookup.
using SecretLookupFunction =
    std::function<StatusOr<std::string>(std::string_view secret, std::string_view key)>;

// `RAMP_SECRET_<NAME>_<KEY>`: NAME and KEY upper-cased, every byte that is not an ASCII letter or
// digit replaced by '_'.
std::string SecretEnvName(std::string_view secret, std::string_view key);

// InvalidArgument unless `part` (a secret name or key) is a usable single path component: not
// empty, not "." or "..", no '/' and no NUL byte.
Status ValidateSecretPathPart(std::string_view what, std::string_view part);

// Looks `key` of `secret` up: the file DIR/<secret>/<key> when the directory is set and the file
// exists (the directory wins), else the environment variable SecretEnvName(secret, key). Errors:
// InvalidArgument for a name or key that could escape the directory; PermissionDenied /
// Internal for a file that exists but cannot be read; NotFound naming both places otherwise.
StatusOr<std::string> LookupSecret(const SecretSourceOptions& options, std::string_view secret,
                                   std::string_view key);

// LookupSecret bound to a copy of `options`.
SecretLookupFunction NewSecretLookup(SecretSourceOptions options);

}  // namespace ramp::secrets
