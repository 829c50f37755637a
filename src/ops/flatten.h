#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/row_selection.h"

namespace medallion::ops {

/// The largest decimal(18,4) value (format::MoneyType()) in 1/10000 units.
inline constexpr int64_t kMaxMoneyUnits = 999'999'999'999'999'999;

/// The amount of one order line in 1/10000 units: quantity × unit_price − discount, a
/// missing discount counting as 0. The parser quarantines every item whose quantity ×
/// unit_price does not fit decimal(18,4) or whose discount is below 0 or above it, so for a
/// parsed item this cannot fail; a broken guarantee is a bug and aborts (MEDALLION_CHECK).
int64_t LineAmountUnits(int64_t quantity, int64_t unit_price_units,
                        std::optional<int64_t> discount_units);

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
