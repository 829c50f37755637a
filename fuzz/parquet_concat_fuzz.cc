// libFuzzer target: bytes -> a Parquet file joined after one of medallion's own by copying row
// groups (sink::ParquetConcat), as the compactor joins the files a stream wrote, should one
// come back from a disk or a store damaged.
//
// The input is the whole second file. Seeds are medallion's files of the table column types,
// uncompressed, written by Arrow's writer and by medallion's own encoder, so mutations land in
// footers (offsets, sizes, counts, the schema) and pages alike, and one encoder file with zstd
// whose small columns are LZ4_RAW, as the stream's Bronze files are.
//
// Invariants (anything else aborts, a finding): no crash or sanitizer report; a file that
// cannot be joined is refused with NotImplemented; when it is joined and Arrow reads the input
// file, Arrow reads the joined file too, as the first file's rows followed by the input's.
//
// Seeds: with MEDALLION_CONCAT_FUZZ_SEEDS=DIR in the environment the target writes its seed
// files into DIR and exits (fuzz/run.sh does this before every run).

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "common/file_util.h"
#include "sink/parquet_concat.h"
#include "sink/parquet_file.h"

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "parquet_concat_fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

/// Rows of the column types the tables have: strings, a required id, integers, a decimal, a
/// date, a timestamp, with nulls.
std::shared_ptr<arrow::RecordBatch> SeedRows(int64_t rows) {
  arrow::StringBuilder id, name;
  arrow::Int64Builder n;
  arrow::Decimal128Builder money(arrow::decimal128(18, 4));
  arrow::Date32Builder day;
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  for (int64_t r = 0; r < rows; ++r) {
    (void)id.Append("id-" + std::to_string(r));
    (void)(r % 3 == 0 ? name.AppendNull() : name.Append(std::string(static_cast<size_t>(r % 7), 'a' + r % 26)));
    (void)n.Append(r * 1000003 - 7);
    (void)(r % 4 == 0 ? money.AppendNull() : money.Append(arrow::Decimal128(r * 12345 - 99999)));
    (void)day.Append(static_cast<int32_t>(20000 + r));
    (void)ts.Append(1'700'000'000'000'000 + r);
  }
  auto schema = arrow::schema({arrow::field("id", arrow::utf8(), false), arrow::field("name", arrow::utf8()),
                               arrow::field("n", arrow::int64()), arrow::field("money", arrow::decimal128(18, 4)),
                               arrow::field("day", arrow::date32()),
                               arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (arrow::ArrayBuilder* b : std::initializer_list<arrow::ArrayBuilder*>{&id, &name, &n, &money, &day, &ts}) {
    columns.push_back(b->Finish().ValueOrDie());
  }
  return arrow::RecordBatch::Make(schema, rows, columns);
}

/// A seed file's bytes: `rows` rows by Arrow's writer (two row groups) or by the encoder,
/// with the codec `compression`.
std::string SeedFile(const std::string& dir, int64_t rows, bool encoder, const std::string& compression = "none") {
  medallion::sink::ParquetOptions options;
  options.compression = compression;
  options.row_group_rows = rows / 2 + 1;
  if (encoder) options.plain_below_rows = 1 << 16;
  const std::string path = dir + "/seed-" + std::to_string(rows) + (encoder ? "-encoder-" : "-arrow-") +
                           compression + ".parquet";
  if (!medallion::sink::WriteParquetFile(path, *SeedRows(rows), options).ok()) Fail("cannot write " + path);
  return medallion::ReadFile(path).ValueOrDie();
}

/// The codecs of the column chunks of the Parquet file `bytes`.
std::set<arrow::Compression::type> Codecs(const std::string& bytes) {
  auto reader = parquet::ParquetFileReader::Open(
      std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(bytes)));
  std::set<arrow::Compression::type> codecs;
  const auto metadata = reader->metadata();
  for (int g = 0; g < metadata->num_row_groups(); ++g) {
    for (int c = 0; c < metadata->num_columns(); ++c) codecs.insert(metadata->RowGroup(g)->ColumnChunk(c)->compression());
  }
  return codecs;
}

/// The rows Arrow reads from `bytes`, or null when it cannot.
std::shared_ptr<arrow::Table> Read(const std::string& bytes) {
  auto input = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(bytes));
  auto reader = parquet::arrow::OpenFile(input, arrow::default_memory_pool());
  if (!reader.ok()) return nullptr;
  auto table = (*reader)->ReadTable();
  if (!table.ok() || !(*table)->ValidateFull().ok()) return nullptr;
  return *table;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MEDALLION_CONCAT_FUZZ_SEEDS")) {
    std::filesystem::create_directories(dir);
    SeedFile(dir, 9, false);
    SeedFile(dir, 9, true);
    SeedFile(dir, 40, false);
    // A Bronze file as the stream writes it: zstd for the columns of 16 KiB or more, LZ4_RAW
    // for the smaller ones (`name` and `day` here), in one file.
    const std::string mixed = SeedFile(dir, 2100, true, "zstd");
    if (Codecs(mixed) != std::set<arrow::Compression::type>{arrow::Compression::ZSTD, arrow::Compression::LZ4}) {
      Fail("the zstd seed does not mix ZSTD and LZ4_RAW column chunks");
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string first = [] {
    const std::string dir = std::filesystem::temp_directory_path() / ("parquet_concat_fuzz_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::string bytes = SeedFile(dir, 5, false);
    std::filesystem::remove_all(dir);
    return bytes;
  }();
  const std::vector<std::string> files = {first, std::string(reinterpret_cast<const char*>(data), size)};
  auto plan = medallion::sink::ParquetConcat::Plan(&files);
  if (!plan.ok()) {
    if (!plan.status().IsNotImplemented()) Fail("refused with " + plan.status().ToString());
    return 0;
  }
  auto out = arrow::io::BufferOutputStream::Create().ValueOrDie();
  if (!plan->Write(out.get()).ok()) Fail("cannot write the joined file");
  const std::string joined = out->Finish().ValueOrDie()->ToString();
  auto input_rows = Read(files[1]);
  if (input_rows == nullptr) return 0;
  auto joined_rows = Read(joined);
  if (joined_rows == nullptr) Fail("Arrow reads the input but not the joined file");
  auto expected = arrow::ConcatenateTables({Read(first), input_rows});
  if (!expected.ok() || !joined_rows->Equals(**expected)) Fail("the joined file's rows differ from its inputs'");
  if (plan->num_rows() != joined_rows->num_rows()) Fail("the plan's row count differs from the rows read");
  return 0;
}
