#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace ramp::store {
namespace {

// The schema, one step per version: migration i takes a database from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 → 1
    "CREATE TABLE objects ("
    "  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    "  spec TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, namespace, name)) WITHOUT ROWID;"
    "CREATE TABLE events ("
    "  sequence INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    "  type INTEGER NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,"
    "  time_ns INTEGER NOT NULL);"
    "CREATE INDEX events_by_object ON events (kind, namespace, name, sequence);"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO counters VALUES ('version', 0);",
};
static_assert(std::size(kMigrations) == kSqliteSchemaVersion);

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool prepared() const { return rc_ == SQLITE_OK; }
  Statement& Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int i, int64_t value) {
    sqlite3_bind_int64(stmt_, i, value);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return rc_ = sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Error() const { return sqlite3_errmsg(db_); }
  int rc() const { return rc_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

// The Status for a failed SQLite call.
Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string message = fmt::format("state store: {}: {}", what, sqlite3_errmsg(db));
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
      return UnavailableError(std::move(message));
    default:
      return InternalError(std::move(message));
  }
}

// Runs `sql` outside a prepared statement (transactions, pragmas, the schema).
Status ExecSql(sqlite3* db, const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  sqlite3_free(error);
  return rc == SQLITE_OK ? OkStatus() : SqliteError(db, rc, sql);
}

// Ends a failed transaction; there is nothing more to report if that fails too.
void Rollback(sqlite3* db) { sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr); }

bool IsJsonObjectText(std::string_view text) {
  size_t b = text.find_first_not_of(" \t\r\n");
  size_t e = text.find_last_not_of(" \t\r\n");
  return b != std::string_view::npos && text[b] == '{' && text[e] == '}';
}

std::string Describe(std::string_view kind, const ObjectRef& ref) {
  return fmt::format("{} {}", kind, ref.Key());
}

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(sqlite3* db, std::string_view type) : db_(db), type_(type) {}
  ~SqliteStateStore() override { sqlite3_close_v2(db_); }

  std::string_view Type() const override { return type_; }

  void Get(std::string_view kind, const ObjectRef& ref,
           StatusOrCallback<StoredObject> done) override {
    StatusOr<StoredObject> result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result = Read(kind, ref);
    }
    done(std::move(result));
  }

  void List(std::string_view kind, std::string_view namespace_,
            StatusOrCallback<std::vector<StoredObject>> done) override {
    StatusOr<std::vector<StoredObject>> result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result = ReadAll(kind, namespace_);
    }
    done(std::move(result));
  }

  void Put(const StoredObject& object, int64_t expected_version,
           StatusOrCallback<int64_t> done) override {
    if (Status s = CheckKey(object.kind, object.ref); !s.ok()) return done(Fail(s));
    if (!IsJsonObjectText(object.spec_json)) {
      return done(Fail(InvalidArgumentError(fmt::format(
          "state store: the spec of {} is not a JSON object", Describe(object.kind, object.ref)))));
    }
    StatusOr<int64_t> result = Write(object.kind, object.ref, expected_version, &object.spec_json,
                                     nullptr, /*create_allowed=*/true);
    Deliver();
    done(std::move(result));
  }

  void PutStatus(std::string_view kind, const ObjectRef& ref, std::string status_json,
                 int64_t expected_version, StatusOrCallback<int64_t> done) override {
    if (Status s = CheckKey(kind, ref); !s.ok()) return done(Fail(s));
    if (!IsJsonObjectText(status_json)) {
      return done(Fail(InvalidArgumentError(
          fmt::format("state store: the status of {} is not a JSON object", Describe(kind, ref)))));
    }
    StatusOr<int64_t> result =
        Write(kind, ref, expected_version, nullptr, &status_json, /*create_allowed=*/false);
    Deliver();
    done(std::move(result));
  }

  void Delete(std::string_view kind, const ObjectRef& ref, int64_t expected_version,
              StatusCallback done) override {
    Status result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result = DeleteLocked(kind, ref, expected_version);
    }
    Deliver();
    done(std::move(result));
  }

  void AppendEvent(const StoredEvent& event, StatusCallback done) override {
    Status result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result = AppendEventLocked(event);
    }
    done(std::move(result));
  }

  void ListEvents(std::string_view kind, const ObjectRef& ref, size_t limit,
                  StatusOrCallback<std::vector<StoredEvent>> done) override {
    StatusOr<std::vector<StoredEvent>> result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result = ReadEvents(kind, ref, limit);
    }
    done(std::move(result));
  }

  StatusOr<std::unique_ptr<Subscription>> Watch(
      std::string_view kind, std::function<void(const StoreChange&)> on_change) override;

  // Called by a Subscription's destructor.
  void Unsubscribe(uint64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    std::erase_if(listeners_, [id](const Listener& l) { return l.id == id; });
    // A delivery running on another thread may be inside this listener: wait for it, unless this
    // thread is the one delivering (destroying the subscription from inside the listener).
    while (delivering_thread_ != std::thread::id() &&
           delivering_thread_ != std::this_thread::get_id() && delivering_listener_ == id) {
      delivered_.wait(lock);
    }
  }

 private:
  struct Listener {
    uint64_t id;
    std::string kind;
    std::shared_ptr<std::function<void(const StoreChange&)>> fn;
  };

  static Status CheckKey(std::string_view kind, const ObjectRef& ref) {
    if (kind.empty()) return InvalidArgumentError("state store: empty kind");
    if (ref.name.empty()) return InvalidArgumentError("state store: empty object name");
    return OkStatus();
  }

  StatusOr<StoredObject> Read(std::string_view kind, const ObjectRef& ref) {
    Statement q(db_,
                "SELECT spec, status, version FROM objects WHERE kind=?1 AND namespace=?2 AND "
                "name=?3");
    if (!q.prepared()) return Fail(SqliteError(db_, q.rc(), "prepare"));
    q.Bind(1, kind).Bind(2, ref.namespace_).Bind(3, ref.name);
    int rc = q.Step();
    if (rc == SQLITE_DONE) {
      return Fail(NotFoundError(fmt::format("{} not found", Describe(kind, ref))));
    }
    if (rc != SQLITE_ROW) return Fail(SqliteError(db_, rc, "read " + Describe(kind, ref)));
    return StoredObject{.kind = std::string(kind),
                        .ref = ref,
                        .spec_json = q.Text(0),
                        .status_json = q.Text(1),
                        .version = q.Int(2)};
  }

  StatusOr<std::vector<StoredObject>> ReadAll(std::string_view kind, std::string_view ns) {
    Statement q(db_,
                "SELECT namespace, name, spec, status, version FROM objects WHERE kind=?1 AND "
                "(?2 = '' OR namespace=?2) ORDER BY namespace, name");
    if (!q.prepared()) return Fail(SqliteError(db_, q.rc(), "prepare"));
    q.Bind(1, kind).Bind(2, ns);
    std::vector<StoredObject> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      out.push_back(StoredObject{.kind = std::string(kind),
                                 .ref = ObjectRef{q.Text(0), q.Text(1)},
                                 .spec_json = q.Text(2),
                                 .status_json = q.Text(3),
                                 .version = q.Int(4)});
    }
    if (rc != SQLITE_DONE) return Fail(SqliteError(db_, rc, fmt::format("list {}", kind)));
    return out;
  }

  Status Exec(const char* sql) { return ExecSql(db_, sql); }

  StatusOr<int64_t> NextVersion() {
    Statement q(db_, "UPDATE counters SET value = value + 1 WHERE name='version' RETURNING value");
    if (!q.prepared()) return Fail(SqliteError(db_, q.rc(), "prepare"));
    if (q.Step() != SQLITE_ROW) return Fail(SqliteError(db_, q.rc(), "next version"));
    return q.Int(0);
  }

  // Checks `expected_version` against what is stored (`current`: nothing when absent).
  static Status CheckVersion(std::string_view kind, const ObjectRef& ref,
                             const std::optional<StoredObject>& current, int64_t expected,
                             bool create_allowed) {
    if (!current) {
      if (!create_allowed || (expected != kNoVersion && expected != kAnyVersion)) {
        return NotFoundError(fmt::format("{} not found", Describe(kind, ref)));
      }
      return OkStatus();
    }
    if (expected == kNoVersion && create_allowed) {
      return AlreadyExistsError(fmt::format("{} already exists", Describe(kind, ref)));
    }
    if (expected != kAnyVersion && expected != current->version) {
      return AbortedError(
          fmt::format("{} was changed (version {}, expected {}): re-read and apply again",
                      Describe(kind, ref), current->version, expected));
    }
    return OkStatus();
  }

  // Writes the spec (when `spec`) or the status (when `status`) in one transaction.
  StatusOr<int64_t> Write(std::string_view kind, const ObjectRef& ref, int64_t expected,
                          const std::string* spec, const std::string* status, bool create_allowed) {
    std::lock_guard<std::mutex> lock(mu_);
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return Fail(s);
    auto rollback = [&](Status s) {
      Rollback(db_);
      return Fail(std::move(s));
    };
    std::optional<StoredObject> current;
    if (auto r = Read(kind, ref); r.has_value()) {
      current = std::move(*r);
    } else if (r.error().code() != StatusCode::kNotFound) {
      return rollback(r.error());
    }
    if (Status s = CheckVersion(kind, ref, current, expected, create_allowed); !s.ok()) {
      return rollback(s);
    }
    auto version = NextVersion();
    if (!version.has_value()) return rollback(version.error());
    StoredObject after{.kind = std::string(kind),
                       .ref = ref,
                       .spec_json = spec != nullptr ? *spec : current->spec_json,
                       .status_json = status != nullptr ? *status
                                      : current         ? current->status_json
                                                        : std::string("{}"),
                       .version = *version};
    Statement w(db_,
                "INSERT INTO objects (kind, namespace, name, spec, status, version) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, namespace, name) DO UPDATE "
                "SET spec=excluded.spec, status=excluded.status, version=excluded.version");
    if (!w.prepared()) return rollback(SqliteError(db_, w.rc(), "prepare"));
    w.Bind(1, kind).Bind(2, ref.namespace_).Bind(3, ref.name);
    w.Bind(4, after.spec_json).Bind(5, after.status_json).Bind(6, after.version);
    if (w.Step() != SQLITE_DONE) {
      return rollback(SqliteError(db_, w.rc(), "write " + Describe(kind, ref)));
    }
    if (Status s = Exec("COMMIT"); !s.ok()) return rollback(s);
    Queue(StoreChange{.type = StoreChange::Type::kPut, .object = std::move(after)});
    return *version;
  }

  Status DeleteLocked(std::string_view kind, const ObjectRef& ref, int64_t expected) {
    if (Status s = CheckKey(kind, ref); !s.ok()) return s;
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    auto rollback = [&](Status s) {
      Rollback(db_);
      return s;
    };
    auto current = Read(kind, ref);
    if (!current.has_value()) return rollback(current.error());
    if (Status s = CheckVersion(kind, ref, *current, expected, false); !s.ok()) {
      return rollback(s);
    }
    Statement d(db_, "DELETE FROM objects WHERE kind=?1 AND namespace=?2 AND name=?3");
    if (!d.prepared()) return rollback(SqliteError(db_, d.rc(), "prepare"));
    d.Bind(1, kind).Bind(2, ref.namespace_).Bind(3, ref.name);
    if (d.Step() != SQLITE_DONE) {
      return rollback(SqliteError(db_, d.rc(), "delete " + Describe(kind, ref)));
    }
    if (Status s = Exec("COMMIT"); !s.ok()) return rollback(s);
    StoredObject gone{.kind = std::string(kind), .ref = ref, .version = current->version};
    Queue(StoreChange{.type = StoreChange::Type::kDeleted, .object = std::move(gone)});
    return OkStatus();
  }

  Status AppendEventLocked(const StoredEvent& e) {
    if (Status s = CheckKey(e.kind, e.ref); !s.ok()) return s;
    if (Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    auto rollback = [&](Status s) {
      Rollback(db_);
      return s;
    };
    Statement w(db_,
                "INSERT INTO events (kind, namespace, name, type, reason, message, time_ns) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!w.prepared()) return rollback(SqliteError(db_, w.rc(), "prepare"));
    w.Bind(1, e.kind).Bind(2, e.ref.namespace_).Bind(3, e.ref.name);
    w.Bind(4, static_cast<int64_t>(e.type == EventType::kWarning ? 1 : 0));
    w.Bind(5, e.reason).Bind(6, e.message).Bind(7, e.time.time_since_epoch().count());
    if (w.Step() != SQLITE_DONE) return rollback(SqliteError(db_, w.rc(), "append event"));
    // Keep the newest kMaxEventsPerObject events of this object.
    Statement trim(db_,
                   "DELETE FROM events WHERE kind=?1 AND namespace=?2 AND name=?3 AND sequence <= "
                   "(SELECT sequence FROM events WHERE kind=?1 AND namespace=?2 AND name=?3 "
                   "ORDER BY sequence DESC LIMIT 1 OFFSET ?4)");
    if (!trim.prepared()) return rollback(SqliteError(db_, trim.rc(), "prepare"));
    trim.Bind(1, e.kind).Bind(2, e.ref.namespace_).Bind(3, e.ref.name);
    trim.Bind(4, static_cast<int64_t>(kMaxEventsPerObject));
    if (trim.Step() != SQLITE_DONE) return rollback(SqliteError(db_, trim.rc(), "trim events"));
    if (Status s = Exec("COMMIT"); !s.ok()) return rollback(s);
    return OkStatus();
  }

  StatusOr<std::vector<StoredEvent>> ReadEvents(std::string_view kind, const ObjectRef& ref,
                                                size_t limit) {
    Statement q(db_,
                "SELECT sequence, type, reason, message, time_ns FROM (SELECT * FROM events "
                "WHERE kind=?1 AND namespace=?2 AND name=?3 ORDER BY sequence DESC LIMIT ?4) "
                "ORDER BY sequence");
    if (!q.prepared()) return Fail(SqliteError(db_, q.rc(), "prepare"));
    q.Bind(1, kind).Bind(2, ref.namespace_).Bind(3, ref.name);
    q.Bind(4, limit == 0 ? int64_t{-1} : static_cast<int64_t>(limit));
    std::vector<StoredEvent> out;
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW) {
      out.push_back(StoredEvent{.kind = std::string(kind),
                                .ref = ref,
                                .type = q.Int(1) == 1 ? EventType::kWarning : EventType::kNormal,
                                .reason = q.Text(2),
                                .message = q.Text(3),
                                .time = Time(Duration(q.Int(4))),
                                .sequence = q.Int(0)});
    }
    if (rc != SQLITE_DONE) return Fail(SqliteError(db_, rc, "events of " + Describe(kind, ref)));
    return out;
  }

  // Under mu_: a committed change waits for Deliver.
  void Queue(StoreChange change) {
    if (!listeners_.empty()) pending_.push_back(std::move(change));
  }

  // Delivers queued changes in commit order; one thread delivers at a time, and a write made by
  // a listener is delivered by the loop already running.
  void Deliver() {
    std::unique_lock<std::mutex> lock(mu_);
    if (delivering_thread_ != std::thread::id()) return;
    delivering_thread_ = std::this_thread::get_id();
    while (!pending_.empty()) {
      StoreChange change = std::move(pending_.front());
      pending_.pop_front();
      std::vector<Listener> targets = listeners_;
      for (const Listener& l : targets) {
        if (!l.kind.empty() && l.kind != change.object.kind) continue;
        if (std::none_of(listeners_.begin(), listeners_.end(),
                         [&](const Listener& x) { return x.id == l.id; })) {
          continue;  // unsubscribed meanwhile
        }
        delivering_listener_ = l.id;
        lock.unlock();
        (*l.fn)(change);
        lock.lock();
        delivering_listener_ = 0;
        delivered_.notify_all();
      }
    }
    delivering_thread_ = std::thread::id();
    delivered_.notify_all();
  }

  sqlite3* db_;
  std::string_view type_;  // "sqlite" or "memory"
  std::mutex mu_;
  std::condition_variable delivered_;
  std::vector<Listener> listeners_;
  std::deque<StoreChange> pending_;
  std::thread::id delivering_thread_;
  uint64_t delivering_listener_ = 0;
  uint64_t next_listener_ = 1;
};

class StoreSubscription final : public Subscription {
 public:
  StoreSubscription(SqliteStateStore* store, uint64_t id) : store_(store), id_(id) {}
  ~StoreSubscription() override { store_->Unsubscribe(id_); }

 private:
  SqliteStateStore* store_;
  uint64_t id_;
};

StatusOr<std::unique_ptr<Subscription>> SqliteStateStore::Watch(
    std::string_view kind, std::function<void(const StoreChange&)> on_change) {
  if (!on_change) return Fail(InvalidArgumentError("state store: Watch without a listener"));
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_listener_++;
  listeners_.push_back(
      Listener{id, std::string(kind),
               std::make_shared<std::function<void(const StoreChange&)>>(std::move(on_change))});
  return std::unique_ptr<Subscription>(std::make_unique<StoreSubscription>(this, id));
}

// Reads the schema version (PRAGMA user_version) and applies the missing migrations.
Status Migrate(sqlite3* db) {
  auto exec = [db](const char* sql) { return ExecSql(db, sql); };
  if (Status s = exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  int version = -1;
  {
    Statement q(db, "PRAGMA user_version");
    if (q.prepared() && q.Step() == SQLITE_ROW) version = static_cast<int>(q.Int(0));
  }
  if (version < 0) {
    Rollback(db);
    return DataLossError(
        fmt::format("state store: cannot read the schema version: {}", sqlite3_errmsg(db)));
  }
  if (version > kSqliteSchemaVersion) {
    Rollback(db);
    return FailedPreconditionError(fmt::format(
        "state store: the database has schema version {}, newer than this ramp's {}; run the "
        "ramp that wrote it, or restore a backup",
        version, kSqliteSchemaVersion));
  }
  for (int v = version; v < kSqliteSchemaVersion; ++v) {
    if (Status s = exec(kMigrations[v]); !s.ok()) {
      Rollback(db);
      return s.WithPrefix(fmt::format("state store: migration to schema version {}", v + 1));
    }
  }
  std::string set_version = fmt::format("PRAGMA user_version = {}", kSqliteSchemaVersion);
  if (Status s = exec(set_version.c_str()); !s.ok()) {
    Rollback(db);
    return s;
  }
  return exec("COMMIT");
}

StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path, bool durable) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
      nullptr);
  if (rc != SQLITE_OK) {
    Status s = UnavailableError(fmt::format("state store: cannot open {}: {}", path,
                                            db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return Fail(s);
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  auto fail = [db](Status s) {
    sqlite3_close_v2(db);
    return Fail(std::move(s));
  };
  if (durable) {
    // WAL with full synchronous commits: a committed write survives a crash of the machine.
    Statement wal(db, "PRAGMA journal_mode=WAL");
    if (!wal.prepared() || wal.Step() != SQLITE_ROW) {
      int code = wal.rc();
      return fail(SqliteError(db, code, fmt::format("open {}", path)));
    }
    if (wal.Text(0) != "wal") {
      return fail(UnavailableError(fmt::format(
          "state store: {} cannot use write-ahead logging (journal mode {})", path, wal.Text(0))));
    }
    if (Status s = ExecSql(db, "PRAGMA synchronous=FULL"); !s.ok()) return fail(s);
  }
  if (Status s = Migrate(db); !s.ok()) return fail(s.WithPrefix(path));
  return std::unique_ptr<StateStore>(
      std::make_unique<SqliteStateStore>(db, durable ? "sqlite" : "memory"));
}

}  // namespace

StatusOr<std::unique_ptr<StateStore>> NewSqliteStateStore(std::string_view directory) {
  if (directory.empty()) return Fail(InvalidArgumentError("state store: empty state directory"));
  std::string path(directory);
  if (path.back() != '/') path += '/';
  return Open(path + "ramp.db", /*durable=*/true);
}

StatusOr<std::unique_ptr<StateStore>> NewMemoryStateStore() {
  return Open(":memory:", /*durable=*/false);
}

}  // namespace ramp::store
