#include "secrets/secret_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ramp::secrets {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

// Reads the whole file; nothing when it does not exist.
StatusOr<std::optional<std::string>> ReadSecretFile(const std::string& path) {
  // O_NONBLOCK: a FIFO planted in the directory must not block the lookup (it is refused below
  // as not a regular file). Symlinks are followed, as in Kubernetes secret volumes.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return std::optional<std::string>();
    std::string msg = "cannot read secret file " + path + ": " + ErrnoText(err);
    if (err == EACCES || err == EPERM) return Fail(PermissionDeniedError(std::move(msg)));
    return Fail(InternalError(std::move(msg)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Fail(InternalError("cannot read secret file " + path + ": not a regular file"));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Fail(InternalError("cannot read secret file " + path + ": " + ErrnoText(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(out));
}

}  // namespace

std::string SecretEnvName(std::string_view secret, std::string_view key) {
  std::string out = "RAMP_SECRET_";
  auto append = [&out](std::string_view part) {
    for (char c : part) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u >= 'a' && u <= 'z') {
        out.push_back(static_cast<char>(u - 'a' + 'A'));
      } else if ((u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')) {
        out.push_back(c);
      } else {
        out.push_back('_');
      }
    }
  };
  append(secret);
  out.push_back('_');
  append(key);
  return out;
}

Status ValidateSecretPathPart(std::string_view what, std::string_view part) {
  if (part.empty()) return InvalidArgumentError("secret " + std::string(what) + " is empty");
  if (part == "." || part == ".." || part.find('/') != std::string_view::npos ||
      part.find('\0') != std::string_view::npos) {
    return InvalidArgumentError("secret " + std::string(what) + " \"" + std::string(part) +
                                "\" is not a valid name: it must not be \".\" or \"..\" nor "
                                "contain '/'");
  }
  return OkStatus();
}

StatusOr<std::string> LookupSecret(const SecretSourceOptions& options, std::string_view secret,
                                   std::string_view key) {
  RETURN_IF_ERROR(ValidateSecretPathPart("name", secret));
  RETURN_IF_ERROR(ValidateSecretPathPart("key", key));
  std::string path;
  if (!options.secrets_dir.empty()) {
    path = options.secrets_dir;
    if (path.back() != '/') path.push_back('/');
    path.append(secret).append("/").append(key);
    ASSIGN_OR_RETURN(std::optional<std::string> value, ReadSecretFile(path));
    if (value) return std::move(*value);
  }
  std::string env_name = SecretEnvName(secret, key);
  std::optional<std::string> env;
  if (options.getenv) {
    env = options.getenv(env_name);
  } else if (const char* v = std::getenv(env_name.c_str()); v != nullptr) {
    env = std::string(v);
  }
  if (env) return std::move(*env);
  std::string where =
      path.empty() ? "no secrets directory configured (--secrets-dir)" : "no file " + path;
  return Fail(NotFoundError("secret \"" + std::string(secret) + "\" key \"" + std::string(key) +
                            "\" not found: " + where + " and no environment variable " + env_name));
}

SecretLookupFunction NewSecretLookup(SecretSourceOptions options) {
  return [options = std::move(options)](std::string_view secret, std::string_view key) {
    return LookupSecret(options, secret, key);
  };
}

}  // namespace ramp::secrets
