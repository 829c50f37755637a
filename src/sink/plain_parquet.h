#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/util/compression.h>

namespace medallion::sink {

/// Whether EncodePlainParquet can write rows of `schema`: flat columns of utf8, binary,
/// boolean, int32, int64, double, date32, timestamp in microseconds and decimal128.
bool PlainParquetWritable(const arrow::Schema& schema);

/// How EncodePlainParquet compresses and cuts a file.
struct PlainParquetOptions {
  /// UNCOMPRESSED, SNAPPY, LZ4 (Parquet's LZ4_RAW) or ZSTD.
  arrow::Compression::type codec = arrow::Compression::UNCOMPRESSED;
  /// The codec's level where it has levels; absent, the codec's default (zstd: 1).
  std::optional<int> level;
  /// Columns compressed with LZ4_RAW where the codec is ZSTD: small ones, for which Arrow's
  /// ZSTD codec, making a context per page, costs as much as the compression (the caller
  /// decides which, as for Arrow's writer; see parquet_file.cc).
  std::vector<std::string> lz4_columns;
  /// A data page holds at most about this many bytes of PLAIN values (and at least one
  /// value), so that a reader never holds more of a column at once. Arrow's writer cuts at
  /// 1 MiB too.
  int64_t page_bytes = 1 << 20;
};

/// Encodes `batch` (at least one row, PlainParquetWritable) as a whole Parquet file in
/// memory: one row group, each column cut into data pages of about options.page_bytes,
/// every value PLAIN, nulls as RLE / bit-packed definition levels, pages compressed with
/// the codec, no dictionaries. Each column chunk's statistics hold its null count, and an
/// integer column's (int32, int64, date, timestamp) least and greatest value, which readers
/// skip row groups by. The schema carries Parquet's logical types (STRING, DATE,
/// TIMESTAMP(isAdjustedToUTC = the type has a time zone, MICROS), DECIMAL on
/// FIXED_LEN_BYTE_ARRAY of the fewest bytes its precision needs), which Arrow, DuckDB,
/// delta-rs and Spark read back as the same types.
///
/// For a continuous batch's small file, which compaction merges again within seconds,
/// Arrow's writer spends most of a millisecond making a column writer, dictionary and
/// statistics per column for a few hundred values; this writes the same rows in a tenth of
/// it. For Bronze, whose file is mostly message bytes no dictionary or statistic helps,
/// it saves Arrow's page builder and its buffers.
arrow::Result<std::shared_ptr<arrow::Buffer>> EncodePlainParquet(const arrow::RecordBatch& batch,
                                                                 const PlainParquetOptions& options);

}  // namespace medallion::sink
