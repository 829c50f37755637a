#pragma once

#include <memory>
#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace medallion::ops {

/// Keeps the rows of `events` (EventSchema) whose `status` equals `status`.
/// Stateless; thread-safe.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> FilterByStatus(const std::shared_ptr<arrow::RecordBatch>& events,
                                                                  std::string_view status);

}  // namespace medallion::ops
