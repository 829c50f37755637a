#pragma once

#include <cstdint>
#include <string>

#include <arrow/result.h>

namespace medallion::sink {

/// What one CleanUpExpiredLog call did.
struct LogCleanup {
  /// The checkpoint the log is whole from after the cleanup: every version from it on can
  /// still be read. -1 when nothing could be deleted.
  int64_t kept_from = -1;
  /// Log files deleted (entries, checkpoints and their parts, .crc, compacted entries, stale
  /// temp files).
  int64_t files_deleted = 0;
};

/// Delta's metadata cleanup: deletes the files of `log_dir` that only versions older than
/// the log retention need. `newest_checkpoint` is the version of a complete checkpoint just
/// written; the cutoff is `now_ms - retention_ms`.
///
/// The rule, which keeps every version committed at or after the cutoff readable, and the
/// version current at the cutoff too (time travel "as of" the cutoff resolves to it):
/// - a version is expired when its entry's modification time, made non-decreasing along the
///   versions as Spark does (a clock step back does not revive older entries), is before the
///   cutoff; let B be the newest expired version at or below `newest_checkpoint`;
/// - K is the newest complete checkpoint (single-part, or every part of a multi-part one) at
///   or below B; without one nothing is deleted;
/// - deleted: JSON entries, checkpoints of any kind (single, parts, v2), .crc files and
///   compacted entries of versions below K. K's checkpoint and entry and everything after
///   them are kept, so readers (this one, delta-rs, Spark, DuckDB) open the table from K or a
///   newer checkpoint and time-travel to any version from K on.
/// Files are deleted oldest version first, so a crash part way leaves a log whole from some
/// version on. Temp files left by a crashed atomic write ("<name>.tmp.<pid>.<n>") are deleted
/// once older than both the cutoff and an hour (no write in flight is that old).
/// `_last_checkpoint`, `_sidecars/` (only v2 checkpoints, which need a protocol this writer
/// refuses, use them) and unknown files are left alone. A file another cleaner deleted first
/// is not an error.
arrow::Result<LogCleanup> CleanUpExpiredLog(const std::string& log_dir, int64_t newest_checkpoint,
                                            int64_t now_ms, int64_t retention_ms);

}  // namespace medallion::sink
