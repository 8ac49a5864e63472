// Tests of the interface headers' own logic: the named-factory registry, ManualClock, enum
// spellings, small value helpers, and that every interface can be implemented and built through
// a registry. (That each header compiles on its own is checked by generated translation units
// built into this test; see src/CMakeLists.txt.)
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/types.h"
#include "ramp/clock.h"
#include "ramp/common.h"
#include "ramp/hook.h"
#include "ramp/http_client.h"
#include "ramp/metric_provider.h"
#include "ramp/platform.h"
#include "ramp/registry.h"
#include "ramp/state_store.h"
#include "ramp/status.h"
#include "ramp/traffic_router.h"

namespace ramp {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Registry

class Greeter {
 public:
  virtual ~Greeter() = default;
  virtual std::string Greet() const = 0;
};

class FixedGreeter : public Greeter {
 public:
  explicit FixedGreeter(std::string text) : text_(std::move(text)) {}
  std::string Greet() const override { return text_; }

 private:
  std::string text_;
};

using GreeterRegistry = Registry<Greeter, const std::string&>;

GreeterRegistry::Factory Prefixing(std::string prefix) {
  return [prefix](const std::string& who) -> StatusOr<std::unique_ptr<Greeter>> {
    if (who.empty()) return Fail(InvalidArgumentError("nobody to greet"));
    return std::make_unique<FixedGreeter>(prefix + who);
  };
}

TEST(RegistryTest, CreatesWhatWasRegistered) {
  GreeterRegistry registry("greeter");
  ASSERT_TRUE(registry.Register("hello", Prefixing("hello ")).ok());
  ASSERT_TRUE(registry.Register("hi", Prefixing("hi ")).ok());

  StatusOr<std::unique_ptr<Greeter>> g = registry.Create("hi", "ann");
  ASSERT_TRUE(g.has_value()) << g.error().ToString();
  EXPECT_EQ((*g)->Greet(), "hi ann");
  EXPECT_TRUE(registry.Contains("hello"));
  EXPECT_FALSE(registry.Contains("hey"));
  EXPECT_EQ(registry.what(), "greeter");
}

TEST(RegistryTest, NamesAreSorted) {
  GreeterRegistry registry("greeter");
  ASSERT_TRUE(registry.Register("zeta", Prefixing("")).ok());
  ASSERT_TRUE(registry.Register("alpha", Prefixing("")).ok());
  ASSERT_TRUE(registry.Register("ramp/proxy", Prefixing("")).ok());
  EXPECT_THAT(registry.Names(), ElementsAre("alpha", "ramp/proxy", "zeta"));
}

TEST(RegistryTest, DuplicateNameIsAlreadyExists) {
  GreeterRegistry registry("greeter");
  ASSERT_TRUE(registry.Register("hello", Prefixing("hello ")).ok());
  Status s = registry.Register("hello", Prefixing("other "));
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "greeter \"hello\" is already registered");
  // The first registration stays.
  EXPECT_EQ((*registry.Create("hello", "bob"))->Greet(), "hello bob");
}

TEST(RegistryTest, EmptyNameOrFactoryIsInvalid) {
  GreeterRegistry registry("greeter");
  EXPECT_EQ(registry.Register("", Prefixing("")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register("x", nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry.Names().empty());
}

TEST(RegistryTest, UnknownNameIsNotFoundListingKnownNames) {
  GreeterRegistry registry("metric provider");
  ASSERT_TRUE(registry.Register("prometheus", Prefixing("")).ok());
  ASSERT_TRUE(registry.Register("datadog", Prefixing("")).ok());
  StatusOr<std::unique_ptr<Greeter>> g = registry.Create("promethus", "x");
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(g.error().message(),
            "unknown metric provider \"promethus\"; known: datadog, prometheus");
}

TEST(RegistryTest, UnknownNameInEmptyRegistrySaysNone) {
  GreeterRegistry registry("state store");
  StatusOr<std::unique_ptr<Greeter>> g = registry.Create("sqlite", "x");
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().message(), "unknown state store \"sqlite\"; known: (none)");
}

TEST(RegistryTest, FactoryErrorsPassThrough) {
  GreeterRegistry registry("greeter");
  ASSERT_TRUE(registry.Register("hello", Prefixing("hello ")).ok());
  StatusOr<std::unique_ptr<Greeter>> g = registry.Create("hello", "");
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error(), InvalidArgumentError("nobody to greet"));
}

TEST(RegistryTest, FactoryReturningNullIsInternal) {
  GreeterRegistry registry("greeter");
  ASSERT_TRUE(registry
                  .Register("broken",
                            [](const std::string&) -> StatusOr<std::unique_ptr<Greeter>> {
                              return std::unique_ptr<Greeter>();
                            })
                  .ok());
  StatusOr<std::unique_ptr<Greeter>> g = registry.Create("broken", "x");
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code(), StatusCode::kInternal);
  EXPECT_THAT(g.error().message(), HasSubstr("\"broken\""));
}

TEST(RegistryTest, NoArgumentRegistryAndMoveOnlyArguments) {
  Registry<Greeter> plain("greeter");
  ASSERT_TRUE(plain
                  .Register("fixed",
                            []() -> StatusOr<std::unique_ptr<Greeter>> {
                              return std::make_unique<FixedGreeter>("fixed");
                            })
                  .ok());
  EXPECT_EQ((*plain.Create("fixed"))->Greet(), "fixed");

  Registry<Greeter, std::unique_ptr<std::string>> owning("greeter");
  ASSERT_TRUE(
      owning
          .Register("own",
                    [](std::unique_ptr<std::string> s) -> StatusOr<std::unique_ptr<Greeter>> {
                      return std::make_unique<FixedGreeter>(*s);
                    })
          .ok());
  EXPECT_EQ((*owning.Create("own", std::make_unique<std::string>("mine")))->Greet(), "mine");
}

// ---------------------------------------------------------------------------------------------
// Clock

Time At(int64_t s) { return FromUnixNanos(0) + seconds(s); }

TEST(ClockTest, UnixNanosRoundTrip) {
  EXPECT_EQ(ToUnixNanos(FromUnixNanos(1'700'000'000'123'456'789)), 1'700'000'000'123'456'789);
  EXPECT_EQ(ToUnixNanos(At(2)), 2'000'000'000);
}

TEST(ClockTest, SystemClockIsNearSystemTime) {
  std::unique_ptr<Clock> clock = NewSystemClock();
  Time before = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  Time now = clock->Now();
  Time after = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

TEST(ManualClockTest, AdvanceRunsDueCallbacksInOrder) {
  ManualClock clock(At(100));
  std::vector<std::string> log;
  auto record = [&](std::string what) {
    return [&, what] {
      log.push_back(what + "@" + std::to_string(ToUnixNanos(clock.Now()) / 1'000'000'000));
    };
  };
  clock.ScheduleAt(At(130), record("c"));
  clock.ScheduleAt(At(110), record("a"));
  clock.ScheduleAt(At(120), record("b1"));
  clock.ScheduleAt(At(120), record("b2"));
  EXPECT_EQ(clock.Pending(), 4u);
  EXPECT_EQ(clock.NextDue(), At(110));

  clock.Advance(seconds(20));
  EXPECT_THAT(log, ElementsAre("a@110", "b1@120", "b2@120"));
  EXPECT_EQ(clock.Now(), At(120));
  EXPECT_EQ(clock.Pending(), 1u);

  clock.Advance(seconds(100));
  EXPECT_THAT(log, ElementsAre("a@110", "b1@120", "b2@120", "c@130"));
  EXPECT_EQ(clock.Now(), At(220));
  EXPECT_FALSE(clock.NextDue().has_value());
}

TEST(ManualClockTest, CancelStopsAPendingCallback) {
  ManualClock clock(At(0));
  int runs = 0;
  Timers::TimerId id = clock.ScheduleAt(At(5), [&] { ++runs; });
  EXPECT_NE(id, 0u);
  EXPECT_TRUE(clock.Cancel(id));
  EXPECT_FALSE(clock.Cancel(id));
  EXPECT_FALSE(clock.Cancel(12345));
  clock.Advance(seconds(10));
  EXPECT_EQ(runs, 0);

  Timers::TimerId ran = clock.ScheduleAt(At(12), [&] { ++runs; });
  clock.Advance(seconds(5));
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(clock.Cancel(ran));
}

TEST(ManualClockTest, CallbacksMayScheduleWithinTheSameAdvance) {
  ManualClock clock(At(0));
  std::vector<int64_t> fired;
  std::function<void()> tick = [&] {
    fired.push_back(ToUnixNanos(clock.Now()) / 1'000'000'000);
    if (fired.size() < 5) clock.ScheduleAt(clock.Now() + seconds(10), tick);
  };
  clock.ScheduleAt(At(10), tick);
  clock.Advance(seconds(35));
  EXPECT_THAT(fired, ElementsAre(10, 20, 30));
  clock.Advance(seconds(100));
  EXPECT_THAT(fired, ElementsAre(10, 20, 30, 40, 50));
}

TEST(ManualClockTest, PastDueRunsAtCurrentTimeNeverInline) {
  ManualClock clock(At(50));
  Time seen;
  clock.ScheduleAt(At(10), [&] { seen = clock.Now(); });
  EXPECT_EQ(seen, Time());  // not inline
  clock.Advance(Duration::zero());
  EXPECT_EQ(seen, At(50));

  clock.AdvanceTo(At(40));  // never backwards
  EXPECT_EQ(clock.Now(), At(50));
  clock.Advance(-seconds(5));
  EXPECT_EQ(clock.Now(), At(50));
}

// ---------------------------------------------------------------------------------------------
// Value helpers and spellings

TEST(CommonTest, ObjectRefKey) {
  EXPECT_EQ((ObjectRef{"default", "web"}).Key(), "default/web");
  EXPECT_EQ((ObjectRef{"", "cluster-template"}).Key(), "cluster-template");
  EXPECT_LT((ObjectRef{"a", "z"}), (ObjectRef{"b", "a"}));
  EXPECT_EQ(EventTypeName(EventType::kNormal), "Normal");
  EXPECT_EQ(EventTypeName(EventType::kWarning), "Warning");
}

TEST(PlatformTest, RevisionCounts) {
  RevisionStatus r;
  r.hash = "abc";
  r.desired_replicas = 4;
  r.instances = {
      {.id = "1", .state = InstanceState::kReady, .ready_since = At(100)},
      {.id = "2", .state = InstanceState::kReady, .ready_since = At(125)},
      {.id = "3", .state = InstanceState::kStarting},
      {.id = "4", .state = InstanceState::kTerminating},
      {.id = "5", .state = InstanceState::kFailed, .message = "exit status 1"},
  };
  EXPECT_EQ(r.Current(), 4);
  EXPECT_EQ(r.Ready(), 2);
  EXPECT_EQ(r.Available(At(130), Duration::zero()), 2);
  EXPECT_EQ(r.Available(At(130), seconds(10)), 1);
  EXPECT_EQ(r.Available(At(135), seconds(10)), 2);  // exactly minReadySeconds counts
  EXPECT_EQ(r.Available(At(105), seconds(10)), 0);
  EXPECT_EQ(InstanceStateName(InstanceState::kTerminating), "Terminating");
}

TEST(TrafficRouterTest, Spellings) {
  EXPECT_EQ(StringMatchKindName(StringMatch::Kind::kPrefix), "prefix");
  EXPECT_EQ(ServiceRoleName(ServiceRole::kPreview), "preview");
  EXPECT_EQ(WeightVerificationName(WeightVerification::kNotSupported), "NotSupported");
  HeaderRoute a{"r", {{"x-canary", {StringMatch::Kind::kExact, "yes"}}}};
  HeaderRoute b = a;
  EXPECT_EQ(a, b);
  b.matches[0].header_value.kind = StringMatch::Kind::kRegex;
  EXPECT_NE(a, b);
}

TEST(MetricProviderTest, PhasesRoundTrip) {
  for (AnalysisPhase p :
       {AnalysisPhase::kPending, AnalysisPhase::kRunning, AnalysisPhase::kSuccessful,
        AnalysisPhase::kFailed, AnalysisPhase::kError, AnalysisPhase::kInconclusive}) {
    EXPECT_EQ(ParseAnalysisPhase(AnalysisPhaseName(p)), p);
  }
  EXPECT_FALSE(ParseAnalysisPhase("successful").has_value());
  EXPECT_FALSE(IsTerminal(AnalysisPhase::kPending));
  EXPECT_FALSE(IsTerminal(AnalysisPhase::kRunning));
  EXPECT_TRUE(IsTerminal(AnalysisPhase::kSuccessful));
  EXPECT_TRUE(IsTerminal(AnalysisPhase::kFailed));
  EXPECT_TRUE(IsTerminal(AnalysisPhase::kError));
  EXPECT_TRUE(IsTerminal(AnalysisPhase::kInconclusive));
}

TEST(MetricProviderTest, UpdateConstructorsSetPhases) {
  Measurement m;
  m.started_at = At(1);
  auto value = std::make_shared<const nlohmann::json>(nlohmann::json::array({0.99, 0.98}));
  MeasurementUpdate v = MeasurementUpdate::Value(m, value);
  EXPECT_EQ(v.kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(v.measurement.phase, AnalysisPhase::kPending);
  ASSERT_NE(v.result, nullptr);
  EXPECT_EQ((*v.result)[1].get<double>(), 0.98);

  MeasurementUpdate r = MeasurementUpdate::Running(m, At(60));
  EXPECT_EQ(r.kind, MeasurementUpdate::Kind::kRunning);
  EXPECT_EQ(r.measurement.phase, AnalysisPhase::kRunning);
  EXPECT_EQ(r.measurement.resume_at, At(60));

  MeasurementUpdate e = MeasurementUpdate::Error(m, "connection refused");
  EXPECT_EQ(e.kind, MeasurementUpdate::Kind::kError);
  EXPECT_EQ(e.measurement.phase, AnalysisPhase::kError);
  EXPECT_EQ(e.measurement.message, "connection refused");
  EXPECT_EQ(e.result, nullptr);

  m.phase = AnalysisPhase::kInconclusive;
  MeasurementUpdate j = MeasurementUpdate::Judged(m);
  EXPECT_EQ(j.kind, MeasurementUpdate::Kind::kJudged);
  EXPECT_EQ(j.measurement.phase, AnalysisPhase::kInconclusive);
}

TEST(HookTest, TypesRoundTrip) {
  for (HookType t : {HookType::kConfirmRollout, HookType::kPreRollout, HookType::kRollout,
                     HookType::kConfirmTrafficIncrease, HookType::kConfirmPromotion,
                     HookType::kPostRollout, HookType::kRollback, HookType::kEvent}) {
    EXPECT_EQ(ParseHookType(HookTypeName(t)), t);
  }
  EXPECT_EQ(ParseHookType(""), HookType::kRollout);  // Flagger's default type
  EXPECT_EQ(HookTypeName(HookType::kConfirmTrafficIncrease), "confirm-traffic-increase");
  EXPECT_FALSE(ParseHookType("confirm_promotion").has_value());
  EXPECT_EQ(HookVerdictName(HookVerdict::kDenied), "Denied");
  EXPECT_EQ(HookCall().timeout, seconds(10));
}

TEST(HttpClientTest, FindHeaderIsCaseInsensitive) {
  HttpHeaders h = {{"Content-Type", "application/json"}, {"X-A", "1"}, {"x-a", "2"}};
  ASSERT_NE(FindHeader(h, "content-type"), nullptr);
  EXPECT_EQ(*FindHeader(h, "content-type"), "application/json");
  EXPECT_EQ(*FindHeader(h, "X-a"), "1");  // the first of repeated names
  EXPECT_EQ(FindHeader(h, "Content-Length"), nullptr);
  EXPECT_EQ(FindHeader(h, "X-"), nullptr);
}

TEST(EngineTypesTest, IntentNames) {
  using namespace engine;  // NOLINT(google-build-using-namespace)
  std::vector<Intent> intents = {
      ScaleRevision{.hash = "abc", .replicas = 2},
      DeleteRevision{.hash = "old"},
      SetWeight{.weight = 20},
      VerifyWeight{.weight = 20},
      SetHeaderRoute{},
      SetMirrorRoute{},
      RemoveManagedRoutes{},
      SwitchService{.role = ServiceRole::kActive, .hash = "abc"},
      StartAnalysisRun{.run = "web-abc-2", .kind = AnalysisRunKind::kBackground},
      TerminateAnalysisRun{.run = "web-abc-2"},
      Measure{.run = "web-abc-2", .metric = "success-rate"},
      CallHook{.id = "confirm-promotion/gate/123"},
      EmitEvent{.reason = std::string(reason::kRolloutStepCompleted),
                .message = "Rollout step 1/4 completed (setWeight: 20)"},
  };
  std::vector<std::string_view> names;
  for (const Intent& i : intents) names.push_back(IntentName(i));
  EXPECT_THAT(names, ElementsAre("ScaleRevision", "DeleteRevision", "SetWeight", "VerifyWeight",
                                 "SetHeaderRoute", "SetMirrorRoute", "RemoveManagedRoutes",
                                 "SwitchService", "StartAnalysisRun", "TerminateAnalysisRun",
                                 "Measure", "CallHook", "EmitEvent"));
  EXPECT_EQ(intents[0], Intent(ScaleRevision{.hash = "abc", .replicas = 2}));
  EXPECT_NE(intents[0], Intent(ScaleRevision{.hash = "abc", .replicas = 3}));
  EXPECT_EQ(AnalysisRunKindName(AnalysisRunKind::kPrePromotion), "PrePromotion");
  EXPECT_EQ(MeasureActionName(MeasureAction::kGarbageCollect), "GarbageCollect");
}

// ---------------------------------------------------------------------------------------------
// Every interface can be implemented and built through a registry. These in-memory fakes answer
// inline, which the asynchronous contract allows.

class FakeRouter final : public TrafficRouter {
 public:
  explicit FakeRouter(const RouterContext& ctx) : max_weight_(ctx.max_weight) {}
  std::string_view Type() const override { return "fake"; }
  void SetWeight(int32_t weight, const std::vector<WeightDestination>&,
                 StatusCallback done) override {
    if (weight < 0 || weight > max_weight_) {
      return done(InvalidArgumentError("weight " + std::to_string(weight) + " out of range"));
    }
    weight_ = weight;
    done(OkStatus());
  }
  void SetHeaderRoute(const HeaderRoute&, StatusCallback done) override { done(OkStatus()); }
  void SetMirrorRoute(const MirrorRoute&, StatusCallback done) override {
    done(UnimplementedError("fake: mirror routes are not supported"));
  }
  void RemoveManagedRoutes(StatusCallback done) override { done(OkStatus()); }
  void SwitchService(ServiceRole, std::string_view, StatusCallback done) override {
    done(OkStatus());
  }
  void SetRevisionEndpoints(std::string_view, const std::vector<std::string>&,
                            StatusCallback done) override {
    done(OkStatus());
  }
  void VerifyWeight(int32_t weight, const std::vector<WeightDestination>&,
                    StatusOrCallback<WeightCheck> done) override {
    WeightCheck c;
    c.verification =
        weight == weight_ ? WeightVerification::kVerified : WeightVerification::kNotVerified;
    c.observed_weight = weight_;
    done(c);
  }

 private:
  int32_t max_weight_;
  int32_t weight_ = 0;
};

TEST(InterfacesTest, RouterThroughRegistry) {
  Registry<TrafficRouter, const RouterContext&> routers("traffic router");
  ASSERT_TRUE(
      routers
          .Register("fake",
                    [](const RouterContext& ctx) -> StatusOr<std::unique_ptr<TrafficRouter>> {
                      return std::make_unique<FakeRouter>(ctx);
                    })
          .ok());
  RouterContext ctx;
  ctx.rollout = {"default", "web"};
  ctx.max_weight = 50;
  auto router = routers.Create("fake", ctx);
  ASSERT_TRUE(router.has_value());

  Status set;
  (*router)->SetWeight(60, {}, [&](Status s) { set = std::move(s); });
  EXPECT_EQ(set.code(), StatusCode::kInvalidArgument);
  (*router)->SetWeight(30, {}, [&](Status s) { set = std::move(s); });
  EXPECT_TRUE(set.ok());
  (*router)->SetMirrorRoute({}, [&](Status s) { set = std::move(s); });
  EXPECT_EQ(set.code(), StatusCode::kUnimplemented);

  std::optional<WeightCheck> check;
  (*router)->VerifyWeight(30, {}, [&](StatusOr<WeightCheck> c) { check = *c; });
  ASSERT_TRUE(check.has_value());
  EXPECT_EQ(check->verification, WeightVerification::kVerified);
  EXPECT_EQ(check->observed_weight, 30);
}

class FakeProvider final : public MetricProvider {
 public:
  std::string_view Type() const override { return "fake"; }
  void Run(const RunContext& ctx, const MetricRef&, MeasurementCallback done) override {
    Measurement m;
    m.started_at = ctx.now;
    done(MeasurementUpdate::Running(std::move(m), ctx.now + seconds(15)));
  }
  void Resume(const RunContext& ctx, const MetricRef&, const Measurement& in_flight,
              MeasurementCallback done) override {
    Measurement m = in_flight;
    m.finished_at = ctx.now;
    m.value = "1";
    m.resume_at.reset();
    done(MeasurementUpdate::Value(std::move(m), std::make_shared<const nlohmann::json>(1)));
  }
  void Terminate(const RunContext& ctx, const MetricRef&, const Measurement& in_flight,
                 MeasurementCallback done) override {
    Measurement m = in_flight;
    m.phase = AnalysisPhase::kInconclusive;
    m.finished_at = ctx.now;
    done(MeasurementUpdate::Judged(std::move(m)));
  }
  void GarbageCollect(const RunContext&, const MetricRef&, int32_t, StatusCallback done) override {
    done(OkStatus());
  }
  std::map<std::string, std::string> Metadata(const MetricRef& metric) const override {
    return {{"metric", metric.name}};
  }
};

TEST(InterfacesTest, AsynchronousProviderRunThenResume) {
  FakeProvider provider;
  RunContext ctx;
  ctx.run = {"default", "web-abc-2"};
  ctx.now = At(100);
  MetricRef metric{.name = "success-rate", .provider_type = "fake"};

  std::optional<MeasurementUpdate> first;
  provider.Run(ctx, metric, [&](MeasurementUpdate u) { first = std::move(u); });
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->kind, MeasurementUpdate::Kind::kRunning);
  EXPECT_EQ(first->measurement.resume_at, At(115));

  ctx.now = At(115);
  std::optional<MeasurementUpdate> second;
  provider.Resume(ctx, metric, first->measurement,
                  [&](MeasurementUpdate u) { second = std::move(u); });
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->kind, MeasurementUpdate::Kind::kValue);
  EXPECT_EQ(second->measurement.finished_at, At(115));
  EXPECT_EQ(*second->result, nlohmann::json(1));
  EXPECT_EQ(provider.Metadata(metric).at("metric"), "success-rate");
}

// The remaining interfaces only need to be implementable (all pure virtuals overridden).
class NullPlatform final : public Platform {
 public:
  std::string_view Type() const override { return "null"; }
  void EnsureRevision(const RevisionSpec&, int32_t, StatusCallback done) override {
    done(UnimplementedError("null: cannot run anything"));
  }
  void ScaleRevision(const ObjectRef&, std::string_view, int32_t, StatusCallback done) override {
    done(UnimplementedError("null: cannot scale"));
  }
  void RestartInstance(const ObjectRef&, std::string_view, std::string_view,
                       StatusCallback done) override {
    done(NotFoundError("null: no instances"));
  }
  void DeleteRevision(const ObjectRef&, std::string_view, StatusCallback done) override {
    done(OkStatus());
  }
  void ListRevisions(const ObjectRef&,
                     StatusOrCallback<std::vector<RevisionStatus>> done) override {
    done(std::vector<RevisionStatus>{});
  }
  StatusOr<std::unique_ptr<Subscription>> Watch(std::function<void(const ObjectRef&)>) override {
    return Fail(UnimplementedError("null: no change notifications"));
  }
};

class NullHook final : public Hook {
 public:
  std::string_view Type() const override { return "null"; }
  void Call(const HookCall&, HookCallback done) override {
    done({HookVerdict::kAllowed, "", 200, 1});
  }
};

class NullStore final : public StateStore {
 public:
  std::string_view Type() const override { return "null"; }
  void Get(std::string_view, const ObjectRef& ref, StatusOrCallback<StoredObject> done) override {
    done(Fail(NotFoundError(ref.Key() + " not found")));
  }
  void List(std::string_view, std::string_view,
            StatusOrCallback<std::vector<StoredObject>> done) override {
    done(std::vector<StoredObject>{});
  }
  void Put(const StoredObject&, int64_t, StatusOrCallback<int64_t> done) override { done(1); }
  void PutStatus(std::string_view, const ObjectRef&, std::string, int64_t,
                 StatusOrCallback<int64_t> done) override {
    done(Fail(NotFoundError("absent")));
  }
  void Delete(std::string_view, const ObjectRef&, int64_t, StatusCallback done) override {
    done(NotFoundError("absent"));
  }
  void AppendEvent(const StoredEvent&, StatusCallback done) override { done(OkStatus()); }
  void ListEvents(std::string_view, const ObjectRef&, size_t,
                  StatusOrCallback<std::vector<StoredEvent>> done) override {
    done(std::vector<StoredEvent>{});
  }
  StatusOr<std::unique_ptr<Subscription>> Watch(std::string_view,
                                                std::function<void(const StoreChange&)>) override {
    return Fail(UnimplementedError("null: no watch"));
  }
};

class NullHttp final : public HttpClient {
 public:
  void Send(HttpRequest request, HttpCallback done) override {
    done(Fail(UnavailableError(request.method + " " + request.url + ": connection refused")));
  }
};

TEST(InterfacesTest, EveryInterfaceIsImplementable) {
  Registry<Platform> platforms("platform");
  ASSERT_TRUE(platforms
                  .Register("null",
                            []() -> StatusOr<std::unique_ptr<Platform>> {
                              return std::make_unique<NullPlatform>();
                            })
                  .ok());
  auto platform = platforms.Create("null");
  ASSERT_TRUE(platform.has_value());
  EXPECT_EQ((*platform)->Watch(nullptr).error().code(), StatusCode::kUnimplemented);

  Status hook_status;
  HookResult hook_result;
  NullHook().Call(HookCall{}, [&](HookResult r) { hook_result = std::move(r); });
  EXPECT_EQ(hook_result.verdict, HookVerdict::kAllowed);

  NullStore store;
  StatusOr<StoredObject> got = StoredObject{};
  store.Get(kKindRollout, {"default", "web"},
            [&](StatusOr<StoredObject> o) { got = std::move(o); });
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().message(), "default/web not found");
  EXPECT_EQ(StoredObject().version, kNoVersion);

  StatusOr<HttpResponse> response = HttpResponse{};
  NullHttp().Send({.method = "GET", .url = "http://127.0.0.1:1/"},
                  [&](StatusOr<HttpResponse> r) { response = std::move(r); });
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(HttpRequest().timeout, seconds(30));
}

}  // namespace
}  // namespace ramp
