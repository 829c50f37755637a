// PendingAppends: the rows a side table holds between its commits, and their snapshot in the
// engine state.
#include "engine/pending_appends.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "format/schemas.h"
#include "status_assertions.h"

namespace medallion::engine {
namespace {

/// `n` quarantine rows of partition `partition` from offset `first`, with a value of
/// `value_bytes` bytes (null when 0).
std::shared_ptr<arrow::RecordBatch> Quarantined(int32_t partition, int64_t first, int n, int value_bytes = 10) {
  arrow::StringBuilder topic, error, detail;
  arrow::Int32Builder part;
  arrow::Int64Builder offset;
  arrow::BinaryBuilder value;
  arrow::TimestampBuilder ingest(format::TimestampType(), arrow::default_memory_pool());
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(topic.Append("orders").ok());
    EXPECT_TRUE(part.Append(partition).ok());
    EXPECT_TRUE(offset.Append(first + i).ok());
    EXPECT_TRUE((value_bytes == 0 ? value.AppendNull() : value.Append(std::string(value_bytes, '\xff'))).ok());
    EXPECT_TRUE(error.Append("not_json").ok());
    EXPECT_TRUE(detail.Append("byte " + std::to_string(i)).ok());
    EXPECT_TRUE(ingest.Append(1'700'000'000'000'000 + i).ok());
  }
  return arrow::RecordBatch::Make(format::QuarantineSchema(), n,
                                  {topic.Finish().ValueOrDie(), part.Finish().ValueOrDie(),
                                   offset.Finish().ValueOrDie(), value.Finish().ValueOrDie(),
                                   error.Finish().ValueOrDie(), detail.Finish().ValueOrDie(),
                                   ingest.Finish().ValueOrDie()});
}

TEST(PendingAppendsTest, HoldsTheRowsInOrderAndEachPartitionsLatestPosition) {
  PendingAppends pending(format::QuarantineSchema(), 1 << 20);
  EXPECT_TRUE(pending.empty());
  pending.Add({Quarantined(0, 10, 3), Quarantined(1, 5, 0)}, {{"q/orders/0", 13}, {"q/orders/1", 6}});
  pending.Add({Quarantined(1, 7, 2)}, {{"q/orders/1", 9}});
  // A batch without rows changes nothing, its positions included.
  pending.Add({Quarantined(0, 20, 0)}, {{"q/orders/0", 21}, {"q/orders/2", 4}});
  ASSERT_FALSE(pending.empty());
  EXPECT_GT(pending.bytes(), 0);
  ASSERT_OK_AND_ASSIGN(rows, pending.Rows());
  ASSERT_EQ(rows->num_rows(), 5);
  EXPECT_EQ(pending.num_rows(), 5);
  auto offsets = std::static_pointer_cast<arrow::Int64Array>(rows->GetColumnByName("offset"));
  EXPECT_EQ(offsets->Value(0), 10);
  EXPECT_EQ(offsets->Value(4), 8);
  EXPECT_EQ(pending.sources(), (sink::SourceTxns{{"q/orders/0", 13}, {"q/orders/1", 9}}));
  pending.Clear();
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(pending.bytes(), 0);
  EXPECT_EQ(pending.num_rows(), 0);
  EXPECT_TRUE(pending.sources().empty());
}

TEST(PendingAppendsTest, ASnapshotRestoresTheSameRowsAndPositions) {
  PendingAppends pending(format::QuarantineSchema(), 1 << 20);
  pending.Add({Quarantined(0, 0, 4, 0), Quarantined(2, 100, 3, 1000)}, {{"q/orders/0", 4}, {"q/orders/2", 103}});
  const std::string bytes = pending.SerializeState();
  PendingAppends restored(format::QuarantineSchema(), 1 << 20);
  ASSERT_OK(restored.RestoreState(bytes));
  ASSERT_OK_AND_ASSIGN(a, pending.Rows());
  ASSERT_OK_AND_ASSIGN(b, restored.Rows());
  EXPECT_TRUE(a->Equals(*b));
  EXPECT_EQ(restored.sources(), pending.sources());
  EXPECT_EQ(restored.SerializeState(), bytes);

  // Empty round trip.
  PendingAppends empty(format::QuarantineSchema(), 1 << 20);
  ASSERT_OK(restored.RestoreState(empty.SerializeState()));
  EXPECT_TRUE(restored.empty());
}

TEST(PendingAppendsTest, ASnapshotOfAnotherSchemaOrCorruptedIsRefusedAndChangesNothing) {
  PendingAppends pending(format::QuarantineSchema(), 1 << 20);
  pending.Add({Quarantined(0, 0, 2)}, {{"q/orders/0", 2}});
  const std::string bytes = pending.SerializeState();

  PendingAppends late(format::LateSchema(), 1 << 20);
  EXPECT_FALSE(late.RestoreState(bytes).ok());
  EXPECT_TRUE(late.empty());

  PendingAppends other(format::QuarantineSchema(), 1 << 20);
  other.Add({Quarantined(3, 0, 1)}, {{"q/orders/3", 1}});
  for (size_t cut : {size_t{0}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_FALSE(other.RestoreState(std::string_view(bytes).substr(0, cut)).ok()) << cut;
  }
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x40;
  EXPECT_FALSE(other.RestoreState(flipped).ok());
  ASSERT_OK_AND_ASSIGN(rows, other.Rows());
  EXPECT_EQ(rows->num_rows(), 1);
}

/// The rows and positions of `p` as one comparable snapshot.
std::string Whole(PendingAppends& p) { return p.SerializeState(); }

// A snapshot, then a delta after every batch (rows added, a commit that cleared them, batches
// without rows), replayed in order on a fresh copy, gives the same rows and positions as the
// original at every step; a delta holds only the rows added since the one before.
TEST(PendingAppendsTest, DeltasReplayedInOrderRebuildTheSameRows) {
  PendingAppends pending(format::QuarantineSchema(), 1 << 20);
  PendingAppends replica(format::QuarantineSchema(), 1 << 20);
  pending.Add({Quarantined(0, 0, 2)}, {{"q/orders/0", 2}});
  ASSERT_OK(replica.RestoreState(pending.SerializeState()));
  std::vector<std::string> deltas;
  std::vector<size_t> whole_sizes;
  for (int step = 1; step <= 12; ++step) {
    SCOPED_TRACE(step);
    if (step % 5 == 0) pending.Clear();  // the side table committed them
    if (step % 3 != 0) {
      pending.Add({Quarantined(step % 2, step * 100, step, step * 50)}, {{"q/orders/" + std::to_string(step % 2), step * 100 + step}});
    }
    deltas.push_back(pending.SerializeDelta());
    ASSERT_OK(replica.ApplyDelta(deltas.back()));
    PendingAppends copy_of_pending(format::QuarantineSchema(), 1 << 20), copy_of_replica(format::QuarantineSchema(), 1 << 20);
    ASSERT_OK(copy_of_pending.RestoreState(pending.SerializeState()));
    ASSERT_OK(copy_of_replica.RestoreState(replica.SerializeState()));
    EXPECT_EQ(Whole(copy_of_replica), Whole(copy_of_pending));
    whole_sizes.push_back(Whole(copy_of_pending).size());
    EXPECT_EQ(replica.num_rows(), pending.num_rows());
    EXPECT_EQ(replica.sources(), pending.sources());
  }
  // Step 4 added 4 rows of 200 bytes to the 5 held: its delta holds those 4 alone.
  EXPECT_GT(deltas[3].size(), 4u * 200);
  EXPECT_LT(deltas[3].size(), whole_sizes[3] - 200);
  // A batch that added nothing writes no rows.
  EXPECT_LT(deltas[2].size(), 200u);
}

// An earlier build kept these rows as a whole part: its snapshot, met where a delta is
// expected, replaces the rows. A corrupted delta, or one of another table, changes nothing.
TEST(PendingAppendsTest, ASnapshotInADeltasPlaceReplacesAndABadDeltaIsRefused) {
  PendingAppends pending(format::QuarantineSchema(), 1 << 20);
  pending.Add({Quarantined(0, 0, 3)}, {{"q/orders/0", 3}});
  const std::string snapshot = pending.SerializeState();
  PendingAppends replica(format::QuarantineSchema(), 1 << 20);
  replica.Add({Quarantined(5, 0, 7)}, {{"q/orders/5", 7}});
  ASSERT_OK(replica.ApplyDelta(snapshot));
  EXPECT_EQ(replica.num_rows(), 3);
  EXPECT_EQ(replica.sources(), pending.sources());

  pending.Add({Quarantined(0, 3, 2)}, {{"q/orders/0", 5}});
  const std::string delta = pending.SerializeDelta();
  std::string flipped = delta;
  flipped[flipped.size() / 2] ^= 0x40;
  EXPECT_FALSE(replica.ApplyDelta(flipped).ok());
  EXPECT_FALSE(replica.ApplyDelta(std::string_view(delta).substr(0, delta.size() - 1)).ok());
  PendingAppends late(format::LateSchema(), 1 << 20);
  EXPECT_FALSE(late.ApplyDelta(delta).ok());
  EXPECT_TRUE(late.empty());
  EXPECT_EQ(replica.num_rows(), 3);
  ASSERT_OK(replica.ApplyDelta(delta));
  EXPECT_EQ(replica.num_rows(), 5);
  EXPECT_EQ(replica.sources(), (sink::SourceTxns{{"q/orders/0", 5}}));
}

// HeldBronze keeps only where its rows came from: a restore has their ranges and ingest times
// and reads the rows again; until then it has no rows to commit. (It never looks at the rows'
// columns, so quarantine-shaped rows serve here.)
TEST(HeldBronzeTest, ARestoreReadsTheHeldBatchesAgainFromTheirRangesAndIngestTimes) {
  HeldBronze held(1 << 20, 3);
  EXPECT_TRUE(held.empty());
  held.Add(Quarantined(0, 0, 4), 1000, {{0, {0, 4}}, {1, {7, 7}}}, {{"q/orders/0", 4}, {"q/orders/1", 7}});
  held.Add(nullptr, 2000, {{0, {4, 4}}}, {{"q/orders/0", 4}});  // an empty batch holds nothing
  held.Add(Quarantined(0, 4, 2), 3000, {{0, {4, 6}}}, {{"q/orders/0", 6}});
  EXPECT_EQ(held.num_rows(), 6);
  EXPECT_EQ(held.batches().size(), 2u);
  EXPECT_FALSE(held.full());
  EXPECT_EQ(held.sources(), (sink::SourceTxns{{"q/orders/0", 6}, {"q/orders/1", 7}}));
  const std::string snapshot = held.SerializeState();
  EXPECT_LT(snapshot.size(), 200u) << "no rows in the state";

  HeldBronze restored(1 << 20, 3);
  ASSERT_OK(restored.RestoreState(snapshot));
  EXPECT_TRUE(restored.needs_refill());
  EXPECT_FALSE(restored.Rows().ok());
  EXPECT_EQ(restored.sources(), held.sources());
  std::vector<std::pair<int64_t, int64_t>> read;  // (ingest time, first offset) of each read
  int calls = 0;
  ASSERT_OK(restored.Refill([&](const std::vector<const HeldBronze::Batch*>& batches)
                                -> arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> {
    ++calls;
    std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
    for (const HeldBronze::Batch* b : batches) {
      read.emplace_back(b->ingest_time_us, b->offsets.at(0).start);
      rows.push_back(Quarantined(0, b->offsets.at(0).start, static_cast<int>(b->offsets.at(0).end - b->offsets.at(0).start)));
    }
    return rows;
  }));
  EXPECT_EQ(calls, 1) << "every held batch in one read";
  EXPECT_EQ(read, (std::vector<std::pair<int64_t, int64_t>>{{1000, 0}, {3000, 4}}));
  EXPECT_FALSE(restored.needs_refill());
  EXPECT_EQ(restored.num_rows(), 6);
  ASSERT_OK_AND_ASSIGN(rows, restored.Rows());
  ASSERT_OK_AND_ASSIGN(original, held.Rows());
  EXPECT_TRUE(rows->Equals(*original));
  EXPECT_EQ(restored.SerializeState(), snapshot);

  held.Add(Quarantined(0, 6, 1), 4000, {{0, {6, 7}}}, {{"q/orders/0", 7}});
  EXPECT_TRUE(held.full()) << "three batches, the most it holds";
  held.Clear();
  EXPECT_TRUE(held.empty());
  EXPECT_EQ(held.num_rows(), 0);
  EXPECT_TRUE(held.sources().empty());
}

TEST(HeldBronzeTest, ACorruptedOrImpossibleSnapshotIsRefusedAndChangesNothing) {
  HeldBronze held(1 << 20, 64);
  held.Add(Quarantined(0, 0, 2), 1000, {{0, {0, 2}}}, {{"q/orders/0", 2}});
  const std::string snapshot = held.SerializeState();
  HeldBronze other(1 << 20, 64);
  other.Add(Quarantined(3, 10, 1), 5, {{3, {10, 11}}}, {{"q/orders/3", 11}});
  std::string flipped = snapshot;
  flipped[flipped.size() / 2] ^= 0x40;
  EXPECT_FALSE(other.RestoreState(flipped).ok());
  EXPECT_FALSE(other.RestoreState(std::string_view(snapshot).substr(0, snapshot.size() - 1)).ok());
  PendingAppends pending(format::QuarantineSchema(), 1 << 20);
  EXPECT_FALSE(other.RestoreState(pending.SerializeState()).ok()) << "another part's snapshot";
  // A range ending before it starts, and a partition twice, are refused by name.
  HeldBronze backwards(1 << 20, 64);
  backwards.Add(Quarantined(0, 0, 1), 1000, {{0, {5, 2}}}, {});
  EXPECT_FALSE(other.RestoreState(backwards.SerializeState()).ok());
  EXPECT_EQ(other.num_rows(), 1);
  EXPECT_FALSE(other.needs_refill());
  EXPECT_EQ(other.sources(), (sink::SourceTxns{{"q/orders/3", 11}}));
}

}  // namespace
}  // namespace medallion::engine
