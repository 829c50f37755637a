#include "ops/split_by_time.h"

#include <arrow/array.h>

namespace medallion::ops {

arrow::Result<TimeSplit> SplitByTime(const arrow::RecordBatch& batch, const RowSelection& rows,
                                     const std::string& time_column, int64_t threshold_us) {
  auto times = std::dynamic_pointer_cast<arrow::TimestampArray>(batch.GetColumnByName(time_column));
  if (!times) return arrow::Status::Invalid("SplitByTime: no timestamp column ", time_column);
  TimeSplit split;
  split.after.reserve(rows.size());
  for (const int64_t row : rows) {
    (times->Value(row) < threshold_us ? split.before : split.after).push_back(row);
  }
  return split;
}

}  // namespace medallion::ops
