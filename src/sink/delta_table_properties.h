#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "sink/delta_actions.h"

/// The Delta table properties (metaData.configuration) that govern how long a table's
/// history is kept and how often its log is checkpointed, their syntax, and the values they
/// resolve to.
namespace medallion::sink {

/// How long log entries and checkpoints are kept (Delta's default: 30 days).
inline constexpr std::string_view kLogRetentionProperty = "delta.logRetentionDuration";
/// How long a removed data file is kept before VACUUM deletes it (Delta's default: 7 days).
inline constexpr std::string_view kDeletedFileRetentionProperty = "delta.deletedFileRetentionDuration";
/// "false" turns the log cleanup off (Delta's default: true).
inline constexpr std::string_view kExpiredLogCleanupProperty = "delta.enableExpiredLogCleanup";
/// How many commits apart the log is checkpointed (Delta's default: 10).
inline constexpr std::string_view kCheckpointIntervalProperty = "delta.checkpointInterval";

inline constexpr int64_t kMillisPerDay = 24LL * 3600 * 1000;
/// Delta's own defaults, used by DeltaLog unless told otherwise.
inline constexpr int64_t kDeltaDefaultLogRetentionMs = 30 * kMillisPerDay;
inline constexpr int64_t kDeltaDefaultDeletedFileRetentionMs = 7 * kMillisPerDay;

/// Parses a Delta interval property value, as Spark and delta-rs write and read it:
/// "interval 30 days", "interval 1 day 12 hours", "7 days" (the "interval" keyword is
/// optional; case and surrounding blanks do not matter). Units: week, day, hour, minute,
/// second, millisecond, microsecond, nanosecond, singular or plural. Months and years are
/// refused, as Delta refuses them: they have no fixed length. Returns milliseconds (sub-
/// millisecond parts are dropped); Invalid for anything else, or a negative or overflowing value.
arrow::Result<int64_t> ParseDeltaInterval(std::string_view text);

/// Formats `ms` (>= 0) as "interval N unit" with the largest of day, hour, minute, second and
/// millisecond that divides it: the single-unit form both Spark and delta-rs parse.
std::string FormatDeltaInterval(int64_t ms);

/// The retention settings of one table.
struct LogRetention {
  /// Log entries and checkpoints older than this are deleted once a newer checkpoint covers them.
  int64_t log_retention_ms = kDeltaDefaultLogRetentionMs;
  /// A removed data file is deleted, and its tombstone forgotten, this long after its removal.
  int64_t removed_file_retention_ms = kDeltaDefaultDeletedFileRetentionMs;
  /// False when the table sets delta.enableExpiredLogCleanup=false: no log file is deleted.
  bool log_cleanup_enabled = true;
};

/// The retention a table's `configuration` sets; each property it lacks takes its value from
/// `defaults`. A property whose value does not parse is an Invalid status naming the property
/// and the value: guessing would let two writers of the table disagree on what to delete.
arrow::Result<LogRetention> RetentionOfTable(const PartitionValues& configuration, const LogRetention& defaults);

/// The checkpoint interval a table's `configuration` sets, or `fallback` when it sets none.
/// The value must be a whole number from 1 to 1000000; anything else is an Invalid status
/// naming the property and the value (Delta refuses an interval below 1 too).
arrow::Result<int> CheckpointIntervalOfTable(const PartitionValues& configuration, int fallback);

/// The properties that record `retention` in a new table's metaData, so that other Delta
/// writers clean the log, and VACUUM deletes removed files, on the same schedule.
PartitionValues RetentionProperties(const LogRetention& retention);

}  // namespace medallion::sink
