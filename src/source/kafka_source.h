#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <librdkafka/rdkafkacpp.h>

namespace medallion::source {

class KafkaEventLogger;

/// Offsets [start, end) of one partition in one micro-batch.
struct OffsetRange {
  int64_t start = 0;
  int64_t end = 0;
};

/// partition → range. Ordered, so a batch plan serializes the same way every time.
using BatchOffsets = std::map<int32_t, OffsetRange>;

/// Limits of one micro-batch: whichever is hit first ends it.
struct BatchLimits {
  int64_t max_records = 200000;
  int64_t max_bytes = 48 << 20;
  int64_t max_wait_ms = 1000;
};

/// True if `positions` (next offset per partition) reach every partition's target offset.
inline bool Reached(const std::map<int32_t, int64_t>& positions,
                    const std::map<int32_t, int64_t>& targets) {
  for (const auto& [p, end] : targets) {
    auto it = positions.find(p);
    if (it == positions.end() || it->second < end) return false;
  }
  return true;
}

/// Connection settings.
struct SourceOptions {
  std::string brokers = "127.0.0.1:19092";
  std::string topic = "orders";
  std::string group_id = "medallion";
  /// Where to start a partition that the checkpoint does not know: "earliest" or "latest".
  std::string starting_offsets = "earliest";
  /// When the topic no longer holds an offset the query has yet to read (records deleted by
  /// retention or delete-records before they were read; the topic recreated; a truncated
  /// log), true stops the run with an error naming the partition and the offsets, as
  /// Spark's failOnDataLoss does; false logs the same as a warning and continues from the
  /// partition's earliest offset.
  bool fail_on_data_loss = true;
  /// Bytes librdkafka fetches ahead of the engine. Two batches' worth keeps a batch waiting
  /// in memory while the engine works on the one before it.
  int64_t prefetch_bytes = 2 * BatchLimits{}.max_bytes;
  /// Extra librdkafka properties (e.g. security settings for a real cluster).
  std::map<std::string, std::string> extra;
};

/// Reads bounded micro-batches of records from every partition of one topic.
///
/// The source does not subscribe through the group protocol: it assigns itself all
/// partitions at the offsets the engine's checkpoint gives (the checkpoint, not Kafka, is
/// the truth, as in Spark). Offsets are committed to the group only for monitoring (lag).
/// Lifecycle: Make → Start(next offsets) → Poll/Replay … ; one thread only.
class KafkaSource {
 public:
  ~KafkaSource();

  static arrow::Result<std::unique_ptr<KafkaSource>> Make(const SourceOptions& options);

  /// Partition ids of the topic (from metadata; waits for the broker up to `timeout_ms`).
  arrow::Result<std::vector<int32_t>> Partitions(int timeout_ms);

  /// Latest offsets (high watermarks) of every partition now.
  arrow::Result<std::map<int32_t, int64_t>> EndOffsets(int timeout_ms);

  /// Assigns every partition, starting at `next` where known, else at starting_offsets.
  /// A `next` offset the partition no longer holds is data loss (see fail_on_data_loss).
  arrow::Status Start(const std::map<int32_t, int64_t>& next);

  /// Reads the next batch: messages in (partition, offset) order and their ranges.
  /// Returns an empty batch if nothing arrived within the limits' wait time.
  /// `stop_at` (optional) bounds each partition (used by --until-caught-up).
  arrow::Status Poll(const BatchLimits& limits, const std::map<int32_t, int64_t>* stop_at,
                     std::vector<std::unique_ptr<RdKafka::Message>>* messages,
                     BatchOffsets* offsets);

  /// Re-reads exactly the ranges of a planned batch (crash recovery), then positions each
  /// partition at its range end. Waits for the broker as long as needed, up to `timeout_ms`.
  /// Records of the ranges deleted since the plan are data loss (see fail_on_data_loss).
  arrow::Status Replay(const BatchOffsets& offsets, int timeout_ms,
                       std::vector<std::unique_ptr<RdKafka::Message>>* messages);

  /// Records between `next` and the partitions' ends as last seen in fetch responses (no
  /// broker round trip), summed over the partitions; -1 while an end is not known yet.
  /// Safe beside a Poll on another thread: it reads only librdkafka's own cache.
  int64_t Lag(const std::map<int32_t, int64_t>& next) const;

  /// Commits `next` offsets to the consumer group, asynchronously, for lag monitoring.
  void CommitForMonitoring(const std::map<int32_t, int64_t>& next);

  /// Next offset to read per partition.
  const std::map<int32_t, int64_t>& positions() const { return positions_; }



 private:
  explicit KafkaSource(SourceOptions options);
  arrow::Status Assign(const std::map<int32_t, int64_t>& at);
  /// Reports that `partition` no longer holds `offset` (its offsets now span [low, high)):
  /// an error, or a warning when fail_on_data_loss is false.
  arrow::Status OnDataLoss(int32_t partition, int64_t offset, int64_t low, int64_t high);
  /// The partition's offsets now: [earliest, end). Retries errors the broker recovers from
  /// for up to `timeout_ms`.
  arrow::Result<std::pair<int64_t, int64_t>> OffsetSpan(int32_t partition, int timeout_ms);
  /// The error for librdkafka's offset reset (auto.offset.reset=error): the records at the
  /// position being read were deleted after the run started.
  arrow::Status ReadPastDeletedRecords(const RdKafka::Message& error) const;

  SourceOptions options_;
  std::unique_ptr<KafkaEventLogger> events_;  // must outlive consumer_: declared first
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::vector<int32_t> partitions_;
  /// Next offset to read per partition (the start of the next batch).
  std::map<int32_t, int64_t> positions_;
};

}  // namespace medallion::source
