#include "sink/table_compaction.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include <arrow/api.h>

#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/time_util.h"
#include "sink/file_stats.h"
#include "sink/parquet_concat.h"
#include "sink/parquet_file.h"
#include "sink/table.h"
#include "sink/table_reader.h"

namespace medallion::sink {
namespace {

/// The groups of files one call merges; each group becomes one file.
struct CompactionPlan {
  std::vector<std::vector<DeltaAddFile>> groups;
  bool more = false;  // the byte budget left eligible files for a later call
};

std::string_view FileNameOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1);
}

/// True if `path` is a "part-<B:10>-<i:4>-…-<app_id>.parquet" file of query `app_id`: a file
/// Table::Append wrote, or one an earlier compaction merged.
bool IsOwnPartFile(const std::string& path, const std::string& app_id) {
  const std::string_view name = FileNameOf(path);
  if (!name.starts_with("part-") || !name.ends_with("-" + app_id + ".parquet")) return false;
  if (name.size() < 21 || name[15] != '-' || name[20] != '-') return false;
  for (size_t i = 5; i < 20; ++i) {
    if (i != 15 && (name[i] < '0' || name[i] > '9')) return false;
  }
  return true;
}

/// The path of the file merged from a group whose first input is `first`: the same folder
/// and "part-<B>-<i>" (so it takes its first input's place in natural order), then
/// "-c<read version>-<app_id>.parquet" (unique: a table version is read once per call).
std::string MergedFilePath(const std::string& first, int64_t read_version, const std::string& app_id) {
  const size_t name_at = first.size() - FileNameOf(first).size();
  char marker[32];
  std::snprintf(marker, sizeof(marker), "-c%010lld-", static_cast<long long>(read_version));
  return first.substr(0, name_at + 20) + marker + app_id + ".parquet";
}

/// Adds the groups of one partition's files (in natural order) to `plan`, while `budget`
/// input bytes last. See Table::Compact for the rules.
void PlanPartition(const std::vector<DeltaAddFile>& files, const CompactionOptions& options, int64_t* budget,
                   CompactionPlan* plan) {
  const int64_t group_limit = std::min(options.target_file_bytes, options.max_bytes_per_run);
  size_t next = 0;
  while (next < files.size() && !plan->more) {
    if (files[next].size >= options.min_file_bytes) {
      ++next;
      continue;
    }
    size_t begin = next, end = next;
    int64_t run_bytes = 0;
    while (end < files.size() && files[end].size < options.min_file_bytes) run_bytes += files[end++].size;
    next = end;
    // A file waits until the files after it hold min_files - 1 times its bytes: merges then
    // grow files by about min_files at a time, so a row is rewritten once per such step
    // (three or four times on its way to the target), not once per doubling.
    const int64_t fan_in = options.min_files - 1;
    while (begin < end && files[begin].size * fan_in > run_bytes - files[begin].size) {
      run_bytes -= files[begin++].size;
    }
    if (end - begin < static_cast<size_t>(options.min_files)) continue;

    std::vector<DeltaAddFile> group;
    int64_t group_bytes = 0;
    auto close_group = [&] {
      if (group.size() >= 2 && !plan->more) {
        if (group_bytes > *budget) {
          plan->more = true;
        } else {
          *budget -= group_bytes;
          plan->groups.push_back(std::move(group));
        }
      }
      group.clear();
      group_bytes = 0;
    };
    for (size_t i = begin; i < end; ++i) {
      if (!group.empty() && group_bytes + files[i].size > group_limit) close_group();
      group.push_back(files[i]);
      group_bytes += files[i].size;
    }
    close_group();
  }
}

/// The plan for the live files of query `app_id`, partition by partition.
CompactionPlan PlanCompaction(const std::map<std::string, DeltaAddFile>& live, const std::string& app_id,
                              const CompactionOptions& options) {
  std::map<PartitionValues, std::vector<DeltaAddFile>> partitions;
  for (const auto& [path, add] : live) {
    if (IsOwnPartFile(path, app_id)) partitions[add.partition_values].push_back(add);
  }
  CompactionPlan plan;
  int64_t budget = options.max_bytes_per_run;
  for (auto& [values, files] : partitions) {
    PlanPartition(SortFilesInNaturalOrder(std::move(files)), options, &budget, &plan);
  }
  return plan;
}

/// True if every file of `group` is one the stream wrote ("part-<B>-<i>-<app_id>.parquet",
/// no merge's "-c<version>" in its name).
bool NoneMerged(const std::vector<DeltaAddFile>& group, const std::string& app_id) {
  const size_t fresh_size = std::string_view("part-0000000000-0000-").size() + app_id.size() + 8;
  return std::all_of(group.begin(), group.end(),
                     [&](const DeltaAddFile& f) { return FileNameOf(f.path).size() == fresh_size; });
}

/// Writes the files of `group` joined by copying their row groups as `add`'s file, with their
/// stats merged; false, with nothing written, when they cannot be joined so, or should not
/// be (see CompactionOptions::join_row_groups).
arrow::Result<bool> WriteJoined(const std::string& root, const std::vector<DeltaAddFile>& group,
                                const std::string& app_id, const CompactionOptions& options, DeltaAddFile* add,
                                int64_t* rows) {
  std::vector<std::string> bytes;
  for (const auto& file : group) {
    ARROW_ASSIGN_OR_RAISE(std::string contents, ReadFile(root + "/" + file.path));
    bytes.push_back(std::move(contents));
  }
  auto joined = ParquetConcat::Plan(&bytes);
  if (!joined.ok()) {
    if (joined.status().IsNotImplemented()) return false;
    return joined.status();
  }
  if (!NoneMerged(group, app_id) &&
      joined->num_rows() < options.join_min_row_group_rows * std::max<int64_t>(joined->num_row_groups(), 1)) {
    return false;  // row groups too small on average: rewritten into large ones
  }
  std::vector<std::string_view> stats;
  for (const auto& file : group) stats.push_back(file.stats_json);
  std::optional<std::string> merged_stats = MergeFileStats(stats);
  long long stats_rows = -1;
  if (!merged_stats || std::sscanf(merged_stats->c_str(), "{\"numRecords\":%lld", &stats_rows) != 1 ||
      stats_rows != joined->num_rows()) {
    return false;  // no stats, or stats that do not describe these files
  }
  ARROW_ASSIGN_OR_RAISE(add->size, WriteFileFrom(root + "/" + add->path,
                                                 [&](arrow::io::OutputStream* out) { return joined->Write(out); }));
  add->stats_json = std::move(*merged_stats);
  *rows = joined->num_rows();
  return true;
}

void DeleteFiles(const std::string& root, const std::vector<DeltaAddFile>& files) {
  for (const auto& file : files) (void)RemoveFile(root + "/" + file.path);
}

}  // namespace

arrow::Status CompactionOptions::Validate() const {
  auto positive = [](const char* name, int64_t value) {
    if (value > 0) return arrow::Status::OK();
    return arrow::Status::Invalid("compaction setting ", name, " must be positive, got ", value);
  };
  ARROW_RETURN_NOT_OK(positive("target_file_bytes", target_file_bytes));
  ARROW_RETURN_NOT_OK(positive("min_file_bytes", min_file_bytes));
  ARROW_RETURN_NOT_OK(positive("max_bytes_per_run", max_bytes_per_run));
  ARROW_RETURN_NOT_OK(positive("join_min_row_group_rows", join_min_row_group_rows));
  if (min_files < 2) {
    return arrow::Status::Invalid("compaction setting min_files must be at least 2, got ", min_files);
  }
  return arrow::Status::OK();
}

const char* CompactionOutcomeName(CompactionResult::Outcome outcome) {
  switch (outcome) {
    case CompactionResult::Outcome::kNothingToDo:
      return "nothing to do";
    case CompactionResult::Outcome::kCommitted:
      return "committed";
    case CompactionResult::Outcome::kConflict:
      return "conflict";
  }
  return "unknown";
}

arrow::Result<CompactionResult> Table::Compact(const std::string& app_id, const CompactionOptions& options) {
  ARROW_ASSIGN_OR_RAISE(PreparedCompaction prepared, PrepareCompaction(app_id, options));
  return CommitCompaction(prepared);
}

arrow::Result<PreparedCompaction> Table::PrepareCompaction(const std::string& app_id,
                                                           const CompactionOptions& options) {
  ARROW_RETURN_NOT_OK(options.Validate());
  // Entries other writers committed since: the files they removed must not be merged.
  std::vector<DeltaAddFile> added;
  for (bool applied = true; applied;) {
    ARROW_ASSIGN_OR_RAISE(applied, log_->ReadNextEntry(&added));
  }
  PreparedCompaction prepared;
  CompactionResult& result = prepared.result;
  CompactionPlan plan = PlanCompaction(log_->live_files(), app_id, options);
  result.more = plan.more;
  if (plan.groups.empty()) return prepared;

  std::vector<DeltaAddFile> adds;
  std::vector<std::string> removes;
  for (const auto& group : plan.groups) {
    DeltaAddFile add;
    add.path = MergedFilePath(group.front().path, log_->version(), app_id);
    add.partition_values = group.front().partition_values;
    auto written = [&]() -> arrow::Status {
      if (options.join_row_groups) {
        int64_t rows = 0;
        ARROW_ASSIGN_OR_RAISE(const bool joined, WriteJoined(root_, group, app_id, options, &add, &rows));
        if (joined) {
          add.modification_time_ms = NowMillis();
          result.rows += rows;
          ++result.files_joined;
          return arrow::Status::OK();
        }
      }
      // The inputs' rows stay in their chunks: a merge holds them once, not twice.
      ARROW_ASSIGN_OR_RAISE(auto rows, ReadFilesAs(root_, group, file_schema_));
      std::shared_ptr<parquet::FileMetaData> footer;
      ARROW_ASSIGN_OR_RAISE(add.size, WriteParquetFile(root_ + "/" + add.path, *rows, parquet_, &footer));
      add.modification_time_ms = NowMillis();
      ARROW_ASSIGN_OR_RAISE(add.stats_json, footer ? ComputeFileStats(*rows, *footer) : ComputeFileStats(*rows));
      result.rows += rows->num_rows();
      return arrow::Status::OK();
    }();
    if (!written.ok()) {
      DeleteFiles(root_, adds);
      return written.WithMessage("table ", name_, ": compaction: ", written.message());
    }
    for (const auto& input : group) {
      removes.push_back(input.path);
      result.bytes_in += input.size;
    }
    result.bytes_out += add.size;
    adds.push_back(std::move(add));
  }
  result.files_in = static_cast<int64_t>(removes.size());
  result.files_out = static_cast<int64_t>(adds.size());
  FaultPoint("compact.after_files");

  // No txn: a compaction is no batch of the query, and its removes alone make it happen
  // once (after it, its inputs are no longer live to be merged again).
  CommitOptions commit_options;
  commit_options.data_change = false;
  commit_options.parameters = {{"auto", "true"}, {"targetSize", std::to_string(options.target_file_bytes)}};
  auto commit = log_->Prepare("", -1, adds, removes, "OPTIMIZE", commit_options);
  if (!commit.ok()) {
    DeleteFiles(root_, adds);
    if (!ConflictOf(commit.status()).has_value()) return commit.status();
    result.outcome = CompactionResult::Outcome::kConflict;
    result.conflict = commit.status().message();
    return prepared;
  }
  prepared.commit = std::move(*commit);
  return prepared;
}

arrow::Result<CompactionResult> Table::CommitCompaction(const PreparedCompaction& prepared) {
  CompactionResult result = prepared.result;
  if (!prepared.commit.has_value()) return result;
  auto version = log_->CommitPrepared(*prepared.commit);
  if (!version.ok()) {
    // Without a conflict, the entry may have been written before the failure: the files
    // stay, and RemoveOrphans deletes them if no version lists them.
    if (!ConflictOf(version.status()).has_value()) return version.status();
    DeleteFiles(root_, prepared.commit->adds);
    result.outcome = CompactionResult::Outcome::kConflict;
    result.conflict = version.status().message();
    return result;
  }
  ARROW_RETURN_NOT_OK(log_->PostCommit(*prepared.commit, *version));
  FaultPoint("compact.after_commit");
  result.outcome = CompactionResult::Outcome::kCommitted;
  result.version = *version;
  return result;
}

}  // namespace medallion::sink
