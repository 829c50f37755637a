#include "sink/parquet_concat.h"

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/statistics.h>

#include "common/file_util.h"
#include "sink/file_stats.h"
#include "sink/parquet_file.h"

namespace medallion::sink {
namespace {

/// The column types of the tables, a struct and values long enough to be cut in the stats.
std::shared_ptr<arrow::Schema> Columns() {
  return arrow::schema({
      arrow::field("id", arrow::utf8(), false),
      arrow::field("name", arrow::utf8()),
      arrow::field("n", arrow::int64()),
      arrow::field("x", arrow::float64()),
      arrow::field("money", arrow::decimal128(18, 4)),
      arrow::field("day", arrow::date32()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("where", arrow::struct_({arrow::field("country", arrow::utf8()), arrow::field("zip", arrow::int32())})),
  });
}

/// `rows` random rows of Columns(): nullable columns null with probability `null_share` (1:
/// all null), names of 0-60 characters from a small alphabet (many repeat, some longer than
/// the stats keep), and when `nan`, a NaN among the doubles.
std::shared_ptr<arrow::RecordBatch> Rows(std::mt19937_64* rng, int64_t rows, double null_share, bool nan) {
  std::bernoulli_distribution null(null_share);
  std::uniform_int_distribution<int64_t> any(-(1LL << 60), 1LL << 60);
  std::uniform_int_distribution<int64_t> money(-999'999'999'999'999'999LL, 999'999'999'999'999'999LL);
  auto text = [&](size_t max_len) {
    std::string s((*rng)() % (max_len + 1), 'a');
    for (char& c : s) c = static_cast<char>("abcé"[(*rng)() % 3]);
    return s;
  };
  arrow::StringBuilder id, name, country;
  arrow::Int64Builder n;
  arrow::DoubleBuilder x;
  arrow::Decimal128Builder m(arrow::decimal128(18, 4));
  arrow::Date32Builder day;
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  arrow::Int32Builder zip;
  auto ok = [](const arrow::Status& st) { ASSERT_TRUE(st.ok()) << st.ToString(); };
  for (int64_t r = 0; r < rows; ++r) {
    ok(id.Append("id-" + std::to_string(any(*rng))));
    null(*rng) ? ok(name.AppendNull()) : ok(name.Append(text(60)));
    null(*rng) ? ok(n.AppendNull()) : ok(n.Append(any(*rng)));
    if (nan && r == rows / 2) {
      ok(x.Append(std::nan("")));
    } else {
      null(*rng) ? ok(x.AppendNull()) : ok(x.Append(static_cast<double>(any(*rng)) / 7.0));
    }
    null(*rng) ? ok(m.AppendNull()) : ok(m.Append(arrow::Decimal128(money(*rng))));
    null(*rng) ? ok(day.AppendNull()) : ok(day.Append(static_cast<int32_t>((*rng)() % 40000)));
    null(*rng) ? ok(ts.AppendNull()) : ok(ts.Append(static_cast<int64_t>((*rng)() % 4'000'000'000'000'000)));
    null(*rng) ? ok(country.AppendNull()) : ok(country.Append(text(3)));
    null(*rng) ? ok(zip.AppendNull()) : ok(zip.Append(static_cast<int32_t>((*rng)() % 100000)));
  }
  auto finish = [](arrow::ArrayBuilder* b) { return b->Finish().ValueOrDie(); };
  auto where = arrow::StructArray::Make({finish(&country), finish(&zip)},
                                        {arrow::field("country", arrow::utf8()), arrow::field("zip", arrow::int32())})
                   .ValueOrDie();
  return arrow::RecordBatch::Make(Columns(), rows,
                                  {finish(&id), finish(&name), finish(&n), finish(&x), finish(&m), finish(&day),
                                   finish(&ts), where});
}

class ParquetConcatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("parquet_concat_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// `batch` written as a Parquet file by WriteParquetFile with `options`: its bytes.
  std::string Written(const arrow::RecordBatch& batch, const ParquetOptions& options) {
    const std::string path = (dir_ / ("f" + std::to_string(next_++) + ".parquet")).string();
    EXPECT_TRUE(WriteParquetFile(path, batch, options).ok());
    return ReadFile(path).ValueOrDie();
  }

  std::filesystem::path dir_;
  int next_ = 0;
};

std::shared_ptr<arrow::Table> ReadBack(const std::string& bytes, int* row_groups = nullptr) {
  auto buffer = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(bytes));
  auto reader = parquet::arrow::OpenFile(buffer, arrow::default_memory_pool()).ValueOrDie();
  if (row_groups) *row_groups = reader->num_row_groups();
  return reader->ReadTable().ValueOrDie();
}

std::string Joined(const std::vector<std::string>& files) {
  auto plan = ParquetConcat::Plan(&files);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  auto out = arrow::io::BufferOutputStream::Create().ValueOrDie();
  EXPECT_TRUE(plan->Write(out.get()).ok());
  return out->Finish().ValueOrDie()->ToString();
}

TEST_F(ParquetConcatTest, JoinedFilesReadBackAsTheirRowsInOrder) {
  std::mt19937_64 rng(20261205);
  ParquetOptions arrow_writer;  // zstd, dictionaries, statistics, two row groups a file
  arrow_writer.row_group_rows = 300;
  ParquetOptions encoder;  // medallion's own encoder (flat columns only: without "where")
  encoder.plain_below_rows = 1 << 16;
  for (int round = 0; round < 12; ++round) {
    const ParquetOptions& options = round % 2 == 0 ? arrow_writer : encoder;
    std::vector<std::string> files;
    arrow::RecordBatchVector batches;
    const int count = 1 + round % 5;
    for (int f = 0; f < count; ++f) {
      batches.push_back(Rows(&rng, 1 + static_cast<int64_t>(rng() % 500), f == 1 ? 1.0 : 0.2, false));
      if (&options == &encoder) batches.back() = batches.back()->RemoveColumn(7).ValueOrDie();
      files.push_back(Written(*batches.back(), options));
    }
    int row_groups = 0, expected_row_groups = 0;
    for (const auto& file : files) {
      int n = 0;
      ReadBack(file, &n);
      expected_row_groups += n;
    }
    const std::string joined = Joined(files);
    auto table = ReadBack(joined, &row_groups);
    auto expected = arrow::Table::FromRecordBatches(batches).ValueOrDie();
    EXPECT_EQ(row_groups, expected_row_groups);
    ASSERT_EQ(table->num_rows(), expected->num_rows());
    EXPECT_TRUE(table->Equals(*expected)) << "round " << round;

    // The row groups keep their statistics (Arrow's writer) and the footer its row count.
    auto meta = parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(
                                                     arrow::Buffer::FromString(joined)))->metadata();
    EXPECT_EQ(meta->num_rows(), expected->num_rows());
    if (&options == &arrow_writer) {
      EXPECT_TRUE(meta->RowGroup(row_groups - 1)->ColumnChunk(2)->is_stats_set());
    }
  }
}

TEST_F(ParquetConcatTest, BronzeFilesOfTheEncoderWithManyPagesJoinWithTheirStatistics) {
  // Bronze-like rows (Columns() has a struct, which the encoder does not write): offsets and
  // message bytes large enough that each file's value column is several pages.
  std::mt19937_64 rng(31);
  const auto schema = arrow::schema({arrow::field("offset", arrow::int64(), false),
                                     arrow::field("value", arrow::binary()),
                                     arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
  ParquetOptions bronze;
  bronze.plain_below_rows = INT64_MAX;
  std::vector<std::string> files;
  arrow::RecordBatchVector batches;
  int64_t offset = 0;
  for (int f = 0; f < 3; ++f) {
    arrow::Int64Builder offsets;
    arrow::BinaryBuilder values;
    arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
    const int rows = 20 + f * 7;
    for (int r = 0; r < rows; ++r) {
      ASSERT_TRUE(offsets.Append(offset++).ok());
      if (rng() % 5 == 0) {
        ASSERT_TRUE(values.AppendNull().ok());
        ASSERT_TRUE(ts.AppendNull().ok());
        continue;
      }
      std::string v(static_cast<size_t>(100'000 + rng() % 50'000), 'x');
      for (size_t i = 0; i < v.size(); i += 97) v[i] = static_cast<char>(rng());
      ASSERT_TRUE(values.Append(v).ok());
      ASSERT_TRUE(ts.Append(static_cast<int64_t>(rng() % 4'000'000'000'000'000)).ok());
    }
    batches.push_back(arrow::RecordBatch::Make(
        schema, rows, {offsets.Finish().ValueOrDie(), values.Finish().ValueOrDie(), ts.Finish().ValueOrDie()}));
    files.push_back(Written(*batches.back(), bronze));
  }
  const std::string joined = Joined(files);
  int row_groups = 0;
  auto table = ReadBack(joined, &row_groups);
  auto expected = arrow::Table::FromRecordBatches(batches).ValueOrDie();
  EXPECT_EQ(row_groups, 3);
  EXPECT_TRUE(table->Equals(*expected));
  auto meta = parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(
                                                   arrow::Buffer::FromString(joined)))->metadata();
  int64_t first = 0;
  for (int g = 0; g < 3; ++g) {
    auto stats = std::static_pointer_cast<parquet::Int64Statistics>(meta->RowGroup(g)->ColumnChunk(0)->statistics());
    ASSERT_NE(stats, nullptr);
    EXPECT_EQ(stats->min(), first);
    EXPECT_EQ(stats->max(), first + batches[g]->num_rows() - 1);
    EXPECT_EQ(meta->RowGroup(g)->ColumnChunk(1)->statistics()->null_count(), batches[g]->column(1)->null_count());
    first += batches[g]->num_rows();
  }
}

TEST_F(ParquetConcatTest, FilesThatCannotBeJoinedAreRefusedAsNotImplemented) {
  std::mt19937_64 rng(7);
  auto batch = Rows(&rng, 50, 0.1, false);
  const std::string file = Written(*batch, {});
  auto other = batch->RemoveColumn(1).ValueOrDie();
  const std::vector<std::vector<std::string>> refused = {
      {file, Written(*other, {})},              // another schema
      {file, "PAR1 not a footer at all PAR1"},  // a footer length beyond the file
      {file, file.substr(0, file.size() / 2)},  // cut short
      {"not parquet"},
  };
  for (const auto& files : refused) {
    auto plan = ParquetConcat::Plan(&files);
    ASSERT_FALSE(plan.ok());
    EXPECT_TRUE(plan.status().IsNotImplemented()) << plan.status().ToString();
  }
}

TEST_F(ParquetConcatTest, ADamagedFooterIsRefusedOrJoinedIntoAFileOfTheSameRows) {
  // Bytes of the footer changed at random: the plan refuses, or what it joins has the
  // offsets it had moved; it never reads outside the files it was given (ASan checks).
  std::mt19937_64 rng(99);
  auto batch = Rows(&rng, 80, 0.1, false);
  const std::string file = Written(*batch, {});
  uint32_t footer_size;
  std::memcpy(&footer_size, file.data() + file.size() - 8, 4);
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string damaged = file;
    for (int k = 0; k < 1 + round % 4; ++k) {
      damaged[damaged.size() - 8 - 1 - rng() % footer_size] = static_cast<char>(rng());
    }
    const std::vector<std::string> files = {file, damaged};
    auto plan = ParquetConcat::Plan(&files);
    if (!plan.ok()) {
      EXPECT_TRUE(plan.status().IsNotImplemented()) << plan.status().ToString();
      ++refused;
      continue;
    }
    auto out = arrow::io::BufferOutputStream::Create().ValueOrDie();
    ASSERT_TRUE(plan->Write(out.get()).ok());
  }
  EXPECT_GT(refused, 0);
}

TEST_F(ParquetConcatTest, MergedStatsEqualTheStatsOfAllTheRows) {
  std::mt19937_64 rng(5);
  for (int round = 0; round < 60; ++round) {
    arrow::RecordBatchVector pieces;
    std::vector<std::string> stats;
    const int count = 1 + round % 6;
    for (int f = 0; f < count; ++f) {
      const double null_share = (round + f) % 7 == 0 ? 1.0 : 0.25;
      pieces.push_back(Rows(&rng, 1 + static_cast<int64_t>(rng() % 200), null_share, false));
      stats.push_back(ComputeFileStats(*pieces.back()));
    }
    auto all = arrow::Table::FromRecordBatches(pieces).ValueOrDie()->CombineChunksToBatch().ValueOrDie();
    std::vector<std::string_view> views(stats.begin(), stats.end());
    auto merged = MergeFileStats(views);
    ASSERT_TRUE(merged.has_value()) << "round " << round;
    EXPECT_EQ(*merged, ComputeFileStats(*all)) << "round " << round;
  }
}

TEST_F(ParquetConcatTest, AColumnOneFileHasNoBoundsForHasNoneMerged) {
  std::mt19937_64 rng(11);
  auto with_nan = Rows(&rng, 40, 0.1, true);  // stats cannot say NaN: no min/max for x
  auto plain = Rows(&rng, 40, 0.1, false);
  const std::string a = ComputeFileStats(*with_nan), b = ComputeFileStats(*plain);
  ASSERT_EQ(a.find("\"x\":", a.find("minValues")) > a.find("maxValues"), true);
  auto merged = MergeFileStats({a, b});
  ASSERT_TRUE(merged.has_value());
  const size_t max_at = merged->find("maxValues"), nulls_at = merged->find("nullCount");
  EXPECT_EQ(merged->substr(0, nulls_at).find("\"x\":"), std::string::npos) << *merged;
  EXPECT_NE(merged->substr(nulls_at).find("\"x\":"), std::string::npos);
  EXPECT_NE(merged->substr(0, max_at).find("\"n\":"), std::string::npos);
  EXPECT_FALSE(MergeFileStats({a, ""}).has_value());
  // Dates and timestamps whose text does not sort as their time are not compared.
  auto with_min = [](const std::string& value) {
    return "{\"numRecords\":1,\"minValues\":{\"t\":\"" + value + "\"},\"maxValues\":{},\"nullCount\":{\"t\":0}}";
  };
  EXPECT_FALSE(MergeFileStats({with_min("-2420-01-0"), with_min("2026-12-05")}).has_value());
  EXPECT_FALSE(MergeFileStats({with_min("12026-01-01T00:00:00.000000Z"), with_min("2026-12-05")}).has_value());
  EXPECT_TRUE(MergeFileStats({with_min("12345678-1234-4321-8888-123456789012"), with_min("2026-12-05")}).has_value());
  EXPECT_FALSE(MergeFileStats({a, "{\"numRecords\":3}"}).has_value());
  EXPECT_FALSE(MergeFileStats({a, "not json"}).has_value());
}

}  // namespace
}  // namespace medallion::sink
