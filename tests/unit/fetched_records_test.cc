// The record batch view the source hands the engine, and the Bronze batch built from it.
#include "source/fetched_records.h"

#include <string>

#include <arrow/array.h>
#include <gtest/gtest.h>

#include "engine/bronze_batch.h"
#include "status_assertions.h"

namespace medallion::source {
namespace {

/// Counts how often the batches that own it are released.
class CountingBuffers : public FetchedRecords::Buffers {
 public:
  explicit CountingBuffers(int* released) : released_(released) {}
  ~CountingBuffers() override { ++*released_; }

 private:
  int* released_;
};

TEST(FetchedRecordsTest, ViewsRecordsAndOffsets) {
  const std::string value = std::string("{\"a\":1}\0tail", 12);  // bytes, not a C string
  const std::string key = "k1";
  std::vector<Record> records(2);
  records[0] = {0, 7, 1700000000123, TimestampType::kCreateTime, key, value};
  records[1] = {3, 42, 0, TimestampType::kNotAvailable, std::nullopt, std::nullopt};
  const BatchOffsets offsets = {{0, {5, 8}}, {3, {42, 43}}};
  const FetchedRecords batch(std::move(records), offsets);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_FALSE(batch.empty());
  EXPECT_EQ(batch.record(0).value->data(), value.data());  // a view, not a copy
  EXPECT_EQ(batch.record(0).value->size(), 12u);
  EXPECT_EQ(*batch.record(0).key, "k1");
  EXPECT_FALSE(batch.record(1).key.has_value());
  EXPECT_EQ(batch.record(1).partition, 3);
  EXPECT_EQ(batch.record(1).offset, 42);
  EXPECT_EQ(batch.offsets().at(0).start, 5);
  EXPECT_EQ(batch.offsets().at(0).end, 8);
  int seen = 0;
  for (const Record& r : batch) seen += r.partition;
  EXPECT_EQ(seen, 3);
  EXPECT_TRUE(FetchedRecords().empty());
}

TEST(FetchedRecordsTest, OwnsItsBuffersUntilReleased) {
  int released = 0;
  FetchedRecords batch({Record{}}, {}, std::make_unique<CountingBuffers>(&released));
  FetchedRecords moved = std::move(batch);
  EXPECT_EQ(released, 0);
  EXPECT_EQ(moved.size(), 1u);
  moved = FetchedRecords();
  EXPECT_EQ(released, 1);
}

TEST(FetchedRecordsTest, BronzeKeepsBytesNullsAndCoordinates) {
  const std::string value = std::string("v\0w", 3);
  const std::string empty;
  std::vector<Record> records = {
      {1, 10, 1700000000123, TimestampType::kLogAppendTime, std::string_view("key"), value},
      {1, 11, 0, TimestampType::kNotAvailable, std::nullopt, std::nullopt},
      {2, 0, 5, TimestampType::kCreateTime, std::string_view(empty), std::string_view(empty)},
  };
  const FetchedRecords batch(std::move(records), {{1, {10, 12}}, {2, {0, 1}}});
  ASSERT_OK_AND_ASSIGN(bronze, engine::BronzeFromRecords(batch, "orders", 99));
  ASSERT_EQ(bronze->num_rows(), 3);
  ASSERT_OK(bronze->ValidateFull());
  const auto& topic = static_cast<const arrow::StringArray&>(*bronze->GetColumnByName("topic"));
  const auto& partition = static_cast<const arrow::Int32Array&>(*bronze->GetColumnByName("partition"));
  const auto& offset = static_cast<const arrow::Int64Array&>(*bronze->GetColumnByName("offset"));
  const auto& ts = static_cast<const arrow::TimestampArray&>(*bronze->GetColumnByName("kafka_timestamp"));
  const auto& k = static_cast<const arrow::BinaryArray&>(*bronze->GetColumnByName("key"));
  const auto& v = static_cast<const arrow::BinaryArray&>(*bronze->GetColumnByName("value"));
  EXPECT_EQ(topic.GetString(2), "orders");
  EXPECT_EQ(partition.Value(0), 1);
  EXPECT_EQ(partition.Value(2), 2);
  EXPECT_EQ(offset.Value(1), 11);
  EXPECT_EQ(ts.Value(0), 1700000000123 * 1000);  // microseconds
  EXPECT_TRUE(ts.IsNull(1));
  EXPECT_EQ(ts.Value(2), 5000);
  EXPECT_EQ(k.GetString(0), "key");
  EXPECT_TRUE(k.IsNull(1));
  EXPECT_TRUE(k.IsValid(2));  // empty, not null
  EXPECT_EQ(k.GetString(2), "");
  EXPECT_EQ(v.GetString(0), value);
  EXPECT_TRUE(v.IsNull(1));
  EXPECT_TRUE(v.IsValid(2));
}

}  // namespace
}  // namespace medallion::source
