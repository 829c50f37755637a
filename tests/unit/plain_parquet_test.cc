#include "sink/plain_parquet.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/column_page.h>
#include <parquet/column_reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/statistics.h>

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

/// `batch` encoded with `options` and read back by Arrow's reader, which must give its rows:
/// the file's bytes (null when it could not be encoded or read) and, when asked, its footer.
std::shared_ptr<arrow::Buffer> RoundTrip(const arrow::RecordBatch& batch, const PlainParquetOptions& options,
                                         std::shared_ptr<parquet::FileMetaData>* footer = nullptr) {
  auto bytes = EncodePlainParquet(batch, options);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  if (!bytes.ok()) return nullptr;
  const auto read = ReadBack(*bytes, footer);
  if (read == nullptr) return nullptr;
  ExpectSameRows(batch, *read);
  return *bytes;
}

TEST(PlainParquetTest, RandomBatchesOfEveryTypeReadBackAsWrittenWithEachCodec) {
  std::mt19937_64 rng(20261205);
  int checked = 0;
  for (auto codec : {arrow::Compression::LZ4, arrow::Compression::SNAPPY, arrow::Compression::ZSTD,
                     arrow::Compression::UNCOMPRESSED}) {
    for (int64_t rows : {1, 7, 8, 9, 63, 64, 65, 1000}) {
      for (double null_share : {0.0, 0.1, 0.5, 1.0}) {
        const auto batch = RandomRows(&rng, rows, null_share);
        PlainParquetOptions options;
        options.codec = codec;
        std::shared_ptr<parquet::FileMetaData> footer;
        ASSERT_NE(RoundTrip(*batch, options, &footer), nullptr);
        ASSERT_EQ(footer->num_rows(), rows);
        ASSERT_EQ(footer->num_row_groups(), 1);
        for (int c = 0; c < batch->num_columns(); ++c) {
          const auto expected = codec == arrow::Compression::LZ4      ? parquet::Compression::LZ4  // Arrow reads LZ4_RAW as its LZ4
                                : codec == arrow::Compression::SNAPPY ? parquet::Compression::SNAPPY
                                : codec == arrow::Compression::ZSTD   ? parquet::Compression::ZSTD
                                                                      : parquet::Compression::UNCOMPRESSED;
          EXPECT_EQ(footer->RowGroup(0)->ColumnChunk(c)->compression(), expected);
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 128);
}

/// The data pages of column `c` of the only row group, as a reader meets them: their values
/// in all, and how many.
std::pair<int64_t, int> Pages(const std::shared_ptr<arrow::Buffer>& bytes, int c) {
  auto reader = parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(bytes));
  auto pages = reader->RowGroup(0)->GetColumnPageReader(c);
  int64_t values = 0;
  int count = 0;
  while (auto page = pages->NextPage()) {
    EXPECT_EQ(page->type(), parquet::PageType::DATA_PAGE);
    values += static_cast<const parquet::DataPageV1&>(*page).num_values();
    ++count;
  }
  return {values, count};
}

TEST(PlainParquetTest, ColumnsAreCutIntoPagesOfAboutThePageBytes) {
  std::mt19937_64 rng(11);
  for (double null_share : {0.0, 0.3, 1.0}) {
    const auto batch = RandomRows(&rng, 2000, null_share);
    PlainParquetOptions options;
    options.codec = arrow::Compression::ZSTD;
    options.page_bytes = 1000;
    const auto bytes = RoundTrip(*batch, options);
    ASSERT_NE(bytes, nullptr);
    // i64_required: 8 bytes a value, 125 a page; s_required: 4 + 0-40 bytes a value.
    EXPECT_EQ(Pages(bytes, 5), std::make_pair(int64_t{2000}, 16));
    const auto [values, pages] = Pages(bytes, 1);
    EXPECT_EQ(values, 2000);
    EXPECT_GE(pages, 2000 * 4 / 1000);
    EXPECT_LE(pages, 2000 * 44 / 1000 + 1);
  }
  // A value larger than a page is a page of its own.
  arrow::BinaryBuilder large;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(large.Append(std::string(3000, static_cast<char>('a' + i))).ok());
  const auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("value", arrow::binary())}), 5,
                                              {large.Finish().ValueOrDie()});
  PlainParquetOptions options;
  options.page_bytes = 1000;
  const auto bytes = RoundTrip(*batch, options);
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(Pages(bytes, 0), std::make_pair(int64_t{5}, 5));
}

TEST(PlainParquetTest, IntegerColumnsCarryTheirLeastAndGreatestValueAndEveryColumnItsNulls) {
  std::mt19937_64 rng(5);
  for (double null_share : {0.0, 0.5, 1.0}) {
    const auto batch = RandomRows(&rng, 300, null_share);
    PlainParquetOptions options;
    options.page_bytes = 500;  // statistics are the column chunk's, across its pages
    std::shared_ptr<parquet::FileMetaData> footer;
    ASSERT_NE(RoundTrip(*batch, options, &footer), nullptr);
    auto group = footer->RowGroup(0);
    for (int c = 0; c < batch->num_columns(); ++c) {
      const arrow::Array& column = *batch->column(c);
      auto stats = group->ColumnChunk(c)->statistics();
      ASSERT_NE(stats, nullptr) << batch->schema()->field(c)->name();
      EXPECT_EQ(stats->null_count(), column.null_count());
      const auto id = column.type_id();
      const bool integer = id == arrow::Type::INT32 || id == arrow::Type::DATE32 || id == arrow::Type::INT64 ||
                           id == arrow::Type::TIMESTAMP;
      EXPECT_EQ(stats->HasMinMax(), integer && column.null_count() < column.length())
          << batch->schema()->field(c)->name();
      if (!stats->HasMinMax()) continue;
      int64_t low = INT64_MAX, high = INT64_MIN;
      for (int64_t i = 0; i < column.length(); ++i) {
        if (column.IsNull(i)) continue;
        const int64_t v = id == arrow::Type::INT32 || id == arrow::Type::DATE32
                              ? column.data()->GetValues<int32_t>(1)[i]
                              : column.data()->GetValues<int64_t>(1)[i];
        low = std::min(low, v);
        high = std::max(high, v);
      }
      if (id == arrow::Type::INT32 || id == arrow::Type::DATE32) {
        const auto& typed = static_cast<const parquet::Int32Statistics&>(*stats);
        EXPECT_EQ(typed.min(), low);
        EXPECT_EQ(typed.max(), high);
      } else {
        const auto& typed = static_cast<const parquet::Int64Statistics&>(*stats);
        EXPECT_EQ(typed.min(), low);
        EXPECT_EQ(typed.max(), high);
      }
    }
  }
}

TEST(PlainParquetTest, ZstdLeavesTheColumnsNamedToLz4) {
  std::mt19937_64 rng(9);
  const auto batch = RandomRows(&rng, 1000, 0.0);
  PlainParquetOptions options;
  options.codec = arrow::Compression::ZSTD;
  options.level = 3;
  options.lz4_columns = {"i64_required"};
  std::shared_ptr<parquet::FileMetaData> footer;
  ASSERT_NE(RoundTrip(*batch, options, &footer), nullptr);
  EXPECT_EQ(footer->RowGroup(0)->ColumnChunk(5)->compression(), parquet::Compression::LZ4);
  EXPECT_EQ(footer->RowGroup(0)->ColumnChunk(1)->compression(), parquet::Compression::ZSTD);
}

TEST(PlainParquetTest, ASlicedBatchWritesOnlyItsRows) {
  std::mt19937_64 rng(7);
  const auto batch = RandomRows(&rng, 300, 0.3);
  for (auto [offset, length] : {std::pair<int64_t, int64_t>{1, 10}, {13, 200}, {299, 1}}) {
    const auto slice = batch->Slice(offset, length);
    PlainParquetOptions options;
    options.codec = arrow::Compression::LZ4;
    options.page_bytes = 300;
    ASSERT_NE(RoundTrip(*slice, options), nullptr);
  }
}

TEST(PlainParquetTest, RefusesWhatItCannotWrite) {
  auto nested = arrow::schema({arrow::field("n", arrow::struct_({arrow::field("x", arrow::int32())}))});
  EXPECT_FALSE(PlainParquetWritable(*nested));
  EXPECT_FALSE(PlainParquetWritable(*arrow::schema({arrow::field("t", arrow::timestamp(arrow::TimeUnit::NANO))})));
  EXPECT_FALSE(PlainParquetWritable(*arrow::schema({})));
  EXPECT_TRUE(PlainParquetWritable(*AllTypes()));
  std::mt19937_64 rng(1);
  PlainParquetOptions options;
  EXPECT_FALSE(EncodePlainParquet(*RandomRows(&rng, 0, 0), options).ok());
  options.codec = arrow::Compression::BROTLI;
  EXPECT_FALSE(EncodePlainParquet(*RandomRows(&rng, 3, 0), options).ok());
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
  ParquetOptions options;  // zstd: LZ4_RAW for these columns, each under 16 KiB
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

TEST_F(PlainParquetFileTest, RowsOfLargeValuesAreCutIntoPagesOfAMebibyte) {
  // 20 messages of 1 MiB (a Quarantine batch of large records), then 4,000 of 1 KiB (Bronze):
  // a page each, and pages of about 1 MiB, as Arrow's writer cuts them; columns of 16 KiB and
  // more keep the table's zstd, smaller ones get LZ4_RAW.
  for (const auto& [count, size] : {std::pair<int, int>{20, 1 << 20}, {4000, 1 << 10}}) {
    arrow::BinaryBuilder values;
    arrow::Int64Builder offsets;
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(values.Append(std::string(static_cast<size_t>(size), static_cast<char>('a' + i % 26))).ok());
      ASSERT_TRUE(offsets.Append(i).ok());
    }
    const auto batch = arrow::RecordBatch::Make(
        arrow::schema({arrow::field("value", arrow::binary()), arrow::field("offset", arrow::int64())}), count,
        {values.Finish().ValueOrDie(), offsets.Finish().ValueOrDie()});
    ParquetOptions options;
    options.plain_below_rows = INT64_MAX;
    std::shared_ptr<parquet::FileMetaData> footer;
    const std::string path = (dir_ / "large.parquet").string();
    ASSERT_TRUE(WriteParquetFile(path, *batch, options, &footer).ok());
    EXPECT_EQ(footer, nullptr);  // the encoder
    auto file = arrow::io::ReadableFile::Open(path).ValueOrDie();
    auto reader = parquet::arrow::OpenFile(file, arrow::default_memory_pool()).ValueOrDie();
    ExpectSameRows(*batch, *reader->ReadTable().ValueOrDie());
    auto bytes = file->ReadAt(0, file->GetSize().ValueOrDie()).ValueOrDie();
    const int64_t value_bytes = int64_t{count} * (size + 4);
    EXPECT_EQ(Pages(bytes, 0).second, count == 20 ? 20 : (value_bytes + (1 << 20) - 1) >> 20);
    const auto group = reader->parquet_reader()->metadata()->RowGroup(0);
    EXPECT_EQ(group->ColumnChunk(0)->compression(), parquet::Compression::ZSTD);
    EXPECT_EQ(group->ColumnChunk(1)->compression(),
              count * 8 < (16 << 10) ? parquet::Compression::LZ4 : parquet::Compression::ZSTD);
  }
}

}  // namespace
}  // namespace medallion::sink
