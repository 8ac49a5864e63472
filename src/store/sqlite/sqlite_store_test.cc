#include "store/sqlite/sqlite_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ramp::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A fresh temporary directory, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ramp-store-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Synchronous wrappers: the store completes inline.
template <typename T>
StatusOr<T> Wait(std::function<void(StatusOrCallback<T>)> call) {
  std::optional<StatusOr<T>> out;
  call([&](StatusOr<T> r) { out = std::move(r); });
  EXPECT_TRUE(out.has_value()) << "the store did not complete inline";
  return out ? std::move(*out) : StatusOr<T>(Fail(InternalError("no answer")));
}

StoredObject Obj(std::string ns, std::string name, std::string spec = R"({"spec":{}})") {
  return StoredObject{.kind = std::string(kKindRollout),
                      .ref = ObjectRef{std::move(ns), std::move(name)},
                      .spec_json = std::move(spec)};
}

StatusOr<int64_t> Put(StateStore& s, const StoredObject& o, int64_t expected) {
  return Wait<int64_t>([&](auto cb) { s.Put(o, expected, cb); });
}
StatusOr<int64_t> PutStatus(StateStore& s, const ObjectRef& ref, std::string status,
                            int64_t expected) {
  return Wait<int64_t>([&](auto cb) { s.PutStatus(kKindRollout, ref, status, expected, cb); });
}
StatusOr<StoredObject> Get(StateStore& s, const ObjectRef& ref) {
  return Wait<StoredObject>([&](auto cb) { s.Get(kKindRollout, ref, cb); });
}
Status Delete(StateStore& s, const ObjectRef& ref, int64_t expected) {
  Status out = InternalError("no answer");
  s.Delete(kKindRollout, ref, expected, [&](Status st) { out = st; });
  return out;
}

std::unique_ptr<StateStore> Memory() {
  auto s = NewMemoryStateStore();
  EXPECT_TRUE(s.has_value());
  return std::move(*s);
}

TEST(SqliteStoreTest, CreateReadAndCompareAndSwap) {
  auto store = Memory();
  EXPECT_EQ(store->Type(), "memory");
  auto v1 = Put(*store, Obj("default", "shop"), kNoVersion);
  ASSERT_TRUE(v1.has_value()) << v1.error().message();
  EXPECT_GT(*v1, 0);

  auto again = Put(*store, Obj("default", "shop"), kNoVersion);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), StatusCode::kAlreadyExists);

  auto v2 = Put(*store, Obj("default", "shop", R"({"spec":{"replicas":3}})"), *v1);
  ASSERT_TRUE(v2.has_value());
  EXPECT_GT(*v2, *v1);

  auto stale = Put(*store, Obj("default", "shop", R"({"spec":{"replicas":9}})"), *v1);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code(), StatusCode::kAborted);
  EXPECT_THAT(stale.error().message(), HasSubstr("Rollout default/shop was changed"));

  auto got = Get(*store, ObjectRef{"default", "shop"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->spec_json, R"({"spec":{"replicas":3}})");
  EXPECT_EQ(got->status_json, "{}");
  EXPECT_EQ(got->version, *v2);

  auto forced = Put(*store, Obj("default", "shop", R"({"spec":{"replicas":1}})"), kAnyVersion);
  EXPECT_TRUE(forced.has_value());
}

TEST(SqliteStoreTest, SpecAndStatusAreWrittenSeparately) {
  auto store = Memory();
  const ObjectRef ref{"default", "shop"};
  auto v1 = Put(*store, Obj("default", "shop"), kNoVersion);
  ASSERT_TRUE(v1.has_value());
  auto v2 = PutStatus(*store, ref, R"({"phase":"Healthy"})", *v1);
  ASSERT_TRUE(v2.has_value());
  auto v3 = Put(*store, Obj("default", "shop", R"({"spec":{"paused":true}})"), *v2);
  ASSERT_TRUE(v3.has_value());
  auto got = Get(*store, ref);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status_json, R"({"phase":"Healthy"})");
  EXPECT_EQ(got->spec_json, R"({"spec":{"paused":true}})");

  auto absent = PutStatus(*store, ObjectRef{"default", "nope"}, "{}", kAnyVersion);
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().code(), StatusCode::kNotFound);
  auto stale = PutStatus(*store, ref, "{}", *v1);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code(), StatusCode::kAborted);
}

TEST(SqliteStoreTest, RejectsWhatIsNotAnObject) {
  auto store = Memory();
  auto array = Put(*store, Obj("default", "shop", "[1]"), kNoVersion);
  ASSERT_FALSE(array.has_value());
  EXPECT_EQ(array.error().code(), StatusCode::kInvalidArgument);
  auto unnamed = Put(*store, Obj("default", ""), kNoVersion);
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(Put(*store, Obj("default", "shop"), kNoVersion).has_value());
  auto status = PutStatus(*store, ObjectRef{"default", "shop"}, "phase: Healthy", kAnyVersion);
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code(), StatusCode::kInvalidArgument);
}

TEST(SqliteStoreTest, ListOrdersByNamespaceThenNameAndFilters) {
  auto store = Memory();
  for (auto [ns, name] : std::vector<std::pair<std::string, std::string>>{
           {"prod", "b"}, {"dev", "z"}, {"prod", "a"}}) {
    ASSERT_TRUE(Put(*store, Obj(ns, name), kNoVersion).has_value());
  }
  StoredObject tmpl = Obj("prod", "a");
  tmpl.kind = std::string(kKindAnalysisTemplate);
  ASSERT_TRUE(Put(*store, tmpl, kNoVersion).has_value());

  auto keys = [&](std::string_view ns) {
    auto all = Wait<std::vector<StoredObject>>([&](auto cb) { store->List(kKindRollout, ns, cb); });
    std::vector<std::string> out;
    for (const auto& o : *all) out.push_back(o.ref.Key());
    return out;
  };
  EXPECT_THAT(keys(""), ElementsAre("dev/z", "prod/a", "prod/b"));
  EXPECT_THAT(keys("prod"), ElementsAre("prod/a", "prod/b"));
}

TEST(SqliteStoreTest, DeleteChecksTheVersion) {
  auto store = Memory();
  const ObjectRef ref{"default", "shop"};
  auto v1 = Put(*store, Obj("default", "shop"), kNoVersion);
  ASSERT_TRUE(v1.has_value());
  EXPECT_EQ(Delete(*store, ref, *v1 + 100).code(), StatusCode::kAborted);
  EXPECT_TRUE(Delete(*store, ref, *v1).ok());
  EXPECT_EQ(Delete(*store, ref, kAnyVersion).code(), StatusCode::kNotFound);
  EXPECT_EQ(Get(*store, ref).error().code(), StatusCode::kNotFound);
}

TEST(SqliteStoreTest, EventsKeepOrderAndTheNewestOnes) {
  auto store = Memory();
  const ObjectRef ref{"default", "shop"};
  const size_t total = kMaxEventsPerObject + 5;
  for (size_t i = 0; i < total; ++i) {
    StoredEvent e{.kind = std::string(kKindRollout),
                  .ref = ref,
                  .type = i % 2 ? EventType::kWarning : EventType::kNormal,
                  .reason = "Step",
                  .message = std::to_string(i),
                  .time = Time(std::chrono::seconds(1000 + i))};
    Status s = InternalError("no answer");
    store->AppendEvent(e, [&](Status st) { s = st; });
    ASSERT_TRUE(s.ok()) << s.message();
  }
  auto last3 =
      Wait<std::vector<StoredEvent>>([&](auto cb) { store->ListEvents(kKindRollout, ref, 3, cb); });
  ASSERT_TRUE(last3.has_value());
  ASSERT_EQ(last3->size(), 3u);
  EXPECT_EQ((*last3)[0].message, std::to_string(total - 3));
  EXPECT_EQ((*last3)[2].message, std::to_string(total - 1));
  EXPECT_LT((*last3)[0].sequence, (*last3)[1].sequence);
  EXPECT_EQ((*last3)[2].type, total % 2 == 0 ? EventType::kWarning : EventType::kNormal);
  EXPECT_EQ((*last3)[2].time, Time(std::chrono::seconds(1000 + total - 1)));

  auto all =
      Wait<std::vector<StoredEvent>>([&](auto cb) { store->ListEvents(kKindRollout, ref, 0, cb); });
  ASSERT_EQ(all->size(), kMaxEventsPerObject);
  EXPECT_EQ(all->front().message, std::to_string(total - kMaxEventsPerObject));
}

TEST(SqliteStoreTest, WatchDeliversCommittedChangesInOrder) {
  auto store = Memory();
  std::vector<std::string> seen;
  auto sub = store->Watch(kKindRollout, [&](const StoreChange& c) {
    seen.push_back((c.type == StoreChange::Type::kPut ? "put " : "deleted ") + c.object.ref.Key() +
                   " " + c.object.status_json);
  });
  ASSERT_TRUE(sub.has_value());
  auto v1 = Put(*store, Obj("default", "a"), kNoVersion);
  ASSERT_TRUE(PutStatus(*store, ObjectRef{"default", "a"}, R"({"x":1})", *v1).has_value());
  StoredObject other = Obj("default", "t");
  other.kind = std::string(kKindAnalysisTemplate);
  ASSERT_TRUE(Put(*store, other, kNoVersion).has_value());                 // another kind: not seen
  EXPECT_FALSE(Put(*store, Obj("default", "a"), kNoVersion).has_value());  // failed: not seen
  EXPECT_TRUE(Delete(*store, ObjectRef{"default", "a"}, kAnyVersion).ok());
  EXPECT_THAT(seen,
              ElementsAre("put default/a {}", "put default/a {\"x\":1}", "deleted default/a {}"));

  sub->reset();
  ASSERT_TRUE(Put(*store, Obj("default", "b"), kNoVersion).has_value());
  EXPECT_EQ(seen.size(), 3u);
}

TEST(SqliteStoreTest, AListenerMayWriteAndUnsubscribeItself) {
  auto store = Memory();
  std::vector<std::string> seen;
  std::unique_ptr<Subscription> sub;
  auto made = store->Watch("", [&](const StoreChange& c) {
    seen.push_back(c.object.ref.name);
    if (c.object.ref.name == "first") {
      // Written from inside the listener: delivered after this call returns, not nested.
      EXPECT_TRUE(Put(*store, Obj("default", "second"), kNoVersion).has_value());
      EXPECT_EQ(seen.size(), 1u);
    } else {
      sub.reset();
    }
  });
  ASSERT_TRUE(made.has_value());
  sub = std::move(*made);
  ASSERT_TRUE(Put(*store, Obj("default", "first"), kNoVersion).has_value());
  EXPECT_THAT(seen, ElementsAre("first", "second"));
  EXPECT_EQ(sub, nullptr);
  ASSERT_TRUE(Put(*store, Obj("default", "third"), kNoVersion).has_value());
  EXPECT_EQ(seen.size(), 2u);
}

TEST(SqliteStoreTest, ConcurrentCompareAndSwapLosesNoUpdate) {
  TempDir dir;
  auto opened = NewSqliteStateStore(dir.path());
  ASSERT_TRUE(opened.has_value()) << opened.error().message();
  StateStore& store = **opened;
  const ObjectRef ref{"default", "counter"};
  ASSERT_TRUE(Put(store, Obj("default", "counter", R"({"n":0})"), kNoVersion).has_value());
  constexpr int kThreads = 4, kIncrements = 25;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (int attempt = 0; attempt < 1000; ++attempt) {  // bounded retries
          auto cur = Get(store, ref);
          if (!cur.has_value()) return;
          int n = std::atoi(cur->spec_json.c_str() + 5);
          auto w = Put(store, Obj("default", "counter", "{\"n\":" + std::to_string(n + 1) + "}"),
                       cur->version);
          if (w.has_value()) break;
          conflicts.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto final_value = Get(store, ref);
  ASSERT_TRUE(final_value.has_value());
  EXPECT_EQ(final_value->spec_json, "{\"n\":" + std::to_string(kThreads * kIncrements) + "}");
}

TEST(SqliteStoreTest, AWriteThatCompletedSurvivesKillMinus9) {
  TempDir dir;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = NewSqliteStateStore(dir.path());
    if (!store.has_value()) _exit(3);
    bool ok = false;
    (*store)->Put(Obj("default", "shop", R"({"spec":{"v":2}})"), kNoVersion,
                  [&](StatusOr<int64_t> r) { ok = r.has_value(); });
    if (!ok) _exit(4);
    raise(SIGKILL);  // no close, no checkpoint
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  auto store = NewSqliteStateStore(dir.path());
  ASSERT_TRUE(store.has_value()) << store.error().message();
  EXPECT_EQ((*store)->Type(), "sqlite");
  auto got = Get(**store, ObjectRef{"default", "shop"});
  ASSERT_TRUE(got.has_value()) << got.error().message();
  EXPECT_EQ(got->spec_json, R"({"spec":{"v":2}})");
}

TEST(SqliteStoreTest, RefusesANewerSchemaAndAFileThatIsNotADatabase) {
  TempDir dir;
  { ASSERT_TRUE(NewSqliteStateStore(dir.path()).has_value()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/ramp.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = NewSqliteStateStore(dir.path());
  ASSERT_FALSE(newer.has_value());
  EXPECT_EQ(newer.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(newer.error().message(), HasSubstr("schema version 99"));

  TempDir garbage;
  std::ofstream(garbage.path() + "/ramp.db") << std::string(4096, 'x');
  auto bad = NewSqliteStateStore(garbage.path());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), StatusCode::kDataLoss);
  EXPECT_THAT(bad.error().message(), HasSubstr("ramp.db"));

  auto missing = NewSqliteStateStore(garbage.path() + "/no/such/dir");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ramp::store
