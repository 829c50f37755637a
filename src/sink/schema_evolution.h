#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

namespace medallion::sink {

/// How a table's stored Delta schema (its newest metaData) relates to the schema a writer
/// expects. Partition columns are matched by name wherever they stand (readers take them from
/// the folder names and the add actions); data columns are matched by position.
struct SchemaDiff {
  /// Every column has the same name, type and nullability: nothing to do.
  bool same = false;
  /// The data columns the writer appends after the stored ones, all nullable: Delta's schema
  /// evolution, applied in place by committing the new schema in a metaData action.
  std::vector<std::string> appended;
  /// Empty when the writer may use the table (same, or only `appended`); otherwise what is
  /// wrong, naming the first offending column with its type in the log and now.
  std::string incompatibility;
  /// True when the only incompatibility is a changed column type (the message then reads
  /// "column (old type in the log, new type now), ...").
  bool types_changed = false;
};

/// Compares two Delta schemaStrings (`stored` from the log, `expected` from this writer) with
/// `partition_columns` the table's partition columns (the same in both; the caller checks).
/// A schemaString that is not a JSON struct type is an Invalid status.
arrow::Result<SchemaDiff> DiffDeltaSchemas(std::string_view stored, std::string_view expected,
                                           const std::vector<std::string>& partition_columns);

}  // namespace medallion::sink
