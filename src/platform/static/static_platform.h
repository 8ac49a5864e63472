// The "static" platform: instances that other tooling deploys and runs, on any hosts, listed per
// image in the Rollout's `ramp.dev/static-instances` annotation (docs/manifests.md, "Platform and
// static instances"). A revision has the instances listed under its template's
// containers[0].image; ramp only probes them (the template's readinessProbe) and never starts or
// stops them.
//
// Thread-safety: all methods may be called concurrently from any thread (see ramp/platform.h).
// One probe thread, joined by the destructor, probes every instance; callbacks run inline.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ramp/clock.h"
#include "ramp/platform.h"
#include "ramp/status.h"

namespace ramp::platform {

struct StaticPlatformOptions {
  // Reads the time for probe periods and ready_since. Required; must outlive the platform.
  const Clock* clock = nullptr;
  // How often the probe thread looks for probes that are due.
  Duration tick = std::chrono::milliseconds(50);
};

// kInvalidArgument without a clock.
StatusOr<std::unique_ptr<Platform>> NewStaticPlatform(StaticPlatformOptions options);

// Parses the value of ramp.dev/static-instances (YAML or JSON): image → addresses. Errors name
// the image or the item and say what is wrong (not a map, empty list, bad host:port, an address
// listed twice). Exposed for tests and lint.
StatusOr<std::map<std::string, std::vector<std::string>>> ParseStaticInstances(
    std::string_view value);

}  // namespace ramp::platform
