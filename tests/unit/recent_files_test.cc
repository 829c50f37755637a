#include "sink/recent_files.h"

#include <arrow/api.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

namespace medallion::sink {
namespace {

std::shared_ptr<arrow::RecordBatch> Ids(int64_t first, int64_t rows) {
  arrow::Int64Builder ids;
  for (int64_t id = first; id < first + rows; ++id) EXPECT_TRUE(ids.Append(id).ok());
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("id", arrow::int64())}), rows, {*ids.Finish()});
}

int64_t BytesOf(const std::shared_ptr<arrow::RecordBatch>& rows) {
  return arrow::util::ReferencedBufferSize(*rows).ValueOrDie();
}

TEST(RecentFilesTest, TakeGivesTheRowsPutForThePathOnce) {
  RecentFiles recent(1 << 20);
  auto rows = Ids(0, 100);
  recent.Put("/t/a.parquet", rows);
  EXPECT_EQ(recent.bytes(), BytesOf(rows));
  EXPECT_EQ(recent.Take("/t/b.parquet"), nullptr);
  EXPECT_EQ(recent.Take("/t/a.parquet"), rows);
  EXPECT_EQ(recent.Take("/t/a.parquet"), nullptr);
  EXPECT_EQ(recent.bytes(), 0);
}

TEST(RecentFilesTest, PastTheBoundTheOldestGoFirstAndTooLargeIsNotKept) {
  const int64_t one = BytesOf(Ids(0, 100));
  RecentFiles recent(3 * one);
  for (int i = 0; i < 5; ++i) recent.Put("/t/" + std::to_string(i), Ids(i * 100, 100));
  EXPECT_EQ(recent.bytes(), 3 * one);
  EXPECT_EQ(recent.Take("/t/0"), nullptr);
  EXPECT_EQ(recent.Take("/t/1"), nullptr);
  ASSERT_NE(recent.Take("/t/2"), nullptr);
  // A taken entry frees its room: the next put evicts nothing.
  recent.Put("/t/5", Ids(500, 100));
  EXPECT_NE(recent.Take("/t/3"), nullptr);
  EXPECT_NE(recent.Take("/t/4"), nullptr);
  EXPECT_NE(recent.Take("/t/5"), nullptr);
  recent.Put("/t/big", Ids(0, 1000));
  EXPECT_EQ(recent.Take("/t/big"), nullptr);
  EXPECT_EQ(recent.bytes(), 0);
}

TEST(RecentFilesTest, AfterThousandsOfTakesTheBoundStillHolds) {
  const int64_t one = BytesOf(Ids(0, 10));
  RecentFiles recent(2 * one);
  for (int i = 0; i < 10000; ++i) {
    recent.Put("/t/" + std::to_string(i), Ids(i, 10));
    if (i % 3 != 0) EXPECT_NE(recent.Take("/t/" + std::to_string(i)), nullptr) << i;
  }
  EXPECT_LE(recent.bytes(), 2 * one);
}

}  // namespace
}  // namespace medallion::sink
