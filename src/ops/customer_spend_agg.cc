#include "ops/customer_spend_agg.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include <arrow/builder.h>
#include <arrow/util/decimal.h>

#include "format/schemas.h"
#include "ops/silver_columns.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {

constexpr std::string_view kStateTag = "ops.customer_spend";
/// Version 2 holds total spend as 128 bits; version 1 (64 bits) is still read.
constexpr uint32_t kStateVersion = 2;
/// A delta: the changed customers, each as a version 2 snapshot holds it.
constexpr std::string_view kDeltaTag = "ops.customer_spend.delta";
constexpr uint32_t kDeltaVersion = 1;
/// Bytes a customer takes at least: 4 + 4 * 8 + (8 + 4 + 8) + 1 + 1, 8 more with a 128-bit
/// spend.
constexpr size_t kMinCustomerBytes = 58;
constexpr size_t kMinWideCustomerBytes = 66;

/// One customer's totals within the batch being consumed.
struct BatchTotals {
  MoneySum spend = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
  LinePosition latest;
  int64_t latest_row = 0;  // row holding the latest event's attributes
  int64_t orders = 0;
};

arrow::Status SpendOverflow(std::string_view customer_id) {
  return arrow::Status::CapacityError("gold customer spend, customer '", customer_id,
                                      "': total_spend exceeds decimal(38,4) or orders exceed int64");
}

}  // namespace

arrow::Status CustomerSpendAggregator::Consume(const arrow::RecordBatch& silver) {
  ARROW_ASSIGN_OR_RAISE(auto customer_id, StringColumn(silver, "customer_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto name, StringColumn(silver, "customer_name", Nulls::kAllowed));
  ARROW_ASSIGN_OR_RAISE(auto country, StringColumn(silver, "customer_country", Nulls::kAllowed));
  ARROW_ASSIGN_OR_RAISE(auto runs, EventRuns::Of(silver));
  ARROW_ASSIGN_OR_RAISE(auto line_amount, MoneyColumn(silver, "line_amount"));
  ARROW_ASSIGN_OR_RAISE(auto event_time, MicrosColumn(silver, "event_time"));
  ARROW_ASSIGN_OR_RAISE(auto partition, Int32Column(silver, "kafka_partition"));
  ARROW_ASSIGN_OR_RAISE(auto offset, Int64Column(silver, "kafka_offset"));

  std::unordered_map<std::string_view, BatchTotals> partial;
  for (int64_t i = 0; i < silver.num_rows(); ++i) {
    const int64_t ts = event_time->Value(i);
    const LinePosition pos{ts, partition->Value(i), offset->Value(i), 0};
    auto [it, is_new] = partial.try_emplace(customer_id->GetView(i));
    BatchTotals& t = it->second;
    if (!AddMoney(&t.spend, MoneyUnits(*line_amount, i))) return SpendOverflow(it->first);
    if (runs.StartsEvent(i)) ++t.orders;  // an event's lines share its customer
    if (is_new) {
      t.first_us = t.last_us = ts;
      t.latest = pos;
      t.latest_row = i;
    } else {
      t.first_us = std::min(t.first_us, ts);
      t.last_us = std::max(t.last_us, ts);
      if (pos > t.latest) {
        t.latest = pos;
        t.latest_row = i;
      }
    }
  }

  // Every sum is checked before any customer changes, so an error leaves the state as it was.
  for (const auto& [id, t] : partial) {
    auto it = customers_.find(id);
    if (it == customers_.end()) continue;
    MoneySum spend = it->second.spend;
    int64_t orders = it->second.orders;
    if (!AddMoney(&spend, t.spend) || !AddCount(&orders, t.orders)) {
      return SpendOverflow(id);
    }
  }
  for (const auto& [id, t] : partial) {
    auto it = customers_.find(id);
    const bool is_new = it == customers_.end();
    if (is_new) it = customers_.emplace(std::string(id), Customer{}).first;
    MarkChanged(*it);
    Customer& c = it->second;
    c.orders += t.orders;
    c.spend += t.spend;
    c.first_us = is_new ? t.first_us : std::min(c.first_us, t.first_us);
    c.last_us = is_new ? t.last_us : std::max(c.last_us, t.last_us);
    if (is_new || t.latest > c.latest) {
      c.latest = t.latest;
      c.name = ToOwned(OptionalView(*name, t.latest_row));
      c.country = ToOwned(OptionalView(*country, t.latest_row));
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CustomerSpendAggregator::Snapshot() const {
  auto* pool = arrow::default_memory_pool();
  arrow::StringBuilder id_b(pool), name_b(pool), country_b(pool);
  arrow::Int64Builder orders_b(pool);
  arrow::Decimal128Builder spend_b(format::GoldMoneyType(), pool);
  arrow::TimestampBuilder first_b(format::TimestampType(), pool);
  arrow::TimestampBuilder last_b(format::TimestampType(), pool);
  for (const auto& [id, c] : customers_) {
    ARROW_RETURN_NOT_OK(id_b.Append(id));
    ARROW_RETURN_NOT_OK(c.name ? name_b.Append(*c.name) : name_b.AppendNull());
    ARROW_RETURN_NOT_OK(c.country ? country_b.Append(*c.country) : country_b.AppendNull());
    ARROW_RETURN_NOT_OK(orders_b.Append(c.orders));
    ARROW_RETURN_NOT_OK(spend_b.Append(ToDecimal(c.spend)));
    ARROW_RETURN_NOT_OK(first_b.Append(c.first_us));
    ARROW_RETURN_NOT_OK(last_b.Append(c.last_us));
  }
  std::vector<std::shared_ptr<arrow::Array>> columns(7);
  ARROW_RETURN_NOT_OK(id_b.Finish(&columns[0]));
  ARROW_RETURN_NOT_OK(name_b.Finish(&columns[1]));
  ARROW_RETURN_NOT_OK(country_b.Finish(&columns[2]));
  ARROW_RETURN_NOT_OK(orders_b.Finish(&columns[3]));
  ARROW_RETURN_NOT_OK(spend_b.Finish(&columns[4]));
  ARROW_RETURN_NOT_OK(first_b.Finish(&columns[5]));
  ARROW_RETURN_NOT_OK(last_b.Finish(&columns[6]));
  return arrow::RecordBatch::Make(format::CustomerSpendSchema(),
                                  static_cast<int64_t>(customers_.size()), std::move(columns));
}

void CustomerSpendAggregator::MarkChanged(CustomerEntry& entry) {
  if (entry.second.in_delta) return;
  entry.second.in_delta = true;
  changed_.push_back(&entry);
}

void CustomerSpendAggregator::ClearDelta() {
  for (CustomerEntry* entry : changed_) entry->second.in_delta = false;
  changed_.clear();
}

void CustomerSpendAggregator::WriteCustomer(const CustomerEntry& entry, StateWriter* w) {
  const Customer& c = entry.second;
  w->WriteString(entry.first);
  w->WriteInt<int64_t>(c.orders);
  WriteMoneySum(w, c.spend);
  w->WriteInt<int64_t>(c.first_us);
  w->WriteInt<int64_t>(c.last_us);
  w->WriteInt<int64_t>(c.latest.event_time_us);
  w->WriteInt<int32_t>(c.latest.partition);
  w->WriteInt<int64_t>(c.latest.offset);
  w->WriteOptionalString(c.name);
  w->WriteOptionalString(c.country);
}

arrow::Result<std::pair<std::string, CustomerSpendAggregator::Customer>> CustomerSpendAggregator::ReadCustomer(
    StateReader* r, bool wide) {
  std::pair<std::string, Customer> entry;
  auto& [id, c] = entry;
  ARROW_ASSIGN_OR_RAISE(id, r->ReadString());
  ARROW_ASSIGN_OR_RAISE(c.orders, r->ReadInt<int64_t>());
  if (wide) {
    ARROW_ASSIGN_OR_RAISE(c.spend, ReadMoneySum(r));
  } else {
    ARROW_ASSIGN_OR_RAISE(c.spend, r->ReadInt<int64_t>());
  }
  ARROW_ASSIGN_OR_RAISE(c.first_us, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(c.last_us, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(c.latest.event_time_us, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(c.latest.partition, r->ReadInt<int32_t>());
  ARROW_ASSIGN_OR_RAISE(c.latest.offset, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(c.name, r->ReadOptionalString());
  ARROW_ASSIGN_OR_RAISE(c.country, r->ReadOptionalString());
  return entry;
}

std::string CustomerSpendAggregator::SerializeState() {
  ClearDelta();
  StateWriter w(kStateTag, kStateVersion);
  w.WriteInt<uint64_t>(customers_.size());
  for (const CustomerEntry& entry : customers_) WriteCustomer(entry, &w);
  return std::move(w).Finish();
}

arrow::Status CustomerSpendAggregator::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, kStateTag, kStateVersion));
  const bool wide = r.version() >= 2;
  ARROW_ASSIGN_OR_RAISE(uint64_t count, r.ReadCount(wide ? kMinWideCustomerBytes : kMinCustomerBytes));
  CustomerMap customers;
  for (uint64_t k = 0; k < count; ++k) {
    ARROW_ASSIGN_OR_RAISE(auto entry, ReadCustomer(&r, wide));
    // Serialized in id order, so each insert goes at the end; a duplicate is dropped and
    // caught by the size check below.
    customers.insert(customers.end(), std::move(entry));
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  if (customers.size() != count) {
    return arrow::Status::Invalid("customer spend state: duplicate customer id");
  }
  changed_.clear();  // they point into the map being replaced
  customers_ = std::move(customers);
  return arrow::Status::OK();
}

std::string CustomerSpendAggregator::SerializeDelta() {
  std::sort(changed_.begin(), changed_.end(), [](auto* a, auto* b) { return a->first < b->first; });
  StateWriter w(kDeltaTag, kDeltaVersion);
  w.WriteInt<uint64_t>(changed_.size());
  for (const CustomerEntry* e : changed_) WriteCustomer(*e, &w);
  ClearDelta();
  return std::move(w).Finish();
}

arrow::Status CustomerSpendAggregator::ApplyDelta(std::string_view bytes) {
  if (StateReader::PeekTag(bytes) == kStateTag) return RestoreState(bytes);
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, kDeltaTag, kDeltaVersion));
  ARROW_ASSIGN_OR_RAISE(uint64_t count, r.ReadCount(kMinWideCustomerBytes));
  std::vector<std::pair<std::string, Customer>> changed;
  changed.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    ARROW_ASSIGN_OR_RAISE(auto entry, ReadCustomer(&r, /*wide=*/true));
    if (!changed.empty() && !(changed.back().first < entry.first)) {
      return arrow::Status::Invalid("customer spend delta: customer ids not in increasing order");
    }
    changed.push_back(std::move(entry));
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  ClearDelta();
  for (auto& [id, c] : changed) customers_.insert_or_assign(std::move(id), std::move(c));
  return arrow::Status::OK();
}

}  // namespace medallion::ops
