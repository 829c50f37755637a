#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "sink/delta_transaction.h"

namespace medallion::engine {

/// The rows of an append table that commits on its own cadence (Quarantine and Late, see
/// PipelineOptions::side_commit_interval_us): what the batches since its last commit gave it,
/// with the source positions those batches reached. The engine state of every batch holds
/// them (an incremental part: the rows a batch added, as the dedup ids), so a kill loses
/// none: the next run restores them and commits them. A whole snapshot every batch rewrote
/// the rows of all the batches since the last commit (ten at the 1 s cadence and a 100 ms
/// trigger), half of a continuous run's state bytes.
class PendingAppends {
 public:
  explicit PendingAppends(std::shared_ptr<arrow::Schema> schema) : schema_(std::move(schema)) {}

  /// Adds a batch's rows (empty batches are skipped) and the positions of its commit: a
  /// partition's position is the latest of the batches that gave rows.
  void Add(const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows, const sink::SourceTxns& sources);

  bool empty() const { return rows_.empty(); }
  int64_t num_rows() const { return num_rows_; }
  /// The Arrow bytes of the rows held.
  int64_t bytes() const { return bytes_; }

  /// The rows held, as one batch, and their positions.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Rows() const;
  const sink::SourceTxns& sources() const { return sources_; }
  void Clear();

  /// A versioned snapshot ("engine.pending_appends", version 1): the positions, then the rows
  /// as an Arrow IPC stream.
  std::string SerializeState();
  /// Replaces the rows with a snapshot from SerializeState(); one that is corrupted, or whose
  /// rows are not of this table's schema, is Invalid and leaves them unchanged.
  arrow::Status RestoreState(std::string_view bytes);

  /// The changes since the last SerializeState/SerializeDelta/RestoreState/ApplyDelta
  /// ("engine.pending_appends.delta", version 1): whether the rows were cleared (committed)
  /// meanwhile, the positions now, then the rows added as an Arrow IPC stream.
  std::string SerializeDelta();
  /// Replays a delta on top of the state it was taken from; a whole snapshot in its place
  /// (written by builds that kept these rows as a whole part) replaces the rows. Invalid,
  /// changing nothing, when corrupted or of another schema.
  arrow::Status ApplyDelta(std::string_view bytes);

 private:
  /// After a snapshot or delta is written or read, it holds everything: nothing is unsaved.
  void MarkSaved() {
    cleared_ = false;
    unsaved_from_ = rows_.size();
  }

  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> rows_;
  sink::SourceTxns sources_;
  int64_t num_rows_ = 0;
  int64_t bytes_ = 0;
  /// Since the last snapshot or delta: whether Clear ran, and the first of rows_ not yet in one.
  bool cleared_ = false;
  size_t unsaved_from_ = 0;
};

}  // namespace medallion::engine
