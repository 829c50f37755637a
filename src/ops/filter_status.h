#pragma once

#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/row_selection.h"

namespace medallion::ops {

/// The rows of `events` (EventSchema) whose `status` equals `status`, in order.
/// Stateless; thread-safe.
arrow::Result<RowSelection> SelectByStatus(const arrow::RecordBatch& events, std::string_view status);

}  // namespace medallion::ops
