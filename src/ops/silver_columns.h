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

/// Silver's events as runs of rows: FlattenToOrderLines writes an event's lines one after the
/// other, so row i starts an event when its event_id, kafka_partition or kafka_offset differs
/// from row i - 1's. Counting events by runs needs no set of ids, and counts each event Silver
/// holds once (two events with one event_id, which a partition-scoped dedup keeps when they
/// come in two partitions, count as two).
class EventRuns {
 public:
  static arrow::Result<EventRuns> Of(const arrow::RecordBatch& silver);
  bool StartsEvent(int64_t i) const {
    return i == 0 || partition_->Value(i) != partition_->Value(i - 1) || offset_->Value(i) != offset_->Value(i - 1) ||
           event_id_->GetView(i) != event_id_->GetView(i - 1);
  }

 private:
  EventRuns(const arrow::StringArray* event_id, const arrow::Int32Array* partition, const arrow::Int64Array* offset)
      : event_id_(event_id), partition_(partition), offset_(offset) {}
  const arrow::StringArray* event_id_;
  const arrow::Int32Array* partition_;
  const arrow::Int64Array* offset_;
};

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
