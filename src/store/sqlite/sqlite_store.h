// The "sqlite" StateStore (the embedded default) and the "memory" one: every object, status and
// event of the controller in one SQLite database, `<state dir>/ramp.db`, in WAL mode with full
// synchronous commits, so a write whose `done` ran survives a crash of the process (kill -9) and
// of the machine. The schema carries a version; opening a database migrates it forward in one
// transaction, and a database written by a newer ramp is refused rather than guessed at.
//
// Versions are one counter for the whole store (like Kubernetes' resourceVersion): every write
// takes the next number, so versions also order changes across objects. Each object keeps at
// most kMaxEventsPerObject events (the oldest are dropped). Watch delivers changes after they
// commit, in commit order, on the thread that wrote them (or on the thread already delivering);
// a listener may call the store, including writing to it.
//
// Thread-safety: as StateStore: all methods from any thread. One connection serialized by a
// mutex; every operation completes inline (its `done` runs before the method returns).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "ramp/state_store.h"
#include "ramp/status.h"

namespace ramp::store {

inline constexpr size_t kMaxEventsPerObject = 1000;

// The schema version this ramp writes.
inline constexpr int kSqliteSchemaVersion = 1;

// Opens (creating when absent) `<directory>/ramp.db`; the directory must exist. kDataLoss for a
// file that is not a ramp database or is corrupt, kFailedPrecondition for a newer schema,
// kUnavailable when the file cannot be opened or locked.
StatusOr<std::unique_ptr<StateStore>> NewSqliteStateStore(std::string_view directory);

// The same store on a private in-memory database (registered as "memory"): nothing survives the
// object. For tests and `ramp simulate`-like uses.
StatusOr<std::unique_ptr<StateStore>> NewMemoryStateStore();

}  // namespace ramp::store
