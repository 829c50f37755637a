#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "ops/money_sum.h"
#include "ops/line_order.h"

/// Gold operator: spend per customer.
namespace medallion::ops {

/// Running totals per customer_id over all Silver lines: orders = number of distinct
/// event_id, total_spend = sum(line_amount), first/last_order_time = min/max event_time;
/// customer_name and country (customer_country) come from the latest event by
/// (event_time, kafka_partition, kafka_offset). Output: format::CustomerSpendSchema(), rows
/// ordered by customer_id. total_spend is summed exactly in 128 bits (decimal(38,4)); a sum
/// beyond that makes Consume() a CapacityError naming the customer, with the state unchanged.
///
/// Precondition (guaranteed by Silver, which is deduplicated by event_id): every event_id
/// arrives in exactly one Consume() call, with all its lines. Distinct events are counted
/// within each batch and added across batches, so no event ids are kept in state.
/// State is O(#customers).
///
/// Lifecycle: construct, then any sequence of Consume / Snapshot / SerializeState /
/// RestoreState. Not thread-safe.
class CustomerSpendAggregator {
 public:
  CustomerSpendAggregator() = default;

  /// Adds one micro-batch of Silver rows (columns found by name; extra columns ignored).
  /// On error (missing column, wrong type, null in a required column) the state is unchanged.
  arrow::Status Consume(const arrow::RecordBatch& silver);

  /// The whole current Gold table, ordered by customer_id.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Snapshot() const;

  /// A versioned binary snapshot of the state (deterministic bytes for equal state).
  std::string SerializeState() const;
  /// Replaces the state with a snapshot from SerializeState(); a corrupted snapshot or an
  /// unknown version is Invalid and leaves the state unchanged.
  arrow::Status RestoreState(std::string_view bytes);

  /// Number of distinct customers held.
  size_t num_customers() const { return customers_.size(); }

 private:
  struct Customer {
    int64_t orders = 0;
    MoneySum spend = 0;  // 1/10000 units
    int64_t first_us = 0;
    int64_t last_us = 0;
    LinePosition latest;  // event the attributes below come from (line_no is 0)
    std::optional<std::string> name;
    std::optional<std::string> country;
  };
  using CustomerMap = std::map<std::string, Customer, std::less<>>;

  CustomerMap customers_;
};

}  // namespace medallion::ops
