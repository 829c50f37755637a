#include "sink/table_reader.h"

#include <unistd.h>

#include <filesystem>

#include <arrow/api.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>

#include "sink/row_json.h"
#include "sink/table.h"
#include "sink/table_directory.h"
#include "status_assertions.h"

namespace medallion::sink {
namespace {

namespace fs = std::filesystem;

class TableReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_OK(arrow::compute::Initialize()); }
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("table_reader_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A batch of rows id = first..first+n-1 with raw bytes.
  static std::shared_ptr<arrow::RecordBatch> Batch(int64_t first, int64_t n) {
    arrow::Int64Builder id;
    arrow::BinaryBuilder raw;
    for (int64_t i = first; i < first + n; ++i) {
      EXPECT_TRUE(id.Append(i).ok());
      EXPECT_TRUE(raw.Append(i % 2 == 0 ? std::string("ok") : std::string("\xff\x00", 2)).ok());
    }
    std::shared_ptr<arrow::Array> ids, raws;
    EXPECT_TRUE(id.Finish(&ids).ok());
    EXPECT_TRUE(raw.Finish(&raws).ok());
    return arrow::RecordBatch::Make(FileSchema(), n, {ids, raws});
  }
  static std::shared_ptr<arrow::Schema> FileSchema() {
    return arrow::schema({arrow::field("id", arrow::int64(), false), arrow::field("raw", arrow::binary(), true)});
  }

  fs::path dir_;
};

TEST(TableDirectoryTest, ResolvesAliasesAndNames) {
  const std::vector<std::string> existing = {"bronze/orders_raw", "gold/top_products", "silver/order_lines"};
  struct Case {
    std::string given, expected;
  };
  for (const Case& c : std::vector<Case>{{"silver", "silver/order_lines"},
                                         {"silver/order_lines", "silver/order_lines"},
                                         {"silver/order_lines/", "silver/order_lines"},
                                         {"gold_top", "gold/top_products"},
                                         {"bronze", "bronze/orders_raw"}}) {
    SCOPED_TRACE(c.given);
    auto name = ResolveTableName(c.given, existing, "data");
    ASSERT_TRUE(name.ok()) << name.status().ToString();
    EXPECT_EQ(*name, c.expected);
  }
}

TEST(TableDirectoryTest, UnknownTableListsTheExistingOnes) {
  const std::vector<std::string> existing = {"bronze/orders_raw", "gold/top_products"};
  for (const std::string given : {"gold", "silver", "gold/customer_spend", "x"}) {
    SCOPED_TRACE(given);
    auto name = ResolveTableName(given, existing, "data");
    ASSERT_TRUE(name.status().IsKeyError());
    EXPECT_NE(name.status().message().find("unknown table '" + given + "'"), std::string::npos);
    EXPECT_NE(name.status().message().find("bronze/orders_raw (bronze), gold/top_products (gold_top)"),
              std::string::npos)
        << name.status().message();
  }
  auto none = ResolveTableName("silver", {}, "somewhere");
  ASSERT_TRUE(none.status().IsKeyError());
  EXPECT_NE(none.status().message().find("'somewhere' holds no table"), std::string::npos);
  EXPECT_TRUE(IsReplacedTable("gold/top_products"));
  EXPECT_FALSE(IsReplacedTable("silver/order_lines"));
}

TEST_F(TableReaderTest, ListsTablesByTheirLogs) {
  fs::create_directories(dir_ / "silver/order_lines/_delta_log");
  fs::create_directories(dir_ / "bronze/orders_raw/_delta_log");
  fs::create_directories(dir_ / "gold/not_a_table");
  ASSERT_OK_AND_ASSIGN(tables, ListTables(dir_.string()));
  EXPECT_EQ(tables, (std::vector<std::string>{"bronze/orders_raw", "silver/order_lines"}));
  EXPECT_FALSE(ListTables((dir_ / "missing").string()).ok());
}

TEST(TableReaderOrderTest, SortsByBatchThenIndexThenPath) {
  std::vector<DeltaAddFile> files;
  for (const std::string path :
       {"d=2/part-0000000010-0000-q.parquet", "d=1/part-0000000002-0001-q.parquet",
        "d=3/part-0000000002-0000-q.parquet", "open-0000000010-0000-q.parquet", "foreign.parquet"}) {
    DeltaAddFile add;
    add.path = path;
    files.push_back(add);
  }
  std::vector<std::string> sorted;
  for (const auto& add : SortFilesInNaturalOrder(files)) sorted.push_back(add.path);
  EXPECT_EQ(sorted, (std::vector<std::string>{"foreign.parquet", "d=3/part-0000000002-0000-q.parquet",
                                              "d=1/part-0000000002-0001-q.parquet", "open-0000000010-0000-q.parquet",
                                              "d=2/part-0000000010-0000-q.parquet"}));
}

TEST_F(TableReaderTest, ReadsWhatTheLogListsAndFollowsNewCommits) {
  const std::string root = (dir_ / "late/things").string();
  ASSERT_OK_AND_ASSIGN(table, Table::Open(root, "late_things", FileSchema(),
                                          {arrow::field("event_date", arrow::date32())}, ParquetOptions{}, 10,
                                          600'000));
  ASSERT_OK(table->Append("q", 0, {{{{"event_date", "2026-11-24"}}, Batch(0, 3)}}));
  ASSERT_OK_AND_ASSIGN(reader, DeltaLog::OpenForRead(root, "late/things"));
  EXPECT_EQ(reader->version(), 1);
  ASSERT_OK_AND_ASSIGN(schema, LogSchema(*reader));
  EXPECT_EQ(schema->ToString(), arrow::schema({arrow::field("id", arrow::int64()), arrow::field("raw", arrow::binary()),
                                               arrow::field("event_date", arrow::date32())})
                                    ->ToString());

  std::vector<DeltaAddFile> added;
  ASSERT_OK_AND_ASSIGN(none, reader->ReadNextEntry(&added));
  EXPECT_FALSE(none);
  ASSERT_OK(table->Append("q", 1, {{{{"event_date", "2026-11-25"}}, Batch(3, 2)}}));
  ASSERT_OK_AND_ASSIGN(one, reader->ReadNextEntry(&added));
  ASSERT_TRUE(one);
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(RowCountFromStats(added[0]), 2);
  EXPECT_EQ(reader->version(), 2);
  EXPECT_EQ(reader->live_files().size(), 2u);

  std::vector<DeltaAddFile> live;
  for (const auto& [path, add] : reader->live_files()) live.push_back(add);
  ASSERT_OK_AND_ASSIGN(rows, ReadTableFiles(*reader, SortFilesInNaturalOrder(live)));
  ASSERT_OK_AND_ASSIGN(batch, rows->CombineChunksToBatch());
  ASSERT_EQ(batch->num_rows(), 5);
  std::string first, last;
  ASSERT_OK(AppendRowJson(*batch, 0, &first));
  ASSERT_OK(AppendRowJson(*batch, 4, &last));
  EXPECT_EQ(first, R"({"id":0,"raw":"ok","event_date":"2026-11-24"})");
  EXPECT_EQ(last, R"({"id":4,"raw":"ok","event_date":"2026-11-25"})");
  std::string invalid_utf8;
  ASSERT_OK(AppendRowJson(*batch, 1, &invalid_utf8));
  EXPECT_EQ(invalid_utf8, R"({"id":1,"raw":{"base64":"/wA="},"event_date":"2026-11-24"})");
}

TEST_F(TableReaderTest, FilesWrittenBeforeASchemaEvolutionReadNullsInTheNewColumns) {
  const std::string root = (dir_ / "silver/things").string();
  {
    ASSERT_OK_AND_ASSIGN(table, Table::Open(root, "silver_things", FileSchema(), {}, ParquetOptions{}, 10, 600'000));
    ASSERT_OK(table->Append("q", 0, {{{}, Batch(0, 2)}}));
  }
  auto evolved_schema = *FileSchema()->AddField(2, arrow::field("note", arrow::utf8(), true));
  ASSERT_OK_AND_ASSIGN(table, Table::Open(root, "silver_things", evolved_schema, {}, ParquetOptions{}, 10, 600'000));
  ASSERT_OK(table->EvolveSchema());
  auto old_batch = Batch(2, 1);
  arrow::StringBuilder note;
  ASSERT_OK(note.Append("new"));
  ASSERT_OK_AND_ASSIGN(notes, note.Finish());
  auto new_batch = arrow::RecordBatch::Make(evolved_schema, 1, {old_batch->column(0), old_batch->column(1), notes});
  ASSERT_OK(table->Append("q", 1, {{{}, new_batch}}));

  ASSERT_OK_AND_ASSIGN(reader, DeltaLog::OpenForRead(root, "silver_things"));
  std::vector<DeltaAddFile> live;
  for (const auto& [path, add] : reader->live_files()) live.push_back(add);
  ASSERT_OK_AND_ASSIGN(rows, ReadTableFiles(*reader, SortFilesInNaturalOrder(live)));
  ASSERT_OK_AND_ASSIGN(batch, rows->CombineChunksToBatch());
  ASSERT_EQ(batch->num_rows(), 3);
  std::string first, last;
  ASSERT_OK(AppendRowJson(*batch, 0, &first));
  ASSERT_OK(AppendRowJson(*batch, 2, &last));
  EXPECT_EQ(first, R"({"id":0,"raw":"ok","note":null})");
  EXPECT_EQ(last, R"({"id":2,"raw":"ok","note":"new"})");
}

TEST_F(TableReaderTest, MissingLogIsAnError) {
  auto log = DeltaLog::OpenForRead((dir_ / "nothing").string(), "nothing");
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("no Delta log"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "nothing"));  // read-only: nothing was created
}

}  // namespace
}  // namespace medallion::sink
