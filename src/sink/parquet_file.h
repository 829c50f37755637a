#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/table.h>
#include <parquet/type_fwd.h>

namespace medallion::sink {

/// Parquet writer settings shared by every table file.
struct ParquetOptions {
  /// Rows per row group; one micro-batch file is usually one row group.
  int64_t row_group_rows = 1 << 20;
  /// "zstd" (default: on 1M events it wrote half the bytes of snappy for the same CPU),
  /// "lz4_raw", "snappy" or "none". Spark, DuckDB, pyarrow and delta-rs read them all.
  std::string compression = "zstd";
  /// The codec's level where it has levels (zstd: negative levels are faster, higher ones
  /// smaller); absent, the codec's own default (zstd: 1).
  std::optional<int> compression_level;
  /// Columns of (nearly) unique values, e.g. raw message bytes: written without a
  /// dictionary or min/max statistics, which would cost CPU and help no reader.
  std::vector<std::string> plain_columns;
  /// Columns of (nearly) unique short values, e.g. ids and offsets: written without a
  /// dictionary (it would fill up and be abandoned in every file), with statistics.
  std::vector<std::string> no_dictionary_columns;
  /// A file of fewer rows than this (of flat columns, PlainParquetWritable) is written by
  /// EncodePlainParquet instead of Arrow's writer: PLAIN values in pages of 1 MiB, the codec
  /// (LZ4_RAW for a column under 16 KiB where it is zstd, as with Arrow's writer), no
  /// dictionaries, min/max statistics of integer columns only. 0: never; INT64_MAX: always.
  /// For the small files of tables whose files compaction merges again, and for Bronze,
  /// which is mostly message bytes.
  int64_t plain_below_rows = 0;
};

/// Writes a file at `path` whose bytes `emit` gives, as the Parquet files are written: on a
/// local disk to a temp file beside it, fsynced, renamed into place and the directory
/// fsynced; on an object store as one upload, sent again whole (`emit` is called again) after
/// a transient error. Returns the size.
arrow::Result<int64_t> WriteFileFrom(const std::string& path,
                                     const std::function<arrow::Status(arrow::io::OutputStream*)>& emit);

/// Checks a codec name and level as ParquetOptions takes them; the error names the codecs
/// and the level range the codec accepts.
arrow::Status CheckCompression(const std::string& name, std::optional<int> level);

/// Writes `batch` as one Parquet file at `path`: to a temp file beside it, fsynced, then
/// renamed into place, so `path` is either absent or complete. Timestamps are kept in
/// microseconds (Parquet TIMESTAMP(isAdjustedToUTC=true, MICROS)). Where the codec is zstd, a
/// top-level column with under 16 KiB of data is compressed with LZ4 instead (a ZSTD context
/// per column chunk costs more than it saves there). Returns the file size; `metadata`, when
/// given, receives the file's footer (its column statistics), or null when the file was
/// encoded by EncodePlainParquet (options.plain_below_rows).
arrow::Result<int64_t> WriteParquetFile(const std::string& path, const arrow::RecordBatch& batch,
                                        const ParquetOptions& options,
                                        std::shared_ptr<parquet::FileMetaData>* metadata = nullptr);

/// The same for the rows of `table`, whose columns may come in chunks (they are not joined),
/// every column with the codec (compaction's large files).
arrow::Result<int64_t> WriteParquetFile(const std::string& path, const arrow::Table& table,
                                        const ParquetOptions& options,
                                        std::shared_ptr<parquet::FileMetaData>* metadata = nullptr);

}  // namespace medallion::sink
