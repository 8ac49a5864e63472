// Fuzz target for the `ramp simulate` scenario parser: any input must give a Scenario or an error
// that says something, never a crash or a hang. Built with clang's libFuzzer by scripts/fuzz; its
// seeds replay under g++ as the CTest label fuzz-seeds (see replay_main.cc).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sim/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto scenario = ramp::sim::ParseScenario(text, "fuzz.scenario.yaml");
  if (!scenario.has_value() && scenario.error().message().empty()) __builtin_trap();
  return 0;
}
