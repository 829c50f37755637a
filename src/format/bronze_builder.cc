#include "format/bronze_builder.h"

#include <arrow/memory_pool.h>

#include "format/schemas.h"

namespace medallion::format {

BronzeBuilder::BronzeBuilder(std::string topic, int64_t ingest_time_us)
    : topic_(std::move(topic)),
      ingest_time_us_(ingest_time_us),
      timestamp_b_(TimestampType(), arrow::default_memory_pool()),
      ingest_b_(TimestampType(), arrow::default_memory_pool()) {}

arrow::Status BronzeBuilder::Append(int32_t partition, int64_t offset,
                                    std::optional<int64_t> timestamp_ms, const void* key,
                                    size_t key_len, const void* value, size_t value_len) {
  ARROW_RETURN_NOT_OK(topic_b_.Append(topic_));
  ARROW_RETURN_NOT_OK(partition_b_.Append(partition));
  ARROW_RETURN_NOT_OK(offset_b_.Append(offset));
  // A producer sets the Kafka timestamp to any 64-bit value; one whose microseconds do not fit
  // in 64 bits (beyond about 292,000 years either way) is stored as null, as one not given.
  int64_t timestamp_us;
  if (timestamp_ms && !__builtin_mul_overflow(*timestamp_ms, int64_t{1000}, &timestamp_us)) {
    ARROW_RETURN_NOT_OK(timestamp_b_.Append(timestamp_us));
  } else {
    ARROW_RETURN_NOT_OK(timestamp_b_.AppendNull());
  }
  if (key != nullptr) {
    ARROW_RETURN_NOT_OK(key_b_.Append(static_cast<const uint8_t*>(key), static_cast<int64_t>(key_len)));
  } else {
    ARROW_RETURN_NOT_OK(key_b_.AppendNull());
  }
  if (value != nullptr) {
    ARROW_RETURN_NOT_OK(
        value_b_.Append(static_cast<const uint8_t*>(value), static_cast<int64_t>(value_len)));
  } else {
    ARROW_RETURN_NOT_OK(value_b_.AppendNull());
  }
  return ingest_b_.Append(ingest_time_us_);
}

arrow::Status BronzeBuilder::Reserve(int64_t rows, int64_t key_bytes, int64_t value_bytes) {
  for (arrow::ArrayBuilder* b : std::initializer_list<arrow::ArrayBuilder*>{
           &topic_b_, &partition_b_, &offset_b_, &timestamp_b_, &key_b_, &value_b_, &ingest_b_}) {
    ARROW_RETURN_NOT_OK(b->Reserve(rows));
  }
  ARROW_RETURN_NOT_OK(topic_b_.ReserveData(rows * static_cast<int64_t>(topic_.size())));
  ARROW_RETURN_NOT_OK(key_b_.ReserveData(key_bytes));
  return value_b_.ReserveData(value_bytes);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> BronzeBuilder::Finish() {
  const int64_t rows = offset_b_.length();
  std::vector<std::shared_ptr<arrow::Array>> cols(7);
  ARROW_RETURN_NOT_OK(topic_b_.Finish(&cols[0]));
  ARROW_RETURN_NOT_OK(partition_b_.Finish(&cols[1]));
  ARROW_RETURN_NOT_OK(offset_b_.Finish(&cols[2]));
  ARROW_RETURN_NOT_OK(timestamp_b_.Finish(&cols[3]));
  ARROW_RETURN_NOT_OK(key_b_.Finish(&cols[4]));
  ARROW_RETURN_NOT_OK(value_b_.Finish(&cols[5]));
  ARROW_RETURN_NOT_OK(ingest_b_.Finish(&cols[6]));
  return arrow::RecordBatch::Make(BronzeSchema(), rows, std::move(cols));
}

}  // namespace medallion::format
