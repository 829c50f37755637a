#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "sink/delta_transaction.h"
#include "source/fetched_records.h"

namespace medallion::engine {

/// The rows of an append table held between its commits, however the engine state keeps
/// them (PendingAppends, HeldBronze): what Pipeline's held-table commits need.
class HeldRows {
 public:
  virtual ~HeldRows() = default;
  virtual bool empty() const = 0;
  virtual int64_t num_rows() const = 0;
  /// Whether the rows held are as many as the table holds back: they are committed now.
  virtual bool full() const = 0;
  /// The rows held, as one batch, and the positions of their commit: a partition's position
  /// is the latest of the batches that gave rows.
  virtual arrow::Result<std::shared_ptr<arrow::RecordBatch>> Rows() const = 0;
  virtual const sink::SourceTxns& sources() const = 0;
  virtual void Clear() = 0;
};

/// The rows of a side table that commits on its own cadence (Quarantine and Late, see
/// PipelineOptions::side_commit_interval_us): what the batches since its last commit gave it,
/// with the source positions those batches reached. The engine state of every batch holds
/// them (an incremental part: the rows a batch added, as the dedup ids), so a kill loses
/// none: the next run restores them and commits them. A whole snapshot every batch rewrote
/// the rows of all the batches since the last commit (ten at the 1 s cadence and a 100 ms
/// trigger), half of a continuous run's state bytes.
class PendingAppends : public HeldRows {
 public:
  /// Full once the rows held reach `max_bytes` of Arrow memory.
  PendingAppends(std::shared_ptr<arrow::Schema> schema, int64_t max_bytes)
      : schema_(std::move(schema)), max_bytes_(max_bytes) {}

  /// Adds a batch's rows (empty batches are skipped) and the positions of its commit: a
  /// partition's position is the latest of the batches that gave rows.
  void Add(const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows, const sink::SourceTxns& sources);

  bool empty() const override { return rows_.empty(); }
  int64_t num_rows() const override { return num_rows_; }
  bool full() const override { return bytes_ >= max_bytes_; }
  /// The Arrow bytes of the rows held.
  int64_t bytes() const { return bytes_; }
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Rows() const override;
  const sink::SourceTxns& sources() const override { return sources_; }
  void Clear() override;

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
  int64_t max_bytes_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> rows_;
  sink::SourceTxns sources_;
  int64_t num_rows_ = 0;
  int64_t bytes_ = 0;
  /// Since the last snapshot or delta: whether Clear ran, and the first of rows_ not yet in one.
  bool cleared_ = false;
  size_t unsaved_from_ = 0;
};

/// Bronze's rows held between its commits (PipelineOptions::bronze_commit_interval_us). Unlike
/// the side tables' rows, they are a copy of what the topic holds, so the engine state keeps
/// only where they came from: each held batch's offset ranges and ingest time, some bytes per
/// partition. A run restored from that state reads them again from Kafka (Refill), as a
/// planned batch is replayed, and so builds the same rows. Holding their bytes in the state
/// instead wrote about 400 KB more per batch at 5,000 events/s and a 100 ms trigger, which
/// cost more CPU than Bronze's own file did.
class HeldBronze : public HeldRows {
 public:
  /// One batch's rows, their ranges and ingest time; rows are null after a restore, until
  /// Refill.
  struct Batch {
    int64_t ingest_time_us = 0;
    source::BatchOffsets offsets;
    std::shared_ptr<arrow::RecordBatch> rows;
  };
  /// Re-reads held batches' rows from the topic (their offsets, their ingest times), one
  /// RecordBatch per batch, in order.
  using Reader = std::function<arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>>(
      const std::vector<const Batch*>&)>;

  /// Full at `max_bytes` of Arrow memory or `max_batches` batches (what a restart reads again).
  HeldBronze(int64_t max_bytes, size_t max_batches) : max_bytes_(max_bytes), max_batches_(max_batches) {}

  /// Holds a batch's Bronze rows (none: nothing is held) read from `offsets` at `ingest_time_us`.
  void Add(std::shared_ptr<arrow::RecordBatch> rows, int64_t ingest_time_us, const source::BatchOffsets& offsets,
           const sink::SourceTxns& sources);

  bool empty() const override { return batches_.empty(); }
  int64_t num_rows() const override { return num_rows_; }
  bool full() const override { return bytes_ >= max_bytes_ || batches_.size() >= max_batches_; }
  /// Invalid while a restored batch has not been read again (Refill).
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Rows() const override;
  const sink::SourceTxns& sources() const override { return sources_; }
  void Clear() override;

  /// Whether a restored batch waits for its rows to be read again.
  bool needs_refill() const;
  /// Reads every restored batch's rows again with one call of `read`.
  arrow::Status Refill(const Reader& read);
  const std::vector<Batch>& batches() const { return batches_; }

  /// A versioned snapshot ("engine.held_bronze", version 1): the positions, then each held
  /// batch's ingest time and ranges. No rows.
  std::string SerializeState() const;
  /// Replaces what is held with a snapshot's batches, rows to be read again (Refill); a
  /// corrupted snapshot is Invalid and changes nothing.
  arrow::Status RestoreState(std::string_view bytes);

 private:
  int64_t max_bytes_;
  size_t max_batches_;
  std::vector<Batch> batches_;
  sink::SourceTxns sources_;
  int64_t num_rows_ = 0;
  int64_t bytes_ = 0;
};

}  // namespace medallion::engine
