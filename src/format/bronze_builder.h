#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace medallion::format {

/// Builds a Bronze record batch (BronzeSchema) from Kafka records, one row per record,
/// the value bytes unchanged. Not thread-safe; reusable after Finish().
class BronzeBuilder {
 public:
  explicit BronzeBuilder(std::string topic, int64_t ingest_time_us);

  /// Appends one record. `key`/`value` may be null (absent), which is kept as null.
  arrow::Status Append(int32_t partition, int64_t offset, std::optional<int64_t> timestamp_ms,
                       const void* key, size_t key_len, const void* value, size_t value_len);

  /// Reserves room for `rows` more records holding `key_bytes` and `value_bytes` in all,
  /// so appending them never reallocates (and copies) the buffers.
  arrow::Status Reserve(int64_t rows, int64_t key_bytes, int64_t value_bytes);

  /// Returns the batch built so far and resets the builder.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Finish();

 private:
  std::string topic_;
  int64_t ingest_time_us_;
  arrow::StringBuilder topic_b_;
  arrow::Int32Builder partition_b_;
  arrow::Int64Builder offset_b_;
  arrow::TimestampBuilder timestamp_b_;
  arrow::BinaryBuilder key_b_;
  arrow::BinaryBuilder value_b_;
  arrow::TimestampBuilder ingest_b_;
};

}  // namespace medallion::format
