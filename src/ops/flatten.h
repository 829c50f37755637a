#pragma once

#include <memory>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace medallion::ops {

/// Explodes events (EventSchema) into order lines (SilverSchema): one row per item,
/// line_no counting from 1 within the event, line_amount = quantity × unit_price (exact,
/// in 1/10000 units). Event-level columns are repeated on each of the event's lines.
/// Stateless; thread-safe. An overflowing line_amount is an error (never silent).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> FlattenToOrderLines(
    const arrow::RecordBatch& events);

}  // namespace medallion::ops
