#include "source/kafka_records.h"

namespace medallion::source {
namespace {

/// Owns the librdkafka messages whose buffers a batch's records view.
class KafkaMessages : public FetchedRecords::Buffers {
 public:
  explicit KafkaMessages(std::vector<std::unique_ptr<RdKafka::Message>> messages)
      : messages_(std::move(messages)) {}

 private:
  std::vector<std::unique_ptr<RdKafka::Message>> messages_;
};

TimestampType TypeOf(RdKafka::MessageTimestamp::MessageTimestampType type) {
  switch (type) {
    case RdKafka::MessageTimestamp::MSG_TIMESTAMP_CREATE_TIME:
      return TimestampType::kCreateTime;
    case RdKafka::MessageTimestamp::MSG_TIMESTAMP_LOG_APPEND_TIME:
      return TimestampType::kLogAppendTime;
    default:
      return TimestampType::kNotAvailable;
  }
}

}  // namespace

Record RecordOf(const RdKafka::Message& message) {
  Record r;
  r.partition = message.partition();
  r.offset = message.offset();
  const RdKafka::MessageTimestamp ts = message.timestamp();
  r.timestamp_type = TypeOf(ts.type);
  if (r.timestamp_type != TimestampType::kNotAvailable) r.timestamp_ms = ts.timestamp;
  // key_pointer, not key(): key() copies the key into a std::string the message keeps.
  if (const void* key = message.key_pointer()) {
    r.key = std::string_view(static_cast<const char*>(key), message.key_len());
  }
  if (const void* value = message.payload()) {
    r.value = std::string_view(static_cast<const char*>(value), message.len());
  }
  return r;
}

FetchedRecords FetchedFromMessages(std::vector<std::unique_ptr<RdKafka::Message>> messages,
                                   BatchOffsets offsets) {
  std::vector<Record> records;
  records.reserve(messages.size());
  for (const auto& m : messages) records.push_back(RecordOf(*m));
  return FetchedRecords(std::move(records), std::move(offsets),
                        std::make_unique<KafkaMessages>(std::move(messages)));
}

}  // namespace medallion::source
