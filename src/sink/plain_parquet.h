#pragma once

#include <memory>

#include <arrow/buffer.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/util/compression.h>

namespace medallion::sink {

/// Whether EncodePlainParquet can write rows of `schema`: flat columns of utf8, binary,
/// boolean, int32, int64, double, date32, timestamp in microseconds and decimal128.
bool PlainParquetWritable(const arrow::Schema& schema);

/// Encodes `batch` (at least one row, PlainParquetWritable) as a whole Parquet file in
/// memory: one row group, one data page per column, every value PLAIN, nulls as RLE /
/// bit-packed definition levels, pages compressed with `codec` (UNCOMPRESSED, SNAPPY or
/// LZ4 = Parquet's LZ4_RAW), no dictionaries and no statistics. The schema carries
/// Parquet's logical types (STRING, DATE, TIMESTAMP(isAdjustedToUTC = the type has a time
/// zone, MICROS), DECIMAL on FIXED_LEN_BYTE_ARRAY of the fewest bytes its precision needs),
/// which Arrow, DuckDB, delta-rs and Spark read back as the same types.
///
/// For a continuous batch's small file, which compaction merges again within seconds,
/// Arrow's writer spends most of a millisecond making a column writer, dictionary and
/// statistics per column for a few hundred values; this writes the same rows in a tenth of it.
arrow::Result<std::shared_ptr<arrow::Buffer>> EncodePlainParquet(const arrow::RecordBatch& batch,
                                                                 arrow::Compression::type codec);

}  // namespace medallion::sink
