// Partition values the engine writes into folder names and the Delta log.
#include "engine/partitioning.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "common/time_util.h"
#include "format/schemas.h"

namespace medallion::engine {
namespace {

TEST(PartitioningTest, HourIsAnUnpaddedInteger) {
  // Hours before 10 have no leading zero, so every reader types the folder as an integer.
  const std::pair<const char*, const char*> cases[] = {
      {"2026-11-26T00:00:52Z", "0"}, {"2026-11-26T09:59:59.999999Z", "9"},
      {"2026-11-26T10:00:00Z", "10"}, {"2026-11-25T23:30:00Z", "23"},
      {"1969-12-31T23:59:59Z", "23"}};  // before the epoch: the floor, not the truncation
  for (const auto& [time, hour] : cases) {
    SCOPED_TRACE(time);
    const auto micros = ParseIso8601Micros(time);
    ASSERT_TRUE(micros.has_value());
    EXPECT_EQ(HourPartitionValue(*micros), hour);
  }
}

/// Bronze rows of one batch: offsets `first`.. of partition 0, all ingested at `ingest_us`.
std::shared_ptr<arrow::RecordBatch> BronzeRows(int64_t first, int n, int64_t ingest_us) {
  arrow::StringBuilder topic;
  arrow::Int32Builder part;
  arrow::Int64Builder offset;
  arrow::TimestampBuilder kafka_ts(format::TimestampType(), arrow::default_memory_pool()),
      ingest(format::TimestampType(), arrow::default_memory_pool());
  arrow::BinaryBuilder key, value;
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(topic.Append("orders").ok() && part.Append(0).ok() && offset.Append(first + i).ok());
    EXPECT_TRUE(kafka_ts.AppendNull().ok() && key.AppendNull().ok() && value.Append("{}").ok());
    EXPECT_TRUE(ingest.Append(ingest_us).ok());
  }
  return arrow::RecordBatch::Make(format::BronzeSchema(), n,
                                  {topic.Finish().ValueOrDie(), part.Finish().ValueOrDie(),
                                   offset.Finish().ValueOrDie(), kafka_ts.Finish().ValueOrDie(),
                                   key.Finish().ValueOrDie(), value.Finish().ValueOrDie(),
                                   ingest.Finish().ValueOrDie()});
}

std::vector<int64_t> Offsets(const arrow::RecordBatch& batch) {
  auto offsets = std::static_pointer_cast<arrow::Int64Array>(batch.GetColumnByName("offset"));
  return {offsets->raw_values(), offsets->raw_values() + offsets->length()};
}

TEST(PartitioningTest, HeldBronzeRowsGoToTheHourOfTheirIngestTime) {
  const int64_t t0 = *ParseIso8601Micros("2026-11-26T09:59:59.900Z");
  const int64_t t1 = *ParseIso8601Micros("2026-11-26T10:00:00.000Z");
  const int64_t t2 = *ParseIso8601Micros("2026-11-26T23:59:59.999Z");
  const int64_t t3 = *ParseIso8601Micros("2026-11-27T00:00:00.050Z");
  // Held batches across an hour and a day; the clock stepped back into 09h for the fourth.
  auto rows = arrow::ConcatenateRecordBatches({BronzeRows(0, 3, t0), BronzeRows(3, 2, t1), BronzeRows(5, 1, t2),
                                               BronzeRows(6, 2, t0 - 1000), BronzeRows(8, 2, t3)})
                  .ValueOrDie();
  auto parts = BronzeParts(rows);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 4u);
  const std::vector<std::pair<std::string, std::string>> want[] = {
      {{"ingest_date", "2026-11-26"}, {"ingest_hour", "9"}},
      {{"ingest_date", "2026-11-26"}, {"ingest_hour", "10"}},
      {{"ingest_date", "2026-11-26"}, {"ingest_hour", "23"}},
      {{"ingest_date", "2026-11-27"}, {"ingest_hour", "0"}}};
  const std::vector<int64_t> offsets[] = {{0, 1, 2, 6, 7}, {3, 4}, {5}, {8, 9}};
  for (size_t i = 0; i < parts->size(); ++i) {
    SCOPED_TRACE(i);
    const sink::PartitionedBatch& part = (*parts)[i];
    EXPECT_EQ(part.values, want[i]);
    EXPECT_EQ(Offsets(*part.batch), offsets[i]);
  }
  // One hour's rows stay the batch itself.
  auto one = BronzeParts(BronzeRows(0, 4, t1));
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(Offsets(*(*one)[0].batch), (std::vector<int64_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace medallion::engine
