#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include "sink/delta_log.h"
#include "sink/file_stats.h"
#include "sink/parquet_file.h"
#include "sink/table_compaction.h"

namespace medallion::sink {

/// The rows of one batch that share partition values, e.g. {{"event_date","2026-11-24"}}.
struct PartitionedBatch {
  std::vector<std::pair<std::string, std::string>> values;
  std::shared_ptr<arrow::RecordBatch> batch;
};

/// One table: Parquet files under `root` (Hive-style partition folders) made visible only
/// by a Delta log commit. Every commit carries txn(app_id, batch id), so writing a batch
/// that the table already committed is a no-op: that is what makes a replay exactly-once.
/// One writer: the query of one checkpoint directory (CheckWriter). A second query writing
/// the same table would repeat every row, its batch ids being its own, and its orphan removal
/// could delete the other's files in flight. Not thread-safe.
class Table {
 public:
  /// Opens or creates the table. `file_schema` is the schema of the Parquet files;
  /// `partition_fields` are the partition columns (in folder names and the log only).
  /// A table whose schema lacks nullable columns appended to `file_schema` opens with them
  /// pending (EvolveSchema); any other schema difference is an Invalid status (DeltaLog::Open).
  /// The log is checkpointed every `log_checkpoint_interval` commits off the commit path, and
  /// cleaned up by `log_retention_ms`; a table created here records both retentions in its
  /// properties, and an existing table's properties override them (DeltaLogOptions).
  static arrow::Result<std::unique_ptr<Table>> Open(
      const std::string& root, const std::string& name, std::shared_ptr<arrow::Schema> file_schema,
      std::vector<std::shared_ptr<arrow::Field>> partition_fields, ParquetOptions parquet,
      int log_checkpoint_interval, int64_t removed_file_retention_ms,
      int64_t log_retention_ms = kDeltaDefaultLogRetentionMs);

  /// A second handle on the same table, opened as this one was, with a log snapshot of its
  /// own: for a writer on another thread (the engine's compactor). Delta's optimistic
  /// concurrency orders the two handles' commits as it does two processes'.
  arrow::Result<std::unique_ptr<Table>> OpenAnother() const;

  /// Commits the nullable columns this build appends to the schema of a table an earlier
  /// build wrote (DeltaLog::EvolveSchema); no-op when there are none. Batches cannot commit
  /// before it has run.
  arrow::Status EvolveSchema() { return log_->EvolveSchema(); }

  /// Fails, naming the table and both queries, if another query has committed to the table
  /// and `app_id` has not: a new checkpoint directory pointed at existing tables.
  arrow::Status CheckWriter(const std::string& app_id) const;

  /// True if batch `batch_id` of query `app_id` is already in the table.
  bool Committed(const std::string& app_id, int64_t batch_id) const;
  /// The last batch of query `app_id` in the table (its txn version), or -1.
  int64_t CommittedBatch(const std::string& app_id) const { return log_->TxnVersion(app_id); }

  /// Appends the parts as new files, in one commit. Empty parts are skipped, and with no
  /// rows at all nothing is committed: the table's txn version stays at the last batch that
  /// wrote to it (the engine records which, engine::TableProgress). No-op if already committed.
  /// `sources`: the source positions the commit records beside the query's txn
  /// (CommitOptions::source_txns).
  arrow::Status Append(const std::string& app_id, int64_t batch_id,
                       const std::vector<PartitionedBatch>& parts, const SourceTxns& sources = {});

  /// Replaces the whole content with `batch` in one commit (remove every live file, add
  /// the new one). The replaced files stay on disk for the removed-file retention, so
  /// readers of recent versions keep working; later commits delete them. No-op if
  /// already committed.
  arrow::Status Replace(const std::string& app_id, int64_t batch_id,
                        const std::shared_ptr<arrow::RecordBatch>& batch);

  /// Which live rows of a table with open rows are the open ones: those whose timestamp
  /// column `column` is after `after_us` (for Gold's windows: window_end after the watermark
  /// of the batch before, since a window is final once its end is at or before the watermark).
  struct OpenRows {
    std::string column;
    int64_t after_us = 0;
  };

  /// In one commit: appends `final_rows` (rows that never change again) and replaces the
  /// live open rows (`previous`) with `open_rows` (rows that may still change) in an "open-"
  /// file. Readers see each row once: a row moves from open to final in a single commit.
  /// A null `open_rows` (append output mode) only removes the open rows a previous run in
  /// update mode left live: their windows' final rows come when they close.
  ///
  /// The open rows are found by content, not only by file name: this query's "part-" files
  /// (and its compactor's merges of them) hold final rows only, its "open-" file only open
  /// rows, and any other live file (another writer's, e.g. delta-rs' OPTIMIZE merging the
  /// open file with final ones) is checked through its `previous.column` values (read once
  /// per file and kept): if it holds open rows it is removed and its final rows, if any, are
  /// written again into a file of this batch (Delta's copy-on-write). A commit that loses to
  /// another writer removing a file it removes (kConcurrentDelete: an OPTIMIZE committed
  /// meanwhile) reads the new entries and plans again, up to three times.
  /// No-op if already committed.
  arrow::Status AppendAndReplaceOpen(const std::string& app_id, int64_t batch_id,
                                     const std::shared_ptr<arrow::RecordBatch>& final_rows,
                                     const std::shared_ptr<arrow::RecordBatch>& open_rows,
                                     const OpenRows& previous);

  /// Deletes the data files query `app_id` wrote that no commit references (left by a
  /// batch that crashed before its commit); files of recent versions (tombstones in
  /// retention) are kept. Only files named by this query (DataFileName) are candidates:
  /// another writer's files in flight in the same table are never touched. On an object
  /// store, where a second process of the same query is not locked out, a file must also be
  /// older than the removed-file retention (VACUUM's rule).
  arrow::Status RemoveOrphans(const std::string& app_id);

  /// Merges runs of small files into files of about options.target_file_bytes, in one
  /// commit of removes and adds with dataChange false and no txn (operation OPTIMIZE):
  /// every version shows the same rows, and no query's batch progress moves.
  ///
  /// Candidates are the live "part-" files query `app_id` wrote, taken per partition in
  /// natural order (SortFilesInNaturalOrder). A run is a stretch of consecutive files
  /// smaller than min_file_bytes; its leading files holding more than 1 / (min_files - 1) of
  /// the bytes after them are left out (so a file is rewritten only with min_files - 1 times
  /// its size of new data, and each row about log base min_files of (target / batch file)
  /// times); what remains is merged when it holds min_files files,
  /// cut into groups of at most target_file_bytes. A group's rows keep the order of its
  /// inputs, and its file is named after its first input with "-c<read version>" added,
  /// so natural order, and the rows' order within a partition, stay as they were.
  /// At most max_bytes_per_run input bytes per call.
  ///
  /// Crash safety: merged files are written, fsynced, then committed; a kill before the
  /// commit (fault point compact.after_files) leaves files no version references, which
  /// RemoveOrphans deletes; after it (compact.after_commit) the table holds the merged
  /// files, their inputs kept as tombstones for readers of older versions. A commit lost to
  /// another writer that removed an input (or changed the table) is a kConflict result, its
  /// files deleted; appends by others never conflict. Reads the entries other writers
  /// committed since the last call first. Invalid options are an Invalid status.
  /// Runs PrepareCompaction then CommitCompaction.
  arrow::Result<CompactionResult> Compact(const std::string& app_id, const CompactionOptions& options = {});

  /// The first stage of Compact: plans the merge, writes the merged files and assembles the
  /// commit on the loaded snapshot, without committing it.
  arrow::Result<PreparedCompaction> PrepareCompaction(const std::string& app_id, const CompactionOptions& options);

  /// The second stage of Compact: commits `prepared` (no-op without a commit) and returns
  /// its result, kConflict (the merged files deleted) when another writer came first.
  arrow::Result<CompactionResult> CommitCompaction(const PreparedCompaction& prepared);

  /// Group mode: this writer owns the sources its commits name (the Kafka partitions the
  /// consumer group assigned it), so every commit is a compare-and-set on their positions
  /// (CommitOptions::sources_owned; a lost one is kSourceTaken).
  void set_sources_owned(bool owned) { sources_owned_ = owned; }

  const std::string& root() const { return root_; }

  const std::string& name() const { return name_; }
  DeltaLog& log() { return *log_; }

 private:
  Table(std::string root, std::string name, std::shared_ptr<arrow::Schema> file_schema, ParquetOptions parquet,
        std::unique_ptr<DeltaLog> log)
      : root_(std::move(root)),
        name_(std::move(name)),
        file_schema_(std::move(file_schema)),
        parquet_(std::move(parquet)),
        log_(std::move(log)) {}
  /// Writes each non-empty part as a data file "<prefix>-<batch>-<index>-<app>.parquet",
  /// indices counting from `first_index`.
  arrow::Result<std::vector<DeltaAddFile>> WriteFiles(const std::string& app_id, int64_t batch_id,
                                                      const std::vector<PartitionedBatch>& parts,
                                                      const char* prefix = "part", size_t first_index = 0);
  /// AppendAndReplaceOpen's plan on the loaded snapshot: the live files holding open rows in
  /// `removes`, and the final rows of those that are not this query's open files in `kept`.
  arrow::Status PlanOpenRemoval(const std::string& app_id, const OpenRows& previous,
                                std::vector<std::string>* removes, std::vector<PartitionedBatch>* kept);
  /// The largest value of timestamp column `column` in live file `add` (INT64_MIN when it has
  /// none), cached by path while the file is live: a data file never changes under its name.
  arrow::Result<int64_t> MaxTimestampOf(const DeltaAddFile& add, const std::string& column);
  /// Commits adds and removes, then deletes the files whose removal is older than the
  /// retention (Delta's VACUUM, done a little at every commit).
  arrow::Status CommitAndVacuum(const std::string& app_id, int64_t batch_id,
                                const std::vector<DeltaAddFile>& adds,
                                const std::vector<std::string>& removes, const SourceTxns& sources = {});

  std::string root_;
  std::string name_;
  std::shared_ptr<arrow::Schema> file_schema_;
  ParquetOptions parquet_;
  std::unique_ptr<DeltaLog> log_;
  /// The rest of Open's arguments, for OpenAnother.
  std::vector<std::shared_ptr<arrow::Field>> partition_fields_;
  int log_checkpoint_interval_ = 0;
  int64_t removed_file_retention_ms_ = 0;
  int64_t log_retention_ms_ = 0;
  bool sources_owned_ = false;
  /// Where written data files' rows are kept for the compactor, and where its merges look
  /// for their inputs' rows first (null: nowhere).
  /// MaxTimestampOf's answers, by path.
  std::map<std::string, int64_t> max_timestamp_of_;
};

}  // namespace medallion::sink
