// The cost of one small table file: reads the rows of a Parquet file (say one micro-batch's
// Silver file) and writes them again N times through medallion's own writer
// (sink::WriteParquetFile: temp file, fsync, rename, directory fsync), printing the CPU per
// file (user and system, getrusage) and the bytes written, once per writer setting given.
//
//   build/bench/small_file_bench FILE.parquet [--count N] [--dir DIR]
//
// Settings compared: Arrow's writer with the engine's column settings, the same without any
// dictionary, medallion's plain encoder (as a continuous batch writes Silver's file: zstd, and
// LZ4_RAW for a column under 16 KiB) and the encoder with LZ4_RAW for every column; each
// file's Delta statistics computed as the engine does. Reported from one process, interleaved
// in rounds so host drift falls on every setting alike.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <arrow/io/file.h>
#include <arrow/table.h>
#include <parquet/arrow/reader.h>

#include "engine/bronze_batch.h"
#include "sink/file_stats.h"
#include "sink/parquet_file.h"

namespace {

double CpuSeconds(double* sys) {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  *sys = usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6;
}

int Fail(const arrow::Status& status) {
  std::fprintf(stderr, "small_file_bench: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: small_file_bench FILE.parquet [--count N] [--dir DIR]\n");
    return 2;
  }
  std::string input = argv[1];
  int count = 500;
  std::string dir = "/tmp/small_file_bench";
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--count") count = std::atoi(argv[i + 1]);
    else if (flag == "--dir") dir = argv[i + 1];
    else { std::fprintf(stderr, "small_file_bench: unknown flag %s\n", argv[i]); return 2; }
  }
  auto file = arrow::io::ReadableFile::Open(input);
  if (!file.ok()) return Fail(file.status());
  auto reader = parquet::arrow::OpenFile(*file, arrow::default_memory_pool());
  if (!reader.ok()) return Fail(reader.status());
  auto table = (*reader)->ReadTable();
  if (!table.ok()) return Fail(table.status());
  auto combined = (*table)->CombineChunksToBatch();
  if (!combined.ok()) return Fail(combined.status());
  const auto batch = *combined;
  std::filesystem::create_directories(dir);

  struct Setting {
    std::string name;
    medallion::sink::ParquetOptions options;
    double user = 0, sys = 0;
    int64_t bytes = 0;
  };
  std::vector<Setting> settings(4);
  settings[0].name = "as the engine writes it";
  settings[0].options = medallion::engine::TableParquetOptions({});
  settings[1].name = "no dictionary for any column";
  settings[1].options = settings[0].options;
  for (const auto& field : batch->schema()->fields()) settings[1].options.no_dictionary_columns.push_back(field->name());
  settings[2].name = "medallion's plain encoder";
  settings[2].options = settings[0].options;
  settings[2].options.plain_below_rows = INT64_MAX;
  settings[3].name = "medallion's plain encoder, every column lz4_raw";
  settings[3].options = settings[2].options;
  settings[3].options.compression = "lz4_raw";

  const int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    for (auto& setting : settings) {
      double sys0 = 0, sys1 = 0;
      const double user0 = CpuSeconds(&sys0);
      for (int i = 0; i < count / rounds; ++i) {
        const std::string path = dir + "/f" + std::to_string(i) + ".parquet";
        std::shared_ptr<parquet::FileMetaData> footer;
        auto size = medallion::sink::WriteParquetFile(path, *batch, setting.options, &footer);
        if (!size.ok()) return Fail(size.status());
        // The Delta statistics, as Table::WriteFiles takes them: from the footer where it has them.
        const std::string stats = footer ? medallion::sink::ComputeFileStats(*batch, *footer)
                                         : medallion::sink::ComputeFileStats(*batch);
        if (stats.empty()) return Fail(arrow::Status::Invalid("no statistics"));
        setting.bytes = *size;
        ::unlink(path.c_str());
      }
      const double user1 = CpuSeconds(&sys1);
      setting.user += user1 - user0;
      setting.sys += sys1 - sys0;
    }
  }
  std::printf("%s: %lld rows, %d columns; %d files per setting\n", input.c_str(),
              static_cast<long long>(batch->num_rows()), batch->num_columns(), count);
  std::printf("%-32s %12s %12s %12s %10s\n", "setting", "user us/file", "sys us/file", "cpu us/file", "bytes");
  for (const auto& s : settings) {
    const double n = (count / rounds) * rounds;
    std::printf("%-32s %12.0f %12.0f %12.0f %10lld\n", s.name.c_str(), 1e6 * s.user / n, 1e6 * s.sys / n,
                1e6 * (s.user + s.sys) / n, static_cast<long long>(s.bytes));
  }
  return 0;
}
