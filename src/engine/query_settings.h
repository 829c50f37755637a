#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "engine/pipeline_options.h"

namespace medallion::engine {

/// What a restart with a changed value of a setting does.
enum class ChangePolicy {
  /// Applied from the first batch planned after the restart; earlier batches keep theirs.
  kNextBatch,
  /// Applied to the files written after the restart; files already written stay as they are.
  kNewFiles,
  /// Refused (exit 2): the state or the tables cannot carry the change honestly.
  kRefuse,
};

/// One setting that shapes the query's state or tables, and what a change of it does.
struct QuerySetting {
  /// The config key, e.g. "gold.window_size"; the key of the recorded value too.
  const char* key;
  /// The flag that sets it, e.g. "--window-size" (empty: config file only).
  const char* flag;
  ChangePolicy policy;
  /// The value in `options`, as canonical text (a duration as "90s", "1m", ...).
  std::string (*value)(const PipelineOptions& options);
  /// For kRefuse: why the change cannot be applied. Otherwise: what the change does.
  const char* effect;
};

/// Every setting recorded with a checkpoint, in the order they are reported.
const std::vector<QuerySetting>& QuerySettingsTable();

/// The settings of a query as recorded in `<checkpoint>/query.json`.
///
/// The file is JSON: {"version":1,"settings":{"<key>":"<value>",...},"dedup_floor_us":N}.
/// It is written atomically (partial file, fsync, rename, directory fsync) when a query
/// starts and whenever a restart applies a change.
struct QueryRecord {
  static constexpr int64_t kVersion = 1;
  static constexpr int64_t kNoFloor = std::numeric_limits<int64_t>::min();

  /// Setting key → canonical value (QuerySetting::value).
  std::map<std::string, std::string> settings;
  /// Set when a restart made the dedup horizon longer: the dedup state forgot the ids of
  /// events before this time under the shorter horizon, so events before it are judged
  /// beyond the dedup horizon (Late) until watermark - horizon passes it. kNoFloor: none.
  int64_t dedup_floor_us = kNoFloor;
};

/// The record of `options`' settings (no dedup floor).
QueryRecord RecordOf(const PipelineOptions& options);

/// JSON form of a record, and its inverse. `path` names the file in error messages; an
/// unknown version or a damaged text is Invalid and says what to do.
std::string QueryRecordToJson(const QueryRecord& record);
arrow::Result<QueryRecord> QueryRecordFromJson(std::string_view json, const std::string& path);

/// The path of the record in checkpoint directory `dir`.
std::string QueryRecordPath(const std::string& dir);
/// The record in checkpoint directory `dir`, or nullopt if there is none (a checkpoint
/// written before records existed, or a new one).
arrow::Result<std::optional<QueryRecord>> ReadQueryRecord(const std::string& dir);
/// Writes the record into checkpoint directory `dir` atomically.
arrow::Status WriteQueryRecord(const std::string& dir, const QueryRecord& record);

/// A setting whose value differs between the recorded and the current settings.
struct SettingChange {
  const QuerySetting* setting;
  std::string recorded;
  std::string current;
};

/// The settings whose current value differs from the recorded one, in table order. A
/// setting the record lacks (recorded by an older medallion) counts as recorded now with
/// its current value: it is no change.
std::vector<SettingChange> DiffSettings(const QueryRecord& recorded, const QueryRecord& current);

/// OK if a restart can apply every change in `changes`; otherwise Invalid naming each
/// refused setting with its recorded and current values and what to do. While batch
/// `pending_batch` (>= 0) is planned but not committed, every change is refused: that
/// batch is replayed, and must give the output it was planned under.
arrow::Status CheckChanges(const std::vector<SettingChange>& changes, int64_t pending_batch,
                           const std::string& checkpoint_dir);

/// One line per change, saying what it does, for the log.
std::string DescribeChange(const SettingChange& change);

}  // namespace medallion::engine
