#include "cli/rollout_view.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ramp::cli {
namespace {

using nlohmann::json;

// A view as the API returns it, written by hand: a canary paused at step 1 of 2 at weight 20,
// stable revision 1 with two instances, canary revision 2 with one starting instance, and one
// running AnalysisRun.
json View() {
  return json::parse(R"({
    "rollout": {
      "metadata": {"name": "shop", "namespace": "team"},
      "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
      "status": {"phase": "Paused", "message": "CanaryPauseStep", "currentStepIndex": 1,
                 "stableRS": "aaa", "currentPodHash": "bbb", "replicas": 3, "readyReplicas": 2,
                 "availableReplicas": 2, "updatedReplicas": 1,
                 "canary": {"weights": {"canary": {"weight": 20}, "stable": {"weight": 80},
                                        "verified": true}}}
    },
    "revisions": [
      {"hash": "aaa", "revision": 1, "image": "shop:1", "desiredReplicas": 2,
       "instances": [{"id": "i1", "address": "127.0.0.1:20001", "state": "Ready", "restarts": 0},
                     {"id": "i2", "address": "127.0.0.1:20002", "state": "Ready", "restarts": 1}]},
      {"hash": "bbb", "revision": 2, "image": "shop:2", "desiredReplicas": 1,
       "instances": [{"id": "i3", "address": "127.0.0.1:20003", "state": "Starting",
                      "restarts": 0, "message": "not ready yet"}]}
    ],
    "analysisRuns": [
      {"metadata": {"name": "shop-bbb-2-1"},
       "status": {"phase": "Running",
                  "metricResults": [{"name": "error-rate", "phase": "Running", "successful": 2,
                                     "measurements": [{"value": "0.01"}]}]}}
    ]})");
}

TEST(RolloutViewTest, TreeShowsTheSummaryRevisionsInstancesAndAnalysis) {
  const std::string tree = RenderRolloutTree(View());
  EXPECT_NE(tree.find("Name:            shop\n"), std::string::npos) << tree;
  EXPECT_NE(tree.find("Namespace:       team\n"), std::string::npos);
  EXPECT_NE(tree.find("Status:          ॥ Paused\n"), std::string::npos);
  EXPECT_NE(tree.find("  Step:          1/2\n"), std::string::npos);
  EXPECT_NE(tree.find("  ActualWeight:  20\n"), std::string::npos);
  EXPECT_NE(tree.find("shop:1 (stable)"), std::string::npos);
  EXPECT_NE(tree.find("shop:2 (canary)"), std::string::npos);
  // The newest revision comes first.
  EXPECT_LT(tree.find("revision:2"), tree.find("revision:1"));
  EXPECT_NE(tree.find("127.0.0.1:20002, 1 restarts"), std::string::npos);
  EXPECT_NE(tree.find("◌ Starting"), std::string::npos);
  EXPECT_NE(tree.find("(not ready yet)"), std::string::npos);
  EXPECT_NE(tree.find("shop-bbb-2-1"), std::string::npos);
  EXPECT_NE(tree.find("✔ 2"), std::string::npos);
  EXPECT_NE(tree.find("last: 0.01"), std::string::npos);
}

TEST(RolloutViewTest, TableHasOneLinePerRollout) {
  json items = json::array({View()});
  const std::string table = RenderRolloutTable(items, true);
  EXPECT_EQ(table.find("NAMESPACE"), 0u) << table;
  const size_t second = table.find('\n') + 1;
  const std::string row = table.substr(second);
  EXPECT_EQ(row.rfind("team", 0), 0u) << row;
  EXPECT_NE(row.find("shop"), std::string::npos);
  EXPECT_NE(row.find("Canary"), std::string::npos);
  EXPECT_NE(row.find("Paused"), std::string::npos);
  EXPECT_NE(row.find("1/2"), std::string::npos);
  EXPECT_NE(row.find("2/2"), std::string::npos);  // ready/desired
  EXPECT_EQ(RenderRolloutTable(json::array(), false).find("NAME"), 0u);
}

TEST(RolloutViewTest, MissingFieldsNeverThrow) {
  EXPECT_NO_THROW(RenderRolloutTree(json::object()));
  EXPECT_NO_THROW(RenderRolloutTree(json::parse(R"({"rollout": 5, "revisions": "x"})")));
  EXPECT_NO_THROW(RenderRolloutTable(json::parse(R"([{"rollout": null}, 3])"), false));
  EXPECT_EQ(PhaseWithIcon("Degraded"), "✖ Degraded");
  EXPECT_EQ(PhaseWithIcon(""), "◌ Progressing");
}

}  // namespace
}  // namespace ramp::cli
