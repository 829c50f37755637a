// StatusBoard: batches folded into totals, the recent-batch cap, and snapshots that never
// change once published (readers keep theirs while the engine publishes the next).
#include "engine/status_board.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace medallion::engine {
namespace {

BatchReport Report(int64_t id, int64_t records, int64_t bad, double seconds) {
  BatchReport r;
  r.batch_id = id;
  r.records = records;
  r.quarantined = bad;
  if (bad > 0) r.quarantined_by_reason["not_json"] = bad;
  r.late_lines = 1;
  r.late_by_reason["window_final"] = 1;
  r.lag = 7;
  r.lag_by_partition = {{0, 3}, {1, 4}};
  r.tables["silver_order_lines"] = metrics::TableSize{2, 100};
  r.seconds = seconds;
  return r;
}

TEST(StatusBoardTest, FoldsBatchesIntoTotalsAndKeepsTheLastOnes) {
  PipelineOptions o;
  o.source.topic = "orders";
  o.ready_max_lag = 10;
  StatusBoard board(o, "q");
  ASSERT_TRUE(board.Start().ok());
  const auto before = board.Snapshot();
  EXPECT_EQ(before->batches, 0);
  EXPECT_FALSE(before->Ready());
  EXPECT_EQ(before->quarantined_by_reason.at("not_json"), 0);  // every reason from the start
  EXPECT_EQ(before->quarantined_by_reason.size(), 18u);

  for (int64_t i = 0; i < static_cast<int64_t>(metrics::kRecentBatches) + 5; ++i) {
    board.RecordBatch(Report(i, 10, i % 2, 0.3), 1'000'000 * (i + 1));
  }
  const auto after = board.Snapshot();
  const int64_t n = metrics::kRecentBatches + 5;
  EXPECT_EQ(after->batches, n);
  EXPECT_EQ(after->records, 10 * n);
  EXPECT_EQ(after->quarantined_by_reason.at("not_json"), n / 2);
  EXPECT_EQ(after->late_by_reason.at("window_final"), n);
  EXPECT_EQ(after->recent.size(), metrics::kRecentBatches);
  EXPECT_EQ(after->recent.front().batch_id, 5);
  EXPECT_EQ(after->Last()->batch_id, n - 1);
  EXPECT_EQ(after->lag, 7);
  EXPECT_TRUE(after->Ready());
  EXPECT_EQ(after->lag_by_partition.at(1), 4);
  EXPECT_EQ(after->tables.at("silver_order_lines").bytes, 100);
  // 0.3 s falls in the bucket whose upper bound is 0.5.
  const auto& bounds = metrics::BatchDurationBounds();
  const size_t bucket = std::find(bounds.begin(), bounds.end(), 0.5) - bounds.begin();
  EXPECT_EQ(after->duration_counts[bucket], n);
  // The first snapshot is untouched.
  EXPECT_EQ(before->batches, 0);
  EXPECT_TRUE(before->recent.empty());
}

TEST(StatusBoardTest, ReadersOnOtherThreadsSeeWholeSnapshots) {
  PipelineOptions o;
  StatusBoard board(o, "q");
  ASSERT_TRUE(board.Start().ok());
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      const auto s = board.Snapshot();
      ASSERT_EQ(s->records, 10 * s->batches);  // never a half-applied batch
    }
  });
  for (int64_t i = 0; i < 2000; ++i) board.RecordBatch(Report(i, 10, 0, 0.01), i);
  done.store(true);
  reader.join();
  EXPECT_EQ(board.Snapshot()->batches, 2000);
}

TEST(StatusBoardTest, RefreshUpdatesTheLagWithoutABatch) {
  PipelineOptions o;
  o.ready_max_lag = 0;
  StatusBoard board(o, "q");
  ASSERT_TRUE(board.Start().ok());
  board.Refresh(5, 0, {{0, 0}});
  EXPECT_TRUE(board.Snapshot()->Ready());
  board.Refresh(6, -1, {{0, metrics::kUnknown}});
  EXPECT_FALSE(board.Snapshot()->Ready());
}

}  // namespace
}  // namespace medallion::engine
