// EventTapStore: a StateStore that passes everything through to another store and also tells a
// callback about every event appended (the daemon uses it to hand rollout events to the
// notifier without the controllers knowing about notifications).
//
// Thread-safety: as the wrapped store; `on_event` runs on the appending thread, before the
// append completes, and must not block.
#pragma once

#include <functional>
#include <memory>

#include "ramp/state_store.h"

namespace ramp::daemon {

// `inner` must outlive the returned store.
std::unique_ptr<StateStore> NewEventTapStore(StateStore* inner,
                                             std::function<void(const StoredEvent&)> on_event);

}  // namespace ramp::daemon
