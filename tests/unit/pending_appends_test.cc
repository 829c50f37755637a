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
  PendingAppends pending(format::QuarantineSchema());
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
  PendingAppends pending(format::QuarantineSchema());
  pending.Add({Quarantined(0, 0, 4, 0), Quarantined(2, 100, 3, 1000)}, {{"q/orders/0", 4}, {"q/orders/2", 103}});
  const std::string bytes = pending.SerializeState();
  PendingAppends restored(format::QuarantineSchema());
  ASSERT_OK(restored.RestoreState(bytes));
  ASSERT_OK_AND_ASSIGN(a, pending.Rows());
  ASSERT_OK_AND_ASSIGN(b, restored.Rows());
  EXPECT_TRUE(a->Equals(*b));
  EXPECT_EQ(restored.sources(), pending.sources());
  EXPECT_EQ(restored.SerializeState(), bytes);

  // Empty round trip.
  PendingAppends empty(format::QuarantineSchema());
  ASSERT_OK(restored.RestoreState(empty.SerializeState()));
  EXPECT_TRUE(restored.empty());
}

TEST(PendingAppendsTest, ASnapshotOfAnotherSchemaOrCorruptedIsRefusedAndChangesNothing) {
  PendingAppends pending(format::QuarantineSchema());
  pending.Add({Quarantined(0, 0, 2)}, {{"q/orders/0", 2}});
  const std::string bytes = pending.SerializeState();

  PendingAppends late(format::LateSchema());
  EXPECT_FALSE(late.RestoreState(bytes).ok());
  EXPECT_TRUE(late.empty());

  PendingAppends other(format::QuarantineSchema());
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

}  // namespace
}  // namespace medallion::engine
