#include "sink/parquet_file.h"

#include <filesystem>
#include <string>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/metadata.h>

#include "status_assertions.h"

namespace medallion::sink {
namespace {

/// A batch of `rows` rows: a small int column, a large string column (about 100 bytes a row)
/// and a struct.
std::shared_ptr<arrow::RecordBatch> Batch(int64_t rows) {
  arrow::Int64Builder ids;
  arrow::StringBuilder text;
  arrow::Int32Builder inner;
  for (int64_t i = 0; i < rows; ++i) {
    EXPECT_TRUE(ids.Append(i % 7).ok());
    EXPECT_TRUE(text.Append("row " + std::to_string(i * 7919) + std::string(90, 'x')).ok());
    EXPECT_TRUE(inner.Append(static_cast<int32_t>(i)).ok());
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("text", arrow::utf8()),
                               arrow::field("nested", arrow::struct_({arrow::field("n", arrow::int32())}))});
  auto nested = arrow::StructArray::Make({inner.Finish().ValueOrDie()}, {arrow::field("n", arrow::int32())});
  return arrow::RecordBatch::Make(schema, rows,
                                  {ids.Finish().ValueOrDie(), text.Finish().ValueOrDie(), nested.ValueOrDie()});
}

struct Written {
  std::shared_ptr<parquet::FileMetaData> footer;
  std::shared_ptr<arrow::Table> rows;
};

Written WriteAndRead(const std::string& path, const arrow::RecordBatch& batch, const ParquetOptions& options) {
  Written w;
  auto size = WriteParquetFile(path, batch, options, &w.footer);
  EXPECT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  auto file = arrow::io::ReadableFile::Open(path).ValueOrDie();
  std::unique_ptr<parquet::arrow::FileReader> reader;
  EXPECT_TRUE(parquet::arrow::OpenFile(file, arrow::default_memory_pool()).Value(&reader).ok());
  auto rows = reader->ReadTable();
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  if (rows.ok()) w.rows = *rows;
  return w;
}

parquet::Compression::type CodecOf(const parquet::FileMetaData& footer, int column) {
  return footer.RowGroup(0)->ColumnChunk(column)->compression();
}

class ParquetFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("medallion_parquet_file_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ParquetFileTest, ASmallBatchCompressesItsSmallColumnsWithLz4AndTheLargeOnesWithTheTableCodec) {
  // 1,000 rows: id is 8 KB of Arrow data (under 16 KiB), text about 100 KB, nested keeps the codec.
  const auto batch = Batch(1000);
  const Written w = WriteAndRead((dir_ / "small.parquet").string(), *batch, ParquetOptions{});
  EXPECT_EQ(CodecOf(*w.footer, 0), parquet::Compression::LZ4);
  EXPECT_EQ(CodecOf(*w.footer, 1), parquet::Compression::ZSTD);
  EXPECT_EQ(CodecOf(*w.footer, 2), parquet::Compression::ZSTD);
  EXPECT_TRUE(w.rows->Equals(*arrow::Table::FromRecordBatches({batch}).ValueOrDie()));
}

TEST_F(ParquetFileTest, ALargeBatchKeepsTheTableCodecForEveryColumn) {
  const auto batch = Batch(10000);  // id: 80 KB
  ParquetOptions options;
  options.compression = "snappy";
  const Written w = WriteAndRead((dir_ / "large.parquet").string(), *batch, options);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(CodecOf(*w.footer, c), parquet::Compression::SNAPPY) << c;
  EXPECT_TRUE(w.rows->Equals(*arrow::Table::FromRecordBatches({batch}).ValueOrDie()));
}

TEST_F(ParquetFileTest, OnlyZstdGivesWayToLz4ForSmallColumns) {
  const auto batch = Batch(100);
  for (const auto& [name, codec] : {std::pair{"none", parquet::Compression::UNCOMPRESSED},
                                    std::pair{"snappy", parquet::Compression::SNAPPY}}) {
    ParquetOptions options;
    options.compression = name;
    const Written w = WriteAndRead((dir_ / (std::string(name) + ".parquet")).string(), *batch, options);
    for (int c = 0; c < 3; ++c) EXPECT_EQ(CodecOf(*w.footer, c), codec) << name << " " << c;
    EXPECT_TRUE(w.rows->Equals(*arrow::Table::FromRecordBatches({batch}).ValueOrDie()));
  }
}

}  // namespace
}  // namespace medallion::sink
