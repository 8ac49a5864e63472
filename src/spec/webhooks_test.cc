#include "spec/webhooks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "spec/manifest.h"

namespace ramp::spec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHooks[] = R"(apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata: {name: shop-hooks, namespace: prod}
spec:
  rolloutRef: {name: shop}
  interval: 30s
  threshold: 3
  webhooks:
  - name: load-test
    type: rollout
    url: http://flagger-loadtester.test/
    timeout: 15s
    retries: 2
    metadata: {type: cmd, cmd: "hey -z 1m"}
  - name: gate
    type: confirm-promotion
    url: http://flagger-loadtester.test/gate/check
    muteAlert: true
    disableTLS: true
  - name: empty-type
    type: ""
    url: https://audit.example.com/
)";

TEST(RolloutWebhooksDecode, FieldsAndDefaults) {
  ManifestSet set = LoadManifests(kHooks, "h.yaml");
  ASSERT_TRUE(set.ok()) << set.diagnostics.ErrorText();
  ASSERT_EQ(set.rollout_webhooks.size(), 1u);
  EXPECT_EQ(set.others.size(), 1u);  // still listed with the other documents
  const RolloutWebhooks& w = *set.rollout_webhooks[0].object;
  EXPECT_EQ(set.rollout_webhooks[0].file, "h.yaml");
  EXPECT_EQ(w.metadata.name, "shop-hooks");
  EXPECT_EQ(w.metadata.namespace_, "prod");
  EXPECT_EQ(w.rollout_name, "shop");
  EXPECT_EQ(w.interval, std::chrono::seconds(30));
  EXPECT_EQ(w.threshold, 3);
  ASSERT_EQ(w.webhooks.size(), 3u);
  const WebhookSpec& a = w.webhooks[0];
  EXPECT_EQ(a.name, "load-test");
  EXPECT_EQ(a.type, HookType::kRollout);
  EXPECT_EQ(a.url, "http://flagger-loadtester.test/");
  EXPECT_EQ(a.timeout, std::chrono::seconds(15));
  EXPECT_EQ(a.retries, 2);
  EXPECT_EQ(a.metadata.at("cmd"), "hey -z 1m");
  EXPECT_FALSE(a.mute_alert);
  const WebhookSpec& b = w.webhooks[1];
  EXPECT_EQ(b.type, HookType::kConfirmPromotion);
  EXPECT_EQ(b.timeout, std::chrono::seconds(10));
  EXPECT_EQ(b.retries, 0);
  EXPECT_TRUE(b.mute_alert);
  EXPECT_TRUE(b.disable_tls);
  EXPECT_EQ(w.webhooks[2].type, HookType::kRollout);
}

TEST(RolloutWebhooksDecode, SpecDefaults) {
  ManifestSet set = LoadManifests(R"(apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata: {name: h}
spec:
  rolloutRef: {name: shop}
  webhooks: [{name: a, url: "http://a.test/", type: pre-rollout}]
)",
                                  "h.yaml");
  ASSERT_TRUE(set.ok()) << set.diagnostics.ErrorText();
  ASSERT_EQ(set.rollout_webhooks.size(), 1u);
  const RolloutWebhooks& w = *set.rollout_webhooks[0].object;
  EXPECT_EQ(w.interval, std::chrono::minutes(1));
  EXPECT_EQ(w.threshold, 1);
  EXPECT_EQ(w.webhooks[0].type, HookType::kPreRollout);
}

TEST(RolloutWebhooksDecode, InvalidDocumentIsNotDecoded) {
  ManifestSet set = LoadManifests(R"(apiVersion: ramp.dev/v1alpha1
kind: RolloutWebhooks
metadata: {name: h}
spec:
  rolloutRef: {name: shop}
  threshold: 0
  webhooks: [{name: a, url: "http://a.test/"}]
)",
                                  "h.yaml");
  EXPECT_FALSE(set.ok());
  EXPECT_TRUE(set.rollout_webhooks.empty());
}

TEST(RolloutWebhooksDecode, FromJson) {
  nlohmann::json doc = {
      {"apiVersion", "ramp.dev/v1alpha1"},
      {"kind", "RolloutWebhooks"},
      {"metadata", {{"name", "h"}}},
      {"spec",
       {{"rolloutRef", {{"name", "shop"}}},
        {"interval", "2m"},
        {"webhooks", {{{"name", "rb"}, {"type", "rollback"}, {"url", "http://rb.test/"}}}}}}};
  StatusOr<RolloutWebhooks> w = ParseRolloutWebhooks(doc);
  ASSERT_TRUE(w.has_value()) << w.error().message();
  EXPECT_EQ(w->interval, std::chrono::minutes(2));
  ASSERT_EQ(w->webhooks.size(), 1u);
  EXPECT_EQ(w->webhooks[0].type, HookType::kRollback);

  doc["spec"]["webhooks"][0]["type"] = "rollbak";
  doc["spec"]["interval"] = "2";
  StatusOr<RolloutWebhooks> bad = ParseRolloutWebhooks(doc);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("spec.interval"));
  EXPECT_THAT(bad.error().message(), HasSubstr("spec.webhooks[0].type"));

  nlohmann::json other = {{"apiVersion", "ramp.dev/v1alpha1"}, {"kind", "Other"}};
  EXPECT_FALSE(ParseRolloutWebhooks(other).has_value());
}

RolloutWebhooks Hooks(std::string name, std::string ns, std::string rollout,
                      std::vector<std::string> hooks) {
  RolloutWebhooks w;
  w.metadata.name = std::move(name);
  w.metadata.namespace_ = std::move(ns);
  w.rollout_name = std::move(rollout);
  for (auto& h : hooks) {
    WebhookSpec s;
    s.name = std::move(h);
    w.webhooks.push_back(std::move(s));
  }
  return w;
}

TEST(RolloutWebhooksAttach, SameNamespaceAndNameOrderedByObjectThenList) {
  Rollout shop;
  shop.metadata.name = "shop";  // namespace "" is "default"
  std::vector<RolloutWebhooks> all = {
      Hooks("zeta", "default", "shop", {"z1", "z2"}),
      Hooks("alpha", "", "shop", {"a1"}),
      Hooks("other-ns", "prod", "shop", {"x"}),
      Hooks("other-rollout", "default", "cart", {"y"}),
      Hooks("beta", "default", "shop", {"b1", "b2"}),
  };
  all[0].interval = std::chrono::seconds(20);
  all[0].threshold = 4;
  std::vector<AttachedWebhook> got = AttachedWebhooksFor(shop, all);
  std::vector<std::string> names;
  for (const auto& a : got) names.push_back(a.object + "/" + a.hook.name);
  EXPECT_THAT(names, ElementsAre("alpha/a1", "beta/b1", "beta/b2", "zeta/z1", "zeta/z2"));
  EXPECT_EQ(got[3].interval, std::chrono::seconds(20));
  EXPECT_EQ(got[3].threshold, 4);
  shop.metadata.namespace_ = "prod";
  got = AttachedWebhooksFor(shop, all);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hook.name, "x");
}

}  // namespace
}  // namespace ramp::spec
