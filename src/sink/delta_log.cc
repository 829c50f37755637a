#include "sink/delta_log.h"

#include <cstdio>
#include <limits>
#include <set>

#include <arrow/type.h>

#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/time_util.h"
#include "common/uuid.h"
#include "sink/delta_checkpoint.h"
#include "sink/delta_schema.h"
#include "sink/json_text.h"
#include "sink/schema_evolution.h"

namespace medallion::sink {
namespace {

/// The protocol versions this writer implements.
constexpr DeltaProtocol kProtocol{1, 2};

/// What a user does when a table cannot be opened with this build's schema.
constexpr const char* kHowToUpgrade =
    "To upgrade, run with a new data directory and a new checkpoint directory (the topic is read "
    "again from its start), or keep the earlier build for this data directory";

/// Parses "%020d.json"; -1 for any other name.
int64_t VersionOf(const std::string& name, const char* suffix) {
  const std::string s(suffix);
  if (name.size() != 20 + s.size() || name.compare(20, s.size(), s) != 0) return -1;
  return DecimalPrefix(name, 20);
}

std::string JsonArrayOfStrings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(&out, values[i]);
  }
  return out + "]";
}

}  // namespace

DeltaLog::DeltaLog(std::string root, std::string table_name, std::string schema_string,
                   std::vector<std::string> partition_columns, DeltaLogOptions options)
    : root_(std::move(root)),
      table_name_(std::move(table_name)),
      log_dir_(root_ + "/_delta_log"),
      schema_string_(std::move(schema_string)),
      partition_columns_(std::move(partition_columns)),
      options_(options) {}

DeltaLog::~DeltaLog() = default;

arrow::Result<std::unique_ptr<DeltaLog>> DeltaLog::Open(std::string root, std::string table_name,
                                                        std::shared_ptr<arrow::Schema> schema,
                                                        std::vector<std::string> partition_columns,
                                                        int checkpoint_interval) {
  DeltaLogOptions options;
  options.checkpoint_interval = checkpoint_interval;
  return Open(std::move(root), std::move(table_name), std::move(schema), std::move(partition_columns), options);
}

arrow::Result<std::unique_ptr<DeltaLog>> DeltaLog::Open(std::string root, std::string table_name,
                                                        std::shared_ptr<arrow::Schema> schema,
                                                        std::vector<std::string> partition_columns,
                                                        DeltaLogOptions options) {
  for (const auto& column : partition_columns) {
    if (schema->GetFieldIndex(column) < 0) {
      return arrow::Status::Invalid("table ", table_name, ": partition column '", column,
                                    "' is not a field of the schema");
    }
  }
  auto schema_string = DeltaSchemaString(*schema);
  if (!schema_string.ok()) {
    return schema_string.status().WithMessage("table ", table_name, ": ",
                                              schema_string.status().message());
  }
  std::unique_ptr<DeltaLog> log(new DeltaLog(std::move(root), std::move(table_name),
                                             std::move(*schema_string),
                                             std::move(partition_columns), options));
  ARROW_RETURN_NOT_OK(MakeDirs(log->log_dir_));
  ARROW_RETURN_NOT_OK(log->Replay());
  if (log->snapshot_.version < 0) ARROW_RETURN_NOT_OK(log->CreateTable());
  ARROW_RETURN_NOT_OK(log->CheckTableProperties());
  ARROW_ASSIGN_OR_RAISE(SchemaDiff diff, log->DiffSchema());
  log->pending_columns_ = std::move(diff.appended);
  return log;
}

arrow::Result<std::unique_ptr<DeltaLog>> DeltaLog::OpenForRead(std::string root, std::string table_name) {
  DeltaLogOptions options;
  options.checkpoint_interval = 0;
  std::unique_ptr<DeltaLog> log(new DeltaLog(std::move(root), std::move(table_name), "", {}, options));
  if (!PathExists(log->log_dir_)) {
    return arrow::Status::IOError("table ", log->table_name_, ": no Delta log at '", log->log_dir_, "'");
  }
  ARROW_RETURN_NOT_OK(log->Replay());
  if (log->snapshot_.version < 0) {
    return arrow::Status::IOError("table ", log->table_name_, ": the Delta log at '", log->log_dir_,
                                   "' has no commit yet");
  }
  if (!log->snapshot_.metadata.has_value() || !log->snapshot_.protocol.has_value()) {
    return arrow::Status::Invalid("table ", log->table_name_, ": log has no metaData or protocol");
  }
  if (log->snapshot_.protocol->min_reader_version > kProtocol.min_reader_version) {
    return arrow::Status::NotImplemented("table ", log->table_name_, " requires Delta reader version ",
                                         log->snapshot_.protocol->min_reader_version, " (supported: 1)");
  }
  log->partition_columns_ = log->snapshot_.metadata->partition_columns;
  return log;
}

arrow::Result<std::optional<std::vector<DeltaAddFile>>> DeltaLog::EntryDataAdds(const std::string& root,
                                                                                 int64_t version) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020lld.json", static_cast<long long>(version));
  const std::string path = root + "/_delta_log/" + name;
  if (!PathExists(path)) return std::nullopt;
  ARROW_ASSIGN_OR_RAISE(std::string text, ReadFile(path));
  DeltaSnapshot entry_only;
  auto status = ApplyLogEntry(text, &entry_only, nullptr);
  if (!status.ok()) return status.WithMessage(path, ": ", status.message());
  std::vector<DeltaAddFile> added;
  for (auto& [file_path, add] : entry_only.live) {
    if (add.data_change) added.push_back(std::move(add));
  }
  return added;
}

arrow::Result<bool> DeltaLog::ReadNextEntry(std::vector<DeltaAddFile>* added) {
  added->clear();
  const std::string path = EntryPath(snapshot_.version + 1);
  if (!PathExists(path)) return false;
  ARROW_ASSIGN_OR_RAISE(std::string text, ReadFile(path));
  // The entry alone, applied to an empty snapshot, holds exactly the files it added.
  DeltaSnapshot entry_only;
  auto status = ApplyLogEntry(text, &entry_only, nullptr);
  if (!status.ok()) return status.WithMessage(path, ": ", status.message());
  ARROW_RETURN_NOT_OK(ApplyLogEntry(text, &snapshot_, nullptr));
  ++snapshot_.version;
  ExpireTombstones(NowMillis());
  for (auto& [file_path, add] : entry_only.live) {
    if (add.data_change) added->push_back(std::move(add));
  }
  return true;
}

std::string DeltaLog::EntryPath(int64_t version) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020lld.json", static_cast<long long>(version));
  return log_dir_ + "/" + name;
}

arrow::Status DeltaLog::Replay() {
  int64_t newest_entry = -1;
  std::string unreadable_checkpoint;  // a V2 checkpoint's name, say
  ARROW_ASSIGN_OR_RAISE(const std::vector<DirEntry> listing, ListDir(log_dir_));
  for (const DirEntry& entry : listing) {
    newest_entry = std::max(newest_entry, VersionOf(entry.name, ".json"));
    const bool checkpoint_like = entry.name.size() > 32 && entry.name.compare(20, 12, ".checkpoint.") == 0 &&
                                 entry.name.find(".tmp.") == std::string::npos;
    if (checkpoint_like && !ParseCheckpointFileName(entry.name)) unreadable_checkpoint = entry.name;
  }
  const CheckpointFiles checkpoint = NewestCompleteCheckpoint(listing, std::numeric_limits<int64_t>::max());

  snapshot_ = DeltaSnapshot{};
  if (checkpoint.version >= 0) {
    ARROW_RETURN_NOT_OK(ReadDeltaCheckpointFiles(log_dir_, checkpoint, &snapshot_));
  } else if (newest_entry >= 0 && !PathExists(EntryPath(0))) {
    return arrow::Status::Invalid(
        "table ", table_name_, ": log has entries but no version 0 and no checkpoint this build reads",
        unreadable_checkpoint.empty()
            ? std::string()
            : " ('" + unreadable_checkpoint + "' is a V2 checkpoint, Delta's v2Checkpoint table feature, which "
                                              "medallion does not implement)");
  }
  while (true) {
    ARROW_ASSIGN_OR_RAISE(bool applied, ApplyNext(nullptr));
    if (!applied) break;
  }
  if (snapshot_.version < newest_entry) {
    return arrow::Status::Invalid("table ", table_name_, ": log entry ", snapshot_.version + 1,
                                  " is missing but ", newest_entry, " exists");
  }
  return arrow::Status::OK();
}

arrow::Result<bool> DeltaLog::ApplyNext(DeltaEntrySummary* summary) {
  const std::string path = EntryPath(snapshot_.version + 1);
  if (!PathExists(path)) return false;
  ARROW_ASSIGN_OR_RAISE(std::string text, ReadFile(path));
  auto status = ApplyLogEntry(text, &snapshot_, summary);
  if (!status.ok()) return status.WithMessage(path, ": ", status.message());
  ++snapshot_.version;
  return true;
}

arrow::Status DeltaLog::CreateTable() {
  DeltaMetadata metadata;
  ARROW_ASSIGN_OR_RAISE(metadata.id, RandomUuid());
  metadata.name = table_name_;
  metadata.schema_string = schema_string_;
  metadata.partition_columns = partition_columns_;
  metadata.configuration = RetentionProperties(options_.retention);
  metadata.created_time_ms = NowMillis();
  const std::string entry =
      CommitInfoActionJson("CREATE TABLE", metadata.created_time_ms,
                           {{"partitionBy", JsonArrayOfStrings(partition_columns_)}}, true) +
      "\n" + ProtocolActionJson(kProtocol) + "\n" + MetadataActionJson(metadata) + "\n";
  // If another writer created version 0 first, its metaData is checked by the caller.
  ARROW_RETURN_NOT_OK(CreateFileExclusive(EntryPath(0), entry).status());
  return Replay();
}

arrow::Status DeltaLog::ValidateProtocolAndPartitioning() const {
  if (!snapshot_.metadata.has_value() || !snapshot_.protocol.has_value()) {
    return arrow::Status::Invalid("table ", table_name_, ": log has no metaData or protocol");
  }
  if (snapshot_.protocol->min_reader_version > kProtocol.min_reader_version ||
      snapshot_.protocol->min_writer_version > kProtocol.min_writer_version) {
    return arrow::Status::NotImplemented(
        "table ", table_name_, " requires Delta reader/writer version ",
        snapshot_.protocol->min_reader_version, "/", snapshot_.protocol->min_writer_version,
        " (supported: 1/2)");
  }
  if (snapshot_.metadata->partition_columns != partition_columns_) {
    return arrow::Status::Invalid(
        "table ", table_name_, " (", root_, ") is partitioned by ",
        JsonArrayOfStrings(snapshot_.metadata->partition_columns), " in its log but this build partitions it by ",
        JsonArrayOfStrings(partition_columns_), ": a table's partitioning is not changed in place. ", kHowToUpgrade);
  }
  return arrow::Status::OK();
}

arrow::Result<SchemaDiff> DeltaLog::DiffSchema() const {
  ARROW_RETURN_NOT_OK(ValidateProtocolAndPartitioning());
  auto diff = DiffDeltaSchemas(snapshot_.metadata->schema_string, schema_string_, partition_columns_);
  if (!diff.ok()) return diff.status().WithMessage("table ", table_name_, ": ", diff.status().message());
  if (diff->incompatibility.empty()) return diff;
  if (diff->types_changed) {
    return arrow::Status::Invalid("table ", table_name_, " (", root_,
                                  ") was written by an earlier build with other column types: ",
                                  diff->incompatibility, ". A table's column types are not changed in place. ",
                                  kHowToUpgrade);
  }
  return arrow::Status::Invalid("table ", table_name_, " (", root_, ") has a schema this build cannot evolve to: ",
                                diff->incompatibility,
                                ". Only nullable columns appended at the end are added in place. ", kHowToUpgrade);
}

arrow::Status DeltaLog::EvolveSchema() {
  while (true) {
    ARROW_ASSIGN_OR_RAISE(SchemaDiff diff, DiffSchema());
    pending_columns_ = diff.appended;
    if (diff.same) return arrow::Status::OK();
    DeltaMetadata evolved = *snapshot_.metadata;  // same id, name, partitioning, configuration
    evolved.schema_string = schema_string_;
    const std::string entry =
        CommitInfoActionJson("ADD COLUMNS", NowMillis(), {{"columns", JsonArrayOfStrings(diff.appended)}}, false) +
        "\n" + MetadataActionJson(evolved) + "\n";
    const int64_t next = snapshot_.version + 1;
    FaultPoint("delta_log.before_evolve");
    ARROW_ASSIGN_OR_RAISE(bool created, CreateFileExclusive(EntryPath(next), entry));
    if (!created) {
      // Another writer took `next` (it may have evolved the schema itself): read what it
      // wrote and compare again.
      ARROW_RETURN_NOT_OK(ApplyAvailable());
      if (snapshot_.version < next) {
        return arrow::Status::IOError("table ", table_name_, ": log entry ", next, " exists but cannot be read back");
      }
      continue;
    }
    FaultPoint("delta_log.after_evolve");
    ARROW_RETURN_NOT_OK(ApplyLogEntry(entry, &snapshot_, nullptr));
    snapshot_.version = next;
    pending_columns_.clear();
    return CheckpointAtInterval(next);
  }
}

arrow::Status DeltaLog::CheckTableProperties() const {
  if (!snapshot_.metadata.has_value()) return arrow::Status::OK();
  arrow::Status status = RetentionOfTable(snapshot_.metadata->configuration, options_.retention).status();
  if (status.ok()) status = CheckpointIntervalOfTable(snapshot_.metadata->configuration, 10).status();
  if (!status.ok()) return status.WithMessage("table ", table_name_, " (", root_, "): ", status.message());
  return arrow::Status::OK();
}

int DeltaLog::checkpoint_interval() const {
  const int configured = options_.checkpoint_interval;
  if (configured <= 0 || !snapshot_.metadata.has_value()) return configured;
  return CheckpointIntervalOfTable(snapshot_.metadata->configuration, configured).ValueOr(configured);
}

LogRetention DeltaLog::retention() const {
  if (!snapshot_.metadata.has_value()) return options_.retention;
  auto retention = RetentionOfTable(snapshot_.metadata->configuration, options_.retention);
  return retention.ok() ? *retention : options_.retention;
}

arrow::Status DeltaLog::CheckpointAtInterval(int64_t version) {
  const int interval = checkpoint_interval();
  if (interval <= 0 || version % interval != 0) return arrow::Status::OK();
  if (!options_.background_checkpoints) {
    auto status = WriteCheckpointAndCleanUp(log_dir_, snapshot_, retention(), NowMillis());
    if (!status.ok()) {
      return status.WithMessage("table ", table_name_, ": version ", version,
                                " committed but its checkpoint failed: ", status.message());
    }
    return arrow::Status::OK();
  }
  if (checkpointer_ == nullptr) checkpointer_ = std::make_unique<BackgroundCheckpointer>(log_dir_, table_name_);
  checkpointer_->Request(version, retention());
  auto failure = checkpointer_->TakeFailure();
  if (!failure.ok()) {
    return failure.WithMessage("version ", version, " committed, but ", failure.message());
  }
  return arrow::Status::OK();
}

int64_t DeltaLog::TxnVersion(const std::string& app_id) const {
  auto it = snapshot_.txns.find(app_id);
  return it == snapshot_.txns.end() ? -1 : it->second.version;
}

std::vector<std::string> DeltaLog::TxnApps() const {
  std::vector<std::string> apps;
  for (const auto& [app, txn] : snapshot_.txns) apps.push_back(app);
  return apps;
}

arrow::Result<int64_t> DeltaLog::Commit(const std::string& app_id, int64_t txn_version,
                                        const std::vector<DeltaAddFile>& adds,
                                        const std::vector<std::string>& remove_paths,
                                        const std::string& operation, const CommitOptions& options) {
  if (TxnVersion(app_id) >= txn_version) return snapshot_.version;
  ARROW_ASSIGN_OR_RAISE(PreparedCommit commit,
                        Prepare(app_id, txn_version, adds, remove_paths, operation, options));
  auto version = CommitPrepared(commit);
  if (version.ok()) {
    ARROW_RETURN_NOT_OK(PostCommit(commit, *version));
    return *version;
  }
  auto detail = ConflictDetailOf(version.status());
  if (detail != nullptr && detail->conflict() == CommitConflict::kTxnAlreadyCommitted) {
    ARROW_RETURN_NOT_OK(ApplyAvailable());
    return detail->version();
  }
  return version.status();
}

arrow::Result<PreparedCommit> DeltaLog::Prepare(const std::string& app_id, int64_t txn_version,
                                                const std::vector<DeltaAddFile>& adds,
                                                const std::vector<std::string>& remove_paths,
                                                const std::string& operation,
                                                const CommitOptions& options) const {
  if (!pending_columns_.empty()) {
    return arrow::Status::Invalid("table ", table_name_, ": cannot commit before the columns ",
                                  JsonArrayOfStrings(pending_columns_),
                                  " are added to its schema (DeltaLog::EvolveSchema)");
  }
  for (const auto& add : adds) {
    for (const auto& column : partition_columns_) {
      bool found = false;
      for (const auto& value : add.partition_values) found = found || value.first == column;
      if (!found) {
        return arrow::Status::Invalid("table ", table_name_, ": add of '", add.path,
                                      "' has no value for partition column ", column);
      }
    }
  }
  PreparedCommit commit;
  commit.table_name = table_name_;
  commit.read_version = snapshot_.version;
  commit.operation = operation;
  commit.timestamp_ms = NowMillis();
  commit.app_id = app_id;
  commit.txn_version = txn_version;
  commit.source_txns = options.source_txns;
  commit.sources_owned = options.sources_owned;
  commit.adds = adds;
  for (auto& add : commit.adds) add.data_change = options.data_change;
  if (!app_id.empty()) {
    commit.parameters = {{"appId", app_id}, {"txnVersion", std::to_string(txn_version)}};
  }
  commit.parameters.emplace_back("numAddedFiles", std::to_string(adds.size()));
  commit.parameters.emplace_back("numRemovedFiles", std::to_string(remove_paths.size()));
  commit.parameters.insert(commit.parameters.end(), options.parameters.begin(), options.parameters.end());
  for (const auto& path : remove_paths) {
    auto it = snapshot_.live.find(path);
    if (it == snapshot_.live.end()) {
      return CommitConflictStatus(CommitConflict::kConcurrentDelete, snapshot_.version, 0,
                                  "table " + table_name_ + ": cannot remove '" + path +
                                      "': not live at version " + std::to_string(snapshot_.version) +
                                      " (concurrent removal?)");
    }
    commit.removes.push_back(DeltaRemoveFile{path, commit.timestamp_ms, it->second.partition_values,
                                             it->second.size, options.data_change});
  }
  // A commit that changes no rows stands only for the files it removes, never for the whole
  // table: rows another writer appends meanwhile stay valid beside it.
  commit.rewrites_table = options.data_change && !commit.removes.empty() &&
                          commit.removes.size() == snapshot_.live.size();
  return commit;
}

arrow::Result<DeltaEntrySummary> DeltaLog::ReadEntrySummary(int64_t version) const {
  const std::string path = EntryPath(version);
  DeltaEntrySummary summary;
  DeltaSnapshot scratch;
  auto text = ReadFile(path);
  arrow::Status status = text.ok() ? ApplyLogEntry(*text, &scratch, &summary) : text.status();
  if (!status.ok()) {
    return CommitConflictStatus(CommitConflict::kIo, version, 0,
                                "table " + table_name_ + ": log entry " + path +
                                    " written by another writer cannot be read: " + status.message());
  }
  return summary;
}

arrow::Result<int64_t> DeltaLog::CommitPrepared(const PreparedCommit& commit) const {
  const std::string entry = commit.EntryJson();
  int64_t checked = commit.read_version;  // every entry up to here leaves `commit` valid
  for (int attempt = 1; attempt <= max_commit_attempts_; ++attempt) {
    const int64_t next = checked + 1;
    FaultPoint("delta_log.before_commit");
    ARROW_ASSIGN_OR_RAISE(bool created, CreateFileExclusive(EntryPath(next), entry));
    if (created) {
      FaultPoint("delta_log.after_commit");
      return next;
    }
    // Lost the race for `next`: check it and whatever else was written since.
    while (checked < next || PathExists(EntryPath(checked + 1))) {
      auto summary = ReadEntrySummary(checked + 1);
      if (!summary.ok()) {
        return CommitConflictStatus(CommitConflict::kIo, checked + 1, attempt, summary.status().message());
      }
      ARROW_RETURN_NOT_OK(CheckConflict(commit, *summary, checked + 1, attempt));
      ++checked;
    }
  }
  return CommitConflictStatus(CommitConflict::kRetriesExhausted, checked, max_commit_attempts_,
                              "table " + table_name_ + ": commit gave up after " +
                                  std::to_string(max_commit_attempts_) +
                                  " attempts, each lost to another writer (last version seen " +
                                  std::to_string(checked) + ")");
}

arrow::Status DeltaLog::PostCommit(const PreparedCommit& commit, int64_t version) {
  while (snapshot_.version < version - 1) {
    ARROW_ASSIGN_OR_RAISE(bool applied, ApplyNext(nullptr));
    if (!applied) {
      return arrow::Status::IOError("table ", table_name_, ": log entry ", snapshot_.version + 1,
                                    " is missing below the committed version ", version);
    }
  }
  if (snapshot_.version != version - 1) {
    return arrow::Status::Invalid("table ", table_name_, ": version ", version,
                                  " cannot be applied to a snapshot at version ", snapshot_.version);
  }
  ARROW_RETURN_NOT_OK(ApplyLogEntry(commit.EntryJson(), &snapshot_, nullptr));
  snapshot_.version = version;
  return CheckpointAtInterval(version);
}

arrow::Status DeltaLog::ApplyAvailable() {
  while (true) {
    ARROW_ASSIGN_OR_RAISE(bool applied, ApplyNext(nullptr));
    if (!applied) return arrow::Status::OK();
  }
}

arrow::Status DeltaLog::Checkpoint() {
  ARROW_RETURN_NOT_OK(WaitForCheckpoints());
  if (snapshot_.version < 0) return arrow::Status::OK();
  return WriteCheckpointAndCleanUp(log_dir_, snapshot_, retention(), NowMillis());
}

arrow::Status DeltaLog::WaitForCheckpoints() {
  return checkpointer_ == nullptr ? arrow::Status::OK() : checkpointer_->Wait();
}

std::vector<std::string> DeltaLog::LiveFiles() const {
  std::vector<std::string> out;
  out.reserve(snapshot_.live.size());
  for (const auto& [path, add] : snapshot_.live) out.push_back(path);
  return out;
}

std::vector<std::string> DeltaLog::ExpireTombstones(int64_t now_ms) {
  std::vector<std::string> expired;
  if (snapshot_.tombstones.empty()) return expired;
  const int64_t cutoff_ms = now_ms - retention().removed_file_retention_ms;
  for (auto it = snapshot_.tombstones.begin(); it != snapshot_.tombstones.end();) {
    if (it->second.deletion_timestamp_ms < cutoff_ms) {
      expired.push_back(it->first);
      it = snapshot_.tombstones.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

}  // namespace medallion::sink
