#include "engine/phase.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ramp::engine {
namespace {

spec::RolloutSpec CanarySpec(bool routed) {
  spec::RolloutSpec s;
  s.replicas = 3;
  s.canary.emplace();
  if (routed) s.canary->traffic_routing.emplace();
  return s;
}

// A settled rollout: 3 replicas, all updated and available, stable == current.
PhaseStatus Settled() {
  PhaseStatus st;
  st.replicas = 3;
  st.updated_replicas = 3;
  st.available_replicas = 3;
  st.stable_rs = "abc";
  st.current_pod_hash = "abc";
  st.active_selector = "abc";
  return st;
}

PhaseResult P(RolloutPhase phase, std::string message) { return {phase, std::move(message)}; }

struct PhaseCase {
  const char* name;
  bool routed;
  void (*mutate)(spec::RolloutSpec*, PhaseStatus*);
  PhaseResult want;
};

TEST(CalculateRolloutPhase, CanaryRules) {
  const std::vector<PhaseCase> cases = {
      {"healthy", false, [](spec::RolloutSpec*, PhaseStatus*) {}, P(RolloutPhase::kHealthy, "")},
      {"invalid spec", false,
       [](spec::RolloutSpec* s, PhaseStatus* st) {
         s->paused = true;
         st->conditions.push_back({"InvalidSpec", "True", "InvalidSpec", "bad steps"});
       },
       P(RolloutPhase::kDegraded, "InvalidSpec: bad steps")},
      {"aborted", false,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->conditions.push_back({"Available", "True", "AvailableReason", "ok"});
         st->conditions.push_back(
             {"Progressing", "False", "RolloutAborted", "Rollout aborted update to revision 2"});
         st->pause_reasons.push_back("CanaryPauseStep");
       },
       P(RolloutPhase::kDegraded, "RolloutAborted: Rollout aborted update to revision 2")},
      {"deadline exceeded", false,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->conditions.push_back({"Progressing", "False", "ProgressDeadlineExceeded",
                                   "ReplicaSet \"x\" has timed out progressing."});
       },
       P(RolloutPhase::kDegraded,
         "ProgressDeadlineExceeded: ReplicaSet \"x\" has timed out progressing.")},
      {"first degrading condition wins", false,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->conditions.push_back({"Progressing", "False", "ProgressDeadlineExceeded", "late"});
         st->conditions.push_back({"InvalidSpec", "True", "InvalidSpec", "bad"});
       },
       P(RolloutPhase::kDegraded, "ProgressDeadlineExceeded: late")},
      {"other conditions ignored", false,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->conditions.push_back({"Progressing", "True", "NewReplicaSetAvailable", "done"});
       },
       P(RolloutPhase::kHealthy, "")},
      {"manually paused", false,
       [](spec::RolloutSpec* s, PhaseStatus* st) {
         s->paused = true;
         st->pause_reasons.push_back("CanaryPauseStep");
       },
       P(RolloutPhase::kPaused, "manually paused")},
      {"pause condition", false,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->pause_reasons = {"InconclusiveAnalysisRun", "CanaryPauseStep"};
       },
       P(RolloutPhase::kPaused, "InconclusiveAnalysisRun")},
      {"restarting", false,
       [](spec::RolloutSpec* s, PhaseStatus* st) {
         s->restart_at = "2024-01-01T00:00:00Z";
         st->restarted_at = "2023-01-01T00:00:00Z";
       },
       P(RolloutPhase::kProgressing, "rollout is restarting")},
      {"restart done", false,
       [](spec::RolloutSpec* s, PhaseStatus* st) {
         s->restart_at = "2024-01-01T00:00:00Z";
         st->restarted_at = "2024-01-01T00:00:00Z";
       },
       P(RolloutPhase::kHealthy, "")},
      {"more to update", false,
       [](spec::RolloutSpec*, PhaseStatus* st) { st->updated_replicas = 2; },
       P(RolloutPhase::kProgressing, "more replicas need to be updated")},
      {"updated below spec replicas, not status", false,
       [](spec::RolloutSpec* s, PhaseStatus*) { s->replicas = 4; },
       P(RolloutPhase::kProgressing, "more replicas need to be updated")},
      {"becoming available", false,
       [](spec::RolloutSpec*, PhaseStatus* st) { st->available_replicas = 2; },
       P(RolloutPhase::kProgressing, "updated replicas are still becoming available")},
      {"old pods pending", false,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->replicas = 4;
         st->available_replicas = 4;
       },
       P(RolloutPhase::kProgressing, "old replicas are pending termination")},
      {"routed ignores old pods", true,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->replicas = 6;
         st->available_replicas = 6;
       },
       P(RolloutPhase::kHealthy, "")},
      {"steps pending", false, [](spec::RolloutSpec*, PhaseStatus* st) { st->stable_rs = "old"; },
       P(RolloutPhase::kProgressing, "waiting for all steps to complete")},
      {"steps pending, routed", true,
       [](spec::RolloutSpec*, PhaseStatus* st) { st->stable_rs = "old"; },
       P(RolloutPhase::kProgressing, "waiting for all steps to complete")},
      {"no stable", true,
       [](spec::RolloutSpec*, PhaseStatus* st) {
         st->stable_rs.clear();
         st->current_pod_hash.clear();
       },
       P(RolloutPhase::kProgressing, "waiting for all steps to complete")},
  };
  for (const PhaseCase& c : cases) {
    SCOPED_TRACE(c.name);
    spec::RolloutSpec s = CanarySpec(c.routed);
    PhaseStatus st = Settled();
    c.mutate(&s, &st);
    EXPECT_EQ(CalculateRolloutPhase(s, st), c.want);
  }
}

TEST(CalculateRolloutPhase, BlueGreenRules) {
  spec::RolloutSpec s;
  s.replicas = 3;
  s.blue_green.emplace();
  PhaseStatus st = Settled();
  st.replicas = 6;  // old stack kept for scaleDownDelaySeconds
  st.available_replicas = 6;
  EXPECT_EQ(CalculateRolloutPhase(s, st), P(RolloutPhase::kHealthy, ""));
  st.active_selector = "old";
  EXPECT_EQ(CalculateRolloutPhase(s, st),
            P(RolloutPhase::kProgressing, "active service cutover pending"));
  st.active_selector.clear();
  EXPECT_EQ(CalculateRolloutPhase(s, st),
            P(RolloutPhase::kProgressing, "active service cutover pending"));
  st.active_selector = "abc";
  st.stable_rs = "old";
  EXPECT_EQ(CalculateRolloutPhase(s, st),
            P(RolloutPhase::kProgressing, "waiting for post-promotion verification to complete"));
  s.blue_green->post_promotion_analysis.emplace();
  EXPECT_EQ(CalculateRolloutPhase(s, st),
            P(RolloutPhase::kProgressing, "waiting for analysis to complete"));
  st.post_promotion_analysis_completed = true;
  EXPECT_EQ(CalculateRolloutPhase(s, st),
            P(RolloutPhase::kProgressing, "waiting for post-promotion verification to complete"));
}

TEST(GetRolloutPhase, ClientGuards) {
  spec::RolloutSpec s = CanarySpec(false);
  PhaseStatus st = Settled();
  st.observed_generation = "2";
  EXPECT_EQ(GetRolloutPhase(3, s, st),
            P(RolloutPhase::kProgressing, "waiting for rollout spec update to be observed"));
  EXPECT_EQ(GetRolloutPhase(2, s, st), P(RolloutPhase::kHealthy, ""));
  EXPECT_EQ(GetRolloutPhase(1, s, st), P(RolloutPhase::kHealthy, ""));  // ahead counts as seen
  st.observed_generation = "7d9f8c";  // old hash form: treated as observed
  EXPECT_EQ(GetRolloutPhase(3, s, st), P(RolloutPhase::kHealthy, ""));
  st.observed_generation = "3";
  st.controller_pause = true;
  EXPECT_EQ(GetRolloutPhase(3, s, st),
            P(RolloutPhase::kProgressing, "waiting for rollout to unpause"));
  st.pause_reasons.push_back("CanaryPauseStep");
  EXPECT_EQ(GetRolloutPhase(3, s, st), P(RolloutPhase::kPaused, "CanaryPauseStep"));
  st = Settled();
  st.workload_generation = 4;
  st.workload_observed_generation = "3";
  EXPECT_EQ(GetRolloutPhase(1, s, st),
            P(RolloutPhase::kProgressing,
              "waiting for rollout spec update to be observed for the reference workload"));
  st.workload_observed_generation = "4";
  EXPECT_EQ(GetRolloutPhase(1, s, st), P(RolloutPhase::kHealthy, ""));
  st.phase = "Paused";
  st.message = "stored";
  EXPECT_EQ(GetRolloutPhase(1, s, st), P(RolloutPhase::kPaused, "stored"));
}

TEST(RolloutPhaseName, RoundTrips) {
  for (RolloutPhase p : {RolloutPhase::kHealthy, RolloutPhase::kProgressing, RolloutPhase::kPaused,
                         RolloutPhase::kDegraded}) {
    EXPECT_EQ(ParseRolloutPhase(RolloutPhaseName(p)), p);
  }
  EXPECT_EQ(ParseRolloutPhase(""), std::nullopt);
  EXPECT_EQ(condition_reason::kProgressDeadlineExceeded, "ProgressDeadlineExceeded");
  EXPECT_EQ(pause_reason::kCanaryPauseStep, "CanaryPauseStep");
}

}  // namespace
}  // namespace ramp::engine
