#include "sink/table.h"

#include <cstdio>
#include <filesystem>
#include <set>
#include <string_view>

#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/time_util.h"

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
                                                           const char* prefix) {
  std::vector<DeltaAddFile> adds;
  size_t index = 0;
  for (const auto& part : parts) {
    if (part.batch == nullptr || part.batch->num_rows() == 0) continue;
    std::string dir;
    for (const auto& [k, v] : part.values) dir += k + "=" + v + "/";
    ARROW_RETURN_NOT_OK(MakeDirs(root_ + "/" + dir));
    DeltaAddFile add;
    add.path = dir + PartFileName(prefix, app_id, batch_id, index++);
    add.partition_values = part.values;
    ARROW_ASSIGN_OR_RAISE(add.size, WriteParquetFile(root_ + "/" + add.path, *part.batch, parquet_));
    add.modification_time_ms = NowMillis();
    add.stats_json = ComputeFileStats(*part.batch);
    adds.push_back(std::move(add));
    FaultPoint("table.after_file");
  }
  return adds;
}

arrow::Status Table::Append(const std::string& app_id, int64_t batch_id,
                            const std::vector<PartitionedBatch>& parts) {
  if (Committed(app_id, batch_id)) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteFiles(app_id, batch_id, parts));
  if (adds.empty()) return arrow::Status::OK();
  return CommitAndVacuum(app_id, batch_id, adds, {});
}

arrow::Status Table::Replace(const std::string& app_id, int64_t batch_id,
                             const std::shared_ptr<arrow::RecordBatch>& batch) {
  if (Committed(app_id, batch_id)) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteFiles(app_id, batch_id, {PartitionedBatch{{}, batch}}));
  return CommitAndVacuum(app_id, batch_id, adds, log_->LiveFiles());
}

arrow::Status Table::AppendAndReplaceOpen(const std::string& app_id, int64_t batch_id,
                                          const std::shared_ptr<arrow::RecordBatch>& final_rows,
                                          const std::shared_ptr<arrow::RecordBatch>& open_rows) {
  if (Committed(app_id, batch_id)) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto adds, WriteFiles(app_id, batch_id, {PartitionedBatch{{}, final_rows}}));
  if (open_rows != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto open_adds,
                          WriteFiles(app_id, batch_id, {PartitionedBatch{{}, open_rows}}, "open"));
    adds.insert(adds.end(), open_adds.begin(), open_adds.end());
  }
  // The previous open file goes in both modes: replaced in update mode; in append mode
  // (after a restart that switched from update) nothing would replace it, and its rows
  // would stay live beside the final rows of the same windows.
  std::vector<std::string> removes;
  for (const auto& path : log_->LiveFiles()) {
    if (path.starts_with("open-")) removes.push_back(path);
  }
  return CommitAndVacuum(app_id, batch_id, adds, removes);
}

arrow::Status Table::CheckWriter(const std::string& app_id) const {
  const std::vector<std::string> writers = log_->TxnApps();
  if (writers.empty() || log_->TxnVersion(app_id) >= 0) return arrow::Status::OK();
  return arrow::Status::Invalid(
      "table ", name_, " (", root_, ") was written by query ", writers.front(),
      ", not by this checkpoint's query ", app_id, ": a second checkpoint directory writing "
      "these tables would repeat every row. Resume with the checkpoint directory that wrote "
      "them, or give this one a new data directory (several instances splitting one topic "
      "are not supported yet)");
}

arrow::Status Table::CommitAndVacuum(const std::string& app_id, int64_t batch_id,
                                     const std::vector<DeltaAddFile>& adds,
                                     const std::vector<std::string>& removes) {
  FaultPoint("table.before_commit");
  ARROW_RETURN_NOT_OK(log_->Commit(app_id, batch_id, adds, removes, "STREAMING UPDATE").status());
  FaultPoint("table.after_commit");
  for (const auto& path : log_->ExpireTombstones(NowMillis())) {
    std::error_code ec;
    std::filesystem::remove(root_ + "/" + path, ec);
  }
  return arrow::Status::OK();
}

arrow::Status Table::RemoveOrphans(const std::string& app_id) {
  const auto live_list = log_->LiveFiles();
  const std::set<std::string> live(live_list.begin(), live_list.end());
  std::error_code ec;
  std::vector<std::filesystem::path> orphans;
  for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory() && it->path().filename() == "_delta_log") {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (!IsOwnDataFile(it->path().filename().string(), app_id)) continue;
    const std::string rel = std::filesystem::relative(it->path(), root_).string();
    if (!live.contains(rel) && !log_->tombstones().contains(rel)) orphans.push_back(it->path());
  }
  for (const auto& p : orphans) std::filesystem::remove(p, ec);
  return arrow::Status::OK();
}

}  // namespace medallion::sink
