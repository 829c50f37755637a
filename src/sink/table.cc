#include "sink/table.h"

#include <cstdio>
#include <limits>
#include <set>
#include <string_view>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>

#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/time_util.h"
#include "sink/delta_transaction.h"
#include "sink/table_reader.h"

namespace medallion::sink {
namespace {

/// A data file's name: "<prefix>-<batch>-<index>-<query id>.parquet". The query id marks
/// the file as this query's own, which is what lets RemoveOrphans leave other writers'
/// files alone.
std::string PartFileName(const char* prefix, const std::string& app_id, int64_t batch_id, size_t index) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%s-%010lld-%04zu-", prefix, static_cast<long long>(batch_id), index);
  return buf + app_id + ".parquet";
}

/// True if `file_name` is a data file PartFileName made for query `app_id`, or a partial
/// of one ("<name>.parquet.tmp.<pid>.<n>").
bool IsOwnDataFile(std::string_view file_name, const std::string& app_id) {
  const std::string suffix = "-" + app_id + ".parquet";
  if (!file_name.starts_with("part-") && !file_name.starts_with("open-")) return false;
  if (file_name.ends_with(suffix)) return true;
  const size_t tmp = file_name.find(".parquet.tmp.");
  return tmp != std::string_view::npos && file_name.substr(0, tmp + 8).ends_with(suffix);
}

}  // namespace

arrow::Result<std::unique_ptr<Table>> Table::Open(
    const std::string& root, const std::string& name, std::shared_ptr<arrow::Schema> file_schema,
    std::vector<std::shared_ptr<arrow::Field>> partition_fields, ParquetOptions parquet,
    int log_checkpoint_interval, int64_t removed_file_retention_ms, int64_t log_retention_ms) {
  ARROW_RETURN_NOT_OK(MakeDirs(root));
  auto fields = file_schema->fields();
  std::vector<std::string> partition_columns;
  for (const auto& f : partition_fields) {
    fields.push_back(f);
    partition_columns.push_back(f->name());
  }
  DeltaLogOptions options;
  options.checkpoint_interval = log_checkpoint_interval;
  options.retention.log_retention_ms = log_retention_ms;
  options.retention.removed_file_retention_ms = removed_file_retention_ms;
  options.background_checkpoints = true;
  ARROW_ASSIGN_OR_RAISE(auto log, DeltaLog::Open(root, name, arrow::schema(fields), partition_columns, options));
  auto table = std::unique_ptr<Table>(new Table(root, name, std::move(file_schema), std::move(parquet), std::move(log)));
  table->partition_fields_ = std::move(partition_fields);
  table->log_checkpoint_interval_ = log_checkpoint_interval;
  table->removed_file_retention_ms_ = removed_file_retention_ms;
  table->log_retention_ms_ = log_retention_ms;
  return table;
}

arrow::Result<std::unique_ptr<Table>> Table::OpenAnother() const {
  return Open(root_, name_, file_schema_, partition_fields_, parquet_, log_checkpoint_interval_,
              removed_file_retention_ms_, log_retention_ms_);
}

bool Table::Committed(const std::string& app_id, int64_t batch_id) const {
  return log_->TxnVersion(app_id) >= batch_id;
}

arrow::Result<std::vector<DeltaAddFile>> Table::WriteFiles(const std::string& app_id, int64_t batch_id,
                                                           const std::vector<PartitionedBatch>& parts,
                                                           const char* prefix, size_t first_index) {
  std::vector<DeltaAddFile> adds;
  size_t index = first_index;
  for (const auto& part : parts) {
    if (part.batch == nullptr || part.batch->num_rows() == 0) continue;
    std::string dir;
    for (const auto& [k, v] : part.values) dir += k + "=" + v + "/";
    ARROW_RETURN_NOT_OK(MakeDirs(root_ + "/" + dir));
    DeltaAddFile add;
    add.path = dir + PartFileName(prefix, app_id, batch_id, index++);
    add.partition_values = part.values;
    std::shared_ptr<parquet::FileMetaData> footer;
    ARROW_ASSIGN_OR_RAISE(add.size, WriteParquetFile(root_ + "/" + add.path, *part.batch, parquet_, &footer));
    add.modification_time_ms = NowMillis();
    add.stats_json = footer ? ComputeFileStats(*part.batch, *footer) : ComputeFileStats(*part.batch);
    adds.push_back(std::move(add));
    FaultPoint("table.after_file");
  }
  return adds;
}

arrow::Status Table::Append(const std::string& app_id, int64_t batch_id,
                            const std::vector<PartitionedBatch>& parts, const SourceTxns& sources) {
  if (Committed(app_id, batch_id)) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteFiles(app_id, batch_id, parts));
  if (adds.empty()) return arrow::Status::OK();
  return CommitAndVacuum(app_id, batch_id, adds, {}, sources);
}

arrow::Status Table::Replace(const std::string& app_id, int64_t batch_id,
                             const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (Committed(app_id, batch_id)) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteFiles(app_id, batch_id, {PartitionedBatch{{}, batch}}));
  return CommitAndVacuum(app_id, batch_id, adds, log_->LiveFiles());
}

arrow::Result<int64_t> Table::MaxTimestampOf(const DeltaAddFile& add, const std::string& column) {
  if (auto known = max_timestamp_of_.find(add.path); known != max_timestamp_of_.end()) return known->second;
  const std::string path = root_ + "/" + add.path;
  ARROW_ASSIGN_OR_RAISE(auto input, OpenInputFile(path));
  ARROW_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  std::shared_ptr<arrow::Schema> schema;
  ARROW_RETURN_NOT_OK(reader->GetSchema(&schema));
  int64_t max = std::numeric_limits<int64_t>::min();
  if (const int index = schema->GetFieldIndex(column); index >= 0) {
    std::shared_ptr<arrow::ChunkedArray> values;
    ARROW_RETURN_NOT_OK(reader->ReadColumn(index, &values));
    if (values->type()->id() != arrow::Type::TIMESTAMP) {
      return arrow::Status::Invalid("table ", name_, ": column ", column, " of '", path, "' is ",
                                    values->type()->ToString(), ", not a timestamp");
    }
    const auto& zone = static_cast<const arrow::TimestampType&>(*values->type()).timezone();
    ARROW_ASSIGN_OR_RAISE(arrow::Datum micros,
                          arrow::compute::Cast(values, arrow::timestamp(arrow::TimeUnit::MICRO, zone)));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum as_int, arrow::compute::Cast(micros, arrow::int64()));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum min_max, arrow::compute::MinMax(as_int));
    const auto& largest = min_max.scalar_as<arrow::StructScalar>().value[1];
    if (largest->is_valid) max = static_cast<const arrow::Int64Scalar&>(*largest).value;
  }
  max_timestamp_of_.emplace(add.path, max);
  return max;
}

arrow::Status Table::PlanOpenRemoval(const std::string& app_id, const OpenRows& previous,
                                     std::vector<std::string>* removes, std::vector<PartitionedBatch>* kept) {
  // Answers for files no longer live are dropped: the cache stays as small as the table.
  std::erase_if(max_timestamp_of_, [this](const auto& entry) { return !log_->live_files().contains(entry.first); });
  for (const auto& [path, add] : log_->live_files()) {
    const size_t slash = path.rfind('/');
    const std::string_view name = std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
    if (name.starts_with("open-")) {
      removes->push_back(path);
      continue;
    }
    if (IsOwnDataFile(name, app_id)) continue;
    ARROW_ASSIGN_OR_RAISE(const int64_t max, MaxTimestampOf(add, previous.column));
    if (max <= previous.after_us) continue;
    ARROW_ASSIGN_OR_RAISE(auto file_rows, ReadFilesAs(root_, {add}, file_schema_));
    ARROW_ASSIGN_OR_RAISE(auto rows, file_rows->CombineChunksToBatch());
    auto bound = std::make_shared<arrow::TimestampScalar>(previous.after_us, file_schema_->GetFieldByName(previous.column)->type());
    ARROW_ASSIGN_OR_RAISE(arrow::Datum is_final, arrow::compute::CallFunction(
                                                     "less_equal", {rows->GetColumnByName(previous.column), bound}));
    ARROW_ASSIGN_OR_RAISE(arrow::Datum final_rows, arrow::compute::Filter(rows, is_final));
    removes->push_back(path);
    if (final_rows.record_batch()->num_rows() > 0) kept->push_back({add.partition_values, final_rows.record_batch()});
  }
  return arrow::Status::OK();
}

arrow::Status Table::AppendAndReplaceOpen(const std::string& app_id, int64_t batch_id,
                                          const std::shared_ptr<arrow::RecordBatch>& final_rows,
                                          const std::shared_ptr<arrow::RecordBatch>& open_rows,
                                          const OpenRows& previous) {
  if (Committed(app_id, batch_id)) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteFiles(app_id, batch_id, {PartitionedBatch{{}, final_rows}}));
  if (open_rows != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto open_adds,
                          WriteFiles(app_id, batch_id, {PartitionedBatch{{}, open_rows}}, "open"));
    adds.insert(adds.end(), open_adds.begin(), open_adds.end());
  }
  for (int attempt = 1;; ++attempt) {
    // Entries other writers committed since (an OPTIMIZE that merged the open file, say).
    std::vector<DeltaAddFile> added;
    const int64_t own_before = log_->TxnVersion(app_id);
    for (bool applied = true; applied;) {
      ARROW_ASSIGN_OR_RAISE(applied, log_->ReadNextEntry(&added));
    }
    if (sources_owned_ && log_->TxnVersion(app_id) != own_before) {
      // Read here, not met as a lost race: the same refusal as CheckConflict's.
      return CommitConflictStatus(CommitConflict::kSourceTaken, log_->version(), attempt,
                                  "table " + name_ + ": another writer committed txn " +
                                      std::to_string(log_->TxnVersion(app_id)) + " of " + app_id +
                                      ", this writer's own: two instances are doing the same work");
    }
    std::vector<std::string> removes;
    std::vector<PartitionedBatch> kept;
    ARROW_RETURN_NOT_OK(PlanOpenRemoval(app_id, previous, &removes, &kept));
    // Index 0 is the final rows' file: the rewritten final rows count from 1.
    ARROW_ASSIGN_OR_RAISE(auto kept_adds, WriteFiles(app_id, batch_id, kept, "part", 1));
    std::vector<DeltaAddFile> all = adds;
    all.insert(all.end(), kept_adds.begin(), kept_adds.end());
    arrow::Status committed = CommitAndVacuum(app_id, batch_id, all, removes);
    if (committed.ok() || attempt == 3 || ConflictOf(committed) != CommitConflict::kConcurrentDelete) {
      return committed;
    }
    for (const auto& add : kept_adds) (void)RemoveFile(root_ + "/" + add.path);
  }
}

arrow::Status Table::CheckWriter(const std::string& app_id) const {
  const std::vector<std::string> writers = log_->TxnApps();
  if (writers.empty() || log_->TxnVersion(app_id) >= 0) return arrow::Status::OK();
  return arrow::Status::Invalid(
      "table ", name_, " (", root_, ") was written by query ", writers.front(),
      ", not by this checkpoint's query ", app_id, ": a second checkpoint directory writing "
      "these tables would repeat every row. Resume with the checkpoint directory that wrote "
      "them, or give this one a new data directory (tables written by a consumer group's members, "
      "--scale-mode group, are written on in group mode)");
}

arrow::Status Table::CommitAndVacuum(const std::string& app_id, int64_t batch_id,
                                     const std::vector<DeltaAddFile>& adds,
                                     const std::vector<std::string>& removes, const SourceTxns& sources) {
  FaultPoint("table.before_commit");
  CommitOptions options;
  options.source_txns = sources;
  options.sources_owned = sources_owned_;
  ARROW_RETURN_NOT_OK(log_->Commit(app_id, batch_id, adds, removes, "STREAMING UPDATE", options).status());
  FaultPoint("table.after_commit");
  for (const auto& path : log_->ExpireTombstones(NowMillis())) (void)RemoveFile(root_ + "/" + path);
  return arrow::Status::OK();
}

arrow::Status Table::RemoveOrphans(const std::string& app_id) {
  const auto live_list = log_->LiveFiles();
  const std::set<std::string> live(live_list.begin(), live_list.end());
  // On an object store no lock keeps a second process of this query out, and an unlogged
  // file may be its batch about to be committed: there, as Delta's VACUUM does, only files
  // older than the removed-file retention are taken for orphans.
  const int64_t young_after =
      IsObjectStorePath(root_) ? NowMillis() - log_->retention().removed_file_retention_ms : INT64_MAX;
  ARROW_ASSIGN_OR_RAISE(const std::vector<DirEntry> files, ListFilesUnder(root_, "_delta_log"));
  for (const DirEntry& file : files) {
    if (file.modified_ms > young_after) continue;
    const auto slash = file.name.find_last_of('/');
    if (!IsOwnDataFile(slash == std::string::npos ? file.name : file.name.substr(slash + 1), app_id)) continue;
    if (!live.contains(file.name) && !log_->tombstones().contains(file.name)) {
      (void)RemoveFile(root_ + "/" + file.name);
    }
  }
  return arrow::Status::OK();
}

}  // namespace medallion::sink
