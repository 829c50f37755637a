#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace medallion::ops {

/// Splits rows by a timestamp column: first the rows with time < `threshold_us`, then the
/// rest, each keeping row order. Stateless; thread-safe.
arrow::Result<std::pair<std::shared_ptr<arrow::RecordBatch>, std::shared_ptr<arrow::RecordBatch>>>
SplitByTime(const std::shared_ptr<arrow::RecordBatch>& batch, const std::string& time_column,
            int64_t threshold_us);

}  // namespace medallion::ops
