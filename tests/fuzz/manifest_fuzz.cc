// Fuzz target for the manifest loader: YAML/JSON parsing, strict decoding of every kind,
// validation and cross-checks. Any input must produce diagnostics, never a crash or a hang.
// Built with clang's libFuzzer by scripts/fuzz; its seeds replay under g++ as the CTest label
// fuzz-seeds (see replay_main.cc).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "spec/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ramp::spec::ManifestSet set = ramp::spec::LoadManifests(text, "fuzz.yaml");
  for (const auto& d : set.diagnostics.items()) {
    if (d.message.empty()) __builtin_trap();  // every diagnostic must say something
    // Running out of memory is a parser trap (yaml-cpp), never an answer.
    // (Matched whole: the input itself may contain the word.)
    if (d.message == "YAML syntax error: std::bad_alloc") __builtin_trap();
  }
  return 0;
}
