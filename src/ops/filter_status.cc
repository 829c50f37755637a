#include "ops/filter_status.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>

namespace medallion::ops {

arrow::Result<std::shared_ptr<arrow::RecordBatch>> FilterByStatus(const std::shared_ptr<arrow::RecordBatch>& events,
                                                                  std::string_view status) {
  auto column = std::dynamic_pointer_cast<arrow::StringArray>(events->GetColumnByName("status"));
  if (!column) return arrow::Status::Invalid("FilterByStatus: no utf8 column 'status'");
  arrow::BooleanBuilder mask;
  ARROW_RETURN_NOT_OK(mask.Reserve(events->num_rows()));
  for (int64_t i = 0; i < events->num_rows(); ++i) {
    mask.UnsafeAppend(column->IsValid(i) && column->GetView(i) == status);
  }
  ARROW_ASSIGN_OR_RAISE(auto mask_array, mask.Finish());
  ARROW_ASSIGN_OR_RAISE(auto filtered, arrow::compute::Filter(arrow::Datum(events), mask_array));
  return filtered.record_batch();
}

}  // namespace medallion::ops
