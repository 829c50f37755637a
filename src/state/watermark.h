#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/status.h>

namespace medallion::state {

/// The event-time watermark: "no event older than this is still expected".
///
/// It is the minimum, over the Kafka partitions that are active, of the greatest event
/// time seen in that partition, minus the allowed lateness. The minimum (not the global
/// maximum, as Spark uses for one stream) keeps a partition that is behind — a slow
/// producer, a consumer catching up — from having all its events declared late.
///
/// A partition is active while it brought data within `idle_timeout` of processing time, or
/// while it is behind: it still holds records this query has not read (its next offset is
/// below its end offset as known when the batch was planned). Idle means caught up and
/// silent, not merely not read yet. A behind partition that never brought an event keeps
/// the watermark where it is: nothing is known of the times it will bring. If no partition
/// is active, the maximum over all of them counts. The watermark never goes backwards.
///
/// Processing time is the batch's planned ingest time and the behind partitions come from
/// the batch plan, so a replayed batch computes the same watermark, and the same records
/// give the same watermarks whatever order Kafka hands out the partitions in.
/// Lifecycle: per batch, Observe(...) for each partition, then Advance(now, behind).
/// Not thread-safe.
class Watermark {
 public:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();

  Watermark(int64_t allowed_lateness_us, int64_t idle_timeout_us)
      : lateness_us_(allowed_lateness_us), idle_us_(idle_timeout_us) {}

  /// Records that `partition` brought events up to `max_event_time_us` at `now_us`.
  void Observe(int32_t partition, int64_t max_event_time_us, int64_t now_us);
  /// Observe for each partition of `rows` (columns kafka_partition, event_time) its greatest
  /// event time there.
  void ObserveRows(const arrow::RecordBatch& rows, int64_t now_us);

  /// Recomputes the watermark at processing time `now_us`, with `behind` the partitions that
  /// still hold unread records. Returns the new value.
  int64_t Advance(int64_t now_us, const std::set<int32_t>& behind = {});

  /// The current watermark (kNone before any event).
  int64_t current() const { return current_; }

  std::string SerializeState() const;
  arrow::Status RestoreState(std::string_view bytes);

 private:
  struct PartitionProgress {
    int64_t max_event_time_us = kNone;
    int64_t last_seen_us = 0;
  };
  int64_t lateness_us_;
  int64_t idle_us_;
  std::map<int32_t, PartitionProgress> partitions_;
  int64_t current_ = kNone;
};

}  // namespace medallion::state
