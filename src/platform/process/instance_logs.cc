#include "platform/process/instance_logs.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

namespace ramp::platform {

namespace fs = std::filesystem;

std::string FileSafe(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') c = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

std::vector<InstanceLog> ListInstanceLogs(const std::string& state_dir, const ObjectRef& rollout,
                                          std::string_view hash) {
  std::vector<InstanceLog> logs;
  const fs::path dir = fs::path(state_dir) / "instances" / FileSafe(rollout.namespace_) /
                       FileSafe(rollout.name) / FileSafe(std::string(hash));
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path log = it->path() / "output.log";
    if (it->is_directory(ec) && fs::is_regular_file(log, ec)) {
      logs.push_back({it->path().filename().string(), log.string()});
    }
  }
  std::sort(logs.begin(), logs.end(),
            [](const InstanceLog& a, const InstanceLog& b) { return a.instance < b.instance; });
  return logs;
}

StatusOr<std::string> TailFile(const std::string& path, size_t lines, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return Fail(NotFoundError(path + " does not exist"));
    return Fail(InternalError("cannot read " + path));
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = size > static_cast<std::streamoff>(max_bytes)
                                  ? size - static_cast<std::streamoff>(max_bytes)
                                  : 0;
  in.seekg(from);
  std::string text(static_cast<size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (from > 0) {
    const size_t nl = text.find('\n');
    text.erase(0, nl == std::string::npos ? text.size() : nl + 1);
  }
  if (lines > 0) {
    // Count back from the end; a final newline does not start another line.
    size_t end = text.size();
    if (end > 0 && text[end - 1] == '\n') --end;
    size_t found = 0;
    size_t pos = end;
    while (pos > 0) {
      if (text[pos - 1] == '\n' && ++found == lines) break;
      --pos;
    }
    text.erase(0, pos);
  }
  return text;
}

}  // namespace ramp::platform
