#include "ops/silver_columns.h"

#include <arrow/type.h>
#include <arrow/util/decimal.h>

namespace medallion::ops {
namespace {

/// Finds `name`, checks its type id and (unless allowed) the absence of nulls.
template <typename ArrayT>
arrow::Result<const ArrayT*> Lookup(const arrow::RecordBatch& batch, const std::string& name,
                                    arrow::Type::type id, Nulls nulls) {
  const int index = batch.schema()->GetFieldIndex(name);
  if (index < 0) {
    return arrow::Status::Invalid("input batch has no column '", name,
                                  "' (or has it more than once)");
  }
  const auto& column = batch.column(index);
  if (column->type_id() != id) {
    return arrow::Status::Invalid("column '", name, "' has type ", column->type()->ToString());
  }
  if (nulls == Nulls::kRequired && column->null_count() > 0) {
    return arrow::Status::Invalid("column '", name, "' holds ", column->null_count(),
                                  " nulls but is required");
  }
  return static_cast<const ArrayT*>(column.get());
}

}  // namespace

arrow::Result<const arrow::StringArray*> StringColumn(const arrow::RecordBatch& batch,
                                                      const std::string& name, Nulls nulls) {
  return Lookup<arrow::StringArray>(batch, name, arrow::Type::STRING, nulls);
}

arrow::Result<const arrow::Int32Array*> Int32Column(const arrow::RecordBatch& batch,
                                                    const std::string& name) {
  return Lookup<arrow::Int32Array>(batch, name, arrow::Type::INT32, Nulls::kRequired);
}

arrow::Result<const arrow::Int64Array*> Int64Column(const arrow::RecordBatch& batch,
                                                    const std::string& name) {
  return Lookup<arrow::Int64Array>(batch, name, arrow::Type::INT64, Nulls::kRequired);
}

arrow::Result<EventRuns> EventRuns::Of(const arrow::RecordBatch& silver) {
  ARROW_ASSIGN_OR_RAISE(auto event_id, StringColumn(silver, "event_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto partition, Int32Column(silver, "kafka_partition"));
  ARROW_ASSIGN_OR_RAISE(auto offset, Int64Column(silver, "kafka_offset"));
  return EventRuns(event_id, partition, offset);
}

arrow::Result<const arrow::TimestampArray*> MicrosColumn(const arrow::RecordBatch& batch,
                                                         const std::string& name) {
  ARROW_ASSIGN_OR_RAISE(auto column, Lookup<arrow::TimestampArray>(
                                         batch, name, arrow::Type::TIMESTAMP, Nulls::kRequired));
  const auto& type = static_cast<const arrow::TimestampType&>(*column->type());
  if (type.unit() != arrow::TimeUnit::MICRO) {
    return arrow::Status::Invalid("column '", name, "' has type ", type.ToString(),
                                  ", expected microseconds");
  }
  return column;
}

arrow::Result<const arrow::Decimal128Array*> MoneyColumn(const arrow::RecordBatch& batch,
                                                         const std::string& name) {
  ARROW_ASSIGN_OR_RAISE(auto column, Lookup<arrow::Decimal128Array>(
                                         batch, name, arrow::Type::DECIMAL128, Nulls::kRequired));
  const auto& type = static_cast<const arrow::Decimal128Type&>(*column->type());
  if (type.scale() != 4) {
    return arrow::Status::Invalid("column '", name, "' has type ", type.ToString(),
                                  ", expected scale 4");
  }
  for (int64_t i = 0; i < column->length(); ++i) {
    const arrow::Decimal128 value(column->GetValue(i));
    const int64_t sign = static_cast<int64_t>(value.low_bits()) < 0 ? -1 : 0;
    if (value.high_bits() != sign) {
      return arrow::Status::Invalid("column '", name, "' row ", i, ": ", value.ToString(4),
                                    " does not fit 64-bit money");
    }
  }
  return column;
}

int64_t MoneyUnits(const arrow::Decimal128Array& column, int64_t i) {
  return static_cast<int64_t>(arrow::Decimal128(column.GetValue(i)).low_bits());
}

}  // namespace medallion::ops
