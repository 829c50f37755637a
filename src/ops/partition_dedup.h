#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/dedup.h"
#include "ops/row_selection.h"

namespace medallion::ops {

/// Deduplication with a horizon that each Kafka partition keeps on its own
/// (`watermark.dedup_scope = "partition"`).
///
/// Partition p's watermark is the greatest event time among the valid events of p read so
/// far, minus the allowed lateness. A PAID event of p is judged against p's watermark
/// just before it, row by row (not the batch's): older than that watermark minus the dedup
/// horizon (or than `floor_us`) it is beyond the horizon; otherwise it is new unless its
/// event_id was taken within the horizon before it. So what an event gets depends only on
/// the events before it in its own partition: not on batch boundaries, not on the other
/// partitions, not on which process reads them. That is what lets several processes split a
/// topic's partitions and still write the rows one process would. Duplicates of an event
/// share its Kafka key (order_id), so they share its partition; an event_id repeated in
/// another partition is that partition's own first occurrence.
///
/// State per partition: its greatest event time and its ids (a Deduplicator), evicted after
/// each batch by the partition's horizon. Checkpoints: a whole snapshot and deltas, as the
/// Deduplicator's, per partition. Not thread-safe.
class PartitionDedup {
 public:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();

  PartitionDedup(int64_t allowed_lateness_us, int64_t dedup_horizon_us)
      : lateness_us_(allowed_lateness_us), horizon_us_(dedup_horizon_us) {}

  /// The judgment of a batch's PAID events.
  struct Judgment {
    RowSelection fresh;   ///< first occurrences within the horizon, in row order
    RowSelection beyond;  ///< older than their partition's horizon, in row order
    /// For each row of `beyond`, the partition watermark it was judged by.
    std::vector<int64_t> beyond_watermarks;
  };

  /// Reads every row of `events` (valid events in (partition, offset) order: the columns
  /// event_id, event_time and kafka_partition) to move the partition watermarks, and judges
  /// the rows of `paid`. Events before `floor_us` count as beyond the horizon too.
  arrow::Result<Judgment> Process(const arrow::RecordBatch& events, const RowSelection& paid,
                                  int64_t floor_us = kNone);

  /// Forgets, in each partition, the ids before its watermark minus the horizon.
  void Evict();

  /// The horizon setting of this run (a restart may change it).
  int64_t horizon_us() const { return horizon_us_; }
  /// Partition p's watermark (kNone before its first event).
  int64_t WatermarkOf(int32_t partition) const;
  /// The greatest and the least partition watermark (kNone when no partition has one).
  int64_t MaxWatermark() const;
  int64_t MinWatermark() const;
  /// Ids held, over all partitions.
  int64_t size() const;

  std::string SerializeState();
  arrow::Status RestoreState(std::string_view bytes);

  /// Group mode, where partitions move between processes: a snapshot of partition p alone
  /// (SerializeState's format, with one partition or none), the partition put back from one
  /// (Invalid if it holds another partition; p left as it was), and the partition forgotten.
  std::string SerializePartition(int32_t p);
  arrow::Status RestorePartition(int32_t p, std::string_view bytes);
  void DropPartition(int32_t p) { partitions_.erase(p); }
  /// Partition p's changes since its last snapshot, delta or restore (SerializeDelta's
  /// format, with one partition or none), and their replay (Invalid if it holds another
  /// partition).
  std::string SerializePartitionDelta(int32_t p);
  arrow::Status ApplyPartitionDelta(int32_t p, std::string_view bytes);
  std::string SerializeDelta();
  arrow::Status ApplyDelta(std::string_view bytes);

 private:
  struct Partition {
    int64_t max_event_time_us = kNone;
    Deduplicator ids;
  };
  int64_t Watermark(const Partition& p) const {
    return p.max_event_time_us == kNone ? kNone : p.max_event_time_us - lateness_us_;
  }

  /// A snapshot or delta (by `tag`), each partition's ids written as `id_bytes` gives them.
  template <typename IdBytes>
  std::string WritePartitions(std::string_view tag, IdBytes id_bytes, const int32_t* only = nullptr);

  int64_t lateness_us_;
  int64_t horizon_us_;
  std::map<int32_t, Partition> partitions_;
};

}  // namespace medallion::ops
