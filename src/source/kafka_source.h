#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "source/fetched_records.h"

// librdkafka's types stay inside the source: its header is included by the .cc files only.
namespace RdKafka {
class KafkaConsumer;
class Message;
class Queue;
class RebalanceCb;
class TopicPartition;
}  // namespace RdKafka

namespace medallion::source {

class KafkaEventLogger;
class GroupRebalancer;

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
  /// Extra librdkafka properties (e.g. security settings for a real cluster). The
  /// properties the engine's guarantees depend on (ProtectedPropertyReason) are refused.
  std::map<std::string, std::string> extra;
};

/// Group mode: what the engine does when the consumer group moves partitions to or from this
/// member. Called inside KafkaSource::Poll (librdkafka serves rebalances from the consumer's
/// queue), so never while a batch of this member is being processed.
class PartitionListener {
 public:
  virtual ~PartitionListener() = default;
  /// Partitions the group gave this member: returns where each starts (its next offset), or
  /// no entry for a partition no table holds yet (it starts at starting_offsets). An error
  /// ends the run (Poll returns it).
  virtual arrow::Result<std::map<int32_t, int64_t>> OnAssigned(const std::vector<int32_t>& partitions) = 0;
  /// Partitions the group took from this member: the engine forgets their state.
  virtual void OnRevoked(const std::vector<int32_t>& partitions) = 0;
};

/// Why the engine sets librdkafka property `key` itself and a user may not override it, or
/// an empty string if the key is free to set.
std::string ProtectedPropertyReason(const std::string& key);

/// Whether the text of a librdkafka authentication error (ERR__AUTHENTICATION) says the
/// connection dropped during the SASL exchange ("SASL PLAIN mechanism handshake failed: Local:
/// Broker transport failure", "... Disconnected", a time-out) rather than that the broker
/// refused the credentials: librdkafka reports both with the same code, and reconnects by
/// itself after the first, so only the second ends a run.
bool AuthenticationLostItsConnection(std::string_view detail);

/// A librdkafka configuration error with every occurrence of `value` replaced, so that a
/// message about a property never shows its value (it may be a secret).
std::string RedactValue(std::string message, const std::string& value);

/// Reads bounded micro-batches of records from every partition of one topic.
///
/// One process (Start): the source assigns itself all partitions at the offsets the engine's
/// checkpoint gives (the checkpoint, not Kafka, is the truth, as in Spark). Group mode
/// (Subscribe): the consumer group assigns the partitions, and each starts where the engine's
/// PartitionListener says (the tables, not the group's offsets, are the truth). Either way
/// offsets are committed to the group only for monitoring (lag).
///
/// Kafka as producers write it: the consumer reads with isolation.level=read_committed, so
/// aborted records never arrive; transaction markers, aborted records and compacted-away
/// records leave gaps in the offsets. Partition EOF is enabled, and an EOF event's offset
/// (where the partition's readable log ends for this consumer, past any markers) becomes
/// the partition's position, so a position reaches the end offsets that EndOffsets reports
/// (the last stable offset under read_committed) even when the last offsets hold no record.
///
/// Fair reading: each partition has its own librdkafka queue (not forwarded to the
/// consumer's queue), and a batch takes one record from each partition that has one ready
/// in turn, so a batch holds every readable partition in equal shares, whatever order
/// the fetch responses came in.
///
/// Every wait (broker down at start-up, offset queries, replay) ends within about a second
/// once the stop flag (SetStopFlag) is set, with a Cancelled status. Authentication and
/// authorization failures (from librdkafka's events, consumer errors, metadata and offset
/// commits) end every wait at once with an IOError that names the cause (never a property
/// value).
///
/// Records reach the engine as FetchedRecords: views of the fetched buffers with their
/// coordinates, owned by the batch, so no librdkafka type leaves the source and no payload is
/// copied. A batch stays valid while the source reads further batches; every batch must be
/// released before the source is destroyed (librdkafka's teardown waits for its messages).
///
/// Lifecycle: Make → SetStopFlag → Partitions → Start(next offsets) → Poll/Replay … ; one
/// thread at a time (the read-ahead thread and the engine thread never call it together),
/// except Lag and KnownEnds, which read only librdkafka's cache.
class KafkaSource {
 public:
  ~KafkaSource();

  static arrow::Result<std::unique_ptr<KafkaSource>> Make(const SourceOptions& options);

  /// Every wait returns Cancelled soon after `*stop` becomes true. `stop` must outlive the
  /// source.
  void SetStopFlag(const std::atomic<bool>* stop) { stop_ = stop; }

  /// Partition ids of the topic (from metadata; waits for the broker up to `timeout_ms`).
  arrow::Result<std::vector<int32_t>> Partitions(int timeout_ms);

  /// Latest readable offsets of every partition now: the last stable offset (read_committed),
  /// which is where a partition's EOF is reported once everything before it is read.
  arrow::Result<std::map<int32_t, int64_t>> EndOffsets(int timeout_ms);

  /// Assigns every partition, starting at `next` where known, else at starting_offsets (a
  /// partition the checkpoint does not know while it knows others was added to the topic
  /// later: it starts at its earliest offset). A `next` offset the partition no longer holds
  /// is data loss (see fail_on_data_loss).
  arrow::Status Start(const std::map<int32_t, int64_t>& next);

  /// Reads the next batch: records in (partition, offset) order and the ranges they cover
  /// (from each partition's position before the batch to past its last record). Returns an
  /// empty batch if nothing arrived within the limits' wait time.
  /// `stop_at` (optional) bounds each partition (used by --until-caught-up). Without it,
  /// the topic's metadata is checked every few seconds and partitions added to the topic
  /// are assigned from their earliest offset.
  arrow::Result<FetchedRecords> Poll(const BatchLimits& limits,
                                     const std::map<int32_t, int64_t>* stop_at);

  /// Re-reads the ranges of a planned batch (crash recovery). A partition is done when a
  /// record at or past its range end arrives, or at its EOF: offsets of the range that hold
  /// no record any more (compacted away; transaction markers and aborted records) are
  /// skipped and logged once, not data loss. Waits for the broker as long as needed, up to
  /// `timeout_ms`. Records below the partition's log start are data loss (see
  /// fail_on_data_loss). The batch's records are in (partition, offset) order; its
  /// offsets() are `offsets`.
  arrow::Result<FetchedRecords> Replay(const BatchOffsets& offsets, int timeout_ms);
  /// Re-reads several batches at once (the Bronze rows a restart reads again), as Replay
  /// re-reads one: each partition's offsets are queried and assigned once for all of them,
  /// which a batch at a time did once per batch (each query queued behind a fetch waiting at
  /// the log's end: 0.3-0.5 s a batch). Batches whose ranges of a partition overlap are read
  /// one at a time. One FetchedRecords per batch, in order.
  arrow::Result<std::vector<FetchedRecords>> Replay(const std::vector<BatchOffsets>& batches, int timeout_ms);

  /// Records between `next` and the partitions' ends as last seen in fetch responses (no
  /// broker round trip), summed over the partitions; -1 while an end is not known yet.
  /// Safe beside a Poll on another thread: it reads only librdkafka's own cache.
  int64_t Lag(const std::map<int32_t, int64_t>& next) const;

  /// The end offset of each partition of `next` as last seen in fetch responses (no broker
  /// round trip; the high watermark), or -1 while it is not known. Safe beside a Poll on
  /// another thread.
  std::map<int32_t, int64_t> KnownEnds(const std::map<int32_t, int64_t>& next) const;

  /// Group mode: joins the consumer group `group_id` with cooperative-sticky assignment,
  /// instead of Start. Partitions come and go inside Poll, through `listener` (which must
  /// outlive the source); positions() holds the assigned ones. Added partitions reach the group
  /// through librdkafka's metadata refresh (every few seconds).
  arrow::Status Subscribe(PartitionListener* listener);

  /// Group mode: reads every partition of this member again from `starts` (a partition
  /// without one from starting_offsets), dropping what was fetched ahead.
  arrow::Status Reposition(const std::map<int32_t, int64_t>& starts);

  /// Commits `next` offsets to the consumer group, asynchronously, for lag monitoring.
  void CommitForMonitoring(const std::map<int32_t, int64_t>& next);

  /// Next offset to read per partition.
  const std::map<int32_t, int64_t>& positions() const { return positions_; }

 private:
  /// One assigned partition's own queue and the items taken from the consumer's queue for it
  /// (before librdkafka's forwarding was turned off), in offset order.
  struct PartitionReader {
    std::unique_ptr<RdKafka::Queue> queue;
    std::deque<std::unique_ptr<RdKafka::Message>> held;
  };

  explicit KafkaSource(SourceOptions options);
  friend class GroupRebalancer;
  /// Group mode: serves one rebalance event (librdkafka's RebalanceCb).
  void OnRebalance(RdKafka::KafkaConsumer* consumer, int err, std::vector<RdKafka::TopicPartition*>& partitions);
  /// Where a partition without a position starts: its first or its end offset (starting_offsets).
  arrow::Result<int64_t> StartingOffset(int32_t partition);
  /// Group mode: starts reading `at`'s partitions at its offsets, beside those read already.
  arrow::Status AddPartitions(const std::map<int32_t, int64_t>& at);
  arrow::Status Assign(const std::map<int32_t, int64_t>& at);
  /// Turns forwarding of every partition queue to the consumer's queue off. librdkafka
  /// turns it on when a partition starts fetching, asynchronously after assign, unless the
  /// application set it; calling this again is harmless.
  void DetachPartitionQueues();
  /// Serves the consumer's own queue (events, errors, records forwarded before
  /// DetachPartitionQueues) for up to `timeout_ms`; records and EOFs go to their partition's
  /// held items. Returns the first error that must end the run.
  arrow::Status ServeConsumerQueue(int timeout_ms);
  /// The next item (record, EOF or error) of `partition`, or null if none is ready.
  std::unique_ptr<RdKafka::Message> NextItem(int32_t partition);
  /// The error to end the run with for a consumer error item, or OK if it is transient.
  arrow::Status ConsumeError(const RdKafka::Message& item) const;
  /// Cancelled if the stop flag is set; the recorded authentication/authorization failure if
  /// any; else OK.
  arrow::Status Interrupted() const;
  /// In continuous runs, every few seconds: assigns partitions added to the topic, from their
  /// earliest offsets.
  arrow::Status PickUpNewPartitions();
  /// Reports that `partition` no longer holds `offset` (its offsets now span [low, high)):
  /// an error, or a warning when fail_on_data_loss is false.
  arrow::Status OnDataLoss(int32_t partition, int64_t offset, int64_t low, int64_t high);
  /// The partition's offsets now: [earliest, end). Retries errors the broker recovers from
  /// for up to `timeout_ms`.
  arrow::Result<std::pair<int64_t, int64_t>> OffsetSpan(int32_t partition, int timeout_ms);
  /// Replay's reading: the records of `offsets`, in (partition, offset) order.
  arrow::Result<std::vector<std::unique_ptr<RdKafka::Message>>> ReplayMessages(const BatchOffsets& offsets,
                                                                             int timeout_ms);
  /// The error for librdkafka's offset reset (auto.offset.reset=error): the records at the
  /// position being read were deleted after the run started.
  arrow::Status ReadPastDeletedRecords(const RdKafka::Message& error) const;

  /// (Re)creates the consumer from settings_ with the fetch-ahead budget shared out over
  /// `partitions` partition queues; nothing if the current one already has that share.
  arrow::Status CreateConsumer(size_t partitions);

  SourceOptions options_;
  /// librdkafka properties of the consumer, the engine's protected ones included.
  std::map<std::string, std::string> settings_;
  /// queued.max.messages.kbytes of the current consumer: each partition queue's bound.
  int64_t queue_kbytes_ = 0;
  const std::atomic<bool>* stop_ = nullptr;
  std::unique_ptr<KafkaEventLogger> events_;  // must outlive consumer_: declared first
  /// Group mode (null otherwise): the engine's listener, librdkafka's callback, and the
  /// first error a rebalance met (Poll returns it).
  PartitionListener* listener_ = nullptr;
  std::unique_ptr<RdKafka::RebalanceCb> rebalancer_;
  arrow::Status rebalance_error_;
  /// Whether the group has given this member an assignment yet (even an empty one).
  bool assigned_once_ = false;
  bool in_rebalance_ = false;  // inside OnRebalance: the consumer queue is not served
  /// Where each partition's part of the batch being polled starts (set at assignment too).
  std::map<int32_t, int64_t> batch_start_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  /// Partition queues hold a reference to consumer_: declared after it, destroyed first.
  std::map<int32_t, PartitionReader> readers_;
  std::vector<int32_t> partitions_;
  /// Next offset to read per partition (the start of the next batch).
  std::map<int32_t, int64_t> positions_;
  /// Where the next batch's round over the partitions starts (turns with every batch).
  size_t round_start_ = 0;
  /// The targets being drained to (run --until-caught-up) and the positions the drain
  /// started from: a partition's progress is the share of that span it has read.
  std::map<int32_t, int64_t> drain_targets_, drain_origin_;
  std::chrono::steady_clock::time_point last_metadata_check_ = std::chrono::steady_clock::now();
};

}  // namespace medallion::source
