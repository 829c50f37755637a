#include "engine/bronze_batch.h"

#include <optional>

#include "format/bronze_builder.h"

namespace medallion::engine {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> BronzeFromMessages(
    const std::vector<std::unique_ptr<RdKafka::Message>>& messages, const std::string& topic,
    int64_t ingest_time_us) {
  format::BronzeBuilder builder(topic, ingest_time_us);
  int64_t key_bytes = 0, value_bytes = 0;
  for (const auto& m : messages) {
    key_bytes += m->key() ? static_cast<int64_t>(m->key()->size()) : 0;
    value_bytes += static_cast<int64_t>(m->len());
  }
  ARROW_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(messages.size()), key_bytes, value_bytes));
  for (const auto& m : messages) {
    const std::string* key = m->key();
    const RdKafka::MessageTimestamp ts = m->timestamp();
    std::optional<int64_t> ts_ms;
    if (ts.type != RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE) ts_ms = ts.timestamp;
    ARROW_RETURN_NOT_OK(builder.Append(m->partition(), m->offset(), ts_ms, key ? key->data() : nullptr,
                                       key ? key->size() : 0, m->payload(), m->len()));
  }
  return builder.Finish();
}

sink::ParquetOptions TableParquetOptions(sink::ParquetOptions base) {
  base.plain_columns = {"value"};  // Bronze and Quarantine keep each message's bytes
  base.no_dictionary_columns = {"key", "offset", "event_id", "order_id", "kafka_offset"};
  return base;
}

}  // namespace medallion::engine
