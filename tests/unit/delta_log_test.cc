#include "sink/delta_log.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <thread>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <parquet/metadata.h>

#include "common/file_util.h"
#include "format/schemas.h"
#include "sink/delta_checkpoint.h"
#include "sink/delta_schema.h"
#include "sink/file_stats.h"
#include "sink/parquet_file.h"
#include "delta_test_support.h"
#include "status_assertions.h"

namespace medallion::sink {
namespace {

std::shared_ptr<arrow::Schema> TestSchema() {
  return arrow::schema({arrow::field("id", arrow::int64(), false),
                        arrow::field("name", arrow::utf8(), true),
                        arrow::field("event_date", arrow::date32(), false)});
}

DeltaAddFile MakeAdd(const std::string& date, const std::string& name) {
  DeltaAddFile add = test::AddOf(date, name);
  add.stats_json = "{\"numRecords\":1}";
  return add;
}

class DeltaLogTest : public test::TableDirTest {
 protected:
  DeltaLogTest() : TableDirTest("delta_log_test") {}

  std::unique_ptr<DeltaLog> OpenLog(int interval = 10) {
    auto log = DeltaLog::Open(root_, "test/events", TestSchema(), {"event_date"}, interval);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }

};

TEST_F(DeltaLogTest, CreatesVersionZero) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->version(), 0);
  EXPECT_TRUE(log->LiveFiles().empty());
  ASSERT_OK_AND_ASSIGN(text, ReadFile(Entry(0)));
  EXPECT_EQ(text.find("{\"commitInfo\""), 0u);
  EXPECT_NE(text.find("{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}"), std::string::npos);
  EXPECT_NE(text.find("\"partitionColumns\":[\"event_date\"]"), std::string::npos);
  EXPECT_NE(text.find("{\\\"name\\\":\\\"event_date\\\",\\\"type\\\":\\\"date\\\""), std::string::npos);
  EXPECT_EQ(log->TxnVersion("app"), -1);
}

TEST_F(DeltaLogTest, CommitIsIdempotentPerTxn) {
  auto log = OpenLog();
  ASSERT_OK_AND_ASSIGN(v1, log->Commit("app", 1, {MakeAdd("2026-11-24", "a.parquet"),
                                                  MakeAdd("2026-11-25", "b.parquet")}, {}, "WRITE"));
  EXPECT_EQ(v1, 1);
  EXPECT_EQ(log->TxnVersion("app"), 1);
  EXPECT_EQ(log->LiveFiles(), (std::vector<std::string>{"event_date=2026-11-24/a.parquet",
                                                        "event_date=2026-11-25/b.parquet"}));
  // Replaying txn 1 (or an older one) writes nothing.
  for (int64_t txn : {1, 0}) {
    ASSERT_OK_AND_ASSIGN(again, log->Commit("app", txn, {MakeAdd("2026-11-24", "x.parquet")}, {}, "WRITE"));
    EXPECT_EQ(again, 1);
  }
  EXPECT_EQ(log->version(), 1);
  EXPECT_FALSE(PathExists(Entry(2)));
  // Another application has its own txn sequence.
  ASSERT_OK_AND_ASSIGN(v2, log->Commit("other", 1, {MakeAdd("2026-11-24", "c.parquet")}, {}, "WRITE"));
  EXPECT_EQ(v2, 2);
}

TEST_F(DeltaLogTest, RemoveAndAddReplaceFilesAndReopenReplays) {
  auto log = OpenLog();
  ASSERT_OK(log->Commit("app", 1, {MakeAdd("2026-11-24", "a.parquet"), MakeAdd("2026-11-24", "b.parquet")},
                        {}, "WRITE").status());
  ASSERT_OK_AND_ASSIGN(v, log->Commit("app", 2, {MakeAdd("2026-11-24", "ab.parquet")},
                                      {"event_date=2026-11-24/a.parquet", "event_date=2026-11-24/b.parquet"},
                                      "OPTIMIZE"));
  EXPECT_EQ(v, 2);
  const std::vector<std::string> expected = {"event_date=2026-11-24/ab.parquet"};
  EXPECT_EQ(log->LiveFiles(), expected);
  ASSERT_OK_AND_ASSIGN(text, ReadFile(Entry(2)));
  EXPECT_NE(text.find("{\"remove\":{\"path\":\"event_date=2026-11-24/a.parquet\""), std::string::npos);

  auto reopened = OpenLog();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->version(), 2);
  EXPECT_EQ(reopened->LiveFiles(), expected);
  EXPECT_EQ(reopened->TxnVersion("app"), 2);
  EXPECT_EQ(reopened->live_files().at(expected[0]).stats_json, "{\"numRecords\":1}");

  // Removing a file that is not live is a conflict, not a silent success.
  auto bad = reopened->Commit("app", 3, {}, {"event_date=2026-11-24/a.parquet"}, "DELETE");
  EXPECT_TRUE(bad.status().IsInvalid()) << bad.status().ToString();
}

TEST_F(DeltaLogTest, PathsAreUriEncodedInTheLog) {
  auto log = OpenLog();
  DeltaAddFile add = MakeAdd("2026-11-24", "odd name%.parquet");
  ASSERT_OK(log->Commit("app", 1, {add}, {}, "WRITE").status());
  ASSERT_OK_AND_ASSIGN(text, ReadFile(Entry(1)));
  EXPECT_NE(text.find("event_date=2026-11-24/odd%20name%25.parquet"), std::string::npos);
  auto reopened = OpenLog();
  EXPECT_EQ(reopened->LiveFiles(), std::vector<std::string>{add.path});
}

TEST_F(DeltaLogTest, CheckpointAtIntervalAndReopenFromIt) {
  auto log = OpenLog(/*interval=*/3);
  for (int64_t txn = 1; txn <= 7; ++txn) {
    std::vector<std::string> removes;
    if (txn == 5) removes.push_back("event_date=2026-11-24/f1.parquet");
    ASSERT_OK_AND_ASSIGN(v, log->Commit("app", txn, {MakeAdd("2026-11-24", "f" + std::to_string(txn) + ".parquet")},
                                        removes, "WRITE"));
    EXPECT_EQ(v, txn);
  }
  const std::string dir = root_ + "/_delta_log/";
  EXPECT_TRUE(PathExists(dir + "00000000000000000003.checkpoint.parquet"));
  EXPECT_TRUE(PathExists(dir + "00000000000000000006.checkpoint.parquet"));
  EXPECT_FALSE(PathExists(dir + "00000000000000000007.checkpoint.parquet"));
  ASSERT_OK_AND_ASSIGN(last, ReadFile(dir + "_last_checkpoint"));
  // protocol + metaData + 1 txn + 5 live adds + 1 tombstone.
  EXPECT_EQ(last, "{\"version\":6,\"size\":9}");

  // Entries before the checkpoint are no longer needed: replay must use it.
  for (int64_t v = 0; v <= 5; ++v) std::filesystem::remove(Entry(v));
  auto reopened = OpenLog(3);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->version(), 7);
  EXPECT_EQ(reopened->LiveFiles(), log->LiveFiles());
  EXPECT_EQ(reopened->TxnVersion("app"), 7);
  for (const auto& [path, add] : log->live_files()) {
    SCOPED_TRACE(path);
    const DeltaAddFile& other = reopened->live_files().at(path);
    EXPECT_EQ(other.partition_values, add.partition_values);
    EXPECT_EQ(other.size, add.size);
    EXPECT_EQ(other.stats_json, add.stats_json);
  }
  ASSERT_OK_AND_ASSIGN(v8, reopened->Commit("app", 8, {MakeAdd("2026-11-25", "g.parquet")}, {}, "WRITE"));
  EXPECT_EQ(v8, 8);
}

TEST_F(DeltaLogTest, StaleWriterLandsAtNextVersionWithoutOverwriting) {
  auto a = OpenLog();
  auto b = OpenLog();
  ASSERT_OK_AND_ASSIGN(va, a->Commit("writer-a", 1, {MakeAdd("2026-11-24", "a.parquet")}, {}, "WRITE"));
  EXPECT_EQ(va, 1);
  ASSERT_OK_AND_ASSIGN(entry1, ReadFile(Entry(1)));
  // b still believes the table is at version 0: its first attempt loses the race.
  ASSERT_OK_AND_ASSIGN(vb, b->Commit("writer-b", 1, {MakeAdd("2026-11-24", "b.parquet")}, {}, "WRITE"));
  EXPECT_EQ(vb, 2);
  ASSERT_OK_AND_ASSIGN(entry1_after, ReadFile(Entry(1)));
  EXPECT_EQ(entry1_after, entry1);
  EXPECT_EQ(b->LiveFiles().size(), 2u);

  // A zombie writer (opened before `a` commits) replays a txn that `a` commits first:
  // it loses the race, finds the txn in the winning entry and writes nothing.
  auto zombie = OpenLog();
  ASSERT_OK_AND_ASSIGN(vc, a->Commit("writer-c", 9, {MakeAdd("2026-11-24", "c.parquet")}, {}, "WRITE"));
  EXPECT_EQ(vc, 3);
  ASSERT_OK_AND_ASSIGN(vz, zombie->Commit("writer-c", 9, {MakeAdd("2026-11-24", "c2.parquet")}, {}, "WRITE"));
  EXPECT_EQ(vz, 3);  // found already committed in the entry written by `a`
  EXPECT_FALSE(PathExists(Entry(4)));
  EXPECT_EQ(zombie->version(), 3);
}

TEST_F(DeltaLogTest, ConcurrentWritersGetDistinctVersions) {
  ASSERT_NE(OpenLog(/*interval=*/5), nullptr);
  constexpr int kWriters = 4, kCommits = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto log = DeltaLog::Open(root_, "test/events", TestSchema(), {"event_date"}, 5);
      if (!log.ok()) { ++failures; return; }
      for (int t = 1; t <= kCommits; ++t) {
        auto add = MakeAdd("2026-11-24", "w" + std::to_string(w) + "-" + std::to_string(t) + ".parquet");
        if (!(*log)->Commit("w" + std::to_string(w), t, {add}, {}, "WRITE").ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto log = OpenLog(5);
  EXPECT_EQ(log->version(), kWriters * kCommits);
  EXPECT_EQ(log->LiveFiles().size(), static_cast<size_t>(kWriters * kCommits));
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(log->TxnVersion("w" + std::to_string(w)), kCommits);
}

TEST_F(DeltaLogTest, SchemaMismatchNamesTheTable) {
  ASSERT_NE(OpenLog(), nullptr);
  auto other = arrow::schema({arrow::field("id", arrow::int32(), false),
                              arrow::field("event_date", arrow::date32(), false)});
  auto log = DeltaLog::Open(root_, "test/events", other, {"event_date"});
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsInvalid());
  EXPECT_NE(log.status().message().find("test/events"), std::string::npos);
  auto parts = DeltaLog::Open(root_, "test/events", TestSchema(), {});
  EXPECT_TRUE(parts.status().IsInvalid());
}

TEST_F(DeltaLogTest, ChangedColumnTypeNamesTheColumnAndTheWayToUpgrade) {
  auto with = [](std::shared_ptr<arrow::DataType> type) {
    return arrow::schema({arrow::field("id", arrow::int64(), false), arrow::field("revenue", type, false),
                          arrow::field("event_date", arrow::date32(), false)});
  };
  ASSERT_TRUE(DeltaLog::Open(root_, "test/gold", with(arrow::decimal128(18, 4)), {"event_date"}).ok());
  auto log = DeltaLog::Open(root_, "test/gold", with(arrow::decimal128(38, 4)), {"event_date"});
  ASSERT_TRUE(log.status().IsInvalid()) << log.status().ToString();
  const std::string message = log.status().message();
  EXPECT_NE(message.find("table test/gold (" + root_ + ")"), std::string::npos) << message;
  EXPECT_NE(message.find(R"x(revenue ("decimal(18,4)" in the log, "decimal(38,4)" now))x"), std::string::npos)
      << message;
  EXPECT_NE(message.find("new data directory and a new checkpoint directory"), std::string::npos) << message;
}

TEST_F(DeltaLogTest, OpensATableForEveryMedallionSchema) {
  const std::pair<const char*, std::shared_ptr<arrow::Schema>> tables[] = {
      {"bronze", format::BronzeSchema()}, {"quarantine", format::QuarantineSchema()},
      {"events", format::EventSchema()}, {"silver", format::SilverSchema()},
      {"revenue", format::RevenueWindowSchema()}, {"top", format::TopProductsSchema()},
      {"spend", format::CustomerSpendSchema()}};
  for (const auto& [name, schema] : tables) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(full, schema->AddField(schema->num_fields(),
                                                arrow::field("ingest_date", arrow::utf8(), false)));
    const std::string root = root_ + "/" + name;
    ASSERT_OK_AND_ASSIGN(log, DeltaLog::Open(root, name, full, {"ingest_date"}));
    ASSERT_OK(log->Checkpoint());
    ASSERT_OK_AND_ASSIGN(again, DeltaLog::Open(root, name, full, {"ingest_date"}));
    EXPECT_EQ(again->version(), 0);
  }
}

TEST(DeltaSchemaTest, NestedAndDecimalTypes) {
  auto schema = arrow::schema(
      {arrow::field("items", arrow::list(arrow::field("item", format::ItemType(), false)), false),
       arrow::field("t", format::TimestampType(), true)});
  auto json = DeltaSchemaString(*schema);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json,
            "{\"type\":\"struct\",\"fields\":[{\"name\":\"items\",\"type\":{\"type\":\"array\","
            "\"elementType\":{\"type\":\"struct\",\"fields\":["
            "{\"name\":\"product_id\",\"type\":\"string\",\"nullable\":false,\"metadata\":{}},"
            "{\"name\":\"product_name\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},"
            "{\"name\":\"category\",\"type\":\"string\",\"nullable\":false,\"metadata\":{}},"
            "{\"name\":\"quantity\",\"type\":\"long\",\"nullable\":false,\"metadata\":{}},"
            "{\"name\":\"unit_price\",\"type\":\"decimal(18,4)\",\"nullable\":false,\"metadata\":{}},"
            "{\"name\":\"discount\",\"type\":\"decimal(18,4)\",\"nullable\":true,\"metadata\":{}},"
            "{\"name\":\"sku\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]},"
            "\"containsNull\":false},\"nullable\":false,\"metadata\":{}},"
            "{\"name\":\"t\",\"type\":\"timestamp\",\"nullable\":true,\"metadata\":{}}]}");
  for (const auto& s : {format::BronzeSchema(), format::QuarantineSchema(), format::EventSchema(),
                        format::SilverSchema(), format::RevenueWindowSchema(),
                        format::TopProductsSchema(), format::CustomerSpendSchema()}) {
    EXPECT_TRUE(DeltaSchemaString(*s).ok()) << s->ToString();
  }
  auto ntz = arrow::schema({arrow::field("t", arrow::timestamp(arrow::TimeUnit::MICRO))});
  EXPECT_TRUE(DeltaSchemaString(*ntz).status().IsNotImplemented());
}

std::shared_ptr<arrow::RecordBatch> StatsBatch() {
  arrow::Int64Builder ids;
  EXPECT_TRUE(ids.AppendValues({5, -3, 12}).ok());
  arrow::StringBuilder names;
  EXPECT_TRUE(names.Append("bob").ok());
  EXPECT_TRUE(names.AppendNull().ok());
  EXPECT_TRUE(names.Append(std::string(40, 'z')).ok());
  arrow::Decimal128Builder money(format::MoneyType());
  EXPECT_TRUE(money.Append(arrow::Decimal128(123400)).ok());
  EXPECT_TRUE(money.Append(arrow::Decimal128(-5)).ok());
  EXPECT_TRUE(money.AppendNull().ok());
  arrow::TimestampBuilder times(format::TimestampType(), arrow::default_memory_pool());
  EXPECT_TRUE(times.AppendValues({1795515330123456, 1795515330000000, 1795515331000001}).ok());
  arrow::Date32Builder dates;
  EXPECT_TRUE(dates.AppendValues({20416, 20417, 20415}).ok());
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8()),
                               arrow::field("amount", format::MoneyType()),
                               arrow::field("t", format::TimestampType()),
                               arrow::field("d", arrow::date32())});
  return arrow::RecordBatch::Make(schema, 3, {*ids.Finish(), *names.Finish(), *money.Finish(),
                                              *times.Finish(), *dates.Finish()});
}

TEST(FileStatsTest, MinMaxNullCount) {
  const std::string z32(32, 'z');
  EXPECT_EQ(ComputeFileStats(*StatsBatch()),
            "{\"numRecords\":3,"
            "\"minValues\":{\"id\":-3,\"name\":\"bob\",\"amount\":-0.0005,"
            "\"t\":\"2026-11-24T10:15:30.000000Z\",\"d\":\"2025-11-23\"},"
            "\"maxValues\":{\"id\":12,\"name\":\"" + z32 + "\xF4\x8F\xBF\xBF\",\"amount\":12.3400,"
            "\"t\":\"2026-11-24T10:15:31.000001Z\",\"d\":\"2025-11-25\"},"
            "\"nullCount\":{\"id\":0,\"name\":1,\"amount\":1,\"t\":0,\"d\":0}}");
}

/// `rows` rows of every kind of column the stats cover (and a list, which they skip), with
/// nulls, strings longer than the prefix, invalid UTF-8 in one row, and a NaN when `nan_at`
/// is a row index.
std::shared_ptr<arrow::RecordBatch> MixedBatch(int rows, int nan_at, uint64_t seed) {
  uint64_t state = seed * 2654435761u + 7;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  arrow::DoubleBuilder ratios;
  arrow::Decimal128Builder money(format::MoneyType());
  arrow::TimestampBuilder times(format::TimestampType(), arrow::default_memory_pool());
  arrow::Date32Builder dates;
  auto child_names = std::make_shared<arrow::StringBuilder>();
  auto child_counts = std::make_shared<arrow::Int32Builder>();
  auto struct_type = arrow::struct_({arrow::field("who", arrow::utf8()), arrow::field("n", arrow::int32())});
  arrow::StructBuilder people(struct_type, arrow::default_memory_pool(), {child_names, child_counts});
  arrow::ListBuilder tags(arrow::default_memory_pool(), std::make_shared<arrow::Int64Builder>());
  auto* tag_values = static_cast<arrow::Int64Builder*>(tags.value_builder());
  for (int i = 0; i < rows; ++i) {
    const uint64_t r = next();
    EXPECT_TRUE((r % 7 == 0 ? ids.AppendNull() : ids.Append(static_cast<int64_t>(r % 100000) - 50000)).ok());
    std::string name(1 + r % 45, static_cast<char>('a' + r % 26));
    if (r % 11 == 0) name.insert(0, "\xc3\xa9");  // a first byte above 0x7f: bytes compare unsigned
    if (r % 13 == 0) name.clear();  // the empty string, least of all (no first byte to compare)
    if (i == rows / 2 && seed % 2 == 0) name.push_back('\xff');  // invalid UTF-8: no bounds
    EXPECT_TRUE((r % 5 == 0 ? names.AppendNull() : names.Append(name)).ok());
    EXPECT_TRUE((i == nan_at ? ratios.Append(std::nan("")) : ratios.Append((r % 1000) / 7.0)).ok());
    EXPECT_TRUE(money.Append(arrow::Decimal128(static_cast<int64_t>(r % 99999) - 40000)).ok());
    EXPECT_TRUE(times.Append(1795515330000000 + static_cast<int64_t>(r % 86400000000ULL)).ok());
    EXPECT_TRUE(dates.Append(20000 + static_cast<int32_t>(r % 900)).ok());
    if (r % 11 == 0) {
      EXPECT_TRUE(people.AppendNull().ok());
    } else {
      EXPECT_TRUE(people.Append().ok());
      EXPECT_TRUE(child_names->Append("p" + std::to_string(r % 977)).ok());
      EXPECT_TRUE(child_counts->Append(static_cast<int32_t>(r % 50)).ok());
    }
    EXPECT_TRUE(tags.Append().ok());
    EXPECT_TRUE(tag_values->Append(static_cast<int64_t>(r % 13)).ok());
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8()),
                               arrow::field("ratio", arrow::float64()), arrow::field("amount", format::MoneyType()),
                               arrow::field("t", format::TimestampType()), arrow::field("d", arrow::date32()),
                               arrow::field("person", struct_type), arrow::field("tags", arrow::list(arrow::int64()))});
  return arrow::RecordBatch::Make(schema, rows, {*ids.Finish(), *names.Finish(), *ratios.Finish(), *money.Finish(),
                                                 *times.Finish(), *dates.Finish(), *people.Finish(), *tags.Finish()});
}

/// `batch` cut into consecutive slices of 1 to 97 rows, the cuts drawn from `seed`.
std::vector<std::shared_ptr<arrow::RecordBatch>> RandomSlices(const arrow::RecordBatch& batch, uint64_t seed) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> slices;
  for (int64_t at = 0; at < batch.num_rows(); seed = seed * 31 + 17) {
    const int64_t length = std::min<int64_t>(batch.num_rows() - at, 1 + static_cast<int64_t>(seed % 97));
    slices.push_back(batch.Slice(at, length));
    at += length;
  }
  return slices;
}

// The stats of rows in chunks (a compaction's inputs) are the stats of the same rows in one
// batch, whatever the cuts: differential, over random batches and random cuts.
TEST(FileStatsTest, ChunkedRowsGiveTheSameStatsAsOneBatch) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    const int rows = 1 + static_cast<int>(seed * 37 % 300);
    const int nan_at = seed % 3 == 0 ? static_cast<int>(seed * 13 % rows) : -1;
    auto batch = MixedBatch(rows, nan_at, seed);
    const auto slices = RandomSlices(*batch, seed);
    ASSERT_OK_AND_ASSIGN(table, arrow::Table::FromRecordBatches(batch->schema(), slices));
    ASSERT_OK_AND_ASSIGN(chunked, ComputeFileStats(*table));
    EXPECT_EQ(chunked, ComputeFileStats(*batch)) << slices.size() << " chunks";
  }
  // No rows at all, in no chunk.
  ASSERT_OK_AND_ASSIGN(empty, arrow::Table::MakeEmpty(StatsBatch()->schema()));
  ASSERT_OK_AND_ASSIGN(none, ComputeFileStats(*empty));
  ASSERT_OK_AND_ASSIGN(no_rows, arrow::RecordBatch::MakeEmpty(StatsBatch()->schema()));
  EXPECT_EQ(none, ComputeFileStats(*no_rows));
}

/// The stats of `batch` written as a Parquet file with `options`, from the file's footer.
std::string FooterStats(const std::string& path, const arrow::RecordBatch& batch, const ParquetOptions& options) {
  std::shared_ptr<parquet::FileMetaData> footer;
  auto written = WriteParquetFile(path, batch, options, &footer);
  EXPECT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_NE(footer, nullptr);
  return footer ? ComputeFileStats(batch, *footer) : "";
}

// The stats read from the footer are the stats of a scan of every value: differential, over
// random batches, one row group or many, for every kind of column (floats are scanned).
TEST_F(DeltaLogTest, FooterStatsEqualTheScannedOnes) {
  ASSERT_OK(MakeDirs(root_));
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    const int rows = 1 + static_cast<int>(seed * 37 % 300);
    const int nan_at = seed % 3 == 0 ? static_cast<int>(seed * 13 % rows) : -1;
    auto batch = MixedBatch(rows, nan_at, seed);
    ParquetOptions options;
    if (seed % 2 == 0) options.row_group_rows = 1 + static_cast<int64_t>(seed % 23);
    EXPECT_EQ(FooterStats(root_ + "/mixed.parquet", *batch, options), ComputeFileStats(*batch));
  }
  EXPECT_EQ(FooterStats(root_ + "/stats.parquet", *StatsBatch(), {}), ComputeFileStats(*StatsBatch()));
  ASSERT_OK_AND_ASSIGN(no_rows, arrow::RecordBatch::MakeEmpty(StatsBatch()->schema()));
  EXPECT_EQ(FooterStats(root_ + "/empty.parquet", *no_rows, {}), ComputeFileStats(*no_rows));
}

// A compaction's merged file: rows in chunks, written as one file; the stats from its footer
// are the stats of a scan of the same rows in one batch, whatever the cuts and row groups.
TEST_F(DeltaLogTest, FooterStatsOfChunkedRowsEqualTheScannedOnes) {
  ASSERT_OK(MakeDirs(root_));
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    const int rows = 1 + static_cast<int>(seed * 41 % 300);
    const int nan_at = seed % 3 == 1 ? static_cast<int>(seed * 7 % rows) : -1;
    auto batch = MixedBatch(rows, nan_at, seed);
    const auto slices = RandomSlices(*batch, seed * 7);
    ASSERT_OK_AND_ASSIGN(table, arrow::Table::FromRecordBatches(batch->schema(), slices));
    ParquetOptions options;
    if (seed % 2 == 0) options.row_group_rows = 1 + static_cast<int64_t>(seed % 19);
    std::shared_ptr<parquet::FileMetaData> footer;
    ASSERT_OK(WriteParquetFile(root_ + "/merged.parquet", *table, options, &footer).status());
    ASSERT_NE(footer, nullptr);
    ASSERT_OK_AND_ASSIGN(stats, ComputeFileStats(*table, *footer));
    EXPECT_EQ(stats, ComputeFileStats(*batch)) << slices.size() << " chunks";
  }
}

// Where the footer has no min/max (statistics off for a column, as Bronze's value; a value
// longer than the writer keeps in statistics), the column has none: "unknown" to readers.
TEST_F(DeltaLogTest, FooterStatsLeaveOutWhatTheFooterDoesNotHold) {
  ASSERT_OK(MakeDirs(root_));
  auto batch = StatsBatch();
  ParquetOptions plain;
  plain.plain_columns = {"name"};
  const std::string stats = FooterStats(root_ + "/plain.parquet", *batch, plain);
  EXPECT_EQ(stats.find("\"name\":\"bob\""), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"nullCount\":{\"id\":0,\"name\":1,"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"minValues\":{\"id\":-3,\"amount\":-0.0005,"), std::string::npos) << stats;

  arrow::StringBuilder long_values;
  ASSERT_OK(long_values.Append("a"));
  ASSERT_OK(long_values.Append(std::string(100'000, 'b')));
  auto long_batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("s", arrow::utf8())}), 2,
                                             {*long_values.Finish()});
  const std::string long_stats = FooterStats(root_ + "/long.parquet", *long_batch, {});
  EXPECT_TRUE(long_stats == ComputeFileStats(*long_batch) ||
              long_stats == "{\"numRecords\":2,\"minValues\":{},\"maxValues\":{},\"nullCount\":{\"s\":0}}")
      << long_stats;
}

// A timestamp or date whose year is before 1 or after 9999 (a producer's Kafka timestamp in
// Bronze can be anything) gets no bound on its side: the log's ISO text of such a year does not
// sort as its time. The other side keeps its bound, from a scan or from the footer alike.
TEST_F(DeltaLogTest, TimesOutsideYears1To9999HaveNoBound) {
  ASSERT_OK(MakeDirs(root_));
  arrow::TimestampBuilder times(format::TimestampType(), arrow::default_memory_pool());
  arrow::Date32Builder dates;
  const int64_t year_12026 = 317336745600LL * 1000000;  // 12026-01-01T00:00:00Z
  ASSERT_OK(times.AppendValues({1795515330000000, year_12026}));
  ASSERT_OK(dates.AppendValues({-800000, 20416}));  // in 221 BC; 2025-11-24
  auto schema = arrow::schema({arrow::field("t", format::TimestampType()), arrow::field("d", arrow::date32())});
  auto batch = arrow::RecordBatch::Make(schema, 2, {*times.Finish(), *dates.Finish()});
  const std::string expected =
      "{\"numRecords\":2,\"minValues\":{\"t\":\"2026-11-24T10:15:30.000000Z\"},"
      "\"maxValues\":{\"d\":\"2025-11-24\"},\"nullCount\":{\"t\":0,\"d\":0}}";
  EXPECT_EQ(ComputeFileStats(*batch), expected);
  EXPECT_EQ(FooterStats(root_ + "/years.parquet", *batch, {}), expected);

  // Milliseconds whose microseconds pass 64 bits have no bound (no wrap round into a false one).
  arrow::TimestampBuilder millis(arrow::timestamp(arrow::TimeUnit::MILLI), arrow::default_memory_pool());
  ASSERT_OK(millis.AppendValues({std::numeric_limits<int64_t>::min(), 1795515330000}));
  auto ms_batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("ms", arrow::timestamp(arrow::TimeUnit::MILLI))}),
                                           2, {*millis.Finish()});
  EXPECT_EQ(ComputeFileStats(*ms_batch),
            "{\"numRecords\":2,\"minValues\":{},\"maxValues\":{\"ms\":\"2026-11-24T10:15:30.000000Z\"},"
            "\"nullCount\":{\"ms\":0}}");
}

/// A real Parquet file in a table, for readers outside this test (pyarrow, deltalake):
/// run with MEDALLION_KEEP_TEST_DIRS=1 and read the printed path.
TEST_F(DeltaLogTest, RealParquetFileWithStats) {
  auto log = DeltaLog::Open(root_, "test/stats", StatsBatch()->schema()->AddField(5,
                            arrow::field("event_date", arrow::date32(), false)).ValueOrDie(),
                            {"event_date"}, /*checkpoint_interval=*/2);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (int txn = 1; txn <= 3; ++txn) {
    const std::string rel = "event_date=2026-11-2" + std::to_string(txn) + "/part-" + std::to_string(txn) + ".parquet";
    ASSERT_OK(MakeDirs(std::filesystem::path(root_ + "/" + rel).parent_path().string()));
    auto batch = StatsBatch();
    ASSERT_OK_AND_ASSIGN(table, arrow::Table::FromRecordBatches({batch}));
    ASSERT_OK_AND_ASSIGN(out, arrow::io::FileOutputStream::Open(root_ + "/" + rel));
    ASSERT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out));
    ASSERT_OK(out->Close());
    DeltaAddFile add{rel, {{"event_date", "2026-11-2" + std::to_string(txn)}},
                     static_cast<int64_t>(std::filesystem::file_size(root_ + "/" + rel)),
                     1795515330000, ComputeFileStats(*batch)};
    ASSERT_OK((*log)->Commit("app", txn, {add}, {}, "WRITE").status());
  }
  EXPECT_TRUE(PathExists(root_ + "/_delta_log/00000000000000000002.checkpoint.parquet"));
  std::printf("table: %s\n", root_.c_str());
}

TEST(DeltaSnapshotTest, LiveBytesFollowAddsReplacementsAndRemoves) {
  DeltaSnapshot snapshot;
  auto add = [](std::string path, int64_t size) {
    DeltaAddFile file;
    file.path = std::move(path);
    file.size = size;
    return file;
  };
  snapshot.ApplyAdd(add("a.parquet", 100));
  snapshot.ApplyAdd(add("b.parquet", 30));
  EXPECT_EQ(snapshot.live_bytes, 130);
  snapshot.ApplyAdd(add("a.parquet", 70));  // the same path again replaces it
  EXPECT_EQ(snapshot.live_bytes, 100);
  snapshot.ApplyRemove(DeltaRemoveFile{"b.parquet", 1, {}, 30});
  EXPECT_EQ(snapshot.live_bytes, 70);
  snapshot.ApplyRemove(DeltaRemoveFile{"never-added.parquet", 1, {}, 5});
  EXPECT_EQ(snapshot.live_bytes, 70);
  EXPECT_EQ(snapshot.live.size(), 1u);
}

// Seen while writing fuzz/delta_log_fuzz: another writer's entry is input. A negative file size
// is refused, a protocol version beyond int32 is refused (it wrapped to a small one, which this
// reader would have taken as one it can read), and sizes that overflow int64 when summed do
// not make live_bytes undefined: it is the sum modulo 2^64, exact again once they are removed.
TEST(DeltaSnapshotTest, AnotherWritersEntryWithImpossibleValuesIsRefusedOrHarmless) {
  DeltaSnapshot snapshot;
  for (const std::string entry : {
           R"({"add":{"path":"a.parquet","partitionValues":{},"size":-1,"modificationTime":0,"dataChange":true}})",
           R"({"remove":{"path":"a.parquet","deletionTimestamp":0,"dataChange":true,"size":-5}})",
           R"({"protocol":{"minReaderVersion":4294967297,"minWriterVersion":2}})",
           R"({"protocol":{"minReaderVersion":1,"minWriterVersion":0}})",
       }) {
    const arrow::Status st = ApplyLogEntry(entry, &snapshot, nullptr);
    EXPECT_TRUE(st.IsInvalid()) << entry;
    EXPECT_NE(st.message().find("Delta log: "), std::string::npos) << st.ToString();
  }
  EXPECT_FALSE(snapshot.protocol.has_value());
  EXPECT_TRUE(snapshot.live.empty());

  const std::string max = std::to_string(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(ApplyLogEntry(R"({"add":{"path":"x","partitionValues":{},"size":)" + max + "}}\n" +
                                R"({"add":{"path":"y","partitionValues":{},"size":)" + max + "}}\n" +
                                R"({"add":{"path":"z","partitionValues":{},"size":3}})",
                            &snapshot, nullptr)
                  .ok());
  EXPECT_EQ(snapshot.live.size(), 3u);
  ASSERT_TRUE(ApplyLogEntry(R"({"remove":{"path":"x","deletionTimestamp":1}})" "\n"
                            R"({"remove":{"path":"y","deletionTimestamp":1}})",
                            &snapshot, nullptr)
                  .ok());
  EXPECT_EQ(snapshot.live_bytes, 3);
}

// The twin for another writer's checkpoint (found writing fuzz/delta_checkpoint_fuzz): its
// sizes and protocol versions were taken as they came (a version was cast down to int32), a path
// could be both live and removed, and a string need not be UTF-8 (the fuzzer's first finding).
// Each is refused, naming what.
TEST(DeltaSnapshotTest, AnotherWritersCheckpointWithImpossibleValuesIsRefused) {
  auto refused = [](const std::shared_ptr<arrow::Buffer>& bytes, const std::string& what) {
    DeltaSnapshot read;
    const arrow::Status st = ReadDeltaCheckpointBytes(bytes, "ckpt", &read);
    EXPECT_TRUE(st.IsInvalid()) << what << ": " << st.ToString();
    EXPECT_NE(st.message().find(what), std::string::npos) << st.ToString();
  };
  DeltaSnapshot base;
  base.protocol = DeltaProtocol{1, 2};
  DeltaAddFile a;
  a.path = "a.parquet";
  a.size = 10;
  base.ApplyAdd(a);
  DeltaSnapshot read;
  ASSERT_OK_AND_ASSIGN(good, DeltaCheckpointBytes(base, 0));
  ASSERT_OK(ReadDeltaCheckpointBytes(good, "ckpt", &read));
  EXPECT_EQ(read.live_bytes, 10);

  DeltaSnapshot negative = base;
  negative.live["a.parquet"].size = -1;
  ASSERT_OK_AND_ASSIGN(bytes1, DeltaCheckpointBytes(negative, 0));
  refused(bytes1, "add of 'a.parquet' has a negative size -1");

  DeltaSnapshot removed = base;
  removed.tombstones["b.parquet"] = DeltaRemoveFile{"b.parquet", 5, {}, -7};
  ASSERT_OK_AND_ASSIGN(bytes2, DeltaCheckpointBytes(removed, 0));
  refused(bytes2, "remove of 'b.parquet' has a negative size -7");

  DeltaSnapshot both = base;
  both.tombstones["a.parquet"] = DeltaRemoveFile{"a.parquet", 5, {}, 10};
  ASSERT_OK_AND_ASSIGN(bytes3, DeltaCheckpointBytes(both, 0));
  refused(bytes3, "both adds and removes 'a.parquet'");

  DeltaSnapshot zero = base;
  zero.protocol = DeltaProtocol{0, 2};
  ASSERT_OK_AND_ASSIGN(bytes4, DeltaCheckpointBytes(zero, 0));
  refused(bytes4, "protocol version 0 is not a positive 32-bit integer");

  // A string that is not UTF-8 would go into medallion's JSON entries, which nobody could parse.
  DeltaSnapshot not_utf8 = base;
  not_utf8.txns["app-\xff"] = DeltaTxn{1, 0};
  ASSERT_OK_AND_ASSIGN(bytes5, DeltaCheckpointBytes(not_utf8, 0));
  refused(bytes5, "Invalid UTF8 sequence");

  // Another writer's protocol columns may be int64: 2^32 + 1 must not wrap to 1.
  auto protocol_type = arrow::struct_({arrow::field("minReaderVersion", arrow::int64()),
                                       arrow::field("minWriterVersion", arrow::int64())});
  arrow::StructBuilder builder(protocol_type, arrow::default_memory_pool(),
                               {std::make_shared<arrow::Int64Builder>(), std::make_shared<arrow::Int64Builder>()});
  ASSERT_OK(builder.Append());
  ASSERT_OK(static_cast<arrow::Int64Builder*>(builder.field_builder(0))->Append(4294967297LL));
  ASSERT_OK(static_cast<arrow::Int64Builder*>(builder.field_builder(1))->Append(2));
  ASSERT_OK_AND_ASSIGN(column, builder.Finish());
  auto table = arrow::Table::Make(arrow::schema({arrow::field("protocol", protocol_type)}), {column});
  ASSERT_OK_AND_ASSIGN(sink, arrow::io::BufferOutputStream::Create());
  ASSERT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 1024));
  ASSERT_OK_AND_ASSIGN(bytes6, sink->Finish());
  refused(bytes6, "protocol version 4294967297 is not a positive 32-bit integer");
}

}  // namespace
}  // namespace medallion::sink
