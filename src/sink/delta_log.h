#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "sink/delta_actions.h"
#include "sink/delta_checkpointer.h"
#include "sink/delta_table_properties.h"
#include "sink/delta_transaction.h"
#include "sink/file_stats.h"
#include "sink/schema_evolution.h"

namespace medallion::sink {

/// How a DeltaLog checkpoints and cleans its log up. The retention values are the writer's
/// defaults: a table whose metaData sets delta.logRetentionDuration or
/// delta.deletedFileRetentionDuration is held to its own values (RetentionOfTable), and a
/// table this writer creates records these values there.
struct DeltaLogOptions {
  /// A checkpoint every this many versions (0: none but explicit Checkpoint calls). A table
  /// whose metaData sets delta.checkpointInterval is checkpointed at its own interval instead
  /// (CheckpointIntervalOfTable), unless this is 0.
  int checkpoint_interval = 10;
  LogRetention retention;
  /// Interval checkpoints (and the log cleanup after them) are written by a
  /// BackgroundCheckpointer instead of inside the commit that reaches the interval.
  bool background_checkpoints = false;
};

/// The Delta Lake transaction log of one table (protocol reader 1 / writer 2; no
/// deletion vectors, no column mapping), written so that DuckDB, delta-rs and Spark
/// read the table.
///
/// Commits are optimistic: version N is the file `_delta_log/%020d.json` created with
/// link() (never renamed over), so of two writers racing for N exactly one wins; the
/// loser checks N and the entries after it for a conflict (CheckConflict) and, without one,
/// retries at the next free version, a bounded number of times. Every commit carries
/// txn(appId, version) and is skipped when that appId already committed that version,
/// which makes replaying a micro-batch after a crash a no-op. A checkpoint is written every
/// `checkpoint_interval` versions, in the commit or on a background thread
/// (DeltaLogOptions); after each, the log entries and checkpoints older than the log
/// retention that a newer checkpoint covers are deleted (CleanUpExpiredLog).
///
/// The snapshot held in memory is the table at one version: its live files, the tombstones
/// within the removed-file retention (ExpireTombstones), one txn per appId, protocol and
/// metaData. Nothing in it grows with the number of versions.
///
/// Threading: one object must not be used from two threads at once. Any number of
/// objects, in this or other processes, may commit to the same table concurrently.
/// Lifecycle: the destructor waits for a background checkpoint in progress.
class DeltaLog {
 public:
  ~DeltaLog();
  /// Opens the table at `root`, creating `root/_delta_log/` and committing version 0
  /// (protocol + metaData, a fresh UUID as id) when the log is empty. `schema` is the
  /// full table schema including the partition columns, named in `partition_columns`.
  /// An existing log is replayed from its latest checkpoint and the JSON entries after it;
  /// its newest metaData is compared with `schema` (see DiffDeltaSchemas):
  /// - the same columns: the table is ready;
  /// - the same columns followed by nullable data columns (an earlier build's table): the
  ///   table opens with those columns pending (pending_columns()), nothing written yet;
  ///   EvolveSchema commits them, and Commit refuses until it has;
  /// - anything else (a column removed, renamed, retyped, reordered, made (non-)nullable, a
  ///   non-nullable column added, other partition columns): an Invalid status naming
  ///   `table_name`, the column, its type in the log and now, and the way to upgrade.
  static arrow::Result<std::unique_ptr<DeltaLog>> Open(std::string root, std::string table_name,
                                                       std::shared_ptr<arrow::Schema> schema,
                                                       std::vector<std::string> partition_columns,
                                                       int checkpoint_interval = 10);
  /// As above, with every maintenance setting. A table created here records
  /// `options.retention` in its configuration (RetentionProperties). The configuration of an
  /// existing table is checked: an unparsable retention property is an Invalid status.
  static arrow::Result<std::unique_ptr<DeltaLog>> Open(std::string root, std::string table_name,
                                                       std::shared_ptr<arrow::Schema> schema,
                                                       std::vector<std::string> partition_columns,
                                                       DeltaLogOptions options);

  /// Opens an existing table at `root` for reading only: replays its log (newest checkpoint
  /// and the JSON entries after it) and checks the protocol, but creates nothing, takes no
  /// lock and accepts any schema. A missing or empty log is an IOError status naming
  /// `table_name`. Such a log must not Commit or Checkpoint; it may run beside a writer.
  static arrow::Result<std::unique_ptr<DeltaLog>> OpenForRead(std::string root, std::string table_name);

  /// The files log entry `version` of the table at `root` added with new rows (dataChange
  /// true), read from that entry alone, without a snapshot; nullopt when there is no such
  /// entry (not written yet, or removed by log cleanup). For a reader that follows a table by
  /// version from a version of its own (the Gold stage reading Silver).
  static arrow::Result<std::optional<std::vector<DeltaAddFile>>> EntryDataAdds(const std::string& root,
                                                                             int64_t version);

  /// Applies the next log entry (version() + 1) if a writer has committed it since, and
  /// returns true with the files that entry added with new rows in `added` (by path; the
  /// adds of a compaction, dataChange false, hold rows already in the table and are left out);
  /// returns false and leaves everything alone when there is none yet. Tombstones past the
  /// retention are forgotten as it goes, so a reader that follows a table for weeks keeps
  /// only the table's current state.
  arrow::Result<bool> ReadNextEntry(std::vector<DeltaAddFile>* added);

  /// Applies every entry other writers committed after the loaded version.
  arrow::Status ApplyAvailable();

  /// The table's metaData as loaded (schema string, partition columns), if any.
  const std::optional<DeltaMetadata>& metadata() const { return snapshot_.metadata; }

  /// The last txn version committed by `app_id` in the loaded snapshot, or -1.
  int64_t TxnVersion(const std::string& app_id) const;

  /// The appIds that committed a txn in the loaded snapshot, sorted.
  std::vector<std::string> TxnApps() const;

  /// The data columns this writer appends to the table's schema that EvolveSchema has not
  /// committed yet (empty when the log's schema is this writer's).
  const std::vector<std::string>& pending_columns() const { return pending_columns_; }

  /// Commits the pending columns (Delta's schema evolution): one log entry of
  /// commitInfo(ADD COLUMNS) and a metaData with this writer's schemaString, everything else
  /// (id, name, partitioning, configuration, format) unchanged. It carries no txn, so no
  /// query's batch progress moves. Files written before keep their schema; readers return
  /// nulls for the new columns there. No-op without pending columns, so a crash before or
  /// after that entry (fault points delta_log.before_evolve, delta_log.after_evolve) is
  /// completed by the next Open and EvolveSchema. If another writer commits first, its
  /// entries are read and the schemas compared again.
  arrow::Status EvolveSchema();

  /// Commits in one log entry: commitInfo(operation), txn(app_id, txn_version), a
  /// remove for each of `remove_paths` and an add for each of `adds`, staged as Prepare,
  /// CommitPrepared and PostCommit. Returns the new table version. When `app_id` already
  /// committed `txn_version` (or later), nothing is written: the result is the current
  /// version, or the version of the entry written by another writer in which that txn was
  /// found (kTxnAlreadyCommitted, after which the snapshot holds every entry read). Any
  /// other failure is CommitPrepared's status, with its CommitConflict (ConflictOf); a
  /// commit while columns are pending is Invalid (EvolveSchema first).
  arrow::Result<int64_t> Commit(const std::string& app_id, int64_t txn_version,
                                const std::vector<DeltaAddFile>& adds,
                                const std::vector<std::string>& remove_paths,
                                const std::string& operation, const CommitOptions& options = {});

  /// Assembles a commit on the loaded snapshot (its read version): the removes copy the live
  /// files' partition values and size. Invalid when columns are pending or an add lacks a
  /// partition value; a path of `remove_paths` that is not live is kConcurrentDelete.
  /// An empty `app_id` makes a commit without txn, which moves no query's batch progress.
  /// `options.data_change` is set on every add and remove.
  arrow::Result<PreparedCommit> Prepare(const std::string& app_id, int64_t txn_version,
                                        const std::vector<DeltaAddFile>& adds,
                                        const std::vector<std::string>& remove_paths,
                                        const std::string& operation,
                                        const CommitOptions& options = {}) const;

  /// Writes `commit`'s entry as version read version + 1, created exclusively. When another
  /// writer has taken that version, every entry written since the read version is read and
  /// checked (CheckConflict); without a conflict the next free version is tried, at most
  /// max_commit_attempts() writes in all (then kRetriesExhausted). Returns the version
  /// written; the snapshot is left alone (PostCommit applies the entry).
  arrow::Result<int64_t> CommitPrepared(const PreparedCommit& commit) const;

  /// Brings the snapshot to `version`, which CommitPrepared wrote for `commit`: applies the
  /// entries other writers committed before it, then `commit`'s own, then writes a checkpoint
  /// at the interval.
  arrow::Status PostCommit(const PreparedCommit& commit, int64_t version);

  /// How many writes CommitPrepared tries before kRetriesExhausted (kDefaultMaxCommitAttempts).
  int max_commit_attempts() const { return max_commit_attempts_; }
  void set_max_commit_attempts(int attempts) { max_commit_attempts_ = attempts; }

  /// Writes a checkpoint of the current version from the loaded snapshot, then cleans the log
  /// up (WriteCheckpointAndCleanUp), in this thread, after any background checkpoint has
  /// finished. Commit does this at the interval.
  arrow::Status Checkpoint();

  /// Waits for the background checkpoint in progress, if any; returns the first background
  /// failure not reported yet. (Commit reports one at the next interval.)
  arrow::Status WaitForCheckpoints();

  /// Relative paths of the files live in the loaded snapshot, sorted.
  std::vector<std::string> LiveFiles() const;

  /// The live add actions by path (partition values, size, stats).
  const std::map<std::string, DeltaAddFile>& live_files() const { return snapshot_.live; }
  /// Sum of the live files' sizes (kept up to date as actions apply).
  int64_t live_bytes() const { return snapshot_.live_bytes; }

  /// Removed files (tombstones) by path, kept until their retention passes.
  const std::map<std::string, DeltaRemoveFile>& tombstones() const { return snapshot_.tombstones; }

  /// Sets the writer's removed-file retention (DeltaLogOptions::retention); a table that sets
  /// delta.deletedFileRetentionDuration keeps its own.
  void set_tombstone_retention_ms(int64_t ms) { options_.retention.removed_file_retention_ms = ms; }

  /// The retention in force: the table's properties, else the writer's options (also when
  /// another writer has since set a property this build cannot parse).
  LogRetention retention() const;

  /// The checkpoint interval in force: the table's delta.checkpointInterval, else the
  /// writer's option; 0 (no interval checkpoints) when the option is 0.
  int checkpoint_interval() const;

  /// Forgets the tombstones removed before `now_ms - retention` and returns their paths:
  /// no version a reader may still use references them, so their files can be deleted.
  std::vector<std::string> ExpireTombstones(int64_t now_ms);

  int64_t version() const { return snapshot_.version; }
  const std::string& root() const { return root_; }
  const std::string& table_name() const { return table_name_; }

 private:
  DeltaLog(std::string root, std::string table_name, std::string schema_string,
           std::vector<std::string> partition_columns, DeltaLogOptions options);

  /// Loads the snapshot from the newest checkpoint and the JSON entries after it.
  arrow::Status Replay();
  /// Applies the entry of version snapshot_.version + 1 if it exists; false if not.
  arrow::Result<bool> ApplyNext(DeltaEntrySummary* summary);
  /// Commits version 0 if nobody else has, then replays.
  arrow::Status CreateTable();
  /// Checks the loaded protocol and partition columns against what this writer expects.
  arrow::Status ValidateProtocolAndPartitioning() const;
  /// Compares the loaded metaData's schema with this writer's; Invalid, with what to do,
  /// unless the schemas are the same or this writer's only appends nullable data columns.
  arrow::Result<SchemaDiff> DiffSchema() const;
  /// What the entry of `version` contains, read without touching the snapshot.
  arrow::Result<DeltaEntrySummary> ReadEntrySummary(int64_t version) const;
  /// Writes a checkpoint when `version` is a multiple of the checkpoint interval, here or by
  /// the BackgroundCheckpointer; then reports a background failure not reported yet.
  arrow::Status CheckpointAtInterval(int64_t version);
  /// Invalid, naming the table, when its configuration sets a retention or a checkpoint
  /// interval that does not parse.
  arrow::Status CheckTableProperties() const;
  std::string EntryPath(int64_t version) const;

  std::string root_;
  std::string table_name_;
  std::string log_dir_;
  std::string schema_string_;
  std::vector<std::string> partition_columns_;
  DeltaLogOptions options_;
  int max_commit_attempts_ = kDefaultMaxCommitAttempts;
  DeltaSnapshot snapshot_;
  std::vector<std::string> pending_columns_;
  /// Started at the first background checkpoint; declared last, so that it is destroyed
  /// (and its job finished) first.
  std::unique_ptr<BackgroundCheckpointer> checkpointer_;
};

}  // namespace medallion::sink
