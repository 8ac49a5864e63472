// PcreLiteral: text quoted for a PCRE regex, as the HAProxy and NGINX routers write header
// routes into the configuration those servers compile (`-m reg` ACLs, `map ~` entries).
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace ramp::traffic {

// `text` as a PCRE literal: every ASCII character other than a letter or digit escaped.
inline std::string PcreLiteral(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

}  // namespace ramp::traffic
