#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

/// The actions of the Delta transaction log (protocol reader 1 / writer 2) as plain
/// structs, their JSON form, and the snapshot that replaying them builds.
namespace medallion::sink {

using PartitionValues = std::vector<std::pair<std::string, std::string>>;

/// One data file made live by an `add` action.
struct DeltaAddFile {
  /// Relative to the table root, not URI-encoded (the log encoding is done here),
  /// e.g. "event_date=2026-11-24/part-00000000000000000007-0.parquet".
  std::string path;
  /// Partition column name -> value as a string ("2026-11-24").
  PartitionValues partition_values;
  int64_t size = 0;
  int64_t modification_time_ms = 0;
  /// JSON statistics (see ComputeFileStats); may be empty.
  std::string stats_json;
  /// False when the file only holds rows already in the table, rearranged (a compaction):
  /// readers that follow the table's changes skip such adds.
  bool data_change = true;
};

/// A `remove` tombstone, kept until it expires so that VACUUM sees it.
struct DeltaRemoveFile {
  std::string path;
  int64_t deletion_timestamp_ms = 0;
  PartitionValues partition_values;
  int64_t size = 0;
  /// False when the file's rows stay in the table in other files (a compaction).
  bool data_change = true;
};

struct DeltaProtocol {
  int32_t min_reader_version = 1;
  int32_t min_writer_version = 2;
};

struct DeltaMetadata {
  std::string id;
  std::string name;
  std::string schema_string;
  std::vector<std::string> partition_columns;
  /// Table properties (`configuration`), kept as read; the tables this engine creates have none.
  std::vector<std::pair<std::string, std::string>> configuration;
  int64_t created_time_ms = 0;
};

/// A `txn` action: the last version an application committed.
struct DeltaTxn {
  int64_t version = -1;
  int64_t last_updated_ms = 0;
};

/// Table state at one version: what log replay (checkpoint + JSON entries) yields.
struct DeltaSnapshot {
  int64_t version = -1;
  std::optional<DeltaProtocol> protocol;
  std::optional<DeltaMetadata> metadata;
  std::map<std::string, DeltaAddFile> live;          // by path
  int64_t live_bytes = 0;                            // sum of the live files' sizes
  std::map<std::string, DeltaRemoveFile> tombstones;  // by path
  std::map<std::string, DeltaTxn> txns;              // by appId

  /// The only ways `live` changes, so `live_bytes` follows it.
  void ApplyAdd(DeltaAddFile add);
  void ApplyRemove(DeltaRemoveFile remove);
};

/// What one log entry contained besides file actions (for conflict checks).
struct DeltaEntrySummary {
  bool has_protocol = false;
  bool has_metadata = false;
  std::map<std::string, int64_t> txns;  // appId -> version in this entry
  std::vector<std::string> removed;     // paths of the entry's remove actions
  std::vector<std::string> added;       // paths of the entry's add actions
};

/// Applies the newline-delimited actions of one JSON log entry to `snapshot`.
/// Unknown actions (commitInfo, cdc, domainMetadata, ...) are skipped.
arrow::Status ApplyLogEntry(std::string_view ndjson, DeltaSnapshot* snapshot,
                            DeltaEntrySummary* summary);

/// The value checks every reader of another writer's actions applies (a JSON entry, a
/// checkpoint); `source` starts the message ("Delta log", "checkpoint"). A file's size must be
/// at least zero; a protocol version must be a positive 32-bit integer, so that one beyond
/// int32 stays a version this reader refuses instead of wrapping to a small one.
arrow::Status CheckFileSize(std::string_view source, std::string_view action, std::string_view path, int64_t size);
arrow::Result<DeltaProtocol> CheckedProtocol(std::string_view source, int64_t min_reader, int64_t min_writer);

/// One-line JSON actions, without the trailing newline.
std::string ProtocolActionJson(const DeltaProtocol& protocol);
std::string MetadataActionJson(const DeltaMetadata& metadata);
std::string TxnActionJson(const std::string& app_id, const DeltaTxn& txn);
std::string AddActionJson(const DeltaAddFile& add);
std::string RemoveActionJson(const DeltaRemoveFile& remove);
/// `parameters` values are strings, as Delta's own writers record them.
std::string CommitInfoActionJson(const std::string& operation, int64_t timestamp_ms,
                                 const std::vector<std::pair<std::string, std::string>>& parameters,
                                 bool blind_append);

}  // namespace medallion::sink
