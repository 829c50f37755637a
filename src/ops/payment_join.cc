#include "ops/payment_join.h"

#include <algorithm>
#include <map>
#include <tuple>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/util/decimal.h>

#include "common/check.h"
#include "format/schemas.h"
#include "ops/flatten.h"
#include "ops/silver_columns.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {

constexpr std::string_view kStateTag = "payment_join";
constexpr uint32_t kStateVersion = 1;
/// Rough per-record overheads for state_bytes(): a multiset node, a hash map node.
constexpr int64_t kIndexEntryBytes = 64;
constexpr int64_t kMapEntryBytes = 64;

constexpr std::string_view kReasonNames[] = {"amount_mismatch", "missing_payment",
                                             "orphan_payment"};

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

/// Builds a batch of `schema` from arrays keyed by column name, in the schema's order.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> MakeBatch(
    const std::shared_ptr<arrow::Schema>& schema, int64_t num_rows,
    std::map<std::string, arrow::ArrayBuilder*> builders) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& field : schema->fields()) {
    auto it = builders.find(field->name());
    MEDALLION_CHECK(it != builders.end());
    std::shared_ptr<arrow::Array> column;
    ARROW_RETURN_NOT_OK(it->second->Finish(&column));
    columns.push_back(std::move(column));
  }
  return arrow::RecordBatch::Make(schema, num_rows, std::move(columns));
}

arrow::Status AppendOptional(arrow::StringBuilder* b, const std::optional<std::string>& v) {
  return v ? b->Append(*v) : b->AppendNull();
}

template <typename T>
arrow::Status AppendIf(bool present, arrow::NumericBuilder<T>* b, int64_t v) {
  return present ? b->Append(v) : b->AppendNull();
}

arrow::Status AppendMoneyIf(bool present, arrow::Decimal128Builder* b, int64_t units) {
  return present ? b->Append(arrow::Decimal128(units)) : b->AppendNull();
}

arrow::Result<int64_t> ReadMoney(StateReader* r) {
  ARROW_ASSIGN_OR_RAISE(int64_t units, r->ReadInt<int64_t>());
  if (units < -kMaxMoneyUnits || units > kMaxMoneyUnits) {
    return arrow::Status::Invalid("payment join state: amount ", units,
                                  " (1/10000) outside decimal(18,4)");
  }
  return units;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> JoinOrdersFromEvents(
    const arrow::RecordBatch& events, const RowSelection& rows) {
  ARROW_ASSIGN_OR_RAISE(auto order_id, StringColumn(events, "order_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto event_id, StringColumn(events, "event_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto event_time, MicrosColumn(events, "event_time"));
  ARROW_ASSIGN_OR_RAISE(auto currency, StringColumn(events, "currency", Nulls::kAllowed));
  ARROW_ASSIGN_OR_RAISE(auto partition, Int32Column(events, "kafka_partition"));
  ARROW_ASSIGN_OR_RAISE(auto offset, Int64Column(events, "kafka_offset"));
  auto items = std::dynamic_pointer_cast<arrow::ListArray>(events.GetColumnByName("items"));
  if (!items || items->values()->type_id() != arrow::Type::STRUCT) {
    return arrow::Status::Invalid("JoinOrdersFromEvents: no list<struct> column 'items'");
  }
  const auto& item = static_cast<const arrow::StructArray&>(*items->values());
  auto quantity = std::dynamic_pointer_cast<arrow::Int64Array>(item.GetFieldByName("quantity"));
  auto price = std::dynamic_pointer_cast<arrow::Decimal128Array>(item.GetFieldByName("unit_price"));
  auto discount =
      std::dynamic_pointer_cast<arrow::Decimal128Array>(item.GetFieldByName("discount"));
  if (!quantity || !price || !discount) {
    return arrow::Status::Invalid(
        "JoinOrdersFromEvents: items need quantity (int64), unit_price and discount (decimal)");
  }

  auto* pool = arrow::default_memory_pool();
  arrow::StringBuilder order_id_b(pool), event_id_b(pool), currency_b(pool);
  arrow::TimestampBuilder time_b(format::TimestampType(), pool);
  arrow::Decimal128Builder total_b(format::MoneyType(), pool);
  arrow::Int32Builder partition_b(pool);
  arrow::Int64Builder offset_b(pool);
  for (const int64_t row : rows) {
    if (row < 0 || row >= events.num_rows()) {
      return arrow::Status::IndexError("JoinOrdersFromEvents: row ", row, " of ",
                                       events.num_rows());
    }
    int64_t total = 0;
    for (int64_t j = items->value_offset(row); j < items->value_offset(row + 1); ++j) {
      const auto units = [](const arrow::Decimal128Array& a, int64_t i) {
        return static_cast<int64_t>(arrow::Decimal128(a.GetValue(i)).low_bits());
      };
      std::optional<int64_t> off;
      if (discount->IsValid(j)) off = units(*discount, j);
      const int64_t line = LineAmountUnits(quantity->Value(j), units(*price, j), off);
      // Lines are in [0, kMaxMoneyUnits], so the sum cannot overflow before the check.
      total += line;
      MEDALLION_CHECK_OP(total, <=, kMaxMoneyUnits);
    }
    ARROW_RETURN_NOT_OK(order_id_b.Append(order_id->GetView(row)));
    ARROW_RETURN_NOT_OK(event_id_b.Append(event_id->GetView(row)));
    ARROW_RETURN_NOT_OK(time_b.Append(event_time->Value(row)));
    ARROW_RETURN_NOT_OK(total_b.Append(arrow::Decimal128(total)));
    ARROW_RETURN_NOT_OK(currency->IsNull(row) ? currency_b.AppendNull()
                                              : currency_b.Append(currency->GetView(row)));
    ARROW_RETURN_NOT_OK(partition_b.Append(partition->Value(row)));
    ARROW_RETURN_NOT_OK(offset_b.Append(offset->Value(row)));
  }
  return MakeBatch(format::JoinOrderSchema(), static_cast<int64_t>(rows.size()),
                   {{"order_id", &order_id_b},
                    {"event_id", &event_id_b},
                    {"order_time", &time_b},
                    {"order_total", &total_b},
                    {"currency", &currency_b},
                    {"kafka_partition", &partition_b},
                    {"kafka_offset", &offset_b}});
}

arrow::Status PaymentJoinOptions::Validate() const {
  if (before_us < 0) return arrow::Status::Invalid("payment join before_us must be >= 0, got ", before_us);
  if (after_us < 0) return arrow::Status::Invalid("payment join after_us must be >= 0, got ", after_us);
  return arrow::Status::OK();
}

PaymentJoin::PaymentJoin(PaymentJoinOptions options) : options_(options) {
  MEDALLION_CHECK(options_.Validate().ok());
}

int64_t PaymentJoin::OrderBound(int64_t order_time_us) const {
  return SaturatingAdd(order_time_us, options_.after_us);
}

int64_t PaymentJoin::PaymentBound(int64_t payment_time_us) const {
  return SaturatingAdd(payment_time_us, options_.before_us);
}

std::string_view PaymentJoin::AddOrder(std::string_view order_id, Order order) {
  auto it = pending_.find(order_id);
  if (it == pending_.end()) {
    it = pending_.emplace(std::string(order_id), Pending{}).first;
    state_bytes_ += kMapEntryBytes + static_cast<int64_t>(sizeof(Pending) + order_id.size());
  }
  auto& orders = it->second.orders;
  const auto pos = std::upper_bound(orders.begin(), orders.end(), order, [](const Order& a, const Order& b) {
    return std::tie(a.time_us, a.event_id) < std::tie(b.time_us, b.event_id);
  });
  order_index_.emplace(OrderBound(order.time_us), it->first);
  state_bytes_ += kIndexEntryBytes + static_cast<int64_t>(sizeof(Order) + order.event_id.size() +
                                                          order.currency.value_or("").size());
  ++num_orders_;
  orders.insert(pos, std::move(order));
  return it->first;
}

std::string_view PaymentJoin::AddPayment(std::string_view order_id, Payment payment) {
  auto it = pending_.find(order_id);
  if (it == pending_.end()) {
    it = pending_.emplace(std::string(order_id), Pending{}).first;
    state_bytes_ += kMapEntryBytes + static_cast<int64_t>(sizeof(Pending) + order_id.size());
  }
  auto& payments = it->second.payments;
  const auto pos = std::upper_bound(
      payments.begin(), payments.end(), payment, [](const Payment& a, const Payment& b) {
        return std::tie(a.time_us, a.payment_id) < std::tie(b.time_us, b.payment_id);
      });
  payment_index_.emplace(PaymentBound(payment.time_us), it->first);
  state_bytes_ += kIndexEntryBytes +
                  static_cast<int64_t>(sizeof(Payment) + payment.payment_id.size() +
                                       payment.currency.size() + payment.method.value_or("").size() +
                                       payment.provider.value_or("").size());
  ++num_payments_;
  payments.insert(pos, std::move(payment));
  return it->first;
}

PaymentJoin::Order PaymentJoin::TakeOrder(PendingMap::iterator it, size_t index) {
  auto& orders = it->second.orders;
  Order order = std::move(orders[index]);
  orders.erase(orders.begin() + static_cast<std::ptrdiff_t>(index));
  auto entry = order_index_.find({OrderBound(order.time_us), std::string_view(it->first)});
  MEDALLION_CHECK(entry != order_index_.end());
  order_index_.erase(entry);
  state_bytes_ -= kIndexEntryBytes + static_cast<int64_t>(sizeof(Order) + order.event_id.size() +
                                                          order.currency.value_or("").size());
  --num_orders_;
  return order;
}

PaymentJoin::Payment PaymentJoin::TakePayment(PendingMap::iterator it, size_t index) {
  auto& payments = it->second.payments;
  Payment payment = std::move(payments[index]);
  payments.erase(payments.begin() + static_cast<std::ptrdiff_t>(index));
  auto entry = payment_index_.find({PaymentBound(payment.time_us), std::string_view(it->first)});
  MEDALLION_CHECK(entry != payment_index_.end());
  payment_index_.erase(entry);
  state_bytes_ -= kIndexEntryBytes +
                  static_cast<int64_t>(sizeof(Payment) + payment.payment_id.size() +
                                       payment.currency.size() + payment.method.value_or("").size() +
                                       payment.provider.value_or("").size());
  --num_payments_;
  return payment;
}

void PaymentJoin::MaybeErase(PendingMap::iterator it) {
  if (!it->second.orders.empty() || !it->second.payments.empty()) return;
  state_bytes_ -= kMapEntryBytes + static_cast<int64_t>(sizeof(Pending) + it->first.size());
  pending_.erase(it);
}

void PaymentJoin::Match(PendingMap::iterator it, int64_t watermark_us) {
  Pending& p = it->second;
  size_t oi = 0;
  while (oi < p.orders.size() && !p.payments.empty()) {
    const int64_t to = p.orders[oi].time_us;
    const int64_t lo = SaturatingAdd(to, -options_.before_us);
    const int64_t hi = SaturatingAdd(to, options_.after_us);
    // Payments are sorted by (time, payment_id): the first at or after `lo` is the best.
    const auto pay = std::partition_point(p.payments.begin(), p.payments.end(),
                                          [lo](const Payment& x) { return x.time_us < lo; });
    if (pay == p.payments.end() || pay->time_us > hi) {
      ++oi;
      continue;
    }
    MatchRow row{it->first, TakeOrder(it, oi),
                 TakePayment(it, static_cast<size_t>(pay - p.payments.begin()))};
    if (row.order.total != row.payment.amount ||
        (row.order.currency && *row.order.currency != row.payment.currency)) {
      reconciliation_.push_back(
          ReconRow{Reason::kAmountMismatch, row.order_id, row.order, row.payment, false, watermark_us});
    }
    matches_.push_back(std::move(row));
  }
  MaybeErase(it);
}

arrow::Status PaymentJoin::Consume(const arrow::RecordBatch& orders,
                                   const arrow::RecordBatch& payments, int64_t watermark_us) {
  // Every column is checked before the state changes.
  ARROW_ASSIGN_OR_RAISE(auto o_order, StringColumn(orders, "order_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto o_event, StringColumn(orders, "event_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto o_time, MicrosColumn(orders, "order_time"));
  ARROW_ASSIGN_OR_RAISE(auto o_total, MoneyColumn(orders, "order_total"));
  ARROW_ASSIGN_OR_RAISE(auto o_currency, StringColumn(orders, "currency", Nulls::kAllowed));
  ARROW_ASSIGN_OR_RAISE(auto p_id, StringColumn(payments, "payment_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto p_order, StringColumn(payments, "order_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto p_time, MicrosColumn(payments, "event_time"));
  ARROW_ASSIGN_OR_RAISE(auto p_amount, MoneyColumn(payments, "amount"));
  ARROW_ASSIGN_OR_RAISE(auto p_currency, StringColumn(payments, "currency", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto p_method, StringColumn(payments, "method", Nulls::kAllowed));
  ARROW_ASSIGN_OR_RAISE(auto p_provider, StringColumn(payments, "provider", Nulls::kAllowed));

  std::vector<std::string_view> touched;  // keys of pending_
  for (int64_t i = 0; i < orders.num_rows(); ++i) {
    Order order{std::string(o_event->GetView(i)), o_time->Value(i), MoneyUnits(*o_total, i),
                ToOwned(OptionalView(*o_currency, i))};
    const std::string_view id = o_order->GetView(i);
    if (order.time_us < watermark_us) {
      reconciliation_.push_back(ReconRow{Reason::kMissingPayment, std::string(id),
                                         std::move(order), std::nullopt, true, watermark_us});
      continue;
    }
    touched.push_back(AddOrder(id, std::move(order)));
  }
  for (int64_t i = 0; i < payments.num_rows(); ++i) {
    Payment payment{std::string(p_id->GetView(i)), p_time->Value(i), MoneyUnits(*p_amount, i),
                    std::string(p_currency->GetView(i)), ToOwned(OptionalView(*p_method, i)),
                    ToOwned(OptionalView(*p_provider, i))};
    const std::string_view id = p_order->GetView(i);
    if (payment.time_us < watermark_us) {
      reconciliation_.push_back(ReconRow{Reason::kOrphanPayment, std::string(id), std::nullopt,
                                         std::move(payment), true, watermark_us});
      continue;
    }
    touched.push_back(AddPayment(id, std::move(payment)));
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const std::string_view id : touched) Match(pending_.find(id), watermark_us);
  return arrow::Status::OK();
}

arrow::Status PaymentJoin::AdvanceWatermark(int64_t new_watermark_us) {
  if (new_watermark_us == kNoJoinWatermark) return arrow::Status::OK();
  while (!order_index_.empty() && order_index_.begin()->first < new_watermark_us) {
    const int64_t bound = order_index_.begin()->first;  // a plain copy: lambdas below capture it
    auto it = pending_.find(order_index_.begin()->second);
    MEDALLION_CHECK(it != pending_.end());
    const auto& orders = it->second.orders;
    const auto pos = std::find_if(orders.begin(), orders.end(),
                                  [&](const Order& o) { return OrderBound(o.time_us) == bound; });
    MEDALLION_CHECK(pos != orders.end());
    Order order = TakeOrder(it, static_cast<size_t>(pos - orders.begin()));
    reconciliation_.push_back(ReconRow{Reason::kMissingPayment, it->first, std::move(order),
                                       std::nullopt, false, new_watermark_us});
    MaybeErase(it);
  }
  while (!payment_index_.empty() && payment_index_.begin()->first < new_watermark_us) {
    const int64_t bound = payment_index_.begin()->first;
    auto it = pending_.find(payment_index_.begin()->second);
    MEDALLION_CHECK(it != pending_.end());
    const auto& payments = it->second.payments;
    const auto pos = std::find_if(payments.begin(), payments.end(), [&](const Payment& p) {
      return PaymentBound(p.time_us) == bound;
    });
    MEDALLION_CHECK(pos != payments.end());
    Payment payment = TakePayment(it, static_cast<size_t>(pos - payments.begin()));
    reconciliation_.push_back(ReconRow{Reason::kOrphanPayment, it->first, std::nullopt,
                                       std::move(payment), false, new_watermark_us});
    MaybeErase(it);
  }
  return arrow::Status::OK();
}

arrow::Result<JoinOutput> PaymentJoin::TakeOutput(int64_t batch_id) {
  std::sort(matches_.begin(), matches_.end(), [](const MatchRow& a, const MatchRow& b) {
    return std::tie(a.order.time_us, a.order_id, a.order.event_id, a.payment.payment_id) <
           std::tie(b.order.time_us, b.order_id, b.order.event_id, b.payment.payment_id);
  });
  const auto recon_key = [](const ReconRow& r) {
    return std::make_tuple(r.reason, std::string_view(r.order_id),
                           r.order ? std::optional<std::string_view>(r.order->event_id) : std::nullopt,
                           r.payment ? std::optional<std::string_view>(r.payment->payment_id) : std::nullopt,
                           r.order ? std::optional<int64_t>(r.order->time_us) : std::nullopt,
                           r.payment ? std::optional<int64_t>(r.payment->time_us) : std::nullopt);
  };
  std::sort(reconciliation_.begin(), reconciliation_.end(),
            [&](const ReconRow& a, const ReconRow& b) { return recon_key(a) < recon_key(b); });

  auto* pool = arrow::default_memory_pool();
  JoinOutput out;
  {
    arrow::StringBuilder order_id(pool), event_id(pool), payment_id(pool), currency(pool),
        method(pool), provider(pool);
    arrow::TimestampBuilder order_time(format::TimestampType(), pool),
        payment_time(format::TimestampType(), pool);
    arrow::Decimal128Builder order_total(format::MoneyType(), pool),
        payment_amount(format::MoneyType(), pool);
    arrow::Int64Builder delay_ms(pool);
    for (const MatchRow& m : matches_) {
      ARROW_RETURN_NOT_OK(order_id.Append(m.order_id));
      ARROW_RETURN_NOT_OK(event_id.Append(m.order.event_id));
      ARROW_RETURN_NOT_OK(payment_id.Append(m.payment.payment_id));
      ARROW_RETURN_NOT_OK(order_time.Append(m.order.time_us));
      ARROW_RETURN_NOT_OK(payment_time.Append(m.payment.time_us));
      ARROW_RETURN_NOT_OK(order_total.Append(arrow::Decimal128(m.order.total)));
      ARROW_RETURN_NOT_OK(payment_amount.Append(arrow::Decimal128(m.payment.amount)));
      ARROW_RETURN_NOT_OK(currency.Append(m.payment.currency));
      ARROW_RETURN_NOT_OK(AppendOptional(&method, m.payment.method));
      ARROW_RETURN_NOT_OK(AppendOptional(&provider, m.payment.provider));
      // Integer division truncates toward zero. Both times are in a 64-bit range of
      // microseconds the parser accepts, so the difference cannot overflow.
      ARROW_RETURN_NOT_OK(delay_ms.Append((m.payment.time_us - m.order.time_us) / 1000));
    }
    ARROW_ASSIGN_OR_RAISE(
        out.matches,
        MakeBatch(format::OrderPaymentsSchema(), static_cast<int64_t>(matches_.size()),
                  {{"order_id", &order_id}, {"event_id", &event_id}, {"payment_id", &payment_id},
                   {"order_time", &order_time}, {"payment_time", &payment_time},
                   {"order_total", &order_total}, {"payment_amount", &payment_amount},
                   {"currency", &currency}, {"method", &method}, {"provider", &provider},
                   {"delay_ms", &delay_ms}}));
  }
  {
    arrow::StringBuilder reason(pool), order_id(pool), event_id(pool), payment_id(pool),
        currency(pool);
    arrow::TimestampBuilder order_time(format::TimestampType(), pool),
        payment_time(format::TimestampType(), pool), watermark(format::TimestampType(), pool);
    arrow::Decimal128Builder order_total(format::MoneyType(), pool),
        payment_amount(format::MoneyType(), pool);
    arrow::BooleanBuilder late(pool);
    arrow::Int64Builder batch(pool);
    for (const ReconRow& r : reconciliation_) {
      const bool o = r.order.has_value(), p = r.payment.has_value();
      ARROW_RETURN_NOT_OK(reason.Append(kReasonNames[static_cast<size_t>(r.reason)]));
      ARROW_RETURN_NOT_OK(order_id.Append(r.order_id));
      ARROW_RETURN_NOT_OK(o ? event_id.Append(r.order->event_id) : event_id.AppendNull());
      ARROW_RETURN_NOT_OK(p ? payment_id.Append(r.payment->payment_id) : payment_id.AppendNull());
      ARROW_RETURN_NOT_OK(AppendIf(o, &order_time, o ? r.order->time_us : 0));
      ARROW_RETURN_NOT_OK(AppendIf(p, &payment_time, p ? r.payment->time_us : 0));
      ARROW_RETURN_NOT_OK(AppendMoneyIf(o, &order_total, o ? r.order->total : 0));
      ARROW_RETURN_NOT_OK(AppendMoneyIf(p, &payment_amount, p ? r.payment->amount : 0));
      ARROW_RETURN_NOT_OK(p ? currency.Append(r.payment->currency)
                            : AppendOptional(&currency, r.order->currency));
      ARROW_RETURN_NOT_OK(late.Append(r.late));
      ARROW_RETURN_NOT_OK(
          AppendIf(r.watermark_us != kNoJoinWatermark, &watermark, r.watermark_us));
      ARROW_RETURN_NOT_OK(batch.Append(batch_id));
    }
    ARROW_ASSIGN_OR_RAISE(
        out.reconciliation,
        MakeBatch(format::ReconciliationSchema(), static_cast<int64_t>(reconciliation_.size()),
                  {{"reason", &reason}, {"order_id", &order_id}, {"event_id", &event_id},
                   {"payment_id", &payment_id}, {"order_time", &order_time},
                   {"payment_time", &payment_time}, {"order_total", &order_total},
                   {"payment_amount", &payment_amount}, {"currency", &currency},
                   {"late", &late}, {"watermark", &watermark}, {"batch_id", &batch}}));
  }
  matches_.clear();
  reconciliation_.clear();
  return out;
}

// --- Snapshots -------------------------------------------------------------------------

namespace {

template <typename Order>
void WriteOrder(StateWriter* w, const Order& o) {
  w->WriteString(o.event_id);
  w->WriteInt<int64_t>(o.time_us);
  w->WriteInt<int64_t>(o.total);
  w->WriteOptionalString(o.currency);
}

template <typename Payment>
void WritePayment(StateWriter* w, const Payment& p) {
  w->WriteString(p.payment_id);
  w->WriteInt<int64_t>(p.time_us);
  w->WriteInt<int64_t>(p.amount);
  w->WriteString(p.currency);
  w->WriteOptionalString(p.method);
  w->WriteOptionalString(p.provider);
}

template <typename Order>
arrow::Status ReadOrder(StateReader* r, Order* o) {
  ARROW_ASSIGN_OR_RAISE(o->event_id, r->ReadString());
  ARROW_ASSIGN_OR_RAISE(o->time_us, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(o->total, ReadMoney(r));
  ARROW_ASSIGN_OR_RAISE(o->currency, r->ReadOptionalString());
  return arrow::Status::OK();
}

template <typename Payment>
arrow::Status ReadPayment(StateReader* r, Payment* p) {
  ARROW_ASSIGN_OR_RAISE(p->payment_id, r->ReadString());
  ARROW_ASSIGN_OR_RAISE(p->time_us, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(p->amount, ReadMoney(r));
  ARROW_ASSIGN_OR_RAISE(p->currency, r->ReadString());
  ARROW_ASSIGN_OR_RAISE(p->method, r->ReadOptionalString());
  ARROW_ASSIGN_OR_RAISE(p->provider, r->ReadOptionalString());
  return arrow::Status::OK();
}

// Least bytes of one serialized record, for StateReader::ReadCount.
constexpr size_t kMinOrderBytes = 4 + 8 + 8 + 1;
constexpr size_t kMinPaymentBytes = 4 + 8 + 8 + 4 + 1 + 1;

}  // namespace

std::string PaymentJoin::SerializeState() const {
  StateWriter w(kStateTag, kStateVersion);
  w.WriteInt<int64_t>(options_.before_us);
  w.WriteInt<int64_t>(options_.after_us);
  // Held records by order_id (sorted, so equal state gives equal bytes), each side in the
  // (time, id) order it is kept in.
  std::vector<const PendingMap::value_type*> ids;
  ids.reserve(pending_.size());
  for (const auto& entry : pending_) ids.push_back(&entry);
  std::sort(ids.begin(), ids.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  w.WriteInt<uint64_t>(ids.size());
  for (const auto* entry : ids) {
    w.WriteString(entry->first);
    w.WriteInt<uint64_t>(entry->second.orders.size());
    for (const Order& o : entry->second.orders) WriteOrder(&w, o);
    w.WriteInt<uint64_t>(entry->second.payments.size());
    for (const Payment& p : entry->second.payments) WritePayment(&w, p);
  }
  // Output not yet taken, in the order it was produced.
  w.WriteInt<uint64_t>(matches_.size());
  for (const MatchRow& m : matches_) {
    w.WriteString(m.order_id);
    WriteOrder(&w, m.order);
    WritePayment(&w, m.payment);
  }
  w.WriteInt<uint64_t>(reconciliation_.size());
  for (const ReconRow& r : reconciliation_) {
    w.WriteInt<uint8_t>(static_cast<uint8_t>(r.reason));
    w.WriteString(r.order_id);
    w.WriteBool(r.order.has_value());
    if (r.order) WriteOrder(&w, *r.order);
    w.WriteBool(r.payment.has_value());
    if (r.payment) WritePayment(&w, *r.payment);
    w.WriteBool(r.late);
    w.WriteInt<int64_t>(r.watermark_us);
  }
  return std::move(w).Finish();
}

arrow::Status PaymentJoin::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, kStateTag, kStateVersion));
  ARROW_ASSIGN_OR_RAISE(int64_t before_us, r.ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(int64_t after_us, r.ReadInt<int64_t>());
  if (before_us != options_.before_us || after_us != options_.after_us) {
    return arrow::Status::Invalid("payment join state was taken with the interval [-", before_us,
                                  ", +", after_us, "] us, the operator has [-",
                                  options_.before_us, ", +", options_.after_us, "] us");
  }
  // Everything is read before the state changes.
  std::vector<std::pair<std::string, Pending>> held;
  ARROW_ASSIGN_OR_RAISE(uint64_t num_ids, r.ReadCount(4 + 8 + 8));
  for (uint64_t i = 0; i < num_ids; ++i) {
    auto& [id, p] = held.emplace_back();
    ARROW_ASSIGN_OR_RAISE(id, r.ReadString());
    if (i > 0 && !(held[i - 1].first < id)) {
      return arrow::Status::Invalid("payment join state: order ids not sorted or repeated");
    }
    ARROW_ASSIGN_OR_RAISE(uint64_t n, r.ReadCount(kMinOrderBytes));
    p.orders.resize(n);
    for (Order& o : p.orders) ARROW_RETURN_NOT_OK(ReadOrder(&r, &o));
    ARROW_ASSIGN_OR_RAISE(n, r.ReadCount(kMinPaymentBytes));
    p.payments.resize(n);
    for (Payment& pay : p.payments) ARROW_RETURN_NOT_OK(ReadPayment(&r, &pay));
    if (p.orders.empty() && p.payments.empty()) {
      return arrow::Status::Invalid("payment join state: order id '", id, "' holds nothing");
    }
  }
  ARROW_ASSIGN_OR_RAISE(uint64_t num_matches, r.ReadCount(4 + kMinOrderBytes + kMinPaymentBytes));
  std::vector<MatchRow> matches(num_matches);
  for (MatchRow& m : matches) {
    ARROW_ASSIGN_OR_RAISE(m.order_id, r.ReadString());
    ARROW_RETURN_NOT_OK(ReadOrder(&r, &m.order));
    ARROW_RETURN_NOT_OK(ReadPayment(&r, &m.payment));
  }
  ARROW_ASSIGN_OR_RAISE(uint64_t num_recon, r.ReadCount(1 + 4 + 1 + 1 + 1 + 8));
  std::vector<ReconRow> recon(num_recon);
  for (ReconRow& row : recon) {
    ARROW_ASSIGN_OR_RAISE(uint8_t reason, r.ReadInt<uint8_t>());
    if (reason > static_cast<uint8_t>(Reason::kOrphanPayment)) {
      return arrow::Status::Invalid("payment join state: unknown reason ", int{reason});
    }
    row.reason = static_cast<Reason>(reason);
    ARROW_ASSIGN_OR_RAISE(row.order_id, r.ReadString());
    ARROW_ASSIGN_OR_RAISE(bool has_order, r.ReadBool());
    if (has_order) ARROW_RETURN_NOT_OK(ReadOrder(&r, &row.order.emplace()));
    ARROW_ASSIGN_OR_RAISE(bool has_payment, r.ReadBool());
    if (has_payment) ARROW_RETURN_NOT_OK(ReadPayment(&r, &row.payment.emplace()));
    if (!has_order && !has_payment) {
      return arrow::Status::Invalid("payment join state: a reconciliation row with no side");
    }
    ARROW_ASSIGN_OR_RAISE(row.late, r.ReadBool());
    ARROW_ASSIGN_OR_RAISE(row.watermark_us, r.ReadInt<int64_t>());
  }
  ARROW_RETURN_NOT_OK(r.Finish());

  Clear();
  for (auto& [id, p] : held) {
    for (Order& o : p.orders) AddOrder(id, std::move(o));
    for (Payment& pay : p.payments) AddPayment(id, std::move(pay));
  }
  matches_ = std::move(matches);
  reconciliation_ = std::move(recon);
  return arrow::Status::OK();
}

void PaymentJoin::Clear() {
  order_index_.clear();
  payment_index_.clear();
  pending_.clear();
  num_orders_ = num_payments_ = state_bytes_ = 0;
  matches_.clear();
  reconciliation_.clear();
}

}  // namespace medallion::ops
