#include "engine/replica_math.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ramp::engine {
namespace {

using spec::IntOrString;

IntOrString Int(int32_t v) { return IntOrString::Int(v); }
IntOrString Str(const char* s) { return IntOrString::Str(s); }

// A canary with one step {setWeight: weight, setCanaryScale: scs}, status current "canary",
// stable "stable" (the shape of Argo's canary_test.go fixtures).
spec::RolloutSpec Canary(int32_t replicas, int32_t weight, IntOrString surge,
                         IntOrString unavailable) {
  spec::RolloutSpec s;
  s.replicas = replicas;
  s.canary.emplace();
  s.canary->max_surge = surge;
  s.canary->max_unavailable = unavailable;
  spec::CanaryStep step;
  step.set_weight = weight;
  s.canary->steps.push_back(step);
  return s;
}

CanaryState State() {
  CanaryState st;
  st.stable_rs = "stable";
  st.current_pod_hash = "canary";
  return st;
}

ReplicaSetInfo Rs(const char* hash, int32_t replicas, int32_t available) {
  ReplicaSetInfo rs;
  rs.hash = hash;
  rs.replicas = replicas;
  rs.available = available;
  return rs;
}

TEST(ResolveFenceposts, RoundingAndZeroRule) {
  EXPECT_EQ(ResolveFenceposts(Str("25%"), Str("25%"), 10), (Fenceposts{3, 2}));
  EXPECT_EQ(ResolveFenceposts(Str("25"), Str("25"), 10), (Fenceposts{3, 2}));  // bare = percent
  EXPECT_EQ(ResolveFenceposts(Str("0%"), Str("0%"), 10), (Fenceposts{0, 1}));
  EXPECT_EQ(ResolveFenceposts(Int(0), Str("1%"), 2), (Fenceposts{0, 1}));
  EXPECT_EQ(ResolveFenceposts(Str("1%"), Str("25%"), 2), (Fenceposts{1, 0}));
  EXPECT_EQ(ResolveFenceposts(std::nullopt, std::nullopt, 5), (Fenceposts{0, 1}));
  EXPECT_EQ(ResolveFenceposts(Str("x%"), Int(1), 5), std::nullopt);
}

TEST(MaxSurgeUnavailable, DefaultsAndCaps) {
  spec::RolloutSpec s;
  s.replicas = 10;
  s.canary.emplace();
  EXPECT_EQ(MaxSurge(s), 3);
  EXPECT_EQ(MaxUnavailable(s), 2);
  s.canary->max_unavailable = Int(20);
  EXPECT_EQ(MaxUnavailable(s), 10);  // capped at replicas
  s.replicas = 0;
  EXPECT_EQ(MaxUnavailable(s), 0);

  spec::RolloutSpec bg;
  bg.replicas = 10;
  bg.blue_green.emplace();
  EXPECT_EQ(MaxSurge(bg), 0);
  EXPECT_EQ(MaxUnavailable(bg), 2);
  bg.blue_green->max_unavailable = Str("0%");
  EXPECT_EQ(MaxUnavailable(bg), 0);  // no fencepost rule for blue-green
}

struct ApproxCase {
  int32_t replicas, weight, surge, canary, stable;
};

TEST(ApproximateWeightedCanaryStableReplicaCounts, ArgoTable) {
  const std::vector<ApproxCase> cases = {
      {0, 50, 0, 0, 0},  {0, 100, 1, 0, 0}, {1, 0, 0, 0, 1},    {1, 1, 0, 0, 1},
      {1, 49, 0, 0, 1},  {1, 50, 0, 1, 0},  {1, 99, 0, 1, 0},   {1, 100, 0, 1, 0},
      {1, 0, 1, 0, 1},   {1, 1, 1, 1, 1},   {1, 50, 1, 1, 1},   {1, 99, 1, 1, 1},
      {1, 100, 1, 1, 0}, {2, 1, 0, 1, 1},   {2, 99, 0, 1, 1},   {2, 100, 0, 2, 0},
      {2, 1, 1, 1, 2},   {2, 50, 1, 1, 1},  {2, 99, 1, 2, 1},   {3, 10, 0, 1, 2},
      {3, 49, 0, 1, 2},  {3, 50, 0, 2, 1},  {3, 10, 1, 1, 3},   {3, 25, 1, 1, 3},
      {3, 33, 1, 1, 2},  {3, 49, 1, 2, 2},  {3, 50, 1, 2, 2},   {10, 0, 1, 0, 10},
      {10, 1, 0, 1, 9},  {10, 14, 0, 1, 9}, {10, 15, 0, 2, 8},  {10, 99, 0, 9, 1},
      {10, 1, 1, 1, 10}, {10, 18, 1, 2, 9}, {10, 20, 1, 2, 8},  {10, 23, 1, 2, 8},
      {10, 24, 1, 3, 8}, {10, 25, 1, 3, 8}, {10, 99, 1, 10, 1}, {10, 100, 1, 10, 0},
  };
  for (const ApproxCase& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << "replicas " << c.replicas << " weight " << c.weight << " surge " << c.surge);
    EXPECT_EQ(ApproximateWeightedCanaryStableReplicaCounts(c.replicas, c.weight, 100, c.surge),
              (CanaryReplicaCounts{c.canary, c.stable}));
  }
}

struct BasicCase {
  const char* name;
  int32_t replicas;
  int32_t weight;
  IntOrString surge;
  IntOrString unavailable;
  int32_t stable_replicas, stable_available, canary_replicas, canary_available;
  int32_t want_stable, want_canary;
  std::optional<ReplicaSetInfo> older;
  bool promote_full = false;
};

TEST(CalculateReplicaCountsForBasicCanary, ArgoTable) {
  const std::vector<BasicCase> cases = {
      {"spec below available is not counted", 10, 100, Int(3), Int(0), 7, 8, 6, 3, 7, 6, {}},
      {"surge int scales up canary", 10, 20, Int(2), Int(0), 10, 10, 0, 0, 10, 2, {}},
      {"surge percent scales up canary", 10, 20, Str("20%"), Int(0), 10, 10, 0, 0, 10, 2, {}},
      {"scale down extra stable", 10, 20, Str("20%"), Int(0), 10, 10, 2, 2, 8, 2, {}},
      {"do not pass max surge", 10, 30, Int(2), Int(0), 10, 10, 0, 0, 10, 2, {}},
      {"unavailable int scales down stable", 10, 20, Int(0), Int(2), 10, 10, 0, 0, 8, 0, {}},
      {"unavailable percent", 10, 20, Int(0), Str("20%"), 10, 10, 0, 0, 8, 0, {}},
      {"do not pass max unavailable", 10, 30, Int(0), Int(2), 10, 10, 0, 0, 8, 0, {}},
      {"surge and unavailable", 10, 50, Int(2), Int(1), 10, 10, 0, 0, 9, 2, {}},
      {"weight 0 scales canary to 0", 10, 0, Int(1), Int(1), 10, 10, 1, 1, 10, 0, {}},
      {"weight 100 scales stable to 0", 10, 100, Int(1), Int(1), 1, 1, 10, 10, 0, 10, {}},
      {"no zero canary on small weight", 1, 20, Int(1), Int(0), 1, 1, 0, 0, 1, 1, {}},
      {"no zero canary on 90", 1, 90, Int(1), Int(0), 1, 1, 0, 0, 1, 1, {}},
      {"zero canary below 50 without surge", 1, 49, Int(0), Int(1), 1, 1, 0, 0, 1, 0, {}},
      {"stable to 0 at 51 without surge", 1, 51, Int(0), Int(1), 1, 1, 0, 0, 0, 0, {}},
      {"canary to 1 at 51 once stable is 0", 1, 51, Int(0), Int(1), 0, 0, 0, 0, 0, 1, {}},
      {"stable before canary", 10, 30, Int(1), Int(0), 1, 1, 0, 0, 7, 1, Rs("older", 3, 3)},
      {"scale down canary and stable", 10, 30, Int(0), Int(3), 8, 5, 4, 4, 7, 3, {}},
      {"scale down stable, canary available", 10, 100, Int(1), Int(0), 10, 2, 10, 8, 2, 9, {}},
      {"older first", 10, 30, Int(0), Int(1), 8, 6, 4, 2, 8, 4, Rs("older", 3, 3)},
      {"uneven divisor", 10, 5, Int(0), Int(1), 10, 10, 0, 0, 9, 0, {}},
      {"uneven divisor 2", 10, 5, Int(0), Int(1), 9, 9, 0, 0, 9, 1, {}},
      {"both 0% => unavailable 1", 10, 10, Str("0%"), Str("0%"), 10, 10, 0, 0, 9, 0, {}},
      {"surge while stable unavailable", 4, 100, Int(1), Int(0), 4, 1, 0, 0, 4, 1, {}},
      {"unavailable without surge", 3, 99, Int(0), Int(2), 3, 3, 0, 0, 1, 0, {}},
      {"unavailable without surge 2", 3, 99, Int(0), Int(2), 1, 1, 0, 0, 1, 2, {}},
      {"scale down unavailable stable", 4, 100, Int(1), Int(0), 4, 1, 1, 1, 3, 1, {}},
      {"reducing weight 1", 4, 0, Int(1), Int(0), 0, 0, 4, 4, 1, 4, {}},
      {"reducing weight 2", 4, 0, Int(1), Int(0), 1, 0, 4, 4, 1, 4, {}},
      {"reducing weight 3", 4, 0, Int(1), Int(0), 1, 1, 4, 4, 1, 3, {}},
      {"promote full ignores weight", 4, 1, Int(4), Int(4), 4, 4, 0, 0, 0, 4, {}, true},
      {"promote full honors limits", 4, 1, Int(3), Int(0), 4, 4, 0, 0, 4, 3, {}, true},
  };
  for (const BasicCase& c : cases) {
    SCOPED_TRACE(c.name);
    spec::RolloutSpec s = Canary(c.replicas, c.weight, c.surge, c.unavailable);
    CanaryState st = State();
    st.promote_full = c.promote_full;
    CanaryReplicaSets sets;
    sets.new_rs = Rs("canary", c.canary_replicas, c.canary_available);
    sets.stable_rs = Rs("stable", c.stable_replicas, c.stable_available);
    if (c.older) sets.older.push_back(*c.older);
    EXPECT_EQ(CalculateReplicaCountsForBasicCanary(s, st, sets),
              (CanaryReplicaCounts{c.want_canary, c.want_stable}));
    EXPECT_EQ(CalculateReplicaCountsForCanary(s, st, sets),
              (CanaryReplicaCounts{c.want_canary, c.want_stable}));
  }
}

TEST(CalculateReplicaCountsForBasicCanary, NoDistinctStableGoesAllToNew) {
  spec::RolloutSpec s = Canary(10, 10, Int(0), Int(1));
  CanaryReplicaSets sets;
  sets.new_rs = Rs("stable", 10, 0);
  sets.stable_rs = Rs("stable", 10, 0);
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(s, State(), sets), (CanaryReplicaCounts{10, 0}));
  sets.new_rs = Rs("stable", 9, 9);
  sets.stable_rs.reset();
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(s, State(), sets), (CanaryReplicaCounts{10, 0}));
  sets.stable_rs = sets.new_rs;
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(s, State(), sets), (CanaryReplicaCounts{10, 0}));
}

TEST(CalculateReplicaCountsForBasicCanary, SourceCommentExamples) {
  CanaryReplicaSets sets;
  sets.new_rs = Rs("canary", 0, 0);
  sets.stable_rs = Rs("stable", 10, 10);
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(Canary(10, 10, Int(1), Int(1)), State(), sets),
            (CanaryReplicaCounts{1, 9}));
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(Canary(10, 30, Int(3), Int(0)), State(), sets),
            (CanaryReplicaCounts{3, 10}));
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(Canary(10, 30, Int(0), Int(5)), State(), sets),
            (CanaryReplicaCounts{0, 7}));
  // Argo's comment says 1/9 here, but its code surges: 1 of 11 (9.1%) is nearer 5% than 1 of 10.
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(Canary(10, 5, Int(1), Int(1)), State(), sets),
            (CanaryReplicaCounts{1, 10}));
  sets.stable_rs = Rs("stable", 1, 1);
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(Canary(1, 5, Int(1), Int(0)), State(), sets),
            (CanaryReplicaCounts{1, 1}));
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(Canary(1, 95, Int(1), Int(0)), State(), sets),
            (CanaryReplicaCounts{1, 1}));
}

// A canary without steps is a rolling update: 25%/25% of 10 moves 3 up, 2 down, and converges.
TEST(CalculateReplicaCountsForBasicCanary, NoStepsIsARollingUpdate) {
  spec::RolloutSpec s;
  s.replicas = 10;
  s.canary.emplace();
  CanaryReplicaSets sets;
  sets.new_rs = Rs("canary", 0, 0);
  sets.stable_rs = Rs("stable", 10, 10);
  EXPECT_EQ(CurrentSetWeight(s, State()), 100);
  EXPECT_EQ(CalculateReplicaCountsForBasicCanary(s, State(), sets), (CanaryReplicaCounts{3, 8}));
  for (int i = 0; i < 20; ++i) {
    CanaryReplicaCounts c = CalculateReplicaCountsForBasicCanary(s, State(), sets);
    EXPECT_LE(c.new_rs + c.stable_rs, 13);
    sets.new_rs = Rs("canary", c.new_rs, c.new_rs);  // every pod becomes available
    sets.stable_rs = Rs("stable", c.stable_rs, c.stable_rs);
  }
  EXPECT_EQ(sets.new_rs->replicas, 10);
  EXPECT_EQ(sets.stable_rs->replicas, 0);
}

TEST(CalculateReplicaCountsForTrafficRoutedCanary, ArgoCases) {
  auto routed = [](int32_t replicas, int32_t weight) {
    spec::RolloutSpec s = Canary(replicas, weight, Int(0), Int(1));
    s.canary->traffic_routing.emplace();
    return s;
  };
  CanaryReplicaSets none;
  EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(routed(10, 10), State(), none),
            (CanaryReplicaCounts{1, 10}));

  spec::RolloutSpec s = routed(1, 100);
  s.canary->steps[0].set_canary_scale = spec::SetCanaryScale{std::nullopt, 9, false};
  EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(s, State(), none),
            (CanaryReplicaCounts{9, 1}));
  s = routed(4, 100);
  s.canary->steps[0].set_canary_scale = spec::SetCanaryScale{200, std::nullopt, false};
  EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(s, State(), none),
            (CanaryReplicaCounts{8, 4}));
  s = routed(10, 20);
  s.canary->steps[0].set_canary_scale = spec::SetCanaryScale{100, 9, true};
  EXPECT_EQ(CalculateReplicaCountsForCanary(s, State(), none), (CanaryReplicaCounts{2, 10}));
  // Without routing setCanaryScale is ignored.
  spec::RolloutSpec basic = Canary(10, 20, Str("20%"), Int(0));
  basic.canary->steps[0].set_canary_scale = spec::SetCanaryScale{100, 9, false};
  CanaryReplicaSets sets;
  sets.new_rs = Rs("canary", 0, 0);
  sets.stable_rs = Rs("stable", 10, 10);
  EXPECT_EQ(CalculateReplicaCountsForCanary(basic, State(), sets), (CanaryReplicaCounts{2, 10}));

  // Aborted: setCanaryScale kept only with abortScaleDownDelaySeconds: 0.
  CanaryState aborted = State();
  aborted.abort = true;
  s = routed(1, 0);
  s.canary->steps[0].set_canary_scale = spec::SetCanaryScale{std::nullopt, 1, false};
  s.canary->abort_scale_down_delay_seconds = 0;
  EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(s, aborted, none),
            (CanaryReplicaCounts{1, 1}));
  s.canary->abort_scale_down_delay_seconds = 30;
  EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(s, aborted, none),
            (CanaryReplicaCounts{0, 1}));

  // minPodsPerReplicaSet, capped at spec.replicas.
  s = routed(10, 5);
  s.canary->min_pods_per_replica_set = 2;
  EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(s, State(), none),
            (CanaryReplicaCounts{2, 10}));
  s = routed(1, 100);
  s.canary->min_pods_per_replica_set = 2;
  CanaryState full = State();
  full.promote_full = true;
  EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(s, full, none),
            (CanaryReplicaCounts{1, 1}));
}

struct DynamicCase {
  const char* name;
  int32_t replicas, weight;
  bool abort;
  bool extra_step_60;
  int32_t canary_weight, stable_weight;
  int32_t canary_replicas, stable_replicas, stable_available;  // 0 replicas: RS absent
  int32_t want_canary, want_stable;
};

TEST(CalculateReplicaCountsForTrafficRoutedCanary, DynamicStableScale) {
  const std::vector<DynamicCase> cases = {
      {"abort: stable up to next step down", 10, 20, true, true, 60, 40, 6, 4, 4, 6, 8},
      {"abort: few canaries available", 10, 20, true, true, 60, 40, 1, 4, 4, 6, 8},
      {"abort: stable available counts", 10, 20, true, true, 60, 40, 2, 8, 4, 6, 8},
      {"abort: no revisions", 10, 20, true, true, 60, 40, 0, 0, 0, 6, 10},
      {"scale down stable", 10, 10, false, false, 10, 90, 0, 0, 0, 1, 9},
      {"desired canary above actual", 10, 20, false, false, 10, 90, 0, 0, 0, 2, 9},
      {"abort keeps canary with traffic", 10, 20, true, false, 20, 80, 0, 0, 0, 2, 10},
      {"abort reduces canary with traffic", 10, 20, true, false, 10, 90, 0, 0, 0, 1, 10},
  };
  for (const DynamicCase& c : cases) {
    SCOPED_TRACE(c.name);
    spec::RolloutSpec s = Canary(c.replicas, c.weight, Int(0), Int(1));
    s.canary->traffic_routing.emplace();
    s.canary->dynamic_stable_scale = true;
    if (c.extra_step_60) {
      spec::CanaryStep step;
      step.set_weight = 60;
      s.canary->steps.push_back(step);
    }
    CanaryState st = State();
    st.abort = c.abort;
    st.weights = TrafficWeights{c.canary_weight, c.stable_weight};
    CanaryReplicaSets sets;
    if (c.canary_replicas > 0) sets.new_rs = Rs("canary", c.canary_replicas, c.canary_replicas);
    if (c.stable_replicas > 0) sets.stable_rs = Rs("stable", c.stable_replicas, c.stable_available);
    EXPECT_EQ(CalculateReplicaCountsForTrafficRoutedCanary(s, st, sets),
              (CanaryReplicaCounts{c.want_canary, c.want_stable}));
  }
}

TEST(CurrentSetWeight, WalksBack) {
  spec::RolloutSpec s = Canary(10, 10, Int(1), Int(0));
  spec::CanaryStep pause;
  pause.pause.emplace();
  s.canary->steps.push_back(pause);
  CanaryState st = State();
  st.current_step_index = 1;
  EXPECT_EQ(CurrentSetWeight(s, st), 10);
  st.current_step_index = 2;
  EXPECT_EQ(CurrentSetWeight(s, st), 100);
  st.abort = true;
  EXPECT_EQ(CurrentSetWeight(s, st), 0);
  s.canary->steps.erase(s.canary->steps.begin());
  st = State();
  EXPECT_EQ(CurrentSetWeight(s, st), 0);
  EXPECT_EQ(TrafficWeightToReplicas(10, 15, 100), 2);
  EXPECT_EQ(TrafficWeightToReplicas(3, 50, 100), 2);
}

TEST(ScaleDownOldReplicaSetsForCanary, BasicCanaryWithinBudget) {
  spec::RolloutSpec s = Canary(10, 100, Int(1), Int(2));
  CanaryReplicaSets sets;
  sets.new_rs = Rs("canary", 10, 10);
  ReplicaSetInfo a = Rs("a", 3, 3);
  a.revision = 1;
  ReplicaSetInfo b = Rs("b", 4, 2);  // two unhealthy instances
  b.revision = 2;
  sets.older = {a, b};
  // Cleanup: b → 2. Budget: available 15 − (10 − 2) = 7; newest first: b 2→0, a 3→0.
  std::vector<OldReplicaSetScale> got = ScaleDownOldReplicaSetsForCanary(s, State(), sets);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (OldReplicaSetScale{"a", 0, false}));
  EXPECT_EQ(got[1], (OldReplicaSetScale{"b", 0, false}));

  sets.new_rs = Rs("canary", 10, 5);  // budget 10 − 8 = 2
  got = ScaleDownOldReplicaSetsForCanary(s, State(), sets);
  EXPECT_EQ(got[1].replicas, 0);
  EXPECT_EQ(got[0].replicas, 3);
}

TEST(ScaleDownOldReplicaSetsForCanary, TrafficRoutedDelays) {
  spec::RolloutSpec s = Canary(4, 100, Int(1), Int(0));
  s.canary->traffic_routing.emplace();
  CanaryState promoted;
  promoted.stable_rs = "new";
  promoted.current_pod_hash = "new";
  CanaryReplicaSets sets;
  sets.new_rs = Rs("new", 4, 4);
  sets.stable_rs = sets.new_rs;
  ReplicaSetInfo old = Rs("old", 4, 4);
  old.revision = 1;
  sets.older = {old};
  EXPECT_EQ(ScaleDownOldReplicaSetsForCanary(s, promoted, sets)[0],
            (OldReplicaSetScale{"old", 4, true}));
  sets.older[0].has_scale_down_deadline = true;
  EXPECT_EQ(ScaleDownOldReplicaSetsForCanary(s, promoted, sets)[0],
            (OldReplicaSetScale{"old", 4, false}));
  sets.older[0].scale_down_deadline_passed = true;
  EXPECT_EQ(ScaleDownOldReplicaSetsForCanary(s, promoted, sets)[0].replicas, 0);
  sets.older[0].referenced = true;
  EXPECT_EQ(ScaleDownOldReplicaSetsForCanary(s, promoted, sets)[0].replicas, 4);
  sets.older[0] = old;
  s.canary->dynamic_stable_scale = true;
  EXPECT_EQ(ScaleDownOldReplicaSetsForCanary(s, promoted, sets)[0].replicas, 0);
  s.canary->dynamic_stable_scale = false;
  s.canary->scale_down_delay_revision_limit = 0;
  EXPECT_EQ(ScaleDownOldReplicaSetsForCanary(s, promoted, sets)[0],
            (OldReplicaSetScale{"old", 0, false}));
  // Mid-update, an intermediate revision without a deadline goes at once.
  s.canary->scale_down_delay_revision_limit.reset();
  CanaryState mid;
  mid.stable_rs = "stable";
  mid.current_pod_hash = "new";
  EXPECT_EQ(ScaleDownOldReplicaSetsForCanary(s, mid, sets)[0].replicas, 0);
}

TEST(BlueGreenNewReplicas, PreviewThenFull) {
  spec::RolloutSpec s;
  s.replicas = 5;
  s.blue_green.emplace();
  BlueGreenState st;
  st.active_selector = "old";
  st.active_rs_exists = true;
  st.current_pod_hash = "new";
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "new"), 5);  // no previewReplicaCount
  s.blue_green->preview_replica_count = 1;
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "new"), 1);
  st.scale_up_preview_checkpoint = true;
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "new"), 5);  // resumed past the checkpoint
  st.has_pause_conditions = true;
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "new"), 1);
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "newer"), 1);  // a new update
  st.promote_full = true;
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "new"), 5);
  st.promote_full = false;
  st.active_selector = "new";
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "new"), 5);  // promoted
  st.active_selector = "old";
  st.active_rs_exists = false;
  EXPECT_EQ(BlueGreenNewReplicas(s, st, "new"), 5);
}

}  // namespace
}  // namespace ramp::engine
