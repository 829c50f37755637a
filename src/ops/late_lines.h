#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/revenue_window_agg.h"

namespace medallion::ops {

/// Builds rows of the late table (format::LateSchema) from Silver-shaped lines.
/// `picks` names (row, window) pairs; when `picks` is null every row is taken once with
/// no window. `watermark_us` is stored as null when absent. Stateless.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> BuildLateLines(
    const arrow::RecordBatch& lines, const std::vector<LateLine>* picks, int64_t window_size_us,
    std::string_view reason, std::optional<int64_t> watermark_us, int64_t batch_id);

}  // namespace medallion::ops
