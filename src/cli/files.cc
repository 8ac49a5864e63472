// Reading the files the verbs are given (commands.h).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/commands.h"

namespace ramp::cli {

bool ReadInputFile(const std::string& path, std::string* out, std::string* error) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    *out = ss.str();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *error = "read error";
    return false;
  }
  *out = ss.str();
  if (out->size() > kMaxInputFileBytes) {
    *error = "file is larger than 32 MiB";
    return false;
  }
  return true;
}

}  // namespace ramp::cli
