#pragma once

#include <cstdint>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/row_selection.h"

namespace medallion::ops {

/// The selected rows on either side of a time threshold, each in row order.
struct TimeSplit {
  RowSelection before;  ///< time < threshold
  RowSelection after;   ///< time >= threshold
};

/// Splits the selected `rows` of `batch` by its timestamp column `time_column`.
/// Stateless; thread-safe.
arrow::Result<TimeSplit> SplitByTime(const arrow::RecordBatch& batch, const RowSelection& rows,
                                     const std::string& time_column, int64_t threshold_us);

}  // namespace medallion::ops
