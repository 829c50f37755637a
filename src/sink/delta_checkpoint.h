#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <arrow/buffer.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "sink/delta_actions.h"

namespace medallion::sink {

/// Path of the single-part checkpoint of `version` inside `log_dir`.
std::string CheckpointPath(const std::string& log_dir, int64_t version);

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
