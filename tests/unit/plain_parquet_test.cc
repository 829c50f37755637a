#include "sink/plain_parquet.h"

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/metadata.h>

#include "sink/file_stats.h"
#include "sink/parquet_file.h"

namespace medallion::sink {
namespace {

/// Every type the encoder writes, nullable and not, as the tables use them.
std::shared_ptr<arrow::Schema> AllTypes() {
  return arrow::schema({
      arrow::field("s", arrow::utf8()),
      arrow::field("s_required", arrow::utf8(), false),
      arrow::field("b", arrow::binary()),
      arrow::field("flag", arrow::boolean()),
      arrow::field("i32", arrow::int32()),
      arrow::field("i64_required", arrow::int64(), false),
      arrow::field("d", arrow::float64()),
      arrow::field("day", arrow::date32()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("ts_local", arrow::timestamp(arrow::TimeUnit::MICRO)),
      arrow::field("money", arrow::decimal128(18, 4)),
      arrow::field("sum", arrow::decimal128(38, 4), false),
  });
}

/// `rows` random rows of AllTypes: nulls in a nullable column with probability `null_share`,
/// strings of 0-40 bytes, decimals of either sign up to their precision.
std::shared_ptr<arrow::RecordBatch> RandomRows(std::mt19937_64* rng, int64_t rows, double null_share) {
  std::bernoulli_distribution null(null_share);
  std::uniform_int_distribution<int> len(0, 40);
  std::uniform_int_distribution<int64_t> any(INT64_MIN, INT64_MAX);
  std::uniform_int_distribution<int64_t> money(-999'999'999'999'999'999LL, 999'999'999'999'999'999LL);
  auto text = [&] {
    std::string s(static_cast<size_t>(len(*rng)), 'a');
    for (char& c : s) c = static_cast<char>('a' + (*rng)() % 26);
    return s;
  };
  arrow::StringBuilder s, s_required;
  arrow::BinaryBuilder b;
  arrow::BooleanBuilder flag;
  arrow::Int32Builder i32;
  arrow::Int64Builder i64;
  arrow::DoubleBuilder d;
  arrow::Date32Builder day;
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  arrow::TimestampBuilder ts_local(arrow::timestamp(arrow::TimeUnit::MICRO), arrow::default_memory_pool());
  arrow::Decimal128Builder m(arrow::decimal128(18, 4)), sum(arrow::decimal128(38, 4));
  auto ok = [](const arrow::Status& st) { ASSERT_TRUE(st.ok()) << st.ToString(); };
  for (int64_t r = 0; r < rows; ++r) {
    null(*rng) ? ok(s.AppendNull()) : ok(s.Append(text()));
    ok(s_required.Append(text()));
    null(*rng) ? ok(b.AppendNull()) : ok(b.Append(text() + std::string(1, '\0') + "\xff"));
    null(*rng) ? ok(flag.AppendNull()) : ok(flag.Append((*rng)() % 2 == 0));
    null(*rng) ? ok(i32.AppendNull()) : ok(i32.Append(static_cast<int32_t>(any(*rng))));
    ok(i64.Append(any(*rng)));
    null(*rng) ? ok(d.AppendNull()) : ok(d.Append(static_cast<double>(any(*rng)) / 3.0));
    null(*rng) ? ok(day.AppendNull()) : ok(day.Append(static_cast<int32_t>((*rng)() % 40000)));
    null(*rng) ? ok(ts.AppendNull()) : ok(ts.Append(any(*rng) / 4));
    null(*rng) ? ok(ts_local.AppendNull()) : ok(ts_local.Append(any(*rng) / 4));
    null(*rng) ? ok(m.AppendNull()) : ok(m.Append(arrow::Decimal128(money(*rng))));
    ok(sum.Append(arrow::Decimal128(money(*rng)) * arrow::Decimal128(money(*rng))));
  }
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (arrow::ArrayBuilder* builder : std::initializer_list<arrow::ArrayBuilder*>{
           &s, &s_required, &b, &flag, &i32, &i64, &d, &day, &ts, &ts_local, &m, &sum}) {
    columns.push_back(builder->Finish().ValueOrDie());
  }
  return arrow::RecordBatch::Make(AllTypes(), rows, columns);
}

/// Reads a whole Parquet file from memory with Arrow's reader.
std::shared_ptr<arrow::Table> ReadBack(const std::shared_ptr<arrow::Buffer>& bytes,
                                       std::shared_ptr<parquet::FileMetaData>* footer = nullptr) {
  auto reader =
      parquet::arrow::OpenFile(std::make_shared<arrow::io::BufferReader>(bytes), arrow::default_memory_pool());
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return nullptr;
  if (footer != nullptr) *footer = (*reader)->parquet_reader()->metadata();
  auto table = (*reader)->ReadTable();
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return table.ok() ? *table : nullptr;
}

void ExpectSameRows(const arrow::RecordBatch& batch, const arrow::Table& read) {
  EXPECT_TRUE(read.schema()->Equals(*batch.schema(), /*check_metadata=*/false))
      << read.schema()->ToString() << "\nvs\n" << batch.schema()->ToString();
  auto combined = read.CombineChunksToBatch().ValueOrDie();
  EXPECT_TRUE(combined->Equals(batch)) << "read:\n" << combined->ToString() << "\nwritten:\n" << batch.ToString();
}

TEST(PlainParquetTest, RandomBatchesOfEveryTypeReadBackAsWrittenWithEachCodec) {
  std::mt19937_64 rng(20261205);
  int checked = 0;
  for (auto codec : {arrow::Compression::LZ4, arrow::Compression::SNAPPY, arrow::Compression::UNCOMPRESSED}) {
    for (int64_t rows : {1, 7, 8, 9, 63, 64, 65, 1000}) {
      for (double null_share : {0.0, 0.1, 0.5, 1.0}) {
        const auto batch = RandomRows(&rng, rows, null_share);
        auto bytes = EncodePlainParquet(*batch, codec);
        ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
        std::shared_ptr<parquet::FileMetaData> footer;
        const auto read = ReadBack(*bytes, &footer);
        ASSERT_NE(read, nullptr);
        ExpectSameRows(*batch, *read);
        ASSERT_EQ(footer->num_rows(), rows);
        ASSERT_EQ(footer->num_row_groups(), 1);
        for (int c = 0; c < batch->num_columns(); ++c) {
          const auto expected = codec == arrow::Compression::LZ4      ? parquet::Compression::LZ4  // Arrow reads LZ4_RAW as its LZ4
                                : codec == arrow::Compression::SNAPPY ? parquet::Compression::SNAPPY
                                                                      : parquet::Compression::UNCOMPRESSED;
          EXPECT_EQ(footer->RowGroup(0)->ColumnChunk(c)->compression(), expected);
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 96);
}

TEST(PlainParquetTest, ASlicedBatchWritesOnlyItsRows) {
  std::mt19937_64 rng(7);
  const auto batch = RandomRows(&rng, 300, 0.3);
  for (auto [offset, length] : {std::pair<int64_t, int64_t>{1, 10}, {13, 200}, {299, 1}}) {
    const auto slice = batch->Slice(offset, length);
    auto bytes = EncodePlainParquet(*slice, arrow::Compression::LZ4);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    const auto read = ReadBack(*bytes);
    ASSERT_NE(read, nullptr);
    ExpectSameRows(*slice, *read);
  }
}

TEST(PlainParquetTest, RefusesWhatItCannotWrite) {
  auto nested = arrow::schema({arrow::field("n", arrow::struct_({arrow::field("x", arrow::int32())}))});
  EXPECT_FALSE(PlainParquetWritable(*nested));
  EXPECT_FALSE(PlainParquetWritable(*arrow::schema({arrow::field("t", arrow::timestamp(arrow::TimeUnit::NANO))})));
  EXPECT_FALSE(PlainParquetWritable(*arrow::schema({})));
  EXPECT_TRUE(PlainParquetWritable(*AllTypes()));
  std::mt19937_64 rng(1);
  EXPECT_FALSE(EncodePlainParquet(*RandomRows(&rng, 0, 0), arrow::Compression::LZ4).ok());
  EXPECT_FALSE(EncodePlainParquet(*RandomRows(&rng, 3, 0), arrow::Compression::ZSTD).ok());
}

class PlainParquetFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("medallion_plain_parquet_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(PlainParquetFileTest, WriteParquetFileUsesTheEncoderBelowTheRowsSetAndGivesTheSameDeltaStatistics) {
  std::mt19937_64 rng(3);
  const auto batch = RandomRows(&rng, 500, 0.2);
  ParquetOptions options;  // zstd: the encoder writes LZ4_RAW
  options.plain_below_rows = 501;
  std::shared_ptr<parquet::FileMetaData> footer;
  const std::string plain = (dir_ / "plain.parquet").string();
  auto size = WriteParquetFile(plain, *batch, options, &footer);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(footer, nullptr);  // statistics then come from the rows
  EXPECT_EQ(*size, static_cast<int64_t>(std::filesystem::file_size(plain)));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);  // no temp file left

  options.plain_below_rows = 500;  // not below: Arrow's writer
  const std::string arrow_written = (dir_ / "arrow.parquet").string();
  ASSERT_TRUE(WriteParquetFile(arrow_written, *batch, options, &footer).ok());
  ASSERT_NE(footer, nullptr);
  EXPECT_EQ(ComputeFileStats(*batch), ComputeFileStats(*batch, *footer));

  for (const auto& path : {plain, arrow_written}) {
    auto file = arrow::io::ReadableFile::Open(path).ValueOrDie();
    auto reader = parquet::arrow::OpenFile(file, arrow::default_memory_pool()).ValueOrDie();
    ExpectSameRows(*batch, *reader->ReadTable().ValueOrDie());
  }
}

TEST_F(PlainParquetFileTest, RowsOfLargeValuesKeepArrowsWriterWhichCutsPages) {
  // 20 messages of 1 MiB (a Quarantine batch of large records): one 20 MiB page per column is
  // more than a reader should have to hold; Arrow's writer cuts them at 1 MiB.
  arrow::BinaryBuilder values;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(values.Append(std::string(1 << 20, static_cast<char>('a' + i))).ok());
  const auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("value", arrow::binary())}), 20,
                                              {values.Finish().ValueOrDie()});
  ParquetOptions options;
  options.plain_below_rows = 100;
  std::shared_ptr<parquet::FileMetaData> footer;
  const std::string path = (dir_ / "large.parquet").string();
  ASSERT_TRUE(WriteParquetFile(path, *batch, options, &footer).ok());
  ASSERT_NE(footer, nullptr);  // Arrow's writer
  auto file = arrow::io::ReadableFile::Open(path).ValueOrDie();
  auto reader = parquet::arrow::OpenFile(file, arrow::default_memory_pool()).ValueOrDie();
  ExpectSameRows(*batch, *reader->ReadTable().ValueOrDie());
  // Two rows of it are small enough for the encoder.
  ASSERT_TRUE(WriteParquetFile(path, *batch->Slice(0, 2), options, &footer).ok());
  EXPECT_EQ(footer, nullptr);
}

}  // namespace
}  // namespace medallion::sink
