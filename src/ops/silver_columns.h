#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

/// Typed access to the Silver columns the Gold aggregators read. Columns are located by
/// name, and their type is checked once per batch, so the per-row loops can use raw
/// typed arrays. A missing column or a wrong type is arrow::Status::Invalid naming it.
namespace medallion::ops {

/// Whether a column may hold nulls; a null in a Required column is Invalid.
enum class Nulls { kRequired, kAllowed };

arrow::Result<const arrow::StringArray*> StringColumn(const arrow::RecordBatch& batch,
                                                      const std::string& name, Nulls nulls);
arrow::Result<const arrow::Int32Array*> Int32Column(const arrow::RecordBatch& batch,
                                                    const std::string& name);
arrow::Result<const arrow::Int64Array*> Int64Column(const arrow::RecordBatch& batch,
                                                    const std::string& name);
/// A timestamp[us] column (any time zone); values are UTC microseconds.
arrow::Result<const arrow::TimestampArray*> MicrosColumn(const arrow::RecordBatch& batch,
                                                         const std::string& name);
/// A decimal128(p, 4) money column whose every value fits an int64 count of 1/10000 units
/// (checked here, so MoneyUnits cannot fail).
arrow::Result<const arrow::Decimal128Array*> MoneyColumn(const arrow::RecordBatch& batch,
                                                         const std::string& name);

/// The value at row i of a column checked by MoneyColumn, in 1/10000 units.
int64_t MoneyUnits(const arrow::Decimal128Array& column, int64_t i);

/// The value at row i of a nullable string column, or nullopt for null.
inline std::optional<std::string_view> OptionalView(const arrow::StringArray& column,
                                                    int64_t i) {
  if (column.IsNull(i)) return std::nullopt;
  return column.GetView(i);
}

/// Copies an optional view into an owned optional string.
inline std::optional<std::string> ToOwned(std::optional<std::string_view> view) {
  if (!view) return std::nullopt;
  return std::string(*view);
}

}  // namespace medallion::ops
