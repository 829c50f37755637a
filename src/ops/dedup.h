#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <limits>
#include <map>
#include <unordered_map>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/line_order.h"
#include "ops/row_selection.h"

namespace medallion::ops {

/// Keeps the first occurrence of each id (event_id unless told another key column)
/// across batches and restarts.
///
/// State: every event_id seen, with its event time, and an index of the ids by event-time
/// minute, so that evicting the ids a watermark has passed costs O(ids evicted), not
/// O(state). Within a batch, "first" is row order, which the engine makes (partition,
/// offset) order, so a replay of a batch keeps the same rows.
///
/// Checkpoints: SerializeState() is the whole state; SerializeDelta() only what changed
/// since the last snapshot or delta (ids added, and the eviction horizon), so a batch does not
/// rewrite every id it holds. RestoreState(full) then ApplyDelta(d1), ApplyDelta(d2), ... in
/// order rebuilds the same state. Not thread-safe.
class Deduplicator {
 public:
  /// Deduplicates by the string column `key_column` (the event time is "event_time").
  explicit Deduplicator(std::string key_column = "event_id") : key_column_(std::move(key_column)) {}

  /// Returns those of the selected `rows` of `events` whose key has not
  /// been seen, and remembers them. An id is remembered under its event time, or under
  /// `remember_from_us` if that is later: then an id that arrived far behind the eviction
  /// horizon is still kept for the horizon's length after it arrived, so that a re-send
  /// soon after is still recognised.
  arrow::Result<RowSelection> Process(const arrow::RecordBatch& events, const RowSelection& rows,
                                      int64_t remember_from_us = std::numeric_limits<int64_t>::min());

  /// Forgets ids whose event time is before `horizon_us`. Returns how many were dropped.
  int64_t EvictBefore(int64_t horizon_us);

  /// Number of ids held.
  int64_t size() const { return static_cast<int64_t>(seen_.size()); }

  /// Versioned binary snapshot of the whole state, and its inverse. Both start a new delta.
  std::string SerializeState();
  arrow::Status RestoreState(std::string_view bytes);

  /// The changes since the last SerializeState/SerializeDelta/RestoreState/ApplyDelta, and
  /// their replay on top of the state they were taken from.
  std::string SerializeDelta();
  arrow::Status ApplyDelta(std::string_view bytes);

 private:
  /// Adds an id; returns false if it was already there.
  bool Insert(std::string id, int64_t event_time_us);
  void ClearDelta();

  std::string key_column_;
  std::unordered_map<std::string, int64_t, StringKeyHash, std::equal_to<>> seen_;
  /// Minute of event time → (id, event time) first seen in it. The views point at the keys
  /// of seen_, which stay put until erased (node-based map); with the time beside them,
  /// a snapshot needs no lookups.
  std::map<int64_t, std::vector<std::pair<std::string_view, int64_t>>> by_minute_;
  /// Ids added since the last snapshot or delta, and the greatest eviction horizon since.
  std::vector<std::pair<std::string_view, int64_t>> added_;
  int64_t evicted_before_ = std::numeric_limits<int64_t>::min();
};

}  // namespace medallion::ops
