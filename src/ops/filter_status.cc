#include "ops/filter_status.h"

#include <arrow/array.h>

namespace medallion::ops {

arrow::Result<RowSelection> SelectByStatus(const arrow::RecordBatch& events, std::string_view status) {
  auto column = std::dynamic_pointer_cast<arrow::StringArray>(events.GetColumnByName("status"));
  if (!column) return arrow::Status::Invalid("SelectByStatus: no utf8 column 'status'");
  RowSelection rows;
  rows.reserve(static_cast<size_t>(events.num_rows()));
  for (int64_t i = 0; i < events.num_rows(); ++i) {
    if (column->IsValid(i) && column->GetView(i) == status) rows.push_back(i);
  }
  return rows;
}

}  // namespace medallion::ops
