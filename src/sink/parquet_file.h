#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace medallion::sink {

/// Parquet writer settings shared by every table file.
struct ParquetOptions {
  /// Rows per row group; one micro-batch file is usually one row group.
  int64_t row_group_rows = 1 << 20;
  /// "snappy" (default: read by every engine), "zstd" or "none".
  std::string compression = "snappy";
};

/// Writes `batch` as one Parquet file at `path`: to a temp file beside it, fsynced, then
/// renamed into place, so `path` is either absent or complete. Timestamps are kept in
/// microseconds (Parquet TIMESTAMP(isAdjustedToUTC=true, MICROS)). Returns the file size.
arrow::Result<int64_t> WriteParquetFile(const std::string& path, const arrow::RecordBatch& batch,
                                        const ParquetOptions& options);

}  // namespace medallion::sink
