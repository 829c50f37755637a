#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "ops/money_sum.h"
#include "ops/line_order.h"
#include "ops/state_codec.h"

/// Gold operator: spend per customer.
namespace medallion::ops {

/// Running totals per customer_id over all Silver lines: orders = number of Silver events,
/// total_spend = sum(line_amount), first/last_order_time = min/max event_time;
/// customer_name and country (customer_country) come from the latest event by
/// (event_time, kafka_partition, kafka_offset). Output: format::CustomerSpendSchema(), rows
/// ordered by customer_id. total_spend is summed exactly in 128 bits (decimal(38,4)); a sum
/// beyond that makes Consume() a CapacityError naming the customer, with the state unchanged.
///
/// Precondition (guaranteed by FlattenToOrderLines): an event's lines arrive together, one
/// after the other, in one Consume() call; events are counted as runs of lines (EventRuns),
/// so no event ids are kept.
/// State is O(#customers).
///
/// Checkpoints: SerializeState() is the whole state; SerializeDelta() only the customers
/// changed since the last snapshot or delta, each with its totals, so a batch's checkpoint
/// grows with the customers it touched rather than with every customer held (no customer is
/// ever removed, so a delta holds no removals). RestoreState(full) then ApplyDelta(d1),
/// ApplyDelta(d2), ... in order rebuilds the same state, byte for byte.
///
/// Lifecycle: construct, then any sequence of Consume / Snapshot / SerializeState /
/// RestoreState / SerializeDelta / ApplyDelta. Not thread-safe.
class CustomerSpendAggregator {
 public:
  CustomerSpendAggregator() = default;

  /// Adds one micro-batch of Silver rows (columns found by name; extra columns ignored).
  /// On error (missing column, wrong type, null in a required column) the state is unchanged.
  arrow::Status Consume(const arrow::RecordBatch& silver);

  /// The whole current Gold table, ordered by customer_id.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Snapshot() const;

  /// A versioned binary snapshot of the state (customers sorted by id, so equal states give
  /// equal bytes). Starts a new delta.
  std::string SerializeState();
  /// Replaces the state with a snapshot from SerializeState(); a corrupted snapshot or an
  /// unknown version is Invalid and leaves the state unchanged. Starts a new delta.
  arrow::Status RestoreState(std::string_view bytes);

  /// The customers changed since the last SerializeState/SerializeDelta/RestoreState/
  /// ApplyDelta, with their totals (sorted by id); starts a new delta.
  std::string SerializeDelta();
  /// Replays a delta from SerializeDelta() on top of the state it was taken from. A whole
  /// snapshot is taken too and replaces the state (a build that checkpointed this state
  /// whole wrote one in place of every delta). A corrupted delta or an unknown version is
  /// Invalid and leaves the state unchanged.
  arrow::Status ApplyDelta(std::string_view bytes);

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
    bool in_delta = false;  // listed in changed_ (bookkeeping, not state: never serialized)
  };
  using CustomerMap = std::map<std::string, Customer, std::less<>>;
  using CustomerEntry = CustomerMap::value_type;

  /// One customer as a snapshot or a delta holds it, and its inverse (`wide`: 128-bit spend).
  static void WriteCustomer(const CustomerEntry& entry, StateWriter* w);
  static arrow::Result<std::pair<std::string, Customer>> ReadCustomer(StateReader* r, bool wide);
  /// Lists `entry` in the next delta.
  void MarkChanged(CustomerEntry& entry);
  void ClearDelta();

  CustomerMap customers_;
  /// The customers changed since the last snapshot or delta (map nodes, which never move).
  std::vector<CustomerEntry*> changed_;
};

}  // namespace medallion::ops
