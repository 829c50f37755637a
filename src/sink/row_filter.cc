#include "sink/row_filter.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "common/time_util.h"

namespace medallion::sink {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

const char* FunctionOf(CompareOp op) {
  switch (op) {
    case CompareOp::kEqual: return "equal";
    case CompareOp::kNotEqual: return "not_equal";
    case CompareOp::kGreater: return "greater";
    case CompareOp::kLess: return "less";
  }
  return "equal";
}

/// `text` as a scalar of `type`, or Invalid naming the column.
arrow::Result<std::shared_ptr<arrow::Scalar>> ValueOf(const RowCondition& condition,
                                                     const std::shared_ptr<arrow::DataType>& type) {
  auto bad = [&](std::string_view why) {
    return arrow::Status::Invalid("--where: '", condition.value, "' is not a value of column '", condition.column,
                                  "' (", type->ToString(), ")", why.empty() ? "" : ": ", why);
  };
  switch (type->id()) {
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
      return std::make_shared<arrow::BinaryScalar>(arrow::Buffer::FromString(condition.value));
    case arrow::Type::TIMESTAMP: {
      const auto micros = ParseIso8601Micros(condition.value);
      if (!micros) return bad("expected ISO-8601 with a zone, e.g. 2026-11-24T10:00:00Z");
      return std::make_shared<arrow::TimestampScalar>(*micros, type);
    }
    default: {
      auto cast = arrow::compute::Cast(arrow::Datum(std::make_shared<arrow::StringScalar>(condition.value)), type);
      if (!cast.ok()) return bad(cast.status().message());
      return cast->scalar();
    }
  }
}

}  // namespace

arrow::Result<std::vector<RowCondition>> ParseRowFilter(std::string_view text) {
  std::vector<RowCondition> conditions;
  if (Trim(text).empty()) return arrow::Status::Invalid("--where: the filter is empty; expected e.g. status=PAID");
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string_view part = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    const size_t at = part.find_first_of("!=<>");
    RowCondition condition;
    size_t value_at = std::string_view::npos;
    if (at != std::string_view::npos) {
      switch (part[at]) {
        case '=': condition.op = CompareOp::kEqual; value_at = at + 1; break;
        case '<': condition.op = CompareOp::kLess; value_at = at + 1; break;
        case '>': condition.op = CompareOp::kGreater; value_at = at + 1; break;
        default:
          if (at + 1 < part.size() && part[at + 1] == '=') {
            condition.op = CompareOp::kNotEqual;
            value_at = at + 2;
          }
      }
    }
    if (value_at == std::string_view::npos || Trim(part.substr(0, at)).empty()) {
      return arrow::Status::Invalid("--where: cannot read condition '", part,
                                    "'; expected column=value, column!=value, column>value or column<value, "
                                    "several joined by ','");
    }
    condition.column = std::string(Trim(part.substr(0, at)));
    condition.value = std::string(part.substr(value_at));
    conditions.push_back(std::move(condition));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return conditions;
}

arrow::Status CheckRowFilter(const std::vector<RowCondition>& conditions, const arrow::Schema& schema) {
  for (const RowCondition& condition : conditions) {
    if (const auto field = schema.GetFieldByName(condition.column)) {
      ARROW_RETURN_NOT_OK(ValueOf(condition, field->type()).status());
      continue;
    }
    std::string columns;
    for (const auto& field : schema.fields()) columns += (columns.empty() ? "" : ", ") + field->name();
    return arrow::Status::KeyError("--where: unknown column '", condition.column, "'; the columns are: ", columns);
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::Table>> FilterRows(const std::shared_ptr<arrow::Table>& table,
                                                       const std::vector<RowCondition>& conditions) {
  ARROW_RETURN_NOT_OK(CheckRowFilter(conditions, *table->schema()));
  if (conditions.empty()) return table;
  arrow::Datum mask;
  for (const RowCondition& condition : conditions) {
    const auto column = table->GetColumnByName(condition.column);
    ARROW_ASSIGN_OR_RAISE(auto value, ValueOf(condition, column->type()));
    auto compared = arrow::compute::CallFunction(FunctionOf(condition.op), {arrow::Datum(column), arrow::Datum(value)});
    if (!compared.ok()) {
      return arrow::Status::Invalid("--where: cannot compare column '", condition.column, "' (",
                                    column->type()->ToString(), ") with '", condition.value,
                                    "': ", compared.status().message());
    }
    if (mask.is_value()) {
      ARROW_ASSIGN_OR_RAISE(mask, arrow::compute::And(mask, *compared));
    } else {
      mask = *compared;
    }
  }
  ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, arrow::compute::Filter(arrow::Datum(table), mask));
  return filtered.table();
}

}  // namespace medallion::sink
