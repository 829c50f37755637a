#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "ops/line_order.h"
#include "ops/row_selection.h"

/// The stream–stream interval join of PAID orders and CAPTURED payments (EVENTS.md:
/// silver/order_payments and gold/payment_reconciliation).
namespace medallion::ops {

/// "No watermark yet": the same value as state::Watermark::kNone (ops cannot include
/// state/, which depends on ops; the unit test checks that the two agree).
inline constexpr int64_t kNoJoinWatermark = std::numeric_limits<int64_t>::min();

/// The join's order side: one format::JoinOrderSchema() row for each selected row of
/// `events` (format::EventSchema(); the engine selects the first PAID event of each
/// order_id), in selection order. order_time is the event_time and order_total the sum of
/// the event's line amounts, computed as FlattenToOrderLines computes line_amount
/// (LineAmountUnits). The parser rejects every event whose total does not fit
/// decimal(18,4), so a total beyond it is a bug and aborts. Stateless; thread-safe.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> JoinOrdersFromEvents(
    const arrow::RecordBatch& events, const RowSelection& rows);

/// The join interval: an order at time to matches a payment of the same order_id at time
/// tp when to - before_us <= tp <= to + after_us.
struct PaymentJoinOptions {
  int64_t before_us = 15 * 60'000'000LL;
  int64_t after_us = 60 * 60'000'000LL;

  /// Invalid, naming the field, unless both bounds are >= 0.
  arrow::Status Validate() const;
};

/// What the join produced since the last TakeOutput.
struct JoinOutput {
  /// format::OrderPaymentsSchema(), ordered by (order_time, order_id, event_id).
  std::shared_ptr<arrow::RecordBatch> matches;
  /// format::ReconciliationSchema(), ordered by (reason, order_id, event_id, payment_id,
  /// order_time, payment_time), a null id before any value.
  std::shared_ptr<arrow::RecordBatch> reconciliation;
};

/// Joins PAID orders (JoinOrderSchema) with CAPTURED payments (PaymentSchema) of the same
/// order_id whose times are within PaymentJoinOptions' interval, in event time.
///
/// Late rule. An order with order_time < the join watermark, or a payment with event_time <
/// the join watermark, both as they stood before the batch that brings it, is late: it never
/// enters the state and matches nothing; it is reported at once as missing_payment (an
/// order) or orphan_payment (a payment) with late = true. Why this is enough: the watermark
/// evicts an order only once wm > order_time + after_us and a payment only once wm >
/// event_time + before_us. If an order and a payment that belong together (tp within
/// [to - before, to + after]) both arrive not late, then when the second of them arrives
/// the watermark is <= its own time, which is <= the first one's eviction bound (tp <= to +
/// after, to <= tp + before), and the watermark never goes back: the first is still held,
/// so the two meet whatever the batch boundaries. And since an order or payment leaves the
/// state only by a match or by the watermark, which no later input can undo, no row is ever
/// retracted.
///
/// Matching. After a batch's non-late inputs enter the state, each order_id the batch
/// touched is matched: its unmatched orders, in (order_time, event_id) order, each take the
/// eligible unmatched payment with the smallest (event_time, payment_id); a matched pair
/// leaves the state. So after every Consume no held order has an eligible held payment. When
/// an order_id has one order and at most one eligible payment (the engine's case: the first
/// PAID event per order_id) the result does not depend on the batch boundaries; when
/// several payments are eligible, the order takes the best among those that have arrived.
/// A match is an order_payments row, plus an amount_mismatch reconciliation row when the
/// amounts differ or the order's currency is set and differs from the payment's.
///
/// Eviction. AdvanceWatermark(wm) reports as final, and forgets, the orders with
/// order_time + after_us < wm (missing_payment) and the payments with event_time +
/// before_us < wm (orphan_payment). An ordered index by that bound makes it cost
/// O(evicted × log state), not O(state).
///
/// Reconciliation rows: missing_payment has the order's fields and currency,
/// orphan_payment the payment's, amount_mismatch both sides and the payment's currency.
/// watermark is the watermark the row was decided at (Consume's watermark_us for late rows
/// and mismatches, null when kNoJoinWatermark; AdvanceWatermark's for evictions).
///
/// Lifecycle: construct with valid options (see Validate); per batch, Consume once, then
/// AdvanceWatermark with the batch's new watermark, then TakeOutput; SerializeState /
/// RestoreState at any point between calls. Not thread-safe: one instance per engine,
/// called from one thread at a time.
class PaymentJoin {
 public:
  /// `options` must pass Validate() (checked; a failure is a bug of the caller).
  explicit PaymentJoin(PaymentJoinOptions options = {});

  /// Joins one batch: `orders` (JoinOrderSchema) and `payments` (PaymentSchema, CAPTURED
  /// only, deduplicated by payment_id), given `watermark_us`, the join watermark before this
  /// batch (kNoJoinWatermark if none). Columns are found by name; extra columns are
  /// ignored. A missing column, a wrong type or a null in a required column is Invalid,
  /// and the state is then unchanged.
  arrow::Status Consume(const arrow::RecordBatch& orders, const arrow::RecordBatch& payments,
                        int64_t watermark_us);

  /// Evicts, as final, the orders and payments `new_watermark_us` has passed (see the class
  /// comment); kNoJoinWatermark evicts nothing. Call it after Consume of the same batch.
  arrow::Status AdvanceWatermark(int64_t new_watermark_us);

  /// Everything produced since the last TakeOutput, in the orders documented in JoinOutput,
  /// with batch_id = `batch_id` on each reconciliation row; clears the buffers. With
  /// nothing produced both batches have zero rows and their schema.
  arrow::Result<JoinOutput> TakeOutput(int64_t batch_id);

  /// A versioned binary snapshot ("payment_join", version 1) of the held orders and
  /// payments and of the output not yet taken; equal state gives equal bytes.
  std::string SerializeState() const;
  /// Replaces the state with a snapshot from SerializeState(). A corrupted snapshot, an
  /// unknown version, or one taken with other options is Invalid; the state is then
  /// unchanged.
  arrow::Status RestoreState(std::string_view bytes);

  /// Orders held, waiting for a payment.
  int64_t unmatched_orders() const { return num_orders_; }
  /// Payments held, waiting for an order.
  int64_t unmatched_payments() const { return num_payments_; }
  /// An estimate of the memory the held orders and payments take, in bytes (strings,
  /// records and index entries); O(1).
  int64_t state_bytes() const { return state_bytes_; }

  const PaymentJoinOptions& options() const { return options_; }

 private:
  struct Order {
    std::string event_id;
    int64_t time_us;
    int64_t total;  // 1/10000 units
    std::optional<std::string> currency;
  };
  struct Payment {
    std::string payment_id;
    int64_t time_us;
    int64_t amount;  // 1/10000 units
    std::string currency;
    std::optional<std::string> method;
    std::optional<std::string> provider;
  };
  /// The held orders and payments of one order_id, each sorted by (time, id).
  struct Pending {
    std::vector<Order> orders;
    std::vector<Payment> payments;
  };
  /// A row of silver/order_payments (delay is derived when the batch is built).
  struct MatchRow {
    std::string order_id;
    Order order;
    Payment payment;
  };
  /// Ordered as the reason names sort.
  enum class Reason : uint8_t { kAmountMismatch = 0, kMissingPayment = 1, kOrphanPayment = 2 };
  struct ReconRow {
    Reason reason;
    std::string order_id;
    std::optional<Order> order;
    std::optional<Payment> payment;
    bool late;
    int64_t watermark_us;  // kNoJoinWatermark: null
  };
  using PendingMap = std::unordered_map<std::string, Pending, StringKeyHash, std::equal_to<>>;
  /// (eviction bound, order_id): one entry per held order or payment; the views point at
  /// the keys of pending_, which stay put until erased (node-based map).
  using EvictionIndex = std::multiset<std::pair<int64_t, std::string_view>>;

  /// Holds an order or a payment (indexed by its eviction bound); returns the order_id as
  /// kept in pending_.
  std::string_view AddOrder(std::string_view order_id, Order order);
  std::string_view AddPayment(std::string_view order_id, Payment payment);
  /// Matches the held orders and payments of one order_id; erases it when left empty.
  void Match(PendingMap::iterator it, int64_t watermark_us);
  /// Removes one held order or payment and its index entry, and returns it. The order_id
  /// stays, possibly empty, until MaybeErase.
  Order TakeOrder(PendingMap::iterator it, size_t index);
  Payment TakePayment(PendingMap::iterator it, size_t index);
  /// Erases the order_id when nothing is held for it.
  void MaybeErase(PendingMap::iterator it);
  int64_t OrderBound(int64_t order_time_us) const;
  int64_t PaymentBound(int64_t payment_time_us) const;
  void Clear();

  PaymentJoinOptions options_;
  PendingMap pending_;
  EvictionIndex order_index_;    // order_time + after_us
  EvictionIndex payment_index_;  // payment time + before_us
  int64_t num_orders_ = 0;
  int64_t num_payments_ = 0;
  int64_t state_bytes_ = 0;
  std::vector<MatchRow> matches_;
  std::vector<ReconRow> reconciliation_;
};

}  // namespace medallion::ops
