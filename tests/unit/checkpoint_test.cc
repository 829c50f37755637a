// Checkpoint: file names that are not batch ids are errors, never exceptions; failed
// attempts of a planned batch are counted and forgotten when the batch commits.
#include "engine/checkpoint.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

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
  ASSERT_TRUE((*cp)->WriteCommit(0).ok());
  EXPECT_EQ((*cp)->ReadAttempts(0)->failures, 0);
}

}  // namespace
}  // namespace medallion::engine
