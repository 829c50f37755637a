#pragma once

#include <memory>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/row_selection.h"

namespace medallion::ops {

/// Explodes the selected `rows` of `events` (EventSchema) into order lines (SilverSchema):
/// one row per item, line_no counting from 1 within the event, line_amount = quantity ×
/// unit_price − discount (exact, in 1/10000 units; a null discount counts as 0). Event-level
/// columns (schema_version, channel and customer_loyalty_tier too) are repeated on each of the
/// event's lines; sku and discount are the item's, null where the event has none. The lines are a new batch (the one copy of the selected events); item
/// columns are a slice of the events' items when the selected rows' items are contiguous.
/// Stateless; thread-safe. An overflowing line_amount is an error (never silent).
arrow::Result<std::shared_ptr<arrow::RecordBatch>> FlattenToOrderLines(
    const arrow::RecordBatch& events, const RowSelection& rows);

}  // namespace medallion::ops
