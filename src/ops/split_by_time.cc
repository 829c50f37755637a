#include "ops/split_by_time.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>

namespace medallion::ops {

arrow::Result<std::pair<std::shared_ptr<arrow::RecordBatch>, std::shared_ptr<arrow::RecordBatch>>>
SplitByTime(const std::shared_ptr<arrow::RecordBatch>& batch, const std::string& time_column,
            int64_t threshold_us) {
  auto times = std::dynamic_pointer_cast<arrow::TimestampArray>(batch->GetColumnByName(time_column));
  if (!times) return arrow::Status::Invalid("SplitByTime: no timestamp column ", time_column);
  arrow::BooleanBuilder before, after;
  ARROW_RETURN_NOT_OK(before.Reserve(batch->num_rows()));
  ARROW_RETURN_NOT_OK(after.Reserve(batch->num_rows()));
  int64_t n_before = 0;
  for (int64_t i = 0; i < batch->num_rows(); ++i) {
    const bool is_before = times->Value(i) < threshold_us;
    n_before += is_before;
    before.UnsafeAppend(is_before);
    after.UnsafeAppend(!is_before);
  }
  if (n_before == 0) {
    return std::make_pair(batch->Slice(0, 0), batch);
  }
  ARROW_ASSIGN_OR_RAISE(auto before_mask, before.Finish());
  ARROW_ASSIGN_OR_RAISE(auto after_mask, after.Finish());
  ARROW_ASSIGN_OR_RAISE(auto b, arrow::compute::Filter(arrow::Datum(batch), before_mask));
  ARROW_ASSIGN_OR_RAISE(auto a, arrow::compute::Filter(arrow::Datum(batch), after_mask));
  return std::make_pair(b.record_batch(), a.record_batch());
}

}  // namespace medallion::ops
