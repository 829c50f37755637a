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
/// them (a whole part), so a kill loses none: the next run restores them and commits them.
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
  std::string SerializeState() const;
  /// Replaces the rows with a snapshot from SerializeState(); one that is corrupted, or whose
  /// rows are not of this table's schema, is Invalid and leaves them unchanged.
  arrow::Status RestoreState(std::string_view bytes);

 private:
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> rows_;
  sink::SourceTxns sources_;
  int64_t num_rows_ = 0;
  int64_t bytes_ = 0;
};

}  // namespace medallion::engine
