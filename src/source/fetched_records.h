#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace medallion::source {

/// Offsets [start, end) of one partition in one micro-batch.
struct OffsetRange {
  int64_t start = 0;
  int64_t end = 0;
};

/// partition → range. Ordered, so a batch plan serializes the same way every time.
using BatchOffsets = std::map<int32_t, OffsetRange>;

/// What a record's Kafka timestamp means.
enum class TimestampType : uint8_t {
  kNotAvailable,   ///< The record carries no timestamp.
  kCreateTime,     ///< Set by the producer.
  kLogAppendTime,  ///< Set by the broker when it appended the record.
};

/// One Kafka record of a fetched batch: its coordinates, and its key and value as views of
/// bytes the batch keeps alive. A key or value that is absent (null in Kafka) is nullopt,
/// which is not the same as an empty one.
struct Record {
  int32_t partition = 0;
  int64_t offset = 0;
  /// Milliseconds since the epoch; meaningful unless `timestamp_type` is kNotAvailable.
  int64_t timestamp_ms = 0;
  TimestampType timestamp_type = TimestampType::kNotAvailable;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
};

/// A batch of records read from Kafka, in (partition, offset) order, with the offset ranges
/// it covers. The records view the fetched buffers without a copy; the batch owns those
/// buffers and frees them when it is destroyed or assigned, so a Record must not outlive
/// its batch, and a batch from a KafkaSource must be released before that source is
/// destroyed. Move-only. Not thread-safe, but a batch may be handed to another thread.
class FetchedRecords {
 public:
  /// Keeps the memory that a batch's records view alive, until the batch is released.
  class Buffers {
   public:
    virtual ~Buffers() = default;
  };

  /// An empty batch.
  FetchedRecords() = default;

  /// A batch of `records` covering `offsets`, whose bytes `buffers` keeps alive. With null
  /// `buffers` (tests, tools), the caller keeps the bytes alive for the batch's life.
  FetchedRecords(std::vector<Record> records, BatchOffsets offsets,
                 std::unique_ptr<Buffers> buffers = nullptr)
      : records_(std::move(records)), offsets_(std::move(offsets)), buffers_(std::move(buffers)) {}

  FetchedRecords(FetchedRecords&&) noexcept = default;
  FetchedRecords& operator=(FetchedRecords&&) noexcept = default;
  FetchedRecords(const FetchedRecords&) = delete;
  FetchedRecords& operator=(const FetchedRecords&) = delete;

  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  const Record& record(size_t i) const { return records_[i]; }
  std::vector<Record>::const_iterator begin() const { return records_.begin(); }
  std::vector<Record>::const_iterator end() const { return records_.end(); }

  /// The offset ranges the batch covers per partition: from where the batch started reading
  /// to past its last record (gaps without records included).
  const BatchOffsets& offsets() const { return offsets_; }

 private:
  std::vector<Record> records_;
  BatchOffsets offsets_;
  std::unique_ptr<Buffers> buffers_;
};

}  // namespace medallion::source
