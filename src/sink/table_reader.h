#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "sink/delta_actions.h"
#include "sink/delta_log.h"

namespace medallion::sink {

/// Read-only access to the rows of a Delta table, for the operator commands (`medallion
/// tail`). Only the files the log lists are read; the table folder is never globbed.
///
/// Natural order: a table's files are ordered as its writer made them, by the batch id and
/// file index in medallion's file names (`part-<B:10>-<i:4>-<query>.parquet`, Gold's
/// `open-…` likewise), then by kind (open before part) and path; rows keep their order inside a file. For the tables
/// that only append, batch ids follow commit order, so the newest commit's rows come last.
/// A file not named by medallion sorts first, by path.

/// `files` sorted in natural order (see above).
std::vector<DeltaAddFile> SortFilesInNaturalOrder(std::vector<DeltaAddFile> files);

/// The table's columns as the log's metaData declares them (partition columns included), in
/// the schema's order, typed when the Delta type is a primitive one Arrow reads the same way
/// (string, long, integer, short, byte, boolean, double, float, binary, date, timestamp,
/// decimal(p,s)); other types (structs, arrays, maps) come out as utf8 placeholders.
arrow::Result<std::shared_ptr<arrow::Schema>> LogSchema(const DeltaLog& log);

/// Reads `files` of the table at `log.root()` (in the order given) into one table: each
/// Parquet file's columns plus the partition columns filled from the add action's partition
/// values, columns in the log schema's order. A column of the log's schema that a file lacks
/// (the file was written before a schema evolution added it) reads as nulls.
arrow::Result<std::shared_ptr<arrow::Table>> ReadTableFiles(const DeltaLog& log,
                                                           const std::vector<DeltaAddFile>& files);

/// The rows of `files` (under `root`, in the order given) as one table of `schema`, a table's
/// file schema (partition columns left out): a column a file lacks (written before a schema
/// evolution added it) is nulls, as readers of that file see it; a column another writer
/// stored with another type (delta-rs' OPTIMIZE output, say) is cast to the schema's.
/// Each file's columns stay the chunks they were read as (nothing is copied to join them).
arrow::Result<std::shared_ptr<arrow::Table>> ReadFilesAs(const std::string& root,
                                                         const std::vector<DeltaAddFile>& files,
                                                         const std::shared_ptr<arrow::Schema>& schema);

/// The row count an add action's stats record (`numRecords`), or -1 when it has none.
int64_t RowCountFromStats(const DeltaAddFile& add);

}  // namespace medallion::sink
