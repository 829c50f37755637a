#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "engine/tables.h"
#include "silver_batch_builder.h"

namespace medallion::engine {
namespace {

class TableProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("table_progress_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.data_dir = dir_.string();
    auto tables = Tables::Open(options_, kQuery);
    ASSERT_TRUE(tables.ok()) << tables.status().ToString();
    tables_ = std::move(*tables);
  }
  void TearDown() override {
    tables_ = Tables();
    std::filesystem::remove_all(dir_);
  }

  /// Commits batch `b` to Silver only, as a batch whose rows reach no other table.
  void CommitSilver(int64_t b) {
    auto lines = testing::MakeSilverBatch({testing::SilverLine{.event_id = "e" + std::to_string(b)}});
    ASSERT_TRUE(lines.ok());
    ASSERT_TRUE(tables_.silver->Append(kQuery, b, {{{{"event_date", "1970-01-01"}}, *lines}}).ok());
  }

  arrow::Status Check(int64_t last, bool planned, const TableProgress& progress) const {
    return tables_.CheckInStep(kQuery, last, planned, progress, "ckpt");
  }

  static constexpr const char* kQuery = "q-1";
  std::filesystem::path dir_;
  PipelineOptions options_;
  Tables tables_;
};

TEST_F(TableProgressTest, AnAppendWithoutRowsCommitsNothing) {
  const int64_t before = tables_.quarantine->log().version();
  ASSERT_TRUE(tables_.quarantine->Append(kQuery, 0, {{{}, nullptr}}).ok());
  EXPECT_EQ(tables_.quarantine->log().version(), before);
  EXPECT_EQ(tables_.quarantine->CommittedBatch(kQuery), -1);
}

TEST_F(TableProgressTest, TablesBehindTheLastBatchAreInStepWhenTheRecordSaysSo) {
  for (int64_t b = 0; b <= 2; ++b) CommitSilver(b);
  TableProgress progress;
  progress.Record(tables_, kQuery);
  EXPECT_EQ(progress.Expected("silver_order_lines"), 2);
  EXPECT_EQ(progress.Expected("quarantine_orders"), -1);
  // Batches 3 and 4 wrote nothing: every table is where the record after batch 4 says.
  EXPECT_TRUE(Check(4, false, progress).ok());
  // Batch 5 planned and committed to Silver before a crash: replayed, so in step.
  CommitSilver(5);
  EXPECT_TRUE(Check(4, true, progress).ok());
  // Without the plan, Silver is ahead of the checkpoint: refused, naming the table.
  auto ahead = Check(4, false, progress);
  ASSERT_TRUE(ahead.IsInvalid());
  EXPECT_NE(ahead.message().find("silver_order_lines"), std::string::npos) << ahead.message();
  EXPECT_NE(ahead.message().find("the checkpoint is older than the tables"), std::string::npos);
}

TEST_F(TableProgressTest, ATableOlderThanTheRecordIsRefused) {
  for (int64_t b = 0; b <= 3; ++b) CommitSilver(b);
  TableProgress progress;
  progress.Record(tables_, kQuery);  // Silver held batch 3
  // The data directory restored from a copy taken after batch 1.
  TearDown();
  SetUp();
  CommitSilver(0);
  CommitSilver(1);
  auto behind = Check(3, false, progress);
  ASSERT_TRUE(behind.IsInvalid());
  EXPECT_NE(behind.message().find("silver_order_lines"), std::string::npos) << behind.message();
  EXPECT_NE(behind.message().find("the table is older than the checkpoint"), std::string::npos) << behind.message();
}

TEST_F(TableProgressTest, WithoutARecordEveryWrittenTableMustHoldTheLastBatch) {
  // A checkpoint of an earlier build: every table committed every batch.
  for (int64_t b = 0; b <= 2; ++b) CommitSilver(b);
  const TableProgress none;
  EXPECT_TRUE(Check(2, false, none).ok());  // Quarantine, never written, is not judged
  EXPECT_TRUE(Check(1, true, none).ok());   // batch 2 planned and committed before a crash
  EXPECT_TRUE(Check(3, false, none).IsInvalid());
  EXPECT_TRUE(Check(1, false, none).IsInvalid());
}

TEST_F(TableProgressTest, SnapshotRoundTripsAndRejectsCorruption) {
  CommitSilver(0);
  TableProgress progress;
  progress.Record(tables_, kQuery);
  const std::string bytes = progress.SerializeState();
  TableProgress restored;
  ASSERT_TRUE(restored.RestoreState(bytes).ok());
  EXPECT_EQ(restored.SerializeState(), bytes);
  EXPECT_EQ(restored.Expected("silver_order_lines"), 0);
  std::string bad = bytes;
  bad[bad.size() / 2] ^= 0x5a;
  EXPECT_TRUE(restored.RestoreState(bad).IsInvalid());
  EXPECT_EQ(restored.SerializeState(), bytes);  // unchanged
  EXPECT_FALSE(TableProgress().Expected("silver_order_lines").has_value());
}

}  // namespace
}  // namespace medallion::engine
