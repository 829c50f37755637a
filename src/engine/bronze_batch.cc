#include "engine/bronze_batch.h"

#include <optional>

#include "format/bronze_builder.h"

namespace medallion::engine {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> BronzeFromRecords(
    const source::FetchedRecords& records, const std::string& topic, int64_t ingest_time_us) {
  format::BronzeBuilder builder(topic, ingest_time_us);
  int64_t key_bytes = 0, value_bytes = 0;
  for (const source::Record& r : records) {
    key_bytes += r.key ? static_cast<int64_t>(r.key->size()) : 0;
    value_bytes += r.value ? static_cast<int64_t>(r.value->size()) : 0;
  }
  ARROW_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(records.size()), key_bytes, value_bytes));
  for (const source::Record& r : records) {
    std::optional<int64_t> ts_ms;
    if (r.timestamp_type != source::TimestampType::kNotAvailable) ts_ms = r.timestamp_ms;
    ARROW_RETURN_NOT_OK(builder.Append(r.partition, r.offset, ts_ms, r.key ? r.key->data() : nullptr,
                                       r.key ? r.key->size() : 0, r.value ? r.value->data() : nullptr,
                                       r.value ? r.value->size() : 0));
  }
  return builder.Finish();
}

sink::ParquetOptions TableParquetOptions(sink::ParquetOptions base) {
  base.plain_columns = {"value"};  // Bronze and Quarantine keep each message's bytes
  base.no_dictionary_columns = {"key", "offset", "event_id", "order_id", "kafka_offset"};
  return base;
}

}  // namespace medallion::engine
