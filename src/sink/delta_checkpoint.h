#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "common/file_util.h"
#include "sink/delta_actions.h"

namespace medallion::sink {

/// Path of the single-part checkpoint of `version` inside `log_dir`.
std::string CheckpointPath(const std::string& log_dir, int64_t version);

/// The number the first `n` characters of `text` spell in decimal digits (a log file name's
/// "%020d" version, a part number); -1 if `text` is shorter, one of them is not a digit, or
/// the number does not fit in 63 bits (a hostile name such as twenty 9s).
int64_t DecimalPrefix(std::string_view text, size_t n);

/// A checkpoint file of a Delta log, by its name: the classic single file
/// ("%020d.checkpoint.parquet", part 1 of 1) or one part of a multi-part checkpoint
/// ("%020d.checkpoint.%010d.%010d.parquet", which Spark writes with checkpoint.partSize).
struct CheckpointFileName {
  int64_t version = -1;
  int64_t part = 1;
  int64_t parts = 1;
};
/// Nothing for any other name (a JSON entry, a V2 checkpoint "%020d.checkpoint.<uuid>.*", a
/// temp file).
std::optional<CheckpointFileName> ParseCheckpointFileName(std::string_view name);

/// The files of one checkpoint, in part order (names in the log directory).
struct CheckpointFiles {
  int64_t version = -1;
  std::vector<std::string> names;
};

/// The newest complete checkpoint at or below `max_version` among a log directory's files
/// (version -1: none). A multi-part checkpoint with a part missing (still being written, or
/// its writer died) is passed over; at one version the single file is preferred.
CheckpointFiles NewestCompleteCheckpoint(const std::vector<DirEntry>& listing, int64_t max_version);

/// Loads every file of `checkpoint` in `log_dir` into `snapshot` (empty) and sets its
/// version; the parts together are checked as one checkpoint (ReadDeltaCheckpoint).
arrow::Status ReadDeltaCheckpointFiles(const std::string& log_dir, const CheckpointFiles& checkpoint,
                                       DeltaSnapshot* snapshot);

/// Writes the classic single-part checkpoint of `snapshot` (at snapshot.version) as
/// `<log_dir>/%020d.checkpoint.parquet` with the protocol's checkpoint schema (one row
/// per action: protocol, metaData, txn, add, remove; the others null), then
/// `<log_dir>/_last_checkpoint` = {"version":N,"size":rows}. Both files are written
/// to a temp name, fsynced and renamed: a checkpoint is derived data, so replacing
/// one written concurrently by another writer with identical content is harmless.
/// Tombstones older than `now_ms - tombstone_retention_ms` are dropped.
arrow::Status WriteDeltaCheckpoint(const std::string& log_dir, const DeltaSnapshot& snapshot,
                                   int64_t now_ms, int64_t tombstone_retention_ms);

/// The bytes of the checkpoint file WriteDeltaCheckpoint writes, tombstones deleted before
/// `min_tombstone_ms` left out; `rows`, when given, receives the number of actions.
arrow::Result<std::shared_ptr<arrow::Buffer>> DeltaCheckpointBytes(const DeltaSnapshot& snapshot,
                                                                   int64_t min_tombstone_ms,
                                                                   int64_t* rows = nullptr);

/// Loads a checkpoint file (ours or another writer's) into `snapshot`, which should be
/// empty; the caller sets snapshot->version. Refused, naming what: a string that is not
/// UTF-8 (or offsets out of range), an add or remove with a negative size, a protocol version outside 1..2^31-1 (as in a JSON entry), a path both
/// added and removed, an action column that is not a struct, an add, remove, txn or metaData
/// without its required field, and whatever Parquet's reader refuses.
arrow::Status ReadDeltaCheckpoint(const std::string& path, DeltaSnapshot* snapshot);

/// The same for a checkpoint's bytes; `path` names them in errors.
arrow::Status ReadDeltaCheckpointBytes(std::shared_ptr<arrow::Buffer> bytes, const std::string& path,
                                       DeltaSnapshot* snapshot);

}  // namespace medallion::sink
