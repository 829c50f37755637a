#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include <arrow/type_fwd.h>
#include <parquet/type_fwd.h>

namespace medallion::sink {

/// Longest string kept in min/max statistics, in characters (Delta's default).
constexpr int kStatsStringPrefix = 32;

/// The `stats` JSON of an add action for the data of one file:
/// {"numRecords":N,"minValues":{...},"maxValues":{...},"nullCount":{...}}.
/// Min/max are given for integer, floating point (only when every value is finite),
/// decimal, string, date and timestamp columns, and recursively inside structs; a long
/// string's min is its 32-character prefix and its max that prefix followed by
/// U+10FFFF, so both stay valid bounds. Timestamps are ISO-8601 UTC with microseconds,
/// dates "YYYY-MM-DD". nullCount covers every column except inside lists. Partition
/// columns are not in `batch` and so not in the stats.
std::string ComputeFileStats(const arrow::RecordBatch& batch);

/// The same stats for `batch` once it is written as a Parquet file whose footer is
/// `metadata`: the min/max the writer computed for its column statistics are read from the
/// footer instead of scanning every value again (the scan cost more than any other part of
/// the stats); null counts come from the Arrow arrays. Equal to ComputeFileStats(batch)
/// except where the footer has no min/max for a column (statistics turned off for it, as
/// for Bronze's raw `value`, or a value longer than the writer keeps in statistics): there
/// the column has no min/max, which readers take as "unknown". Floating point columns, whose
/// footer statistics ignore NaN, are scanned.
std::string ComputeFileStats(const arrow::RecordBatch& batch, const parquet::FileMetaData& metadata);

/// The same stats for the rows of `table`, whose columns may come in several chunks (a
/// compaction's inputs, read file by file): the same text as for the table combined into one
/// batch, without combining it. String columns are scanned chunk by chunk; each other column
/// is joined on its own while its stats are taken.
arrow::Result<std::string> ComputeFileStats(const arrow::Table& table);

/// The same for the rows of `table` written as a Parquet file whose footer is `metadata`:
/// min/max from the footer as for a batch, so that no column is scanned or joined (a merge of
/// Bronze files would otherwise copy its raw messages once more just to count their nulls).
arrow::Result<std::string> ComputeFileStats(const arrow::Table& table, const parquet::FileMetaData& metadata);

/// The stats of one file holding the rows of files whose stats are `stats`, without reading
/// a row: numRecords and each nullCount summed, each min the least of the files' mins and
/// each max the greatest (numbers compared by value and kept as written, strings by their
/// UTF-8 bytes). A column without a min (or max) in a file that has non-null values in it
/// (its stats did not know them) has none in the result. Absent when a file has no stats or
/// their shapes differ.
std::optional<std::string> MergeFileStats(const std::vector<std::string_view>& stats);

}  // namespace medallion::sink
