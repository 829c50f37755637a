// AlertEvaluator: ratios over the time window, transitions, per-reason alerts, lag, no batch.
#include "metrics/alert_rules.h"

#include <gtest/gtest.h>

namespace medallion::metrics {
namespace {

constexpr int64_t kSecond = 1'000'000;

BatchSummary Batch(int64_t at_s, int64_t records, std::map<std::string, int64_t> quarantined) {
  BatchSummary b;
  b.records = records;
  for (const auto& [k, n] : quarantined) b.quarantined += n;
  b.quarantined_by_reason = std::move(quarantined);
  b.committed_at_us = at_s * kSecond;
  return b;
}

const AlertState* Find(const std::vector<AlertState>& alerts, const std::string& name,
                       const std::string& reason = "") {
  for (const auto& a : alerts) {
    if (a.name == name && a.reason == reason) return &a;
  }
  return nullptr;
}

TEST(AlertRulesTest, NoRulesNoAlerts) {
  AlertEvaluator e(AlertRules{});
  RunStatus s;
  EXPECT_TRUE(e.Evaluate(s, 0).empty());
}

TEST(AlertRulesTest, QuarantineRatioIsTakenOverTheWindowAndClears) {
  AlertRules rules;
  rules.quarantine_ratio = 0.1;
  rules.quarantine_reason_ratio = 0.1;
  rules.window_us = 10 * kSecond;
  AlertEvaluator e(rules);
  RunStatus s;
  s.recent.push_back(Batch(100, 100, {{"not_json", 30}}));
  auto a = e.Evaluate(s, 101 * kSecond);
  ASSERT_NE(Find(a, "quarantine_ratio"), nullptr);
  EXPECT_TRUE(Find(a, "quarantine_ratio")->firing);
  EXPECT_DOUBLE_EQ(Find(a, "quarantine_ratio")->value, 0.3);
  EXPECT_TRUE(Find(a, "quarantine_reason_ratio", "not_json")->firing);
  EXPECT_EQ(Find(a, "quarantine_ratio")->since_us, 101 * kSecond);
  // Good records in the window dilute it: 30 / 400 < 0.1.
  s.recent.push_back(Batch(105, 300, {}));
  a = e.Evaluate(s, 106 * kSecond);
  EXPECT_FALSE(Find(a, "quarantine_ratio")->firing);
  EXPECT_FALSE(Find(a, "quarantine_reason_ratio", "not_json")->firing);
  EXPECT_EQ(Find(a, "quarantine_ratio")->since_us, 106 * kSecond);
  // Out of the window, the bad batch no longer counts; the reason's alert stays listed.
  s.recent = {Batch(100, 10, {{"not_json", 10}})};
  a = e.Evaluate(s, 200 * kSecond);
  EXPECT_FALSE(Find(a, "quarantine_ratio")->firing);
  EXPECT_DOUBLE_EQ(Find(a, "quarantine_ratio")->value, 0);
  ASSERT_NE(Find(a, "quarantine_reason_ratio", "not_json"), nullptr);
}

TEST(AlertRulesTest, LagAndNoBatch) {
  AlertRules rules;
  rules.max_lag = 100;
  rules.no_batch_for_us = 30 * kSecond;
  AlertEvaluator e(rules);
  RunStatus s;
  s.started_at_us = 0;
  auto a = e.Evaluate(s, 10 * kSecond);
  EXPECT_FALSE(Find(a, "lag")->firing);  // not known yet
  EXPECT_FALSE(Find(a, "no_batch")->firing);
  s.lag = 101;
  a = e.Evaluate(s, 31 * kSecond);
  EXPECT_TRUE(Find(a, "lag")->firing);
  EXPECT_TRUE(Find(a, "no_batch")->firing);
  s.recent.push_back(Batch(40, 1, {}));
  s.lag = 100;
  a = e.Evaluate(s, 41 * kSecond);
  EXPECT_FALSE(Find(a, "lag")->firing);
  EXPECT_FALSE(Find(a, "no_batch")->firing);
}

}  // namespace
}  // namespace medallion::metrics
