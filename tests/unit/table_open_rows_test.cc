// Table::AppendAndReplaceOpen finds the live open rows by content: another writer (delta-rs'
// OPTIMIZE) may have merged the "open-" file with files of final rows.
#include <algorithm>
#include <limits>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>

#include "common/time_util.h"
#include "sink/table.h"
#include "sink/table_reader.h"
#include "delta_test_support.h"
#include "status_assertions.h"

namespace medallion::sink {
namespace {

constexpr const char* kQuery = "q";
constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();

std::shared_ptr<arrow::DataType> Micros() { return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"); }

std::shared_ptr<arrow::Schema> FileSchema() {
  return arrow::schema({arrow::field("window_end", Micros(), false), arrow::field("revenue", arrow::int64(), false)});
}

/// One row per window end, revenue = end * 10 (so a row is recognisable after a rewrite).
std::shared_ptr<arrow::RecordBatch> Windows(const std::vector<int64_t>& ends) {
  arrow::TimestampBuilder end_builder(Micros(), arrow::default_memory_pool());
  arrow::Int64Builder revenue;
  for (int64_t end : ends) {
    EXPECT_TRUE(end_builder.Append(end).ok());
    EXPECT_TRUE(revenue.Append(end * 10).ok());
  }
  return arrow::RecordBatch::Make(FileSchema(), static_cast<int64_t>(ends.size()),
                                  {*end_builder.Finish(), *revenue.Finish()});
}

Table::OpenRows OpenAfter(int64_t watermark) { return Table::OpenRows{"window_end", watermark}; }

class TableOpenRowsTest : public test::TableDirTest {
 protected:
  TableOpenRowsTest() : TableDirTest("table_open_rows_test") {}
  static void SetUpTestSuite() { ASSERT_OK(arrow::compute::Initialize()); }

  void SetUp() override {
    TableDirTest::SetUp();
    ASSERT_OK_AND_ASSIGN(table, Open());
    table_ = std::move(table);
    // Batch 0, no watermark yet: windows 200 and 300 open. Batch 1, judged by watermark 100,
    // ends with watermark 250: 200 is final, 300 and 400 open.
    ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 0, Windows({}), Windows({200, 300}), OpenAfter(kNoWatermark)));
    ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 1, Windows({200}), Windows({300, 400}), OpenAfter(100)));
  }

  arrow::Result<std::unique_ptr<Table>> Open() {
    return Table::Open(root_, "gold/windows", FileSchema(), {}, ParquetOptions{}, 1000, 3600 * 1000);
  }

  /// What delta-rs' OPTIMIZE does to an unpartitioned table, through a handle of its own: one
  /// file of every live file's rows (named as delta-rs names them), committed without
  /// dataChange, the inputs removed. `only` limits the inputs to paths starting with it.
  std::string OptimizeElsewhere(const std::string& only = "") {
    std::unique_ptr<Table> other = *Open();
    std::vector<DeltaAddFile> inputs;
    std::vector<std::string> removes;
    for (const auto& [path, add] : other->log().live_files()) {
      if (!path.starts_with(only)) continue;
      inputs.push_back(add);
      removes.push_back(path);
    }
    auto rows = ReadFilesAs(root_, inputs, FileSchema());
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    DeltaAddFile merged;
    merged.path = "part-00001-" + std::to_string(other->log().version()) + "-external-c000.zstd.parquet";
    auto size = WriteParquetFile(root_ + "/" + merged.path, **rows, ParquetOptions{});
    EXPECT_TRUE(size.ok()) << size.status().ToString();
    merged.size = *size;
    merged.modification_time_ms = NowMillis();
    CommitOptions options;
    options.data_change = false;
    EXPECT_TRUE(other->log().Commit("", 0, {merged}, removes, "OPTIMIZE", options).ok());
    return merged.path;
  }

  /// The window ends of the live rows, sorted (each end's revenue checked on the way).
  std::vector<int64_t> LiveEnds() {
    std::unique_ptr<Table> reader = *Open();
    std::vector<DeltaAddFile> files;
    for (const auto& [path, add] : reader->log().live_files()) files.push_back(add);
    auto table = ReadFilesAs(root_, files, FileSchema());
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    auto rows = (*table)->CombineChunksToBatch();
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    const auto& ends = static_cast<const arrow::TimestampArray&>(*(*rows)->column(0));
    const auto& revenue = static_cast<const arrow::Int64Array&>(*(*rows)->column(1));
    std::vector<int64_t> out;
    for (int64_t i = 0; i < ends.length(); ++i) {
      EXPECT_EQ(revenue.Value(i), ends.Value(i) * 10);
      out.push_back(ends.Value(i));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::unique_ptr<Table> table_;
};

TEST_F(TableOpenRowsTest, ReplacesItsOwnOpenFile) {
  EXPECT_EQ(LiveEnds(), (std::vector<int64_t>{200, 300, 400}));
  ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 2, Windows({300}), Windows({400, 500}), OpenAfter(250)));
  EXPECT_EQ(LiveEnds(), (std::vector<int64_t>{200, 300, 400, 500}));
}

TEST_F(TableOpenRowsTest, FindsOpenRowsAnotherWriterMergedWithFinalOnes) {
  const std::string merged = OptimizeElsewhere();
  EXPECT_EQ(table_->log().live_files().size(), 2u) << "this handle has not read the OPTIMIZE yet";

  // Batch 2, judged by watermark 250: 300 closes, 400 and 500 are open. The open rows 300 and
  // 400 of batch 1 sit in the merged file beside the final 200.
  ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 2, Windows({300}), Windows({400, 500}), OpenAfter(250)));
  EXPECT_EQ(LiveEnds(), (std::vector<int64_t>{200, 300, 400, 500}));
  EXPECT_FALSE(table_->log().live_files().contains(merged));
  // The merged file's final row was written again as a file of batch 2, after its final rows.
  EXPECT_TRUE(table_->log().live_files().contains("part-0000000002-0001-q.parquet"));
}

TEST_F(TableOpenRowsTest, LeavesAnotherWritersFileOfFinalRowsAlone) {
  ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 2, Windows({300}), Windows({400, 500}), OpenAfter(250)));
  const std::string merged = OptimizeElsewhere("part-");  // 200 and 300, both final
  ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 3, Windows({400}), Windows({500}), OpenAfter(350)));
  EXPECT_TRUE(table_->log().live_files().contains(merged));
  EXPECT_EQ(LiveEnds(), (std::vector<int64_t>{200, 300, 400, 500}));
}

TEST_F(TableOpenRowsTest, AppendModeRemovesTheOpenRowsOnly) {
  OptimizeElsewhere();
  // A restart in append mode: no open rows are written, and the merged open rows (300, 400)
  // go while the final 200 stays.
  ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 2, Windows({}), nullptr, OpenAfter(250)));
  EXPECT_EQ(LiveEnds(), (std::vector<int64_t>{200}));
}

TEST_F(TableOpenRowsTest, AReplayedBatchWritesNothing) {
  OptimizeElsewhere();
  ASSERT_OK(table_->AppendAndReplaceOpen(kQuery, 2, Windows({300}), Windows({400, 500}), OpenAfter(250)));
  const int64_t version = table_->log().version();
  ASSERT_OK_AND_ASSIGN(reopened, Open());
  ASSERT_OK(reopened->AppendAndReplaceOpen(kQuery, 2, Windows({300}), Windows({400, 500}), OpenAfter(250)));
  EXPECT_EQ(reopened->log().version(), version);
  EXPECT_EQ(LiveEnds(), (std::vector<int64_t>{200, 300, 400, 500}));
}

}  // namespace
}  // namespace medallion::sink
