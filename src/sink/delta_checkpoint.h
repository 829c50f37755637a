#pragma once

#include <cstdint>
#include <string>

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

/// Loads a checkpoint file (ours or another writer's) into `snapshot`, which should be
/// empty; the caller sets snapshot->version.
arrow::Status ReadDeltaCheckpoint(const std::string& path, DeltaSnapshot* snapshot);

}  // namespace medallion::sink
