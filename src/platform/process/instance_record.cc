#include "platform/process/instance_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

namespace ramp::platform {
namespace {

using json = nlohmann::json;

json RolloutJson(const ObjectRef& r) { return {{"namespace", r.namespace_}, {"name", r.name}}; }

// Reads the fields every record has; throws json::exception on a wrong type.
Status CheckHeader(const json& j) {
  if (!j.is_object()) return InvalidArgumentError("not a JSON object");
  if (j.value("version", 0) != kRecordVersion) {
    return InvalidArgumentError("unsupported record version");
  }
  if (!j.contains("rollout") || !j["rollout"].is_object()) {
    return InvalidArgumentError("no rollout");
  }
  return OkStatus();
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return InternalError("cannot open " + dir + ": " + std::strerror(errno));
  int r = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (r != 0) return InternalError("cannot sync " + dir + ": " + std::strerror(e));
  return OkStatus();
}

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

std::string EncodeRevisionRecord(const RevisionRecord& r) {
  json j = {{"version", kRecordVersion},
            {"rollout", RolloutJson(r.rollout)},
            {"hash", r.hash},
            {"revision", r.revision},
            {"desired_replicas", r.desired_replicas},
            {"template_file", r.template_file}};
  return j.dump(2) + "\n";
}

StatusOr<RevisionRecord> DecodeRevisionRecord(std::string_view json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded()) return Fail(InvalidArgumentError("revision record: not JSON"));
  if (Status s = CheckHeader(j); !s.ok()) return Fail(s.WithPrefix("revision record"));
  try {
    RevisionRecord r;
    r.rollout.namespace_ = j["rollout"].at("namespace").get<std::string>();
    r.rollout.name = j["rollout"].at("name").get<std::string>();
    r.hash = j.at("hash").get<std::string>();
    r.revision = j.value("revision", int64_t{0});
    r.desired_replicas = j.at("desired_replicas").get<int32_t>();
    r.template_file = j.value("template_file", std::string(kTemplateFile));
    if (r.hash.empty() || r.rollout.name.empty() || r.desired_replicas < 0 ||
        r.template_file.empty() || r.template_file.find('/') != std::string::npos) {
      return Fail(InvalidArgumentError("revision record: invalid field"));
    }
    return r;
  } catch (const json::exception& e) {
    return Fail(InvalidArgumentError(std::string("revision record: ") + e.what()));
  }
}

std::string EncodeInstanceRecord(const InstanceRecord& r) {
  json j = {{"version", kRecordVersion},
            {"rollout", RolloutJson(r.rollout)},
            {"hash", r.hash},
            {"revision", r.revision},
            {"id", r.id},
            {"ordinal", r.ordinal},
            {"pid", r.pid},
            {"pgid", r.pgid},
            {"start_time", r.start_time},
            {"boot_id", r.boot_id},
            {"port", r.port},
            {"created_at", ToUnixNanos(r.created_at)},
            {"ready_since", r.ready_since ? json(ToUnixNanos(*r.ready_since)) : json(nullptr)},
            {"restarts", r.restarts},
            {"crashes", r.crashes},
            {"stopping", r.stopping},
            {"restart_after_stop", r.restart_after_stop}};
  return j.dump(2) + "\n";
}

StatusOr<InstanceRecord> DecodeInstanceRecord(std::string_view json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded()) return Fail(InvalidArgumentError("instance record: not JSON"));
  if (Status s = CheckHeader(j); !s.ok()) return Fail(s.WithPrefix("instance record"));
  try {
    InstanceRecord r;
    r.rollout.namespace_ = j["rollout"].at("namespace").get<std::string>();
    r.rollout.name = j["rollout"].at("name").get<std::string>();
    r.hash = j.at("hash").get<std::string>();
    r.revision = j.value("revision", int64_t{0});
    r.id = j.at("id").get<std::string>();
    r.ordinal = j.value("ordinal", int64_t{0});
    r.pid = j.at("pid").get<pid_t>();
    r.pgid = j.value("pgid", r.pid);
    r.start_time = j.value("start_time", uint64_t{0});
    r.boot_id = j.value("boot_id", std::string());
    r.port = j.value("port", 0);
    r.created_at = FromUnixNanos(j.value("created_at", int64_t{0}));
    if (auto it = j.find("ready_since"); it != j.end() && it->is_number_integer()) {
      r.ready_since = FromUnixNanos(it->get<int64_t>());
    }
    r.restarts = j.value("restarts", 0);
    r.crashes = j.value("crashes", 0);
    r.stopping = j.value("stopping", false);
    r.restart_after_stop = j.value("restart_after_stop", false);
    if (r.id.empty() || r.hash.empty() || r.pid < 0 || r.port < 0 || r.port > 65535) {
      return Fail(InvalidArgumentError("instance record: invalid field"));
    }
    return r;
  } catch (const json::exception& e) {
    return Fail(InvalidArgumentError(std::string("instance record: ") + e.what()));
  }
}

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError(Errno("cannot create", tmp));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = InternalError(Errno("cannot write", tmp));
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = InternalError(Errno("cannot sync", tmp));
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = InternalError(Errno("cannot rename to", path));
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDir(DirOf(path));
}

Status RemoveFileDurably(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return OkStatus();
    return InternalError(Errno("cannot remove", path));
  }
  return SyncDir(DirOf(path));
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Fail(NotFoundError(path + " does not exist"));
    return Fail(InternalError(Errno("cannot open", path)));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = InternalError(Errno("cannot read", path));
      ::close(fd);
      return Fail(s);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace ramp::platform
