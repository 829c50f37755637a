#include "engine/checkpoint.h"

#include <gtest/gtest.h>

namespace medallion::engine {
namespace {

BatchPlan SamplePlan() {
  BatchPlan plan;
  plan.batch_id = 7;
  plan.topic = "orders";
  plan.ingest_time_us = 1'700'000'000'000'000;
  plan.offsets = {{0, {10, 30}}, {2, {5, 6}}};
  plan.next = {{0, 30}, {1, 4}, {2, 6}};
  plan.ends = {{0, 31}, {1, 4}, {2, -1}};
  return plan;
}

TEST(CheckpointPlanTest, JsonRoundTripKeepsEnds) {
  const BatchPlan plan = SamplePlan();
  auto parsed = PlanFromJson(PlanToJson(plan));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->batch_id, plan.batch_id);
  EXPECT_EQ(parsed->topic, plan.topic);
  EXPECT_EQ(parsed->ingest_time_us, plan.ingest_time_us);
  ASSERT_EQ(parsed->offsets.size(), plan.offsets.size());
  for (const auto& [p, r] : plan.offsets) {
    EXPECT_EQ(parsed->offsets.at(p).start, r.start);
    EXPECT_EQ(parsed->offsets.at(p).end, r.end);
  }
  EXPECT_EQ(parsed->next, plan.next);
  EXPECT_EQ(parsed->ends, plan.ends);
  EXPECT_EQ(PlanToJson(*parsed), PlanToJson(plan));
}

TEST(CheckpointPlanTest, BehindIsBelowTheEndOrUnknown) {
  // 0: next 30 < end 31 (a transaction marker or records not read yet); 1: caught up;
  // 2: end not known.
  EXPECT_EQ(SamplePlan().Behind(), (std::set<int32_t>{0, 2}));
}

TEST(CheckpointPlanTest, PlanWithoutEndsStillLoadsAndHasNoneBehind) {
  const std::string old_plan =
      R"({"batch_id":3,"topic":"orders","ingest_time_us":5,"offsets":{"0":[0,20]},"next":{"0":20,"1":0}})";
  auto parsed = PlanFromJson(old_plan);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->ends.empty());
  EXPECT_TRUE(parsed->Behind().empty());
  EXPECT_EQ(parsed->next.at(1), 0);
}

TEST(CheckpointPlanTest, BadEndsAreInvalid) {
  const std::string bad =
      R"({"batch_id":3,"topic":"orders","ingest_time_us":5,"offsets":{},"next":{},"ends":{"0":"x"}})";
  EXPECT_FALSE(PlanFromJson(bad).ok());
}

}  // namespace
}  // namespace medallion::engine
