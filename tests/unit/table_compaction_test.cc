#include "sink/table_compaction.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <arrow/api.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "common/file_util.h"
#include "sink/file_stats.h"
#include "sink/table.h"
#include "sink/table_reader.h"
#include "delta_test_support.h"
#include "status_assertions.h"

extern char** environ;

namespace medallion::sink {
namespace {

namespace fs = std::filesystem;

constexpr const char* kQuery = "q";
/// Set by the crash tests for the child process they start (CompactionCrashChild).
constexpr const char* kChildRootVariable = "MEDALLION_COMPACTION_TEST_ROOT";

std::shared_ptr<arrow::Schema> FileSchema() {
  return arrow::schema({arrow::field("id", arrow::int64(), false), arrow::field("payload", arrow::utf8(), true)});
}

/// Every file counts as small, all of a partition's files make one group.
CompactionOptions MergeAll() {
  CompactionOptions options;
  options.min_file_bytes = 1LL << 30;
  options.target_file_bytes = 1LL << 30;
  options.min_files = 4;
  return options;
}

/// Uncompressed, so that a file's bytes follow its rows whoever wrote it: a batch's file
/// compresses its small columns with LZ4 and a merged file with the table's codec.
arrow::Result<std::unique_ptr<Table>> OpenTable(const std::string& root) {
  ParquetOptions parquet;
  parquet.compression = "none";
  return Table::Open(root, "bronze/test", FileSchema(), {arrow::field("event_date", arrow::utf8())}, parquet,
                     /*log_checkpoint_interval=*/1000, /*removed_file_retention_ms=*/3600 * 1000);
}

/// `rows` rows with ids first.. and a payload of `payload_bytes` pseudo-random hex digits,
/// which zstd cannot shrink, so a file's size follows its rows.
std::shared_ptr<arrow::RecordBatch> Rows(int64_t first, int64_t rows, int payload_bytes = 8) {
  arrow::Int64Builder ids;
  arrow::StringBuilder payloads;
  uint64_t state = static_cast<uint64_t>(first) * 2654435761u + 1;
  for (int64_t id = first; id < first + rows; ++id) {
    EXPECT_TRUE(ids.Append(id).ok());
    std::string payload;
    for (int i = 0; i < payload_bytes; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      payload.push_back("0123456789abcdef"[(state >> 60) & 15]);
    }
    EXPECT_TRUE(payloads.Append(payload).ok());
  }
  return arrow::RecordBatch::Make(FileSchema(), rows, {*ids.Finish(), *payloads.Finish()});
}

/// Partition value -> ids, in the order a reader of the files in natural order sees them.
using RowsByPartition = std::map<std::string, std::vector<int64_t>>;

class TableCompactionTest : public test::TableDirTest {
 protected:
  TableCompactionTest() : TableDirTest("table_compaction_test") {}
  static void SetUpTestSuite() { ASSERT_OK(arrow::compute::Initialize()); }

  void SetUp() override {
    TableDirTest::SetUp();
    auto table = OpenTable(root_);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    table_ = std::move(*table);
  }

  /// Appends batches first.. first+count-1, each a file of `rows` rows in every partition of
  /// `dates` (ids batch * 1000 + partition * 100 + row).
  void AppendBatches(int64_t first, int64_t count, const std::vector<std::string>& dates, int64_t rows = 10,
                     int payload_bytes = 8) {
    for (int64_t batch = first; batch < first + count; ++batch) {
      std::vector<PartitionedBatch> parts;
      for (size_t d = 0; d < dates.size(); ++d) {
        parts.push_back({{{"event_date", dates[d]}},
                         Rows(batch * 1000 + static_cast<int64_t>(d) * 100, rows, payload_bytes)});
      }
      ASSERT_OK(table_->Append(kQuery, batch, parts));
    }
  }

  /// The rows of `files`, read in natural order, by partition.
  RowsByPartition ReadRows(std::vector<DeltaAddFile> files) {
    auto table = ReadTableFiles(table_->log(), SortFilesInNaturalOrder(std::move(files)));
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    RowsByPartition rows;
    if (!table.ok()) return rows;
    auto batch = (*table)->CombineChunksToBatch();
    EXPECT_TRUE(batch.ok());
    const auto& ids = static_cast<const arrow::Int64Array&>(*(*batch)->GetColumnByName("id"));
    const auto& dates = static_cast<const arrow::StringArray&>(*(*batch)->GetColumnByName("event_date"));
    for (int64_t i = 0; i < ids.length(); ++i) rows[dates.GetString(i)].push_back(ids.Value(i));
    return rows;
  }

  std::vector<DeltaAddFile> LiveFiles() const {
    std::vector<DeltaAddFile> files;
    for (const auto& [path, add] : table_->log().live_files()) files.push_back(add);
    return files;
  }

  /// The files live at `version`, from the log's JSON entries.
  std::vector<DeltaAddFile> FilesAt(int64_t version) const {
    DeltaSnapshot snapshot;
    for (int64_t v = 0; v <= version; ++v) {
      auto text = ReadFile(Entry(v));
      EXPECT_TRUE(text.ok());
      EXPECT_TRUE(ApplyLogEntry(*text, &snapshot, nullptr).ok());
    }
    std::vector<DeltaAddFile> files;
    for (const auto& [path, add] : snapshot.live) files.push_back(add);
    return files;
  }

  /// Data files on disk whose name marks them as merged ("-c<version>-").
  std::vector<std::string> MergedFilesOnDisk() const {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && name.find("-c0") != std::string::npos) found.push_back(name);
    }
    return found;
  }

  std::unique_ptr<Table> table_;
};

TEST_F(TableCompactionTest, MergesSmallFilesKeepingEachPartitionsRowsInOrder) {
  AppendBatches(0, 10, {"2026-11-24", "2026-11-25"});
  const RowsByPartition before = ReadRows(LiveFiles());
  const int64_t txn = table_->CommittedBatch(kQuery);

  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  EXPECT_EQ(result.outcome, CompactionResult::Outcome::kCommitted) << result.conflict;
  EXPECT_EQ(result.version, 11);
  EXPECT_EQ(result.files_in, 20);
  EXPECT_EQ(result.files_out, 2);
  EXPECT_EQ(result.rows, 200);
  EXPECT_GT(result.bytes_out, 0);
  EXPECT_LT(result.bytes_out, result.bytes_in);  // one footer instead of ten
  EXPECT_FALSE(result.more);

  // One file per partition, named after its first input (batch 0, file 0 or 1).
  std::vector<std::string> paths = table_->log().LiveFiles();
  EXPECT_EQ(paths, (std::vector<std::string>{"event_date=2026-11-24/part-0000000000-0000-c0000000010-q.parquet",
                                             "event_date=2026-11-25/part-0000000000-0001-c0000000010-q.parquet"}));
  for (const auto& add : LiveFiles()) EXPECT_EQ(RowCountFromStats(add), 100) << add.path;
  EXPECT_EQ(ReadRows(LiveFiles()), before);
  EXPECT_EQ(table_->CommittedBatch(kQuery), txn);  // no batch progress moved

  // The same from a fresh replay of the log.
  ASSERT_OK_AND_ASSIGN(reopened, OpenTable(root_));
  EXPECT_EQ(reopened->log().LiveFiles(), paths);
}

TEST_F(TableCompactionTest, CommitsAnOptimizeWithoutDataChangeOrTxn) {
  AppendBatches(0, 5, {"2026-11-24"});
  ASSERT_OK_AND_ASSIGN(follower, DeltaLog::OpenForRead(root_, "bronze/test"));
  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(result.outcome, CompactionResult::Outcome::kCommitted);

  ASSERT_OK_AND_ASSIGN(entry, ReadFile(Entry(result.version)));
  EXPECT_NE(entry.find("\"operation\":\"OPTIMIZE\""), std::string::npos) << entry;
  EXPECT_NE(entry.find("\"isBlindAppend\":false"), std::string::npos);
  EXPECT_NE(entry.find("\"numRemovedFiles\":\"5\""), std::string::npos);
  EXPECT_EQ(entry.find("\"txn\""), std::string::npos);
  EXPECT_EQ(entry.find("\"dataChange\":true"), std::string::npos);
  size_t flags = 0;
  for (size_t at = entry.find("\"dataChange\":false"); at != std::string::npos;
       at = entry.find("\"dataChange\":false", at + 1)) {
    ++flags;
  }
  EXPECT_EQ(flags, 6u);  // five removes, one add

  // A reader following the table's changes sees no new rows in it.
  std::vector<DeltaAddFile> added;
  ASSERT_OK_AND_ASSIGN(applied, follower->ReadNextEntry(&added));
  EXPECT_TRUE(applied);
  EXPECT_TRUE(added.empty());
  EXPECT_EQ(follower->LiveFiles(), table_->log().LiveFiles());
}

TEST_F(TableCompactionTest, AReaderOfAnEarlierVersionSeesTheSameRows) {
  AppendBatches(0, 6, {"2026-11-24", "2026-11-25"});
  const int64_t read_version = table_->log().version();
  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(result.outcome, CompactionResult::Outcome::kCommitted);
  AppendBatches(6, 1, {"2026-11-24"});  // a later commit (and its vacuum) keeps the tombstones

  const auto earlier = FilesAt(read_version);
  ASSERT_EQ(earlier.size(), 12u);
  for (const auto& add : earlier) EXPECT_TRUE(fs::exists(root_ + "/" + add.path)) << add.path;
  RowsByPartition now = ReadRows(FilesAt(result.version));
  EXPECT_EQ(ReadRows(earlier), now);
}

TEST_F(TableCompactionTest, CompactsEachPartitionOnItsOwn) {
  AppendBatches(0, 3, {"2026-11-24", "2026-11-25"});
  AppendBatches(3, 3, {"2026-11-24"});
  const RowsByPartition before = ReadRows(LiveFiles());

  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(result.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(result.files_in, 6);  // 2026-11-25 has 3 files, fewer than min_files
  EXPECT_EQ(result.files_out, 1);
  EXPECT_EQ(table_->log().LiveFiles(),
            (std::vector<std::string>{"event_date=2026-11-24/part-0000000000-0000-c0000000006-q.parquet",
                                      "event_date=2026-11-25/part-0000000000-0001-q.parquet",
                                      "event_date=2026-11-25/part-0000000001-0001-q.parquet",
                                      "event_date=2026-11-25/part-0000000002-0001-q.parquet"}));
  EXPECT_EQ(ReadRows(LiveFiles()), before);
}

TEST_F(TableCompactionTest, DoesNothingBelowMinFiles) {
  AppendBatches(0, 3, {"2026-11-24"});
  const int64_t version = table_->log().version();
  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  EXPECT_EQ(result.outcome, CompactionResult::Outcome::kNothingToDo);
  EXPECT_EQ(result.files_in, 0);
  EXPECT_EQ(table_->log().version(), version);
  EXPECT_TRUE(MergedFilesOnDisk().empty());
}

TEST_F(TableCompactionTest, LeavesLargeFilesAloneAndMergesTheRunsBetweenThem) {
  AppendBatches(0, 4, {"2026-11-24"});
  AppendBatches(4, 1, {"2026-11-24"}, /*rows=*/2000, /*payload_bytes=*/40);
  AppendBatches(5, 4, {"2026-11-24"});
  const std::string large = "event_date=2026-11-24/part-0000000004-0000-q.parquet";
  const RowsByPartition before = ReadRows(LiveFiles());

  CompactionOptions options = MergeAll();
  options.min_file_bytes = table_->log().live_files().at(large).size;  // a file of that size is not small
  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, options));
  ASSERT_EQ(result.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(result.files_in, 8);
  EXPECT_EQ(table_->log().LiveFiles(),
            (std::vector<std::string>{"event_date=2026-11-24/part-0000000000-0000-c0000000009-q.parquet", large,
                                      "event_date=2026-11-24/part-0000000005-0000-c0000000009-q.parquet"}));
  EXPECT_EQ(ReadRows(LiveFiles()), before);
}

TEST_F(TableCompactionTest, AMergedFileWaitsForMinFilesMinusOneTimesItsSizeBeforeItIsRewritten) {
  // min_files 4: a file is merged again once the files after it hold three times its bytes,
  // so merges grow files fourfold and a row is rewritten once per fourfold step.
  AppendBatches(0, 8, {"2026-11-24"}, /*rows=*/200, /*payload_bytes=*/40);
  ASSERT_OK_AND_ASSIGN(first, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(first.outcome, CompactionResult::Outcome::kCommitted);
  const std::string merged = table_->log().LiveFiles().front();  // 8 units

  // Four new files (4 units, less than 3 x 8): only they are merged.
  AppendBatches(8, 4, {"2026-11-24"}, /*rows=*/200, /*payload_bytes=*/40);
  ASSERT_OK_AND_ASSIGN(second, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(second.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(second.files_in, 4);
  EXPECT_EQ(table_->log().LiveFiles().front(), merged);
  ASSERT_EQ(table_->log().LiveFiles().size(), 2u);  // 8 + 4 units

  // Eight more (12 units after the first file, under 24; 8 after the second, under 12):
  // only the eight are merged.
  AppendBatches(12, 8, {"2026-11-24"}, /*rows=*/200, /*payload_bytes=*/40);
  ASSERT_OK_AND_ASSIGN(third, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(third.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(third.files_in, 8);
  ASSERT_EQ(table_->log().LiveFiles().size(), 3u);  // 8 + 4 + 8 units

  // Sixteen more: 28 units after the first file, at least 3 x 8: everything is merged.
  AppendBatches(20, 16, {"2026-11-24"}, /*rows=*/200, /*payload_bytes=*/40);
  const RowsByPartition before = ReadRows(LiveFiles());
  ASSERT_OK_AND_ASSIGN(fourth, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(fourth.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(fourth.files_in, 19);
  EXPECT_EQ(table_->log().LiveFiles().size(), 1u);
  EXPECT_EQ(ReadRows(LiveFiles()), before);
}

TEST_F(TableCompactionTest, TargetSizeAndByteBudgetBoundEachCall) {
  AppendBatches(0, 12, {"2026-11-24"}, /*rows=*/100, /*payload_bytes=*/40);
  const RowsByPartition before = ReadRows(LiveFiles());
  int64_t largest = 0;
  for (const auto& add : LiveFiles()) largest = std::max(largest, add.size);

  CompactionOptions options = MergeAll();
  options.target_file_bytes = 3 * largest;   // at most three inputs per merged file
  options.max_bytes_per_run = 7 * largest;  // two such files per call
  ASSERT_OK_AND_ASSIGN(first, table_->Compact(kQuery, options));
  ASSERT_EQ(first.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(first.files_out, 2);
  EXPECT_EQ(first.files_in, 6);
  EXPECT_LE(first.bytes_in, options.max_bytes_per_run);
  EXPECT_TRUE(first.more);

  for (int call = 0; call < 10; ++call) {
    ASSERT_OK_AND_ASSIGN(next, table_->Compact(kQuery, options));
    EXPECT_LE(next.bytes_in, options.max_bytes_per_run);
    if (next.outcome == CompactionResult::Outcome::kNothingToDo) break;
  }
  for (const auto& add : LiveFiles()) EXPECT_LE(add.size, options.target_file_bytes) << add.path;
  EXPECT_LT(LiveFiles().size(), 12u);
  EXPECT_EQ(ReadRows(LiveFiles()), before);
}

TEST_F(TableCompactionTest, IsAbandonedWhenAnotherWriterRemovesAnInput) {
  AppendBatches(0, 5, {"2026-11-24"});
  ASSERT_OK_AND_ASSIGN(prepared, table_->PrepareCompaction(kQuery, MergeAll()));
  ASSERT_TRUE(prepared.commit.has_value());
  for (const auto& add : prepared.commit->adds) EXPECT_TRUE(fs::exists(root_ + "/" + add.path));

  // Another writer (as delta-rs's optimize or a DELETE would) removes one of the inputs.
  auto full_schema = arrow::schema({FileSchema()->field(0), FileSchema()->field(1),
                                    arrow::field("event_date", arrow::utf8())});
  ASSERT_OK_AND_ASSIGN(other, DeltaLog::Open(root_, "bronze/test", full_schema, {"event_date"}, 1000));
  const std::string removed = prepared.commit->removes.front().path;
  ASSERT_OK(other->Commit("other", 1, {}, {removed}, "DELETE").status());

  ASSERT_OK_AND_ASSIGN(result, table_->CommitCompaction(prepared));
  EXPECT_EQ(result.outcome, CompactionResult::Outcome::kConflict);
  EXPECT_NE(result.conflict.find("removed '" + removed + "'"), std::string::npos) << result.conflict;
  EXPECT_TRUE(MergedFilesOnDisk().empty());

  // The stream goes on, and the next call merges what is left.
  AppendBatches(5, 1, {"2026-11-24"});
  ASSERT_OK_AND_ASSIGN(again, table_->Compact(kQuery, MergeAll()));
  EXPECT_EQ(again.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(again.files_in, 5);
  ASSERT_OK_AND_ASSIGN(reopened, OpenTable(root_));
  EXPECT_EQ(reopened->log().LiveFiles().size(), 1u);
  EXPECT_FALSE(reopened->log().live_files().contains(removed));
}

TEST_F(TableCompactionTest, AnAppendMeanwhileDoesNotConflict) {
  AppendBatches(0, 5, {"2026-11-24"});
  ASSERT_OK_AND_ASSIGN(prepared, table_->PrepareCompaction(kQuery, MergeAll()));
  ASSERT_TRUE(prepared.commit.has_value());
  AppendBatches(5, 1, {"2026-11-24"});  // the commit removes every file live when it was read
  const RowsByPartition before = ReadRows(LiveFiles());

  ASSERT_OK_AND_ASSIGN(result, table_->CommitCompaction(prepared));
  EXPECT_EQ(result.outcome, CompactionResult::Outcome::kCommitted) << result.conflict;
  EXPECT_EQ(result.version, 7);
  EXPECT_EQ(table_->log().LiveFiles().size(), 2u);
  EXPECT_EQ(ReadRows(LiveFiles()), before);
}

TEST_F(TableCompactionTest, AFirstMergeJoinsRowGroupsAndALaterOneRewritesSmallOnes) {
  auto row_groups = [&](const DeltaAddFile& add) {
    return parquet::ParquetFileReader::OpenFile(root_ + "/" + add.path)->metadata()->num_row_groups();
  };
  // The stream's files, none merged: joined, one row group each, the stats those of the rows.
  AppendBatches(0, 8, {"2026-11-24", "2026-11-25"});
  const RowsByPartition first = ReadRows(LiveFiles());
  ASSERT_OK_AND_ASSIGN(joined, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(joined.outcome, CompactionResult::Outcome::kCommitted) << joined.conflict;
  EXPECT_EQ(joined.files_joined, 2);
  EXPECT_EQ(joined.rows, 160);
  EXPECT_EQ(ReadRows(LiveFiles()), first);
  for (const auto& add : LiveFiles()) {
    EXPECT_EQ(row_groups(add), 8) << add.path;
    ASSERT_OK_AND_ASSIGN(rows, ReadTableFiles(table_->log(), {add}));
    ASSERT_OK_AND_ASSIGN(batch, rows->RemoveColumn(rows->schema()->GetFieldIndex("event_date")));
    ASSERT_OK_AND_ASSIGN(one, batch->CombineChunksToBatch());
    EXPECT_EQ(add.stats_json, ComputeFileStats(*one)) << add.path;
  }

  // A merged file of small row groups (10 rows) with new ones: rewritten into one row group.
  // (min_files 2: a merged file joins a group once the files after it hold its bytes.)
  CompactionOptions pairs = MergeAll();
  pairs.min_files = 2;
  AppendBatches(8, 10, {"2026-11-24", "2026-11-25"});
  const RowsByPartition second = ReadRows(LiveFiles());
  ASSERT_OK_AND_ASSIGN(rewritten, table_->Compact(kQuery, pairs));
  ASSERT_EQ(rewritten.outcome, CompactionResult::Outcome::kCommitted) << rewritten.conflict;
  EXPECT_EQ(rewritten.files_in, 22);
  EXPECT_EQ(rewritten.files_joined, 0);
  EXPECT_EQ(ReadRows(LiveFiles()), second);
  for (const auto& add : LiveFiles()) EXPECT_EQ(row_groups(add), 1) << add.path;

  // Row groups of join_min_row_group_rows on average are joined however often merged, some
  // smaller ones among them too (here the merged file's 180 rows and twenty new files' 10: 18
  // on average).
  AppendBatches(18, 20, {"2026-11-24", "2026-11-25"});
  const RowsByPartition third = ReadRows(LiveFiles());
  pairs.join_min_row_group_rows = 15;
  ASSERT_OK_AND_ASSIGN(again, table_->Compact(kQuery, pairs));
  EXPECT_EQ(again.files_in, 42);
  EXPECT_EQ(again.files_joined, 2);
  EXPECT_EQ(ReadRows(LiveFiles()), third);
  for (const auto& add : LiveFiles()) EXPECT_EQ(row_groups(add), 21) << add.path;
}

TEST_F(TableCompactionTest, RejectsInvalidOptions) {
  CompactionOptions options;
  options.min_files = 1;
  auto result = table_->Compact(kQuery, options);
  ASSERT_TRUE(result.status().IsInvalid());
  EXPECT_NE(result.status().message().find("min_files"), std::string::npos);
}

/// Runs this test binary's CompactionCrashChild test in a new process with the fault point
/// `point` armed, on the table at `root`; returns its wait status.
int CompactInChildProcess(const std::string& root, const std::string& point) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(kChildRootVariable) + "=" + root);
  env_strings.push_back("MEDALLION_FAULT_POINT=" + point);
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=CompactionCrashChild.CompactsTheTableTheParentNames";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execve(exe.c_str(), argv, env.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(CompactionCrashChild, CompactsTheTableTheParentNames) {
  const char* root = std::getenv(kChildRootVariable);
  if (root == nullptr) GTEST_SKIP() << "run by TableCompactionTest.Kill* in a child process";
  ASSERT_OK(arrow::compute::Initialize());
  ASSERT_OK_AND_ASSIGN(table, OpenTable(root));
  ASSERT_OK(table->Compact(kQuery, MergeAll()).status());
}

TEST_F(TableCompactionTest, KillAfterTheMergedFilesLeavesOrphansOnly) {
  AppendBatches(0, 6, {"2026-11-24", "2026-11-25"});
  const RowsByPartition before = ReadRows(LiveFiles());
  const std::vector<std::string> live = table_->log().LiveFiles();

  const int status = CompactInChildProcess(root_, "compact.after_files");
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
  EXPECT_EQ(MergedFilesOnDisk().size(), 2u);

  ASSERT_OK_AND_ASSIGN(reopened, OpenTable(root_));
  table_ = std::move(reopened);
  EXPECT_EQ(table_->log().LiveFiles(), live);
  EXPECT_EQ(ReadRows(LiveFiles()), before);
  ASSERT_OK(table_->RemoveOrphans(kQuery));
  EXPECT_TRUE(MergedFilesOnDisk().empty());

  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  EXPECT_EQ(result.outcome, CompactionResult::Outcome::kCommitted);
  EXPECT_EQ(ReadRows(LiveFiles()), before);
}

TEST_F(TableCompactionTest, KillAfterTheCommitLeavesTheMergedTable) {
  AppendBatches(0, 6, {"2026-11-24", "2026-11-25"});
  const RowsByPartition before = ReadRows(LiveFiles());

  const int status = CompactInChildProcess(root_, "compact.after_commit");
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;

  ASSERT_OK_AND_ASSIGN(reopened, OpenTable(root_));
  table_ = std::move(reopened);
  ASSERT_OK(table_->RemoveOrphans(kQuery));
  EXPECT_EQ(table_->log().LiveFiles().size(), 2u);
  EXPECT_EQ(MergedFilesOnDisk().size(), 2u);
  EXPECT_EQ(ReadRows(LiveFiles()), before);
  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  EXPECT_EQ(result.outcome, CompactionResult::Outcome::kNothingToDo);
}

/// delta-rs reads the compacted table, at the version before the compaction and after it,
/// with the same rows, and its history names the OPTIMIZE.
TEST_F(TableCompactionTest, DeltaRsReadsTheSameRowsBeforeAndAfter) {
  const std::string python = MEDALLION_PYTHON;
  if (std::system((python + " -c 'import deltalake' 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << python << " cannot import deltalake";
  }
  AppendBatches(0, 6, {"2026-11-24", "2026-11-25"});
  const int64_t before = table_->log().version();
  ASSERT_OK_AND_ASSIGN(result, table_->Compact(kQuery, MergeAll()));
  ASSERT_EQ(result.outcome, CompactionResult::Outcome::kCommitted);

  const std::string script =
      "import os, sys, deltalake\n"
      "root, before = sys.argv[1], int(sys.argv[2])\n"
      "def rows(dt):\n"
      "    t = dt.to_pyarrow_table()\n"
      "    return sorted(zip(t['event_date'].to_pylist(), t['id'].to_pylist()))\n"
      "old, new = deltalake.DeltaTable(root, version=before), deltalake.DeltaTable(root)\n"
      "print(len(rows(old)), rows(old) == rows(new), len(new.file_uris()), new.history(1)[0]['operation'])\n"
      // delta-rs #2184: its binding can abort at interpreter exit, after the answer.
      "sys.stdout.flush()\n"
      "os._exit(0)\n";
  ASSERT_OK(WriteFileAtomic(root_ + "/check.py", script));
  const std::string command = python + " " + root_ + "/check.py " + root_ + " " + std::to_string(before);
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {};
  const bool got = std::fgets(line, sizeof(line), pipe) != nullptr;
  EXPECT_EQ(::pclose(pipe), 0);
  ASSERT_TRUE(got);
  EXPECT_EQ(std::string(line), "120 True 2 OPTIMIZE\n");
}

}  // namespace
}  // namespace medallion::sink
