// Checkpoint: file names that are not batch ids are errors, never exceptions; failed
// attempts of a planned batch are counted and forgotten when the batch commits; a batch's
// state file is its commit, and prune keeps what a restore reads.
#include "engine/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace medallion::engine {
namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/checkpoint_test." + std::to_string(::getpid()) + "." +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Touch(const std::string& rel) { std::ofstream(dir_ + "/" + rel) << "{}\n"; }
  /// The batch ids of the files in one folder of the checkpoint, ascending.
  std::vector<int64_t> KeptIds(const std::string& kind) const {
    std::vector<int64_t> ids;
    for (const auto& e : std::filesystem::directory_iterator(dir_ + "/" + kind)) {
      ids.push_back(*ParseBatchId(e.path().filename().string()));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  std::string dir_;
};

TEST(ParseBatchIdTest, AcceptsInt64DigitsOnly) {
  EXPECT_EQ(ParseBatchId("0"), 0);
  EXPECT_EQ(ParseBatchId("42"), 42);
  EXPECT_EQ(ParseBatchId("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "abc", "-1", "+1", "1.tmp", " 1", "9223372036854775808", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseBatchId(bad).has_value());
  }
}

TEST_F(CheckpointTest, FileNotNamedByABatchIdIsAnErrorNamingIt) {
  for (const char* name : {"offsets/abc", "commits/99999999999999999999", "state/-3"}) {
    SCOPED_TRACE(name);
    {
      auto cp = Checkpoint::Open(dir_);
      ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    }
    Touch(name);
    auto cp = Checkpoint::Open(dir_);
    ASSERT_FALSE(cp.ok());
    EXPECT_NE(cp.status().message().find(name), std::string::npos) << cp.status().message();
    std::filesystem::remove(dir_ + "/" + name);
  }
  // Partial files of an atomic write are not batches.
  Touch("offsets/3.tmp.123.0");
  auto cp = Checkpoint::Open(dir_);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ((*cp)->LastCommitted(), -1);
}

TEST_F(CheckpointTest, PlanWithABadPartitionKeyIsAnError) {
  EXPECT_FALSE(PlanFromJson(R"({"batch_id":1,"topic":"t","ingest_time_us":1,"offsets":{"x":[0,1]},"next":{}})").ok());
  EXPECT_FALSE(PlanFromJson(
                   R"({"batch_id":1,"topic":"t","ingest_time_us":1,"offsets":{},"next":{"99999999999":1}})")
                   .ok());
  auto plan = PlanFromJson(R"({"batch_id":1,"topic":"t","ingest_time_us":1,"offsets":{"2":[0,5]},"next":{"2":5}})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->offsets.at(2).end, 5);
}

// A plan holds offsets the engine reads again: one it cannot have written is refused by name.
TEST_F(CheckpointTest, PlanWithImpossibleOffsetsIsAnError) {
  for (const char* positions : {R"("offsets":{"2":[5,4]},"next":{"2":5})", R"("offsets":{"2":[-1,4]},"next":{"2":5})",
                                R"("offsets":{"2":[0,4]},"next":{"2":-3})",
                                R"("offsets":{"2":[0,4]},"next":{"2":4},"ends":{"2":-2})"}) {
    const auto plan = PlanFromJson(std::string(R"({"batch_id":1,"topic":"t","ingest_time_us":1,)") + positions + "}");
    EXPECT_TRUE(plan.status().IsInvalid()) << positions;
    EXPECT_NE(plan.status().message().find("batch plan: "), std::string::npos) << plan.status().ToString();
  }
  // An end offset not known yet is -1, and an empty range is a plan.
  EXPECT_TRUE(PlanFromJson(R"({"batch_id":1,"topic":"t","ingest_time_us":1,"offsets":{"2":[4,4]},"next":{"2":4},"ends":{"2":-1}})").ok());
}

// Seen while adding the plan to fuzz/state_fuzz: its topic was written unescaped. A plan must
// read back as written, whatever it holds.
TEST_F(CheckpointTest, PlanTopicsAreEscaped) {
  BatchPlan plan;
  plan.topic = "a\"b\\c";
  plan.payments.emplace().topic = "p\"";
  auto parsed = PlanFromJson(PlanToJson(plan));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->topic, plan.topic);
  EXPECT_EQ(parsed->payments->topic, plan.payments->topic);
}

TEST_F(CheckpointTest, FailedAttemptsAreCountedUntilTheBatchCommits) {
  auto cp = Checkpoint::Open(dir_);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ((*cp)->ReadAttempts(0)->failures, 0);
  ASSERT_TRUE((*cp)->RecordFailedAttempt(0, "IOError: disk full").ok());
  auto second = (*cp)->RecordFailedAttempt(0, "IOError: \"quoted\"\nline");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->failures, 2);
  auto read = (*cp)->ReadAttempts(0);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->failures, 2);
  EXPECT_EQ(read->last_error, "IOError: \"quoted\"\nline");
  ASSERT_TRUE((*cp)->Commit(0, "s").ok());
  EXPECT_EQ((*cp)->ReadAttempts(0)->failures, 0);
}

TEST_F(CheckpointTest, TheStateFileCommitsABatchAndAnEarlierBuildsCommitFilesStillCount) {
  {
    auto cp = Checkpoint::Open(dir_);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    for (int64_t b = 0; b < 3; ++b) ASSERT_TRUE((*cp)->Commit(b, "s").ok());
    EXPECT_EQ((*cp)->LastCommitted(), 2);
    EXPECT_TRUE(KeptIds("commits").empty());
  }
  Touch("state/3.tmp.123.0");  // a state file whose write did not finish: batch 3 is not committed
  {
    auto cp = Checkpoint::Open(dir_);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    EXPECT_EQ((*cp)->LastCommitted(), 2);
  }
  EXPECT_EQ(*LastCommittedBatch(dir_), 2);
  // An earlier build wrote commits/<B> after state/<B>: a checkpoint it left behind, killed
  // between the two (state/5 without commits/5), or with its state files pruned further back.
  for (const char* name : {"commits/3", "commits/4", "state/4", "state/5"}) Touch(name);
  auto cp = Checkpoint::Open(dir_);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ((*cp)->LastCommitted(), 5);
  std::filesystem::remove(dir_ + "/state/5");
  std::filesystem::remove(dir_ + "/state/4");
  EXPECT_EQ(*LastCommittedBatch(dir_), 4);
  EXPECT_EQ(*LastCommittedBatch(dir_ + "/not-created-yet"), -1);
}

TEST_F(CheckpointTest, PruneKeepsTheStateFilesFromTheNewestFullOne) {
  auto cp = Checkpoint::Open(dir_);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  for (int64_t b = 0; b < 30; ++b) ASSERT_TRUE((*cp)->Commit(b, "s").ok());
  (*cp)->Prune(29, 5, /*states_from=*/12);
  EXPECT_EQ(KeptIds("state").front(), 12);
  EXPECT_EQ(KeptIds("state").size(), 18u);
  // A full state file newer than the retained batches prunes nothing more than they do.
  (*cp)->Prune(29, 5, /*states_from=*/28);
  EXPECT_EQ(KeptIds("state").front(), 24);
}

TEST_F(CheckpointTest, PruneEveryBatchKeepsExactlyTheRetainedFilesAndWhatAnEarlierRunLeft) {
  auto range = [](int64_t from, int64_t to) {
    std::vector<int64_t> ids;
    for (int64_t b = from; b < to; ++b) ids.push_back(b);
    return ids;
  };
  {
    auto cp = Checkpoint::Open(dir_);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    for (int64_t b = 0; b < 20; ++b) {  // an earlier run, of a build that wrote commits/<B>, that never pruned
      ASSERT_TRUE((*cp)->Commit(b, "s").ok());
      Touch("commits/" + std::to_string(b));
    }
  }
  auto cp = Checkpoint::Open(dir_);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  ASSERT_TRUE((*cp)->RecordFailedAttempt(25, "IOError: once").ok());
  for (int64_t b = 20; b < 60; ++b) {
    if (b == 25) {
      ASSERT_TRUE((*cp)->RecordFailedAttempt(25, "IOError: twice").ok());
    }
    ASSERT_TRUE((*cp)->Commit(b, "s").ok());
    // A full state file every tenth batch: the states kept start at the newest one at or
    // before the retained batches.
    const int64_t full = b / 10 * 10;
    (*cp)->Prune(b, 5, full);
    ASSERT_EQ(KeptIds("commits"), range(std::max<int64_t>(0, b - 5), 20)) << "after batch " << b;
    ASSERT_EQ(KeptIds("state"), range(std::min(b - 5, full), b + 1)) << "after batch " << b;
  }
  EXPECT_TRUE(KeptIds("attempts").empty());
}

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

TEST(CheckpointPlanTest, PaymentsPartRoundTripsAndIsAbsentWithoutOne) {
  BatchPlan plan = SamplePlan();
  EXPECT_FALSE(PlanFromJson(PlanToJson(plan))->payments.has_value());
  EXPECT_EQ(PlanToJson(plan).find("payments"), std::string::npos);
  TopicPlan& payments = plan.payments.emplace();
  payments.topic = "payments";
  payments.offsets[1] = {7, 19};
  payments.next = {{0, 4}, {1, 19}};
  payments.ends = {{0, 4}, {1, 25}};
  auto parsed = PlanFromJson(PlanToJson(plan));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_TRUE(parsed->payments.has_value());
  EXPECT_EQ(parsed->payments->topic, "payments");
  EXPECT_EQ(parsed->payments->offsets.at(1).start, 7);
  EXPECT_EQ(parsed->payments->offsets.at(1).end, 19);
  EXPECT_EQ(parsed->payments->next, payments.next);
  EXPECT_EQ(parsed->payments->ends, payments.ends);
  EXPECT_EQ(parsed->payments->Behind(), (std::set<int32_t>{1}));
  EXPECT_EQ(parsed->next, plan.next);  // the orders part is unchanged beside it
  EXPECT_EQ(PlanToJson(*parsed), PlanToJson(plan));
}

TEST(CheckpointPlanTest, PaymentsPartWithoutTopicIsInvalid) {
  const std::string bad = R"({"batch_id":3,"topic":"orders","ingest_time_us":5,"offsets":{},"next":{},)"
                          R"("payments":{"offsets":{},"next":{}}})";
  EXPECT_FALSE(PlanFromJson(bad).ok());
}

}  // namespace
}  // namespace medallion::engine
