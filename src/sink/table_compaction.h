#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <arrow/status.h>

#include "sink/delta_transaction.h"

/// The settings and the outcome of Table::Compact, the merge of an append table's small files
/// (Delta's OPTIMIZE, run a little at a time beside the stream).
namespace medallion::sink {

/// Which files Table::Compact merges, and how much it does in one call.
struct CompactionOptions {
  /// The size a merged file aims at, in bytes of input Parquet (64 MiB). Readers (DuckDB,
  /// delta-rs, Spark) scan files of tens of MiB at full speed, so larger files gain them
  /// little, while the merge holds one output file's rows in memory twice over (read, then
  /// concatenated for its statistics), and zstd Parquet of JSON-like rows is about five times
  /// larger once read: some 600 MiB at this size.
  int64_t target_file_bytes = 64LL << 20;
  /// Files of at least this size are left alone (half the target): rewriting them would cost
  /// more than the file they save.
  int64_t min_file_bytes = 32LL << 20;
  /// A partition's run of consecutive small files is merged only once it holds this many
  /// files (8), so each commit removes several files; below it, a reader opens a few small
  /// files, which costs little.
  int min_files = 8;
  /// The most input bytes one call reads and rewrites (64 MiB, one target file): reading and
  /// rewriting zstd Parquet runs at some 20-35 MiB of input per second on one core, so a call
  /// takes a few seconds of one core and the engine can make it between batches. The rest
  /// is left for the next call (CompactionResult::more). Groups never exceed it.
  int64_t max_bytes_per_run = 64LL << 20;
  /// Whether a merge may join its inputs by copying their row groups as they are
  /// (ParquetConcat; their Delta stats merged, MergeFileStats) instead of decoding and
  /// encoding them again: when its files are all ones the stream wrote (none merged before),
  /// or when their row groups hold join_min_row_group_rows rows on average. A first
  /// merge then costs a copy of its bytes, where a rewrite costs more CPU than writing the
  /// rows did; its file keeps the small files' row groups and encodings (some 3x larger than
  /// a rewrite's for Silver's one-batch files), and the next merge, which groups such files,
  /// rewrites them into large row groups. Files of large row groups (Bronze's, one a second,
  /// of thousands of messages that zstd already compressed) are joined at every merge: a
  /// rewrite would make them no smaller, and a few small row groups among them (a quiet
  /// second's) do not make it rewrite them all. Files that cannot be joined so (other writers'
  /// layouts, schemas that differ) are rewritten.
  bool join_row_groups = true;
  int64_t join_min_row_group_rows = 4096;

  /// Sets target_file_bytes and what follows from it: files of half the target are left
  /// alone, and one call may read at least one target's worth.
  void SetTarget(int64_t bytes) {
    target_file_bytes = bytes;
    min_file_bytes = bytes / 2 > 0 ? bytes / 2 : 1;
    if (max_bytes_per_run < bytes) max_bytes_per_run = bytes;
  }

  /// Invalid, naming the setting, unless every value is positive and min_files >= 2.
  arrow::Status Validate() const;
};

/// What one Table::Compact call did.
struct CompactionResult {
  enum class Outcome {
    /// No run of small files was eligible; nothing was written.
    kNothingToDo,
    /// The merged files replaced their inputs in log version `version`.
    kCommitted,
    /// Another writer removed an input (or changed the table) first: the merged files were
    /// deleted and the table is as before; `conflict` says why. A later call starts afresh.
    kConflict,
  };
  Outcome outcome = Outcome::kNothingToDo;
  int64_t version = -1;
  /// Input files and bytes (live files read), output files and bytes (merged files written).
  int64_t files_in = 0;
  int64_t files_out = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  int64_t rows = 0;
  /// Output files written by joining their inputs' row groups (join_row_groups).
  int64_t files_joined = 0;
  /// True when max_bytes_per_run stopped the call before every eligible file was merged.
  bool more = false;
  std::string conflict;
};

/// A compaction staged by Table::PrepareCompaction: its merged files written and its commit
/// assembled, not yet committed (Table::CommitCompaction).
struct PreparedCompaction {
  /// What was read and written; its outcome is kNothingToDo, or kConflict when the commit
  /// could not even be assembled, and `commit` is then empty.
  CompactionResult result;
  std::optional<PreparedCommit> commit;
};

/// "nothing to do", "committed", "conflict".
const char* CompactionOutcomeName(CompactionResult::Outcome outcome);

}  // namespace medallion::sink
