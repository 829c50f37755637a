#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/revenue_window_agg.h"
#include "ops/row_selection.h"

namespace medallion::ops {

/// Builds rows of the late table (format::LateSchema) from Silver-shaped lines.
/// `picks` names (row, window) pairs; when `picks` is null every row is taken once with
/// no window. `watermark_us` is stored as null when absent; `line_watermarks`, when given,
/// holds one per line instead (INT64_MIN for none). Stateless.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> BuildLateLines(
    const arrow::RecordBatch& lines, const std::vector<LateLine>* picks, int64_t window_size_us,
    std::string_view reason, std::optional<int64_t> watermark_us, int64_t batch_id,
    const std::vector<int64_t>* line_watermarks = nullptr);

/// For lines flattened from the `rows` of `events` (FlattenToOrderLines, rows in order),
/// the value of `per_row` (one per row of `rows`) of the row each line came from, matched by
/// kafka_partition and kafka_offset.
arrow::Result<std::vector<int64_t>> PerLine(const arrow::RecordBatch& lines, const arrow::RecordBatch& events,
                                            const RowSelection& rows, const std::vector<int64_t>& per_row);

}  // namespace medallion::ops
