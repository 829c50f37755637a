#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

namespace medallion::sink {

/// The comparisons a row filter knows.
enum class CompareOp { kEqual, kNotEqual, kGreater, kLess };

/// One condition of a row filter: `column <op> value`, the value as typed by the user.
struct RowCondition {
  std::string column;
  CompareOp op = CompareOp::kEqual;
  std::string value;

  bool operator==(const RowCondition&) const = default;
};

/// Parses a row filter: conditions `column=value`, `column!=value`, `column>value` or
/// `column<value`, joined by ',' (all must hold). The first operator in a condition splits
/// it, so a value may itself contain '=', '<' or '>' but not ','. Spaces around column names
/// are dropped; a value is taken as written. An empty filter, an empty condition, a
/// condition without an operator or without a column is an Invalid status quoting it.
arrow::Result<std::vector<RowCondition>> ParseRowFilter(std::string_view text);

/// Checks that every condition's column is in `schema` (otherwise a KeyError naming the
/// unknown column and listing the columns there are) and that its value reads as the
/// column's type (otherwise an Invalid status as FilterRows gives).
arrow::Status CheckRowFilter(const std::vector<RowCondition>& conditions,
                             const arrow::Schema& schema);

/// The rows of `table` for which every condition holds (a null never matches), in their
/// order; the conditions are checked first (CheckRowFilter). Each value is read as its column's type (numbers, decimals exactly, dates
/// "YYYY-MM-DD", timestamps ISO-8601 with a zone, binary columns compared with the value's
/// bytes); a value that is not of the type is an Invalid status naming the column, its type
/// and the value. Compares with Arrow compute kernels.
arrow::Result<std::shared_ptr<arrow::Table>> FilterRows(const std::shared_ptr<arrow::Table>& table,
                                                       const std::vector<RowCondition>& conditions);

}  // namespace medallion::sink
