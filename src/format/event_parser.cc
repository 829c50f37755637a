#include "format/event_parser.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/builder.h>
#include <simdjson.h>

#include "format/column_appender.h"
#include "format/json_fields.h"
#include "format/quarantine_reason.h"
#include "format/schemas.h"

namespace medallion::format {
namespace {

using internal::Fields;
using internal::OptionalString;
using internal::Path;
using internal::Quoted;
using internal::ReadEventTime;
using internal::ReadMoney;
using internal::ReadSchemaVersion;
using internal::RequiredString;
using internal::TimeBound;
using internal::TypeName;
using internal::Violation;
using internal::kMaxMoneyUnits;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr std::string_view kStatuses[] = {"CREATED", "PAID", "SHIPPED", "CANCELLED", "REFUNDED"};

/// Largest quantity: a sum of 9.2e9 maximal lines still fits int64.
constexpr int64_t kMaxQuantity = 1'000'000'000;

/// The versions of the order event this parser knows (EVENTS.md).
constexpr internal::SchemaVersions kSchemaVersions{1, 2, "versions 1 and 2"};
constexpr std::string_view kChannels[] = {"web", "app", "store"};

/// One event read from JSON, fields pointing into the parser's document.
struct Event {
  std::string_view event_id, order_id, status, customer_id;
  std::optional<std::string_view> event_type, customer_name, customer_email, customer_country,
      customer_segment, payment_method, currency;
  std::optional<int64_t> payment_amount;
  int64_t event_time_us = 0;
  /// 1 when the event does not say; version 2 fields are read only when it is 2.
  int32_t schema_version = 1;
  std::optional<std::string_view> channel, customer_loyalty_tier;  // version 2
  struct Item {
    std::string_view product_id, category;
    std::optional<std::string_view> product_name;
    int64_t quantity;
    int64_t unit_price;
    std::optional<std::string_view> sku;  // version 2
    std::optional<int64_t> discount;      // version 2, 1/10000 units; absent is null
    /// quantity x unit_price - discount, in 1/10000 units.
    int64_t amount;
  };
  std::vector<Item> items;
};

enum ItemKey { kProductId, kProductName, kCategory, kQuantity, kUnitPrice, kSku, kDiscount };
constexpr std::array<std::string_view, 7> kItemKeys = {"product_id", "product_name", "category", "quantity",
                                                       "unit_price", "sku",          "discount"};

/// Reads item `index`. The version 2 fields (sku, then discount) are read after the version 1
/// fields and the gross amount, and only when `v2`; in a version 1 event they are unknown
/// fields, kept in Bronze only.
std::optional<Violation> ReadItem(const element& e, int64_t index, bool v2, Event::Item* item) {
  auto at = [index](std::string_view key) { return Path{"items", index, key}; };
  if (e.type() != element_type::OBJECT) {
    return Violation{QuarantineReason::kWrongType,
                     at("").str() + " must be an object, got " + TypeName(e.type())};
  }
  const Fields<7> f(object(e), kItemKeys);
  if (auto v = RequiredString(f[kProductId], at("product_id"), &item->product_id)) return v;
  if (auto v = OptionalString(f[kProductName], at("product_name"), &item->product_name)) return v;
  if (auto v = RequiredString(f[kCategory], at("category"), &item->category)) return v;
  const auto& q = f[kQuantity];
  if (!q) return Violation{QuarantineReason::kMissingField, at("quantity").str() + " is missing"};
  if (q->type() == element_type::INT64) {
    item->quantity = int64_t(*q);
  } else if (q->type() == element_type::UINT64) {
    return Violation{QuarantineReason::kBadQuantity, at("quantity").str() + " must be <= " +
                                                         std::to_string(kMaxQuantity) + ", got " +
                                                         std::to_string(uint64_t(*q))};
  } else {
    return Violation{QuarantineReason::kWrongType,
                     at("quantity").str() + " must be an integer, got " +
                         (q->type() == element_type::DOUBLE ? "a fraction" : TypeName(q->type()))};
  }
  if (item->quantity <= 0) {
    return Violation{QuarantineReason::kBadQuantity,
                     at("quantity").str() + " must be > 0, got " + std::to_string(item->quantity)};
  }
  if (item->quantity > kMaxQuantity) {
    return Violation{QuarantineReason::kBadQuantity, at("quantity").str() + " must be <= " +
                                                         std::to_string(kMaxQuantity) + ", got " +
                                                         std::to_string(item->quantity)};
  }
  const auto& p = f[kUnitPrice];
  if (!p) return Violation{QuarantineReason::kMissingField, at("unit_price").str() + " is missing"};
  int64_t price = 0;
  if (auto v = ReadMoney(*p, at("unit_price"), QuarantineReason::kBadUnitPrice,
                         QuarantineReason::kBadUnitPrice, &price)) {
    return v;
  }
  item->unit_price = price;
  // quantity <= 1e9 and |price| < 2^60, so the product fits 128 bits. The gross amount must
  // fit decimal(18,4) whatever the discount, so line amounts never need more than 64 bits.
  const __int128 gross = static_cast<__int128>(item->quantity) * price;
  if (gross > kMaxMoneyUnits) {
    return Violation{QuarantineReason::kAmountOutOfRange,
                     at("").str() + " amount quantity x unit_price = " + std::to_string(item->quantity) +
                         " x " + Quoted(simdjson::minify(*p)) +
                         " does not fit decimal(18,4) (must be <= 99999999999999.9999)"};
  }
  item->amount = static_cast<int64_t>(gross);
  if (!v2) return std::nullopt;
  if (auto v = OptionalString(f[kSku], at("sku"), &item->sku)) return v;
  if (const auto& d = f[kDiscount]) {
    int64_t discount = 0;
    if (auto v = ReadMoney(*d, at("discount"), QuarantineReason::kBadDiscount,
                           QuarantineReason::kNegativeDiscount, &discount)) {
      return v;
    }
    if (discount > item->amount) {
      return Violation{QuarantineReason::kDiscountExceedsLine,
                       at("discount").str() + " " + Quoted(simdjson::minify(*d)) +
                           " is more than the line's quantity x unit_price = " + std::to_string(item->quantity) +
                           " x " + Quoted(simdjson::minify(*p))};
    }
    item->discount = discount;
    item->amount -= discount;
  }
  return std::nullopt;
}

enum EventKey {
  kEventId,
  kEventType,
  kEventTime,
  kOrderId,
  kStatus,
  kCustomer,
  kItems,
  kPayment,
  kSchemaVersion,
  kChannel
};
constexpr std::array<std::string_view, 10> kEventKeys = {"event_id", "event_type", "event_time",     "order_id",
                                                         "status",   "customer",   "items",          "payment",
                                                         "schema_version", "channel"};
enum CustomerKey { kCustomerId, kName, kEmail, kCountry, kSegment, kLoyaltyTier };
constexpr std::array<std::string_view, 6> kCustomerKeys = {"customer_id", "name",    "email",
                                                           "country",     "segment", "loyalty_tier"};
enum PaymentKey { kMethod, kCurrency, kAmount };
constexpr std::array<std::string_view, 3> kPaymentKeys = {"method", "currency", "amount"};

std::optional<Violation> ReadEvent(const element& root, const TimeBound& bound, Event* ev) {
  if (auto v = internal::RequireObject(root)) return v;
  const Fields<10> f(object(root), kEventKeys);
  // The version selects the contract, so it is judged first. Version 2 fields are checked
  // where they belong (channel after status, customer.loyalty_tier after customer.segment,
  // an item's sku and discount after its unit_price); in a version 1 event they are unknown
  // fields, not read (kept in Bronze only).
  if (auto v = ReadSchemaVersion(f[kSchemaVersion], kSchemaVersions, &ev->schema_version)) return v;
  const bool v2 = ev->schema_version == 2;
  if (auto v = RequiredString(f[kEventId], Path{"", -1, "event_id"}, &ev->event_id)) return v;
  if (auto v = OptionalString(f[kEventType], Path{"", -1, "event_type"}, &ev->event_type)) return v;
  if (auto v = ReadEventTime(f[kEventTime], bound, &ev->event_time_us)) return v;
  if (auto v = RequiredString(f[kOrderId], Path{"", -1, "order_id"}, &ev->order_id)) return v;
  if (auto v = RequiredString(f[kStatus], Path{"", -1, "status"}, &ev->status)) return v;
  bool known = false;
  for (auto s : kStatuses) known |= (s == ev->status);
  if (!known) {
    return Violation{QuarantineReason::kUnknownStatus,
                     "status '" + Quoted(ev->status) +
                         "' is not one of CREATED|PAID|SHIPPED|CANCELLED|REFUNDED"};
  }
  ev->channel.reset();
  if (v2) {
    if (auto v = OptionalString(f[kChannel], Path{"", -1, "channel"}, &ev->channel)) return v;
    if (ev->channel && std::find(std::begin(kChannels), std::end(kChannels), *ev->channel) == std::end(kChannels)) {
      return Violation{QuarantineReason::kBadChannel,
                       "channel '" + Quoted(*ev->channel) + "' is not one of web|app|store"};
    }
  }
  const auto& customer = f[kCustomer];
  if (!customer) return Violation{QuarantineReason::kMissingField, "customer is missing"};
  if (customer->type() != element_type::OBJECT) {
    return Violation{QuarantineReason::kWrongType,
                     std::string("customer must be an object, got ") + TypeName(customer->type())};
  }
  const Fields<6> c(object(*customer), kCustomerKeys);
  auto in_customer = [](std::string_view key) { return Path{"customer", -1, key}; };
  if (auto v = RequiredString(c[kCustomerId], in_customer("customer_id"), &ev->customer_id)) return v;
  if (auto v = OptionalString(c[kName], in_customer("name"), &ev->customer_name)) return v;
  if (auto v = OptionalString(c[kEmail], in_customer("email"), &ev->customer_email)) return v;
  if (auto v = OptionalString(c[kCountry], in_customer("country"), &ev->customer_country)) return v;
  if (auto v = OptionalString(c[kSegment], in_customer("segment"), &ev->customer_segment)) return v;
  ev->customer_loyalty_tier.reset();
  if (v2) {
    if (auto v = OptionalString(c[kLoyaltyTier], in_customer("loyalty_tier"), &ev->customer_loyalty_tier)) {
      return v;
    }
  }

  const auto& items = f[kItems];
  if (!items) return Violation{QuarantineReason::kMissingField, "items is missing"};
  if (items->type() != element_type::ARRAY) {
    return Violation{QuarantineReason::kWrongType,
                     std::string("items must be an array, got ") + TypeName(items->type())};
  }
  ev->items.clear();
  int64_t index = 0;
  int64_t total = 0;
  for (element it : simdjson::dom::array(*items)) {
    Event::Item item;
    if (auto v = ReadItem(it, index, v2, &item)) return v;
    // Each line is in [0, kMaxMoneyUnits], so the running total cannot overflow before
    // it is compared.
    total += item.amount;
    if (total > kMaxMoneyUnits) {
      return Violation{QuarantineReason::kAmountOutOfRange,
                       "the total of items[0.." + std::to_string(index) +
                           "] does not fit decimal(18,4) (must be <= 99999999999999.9999)"};
    }
    ev->items.push_back(item);
    ++index;
  }
  if (ev->items.empty()) return Violation{QuarantineReason::kEmptyItems, "items must not be empty"};

  ev->payment_method.reset();
  ev->currency.reset();
  ev->payment_amount.reset();
  if (const auto& payment = f[kPayment]) {
    if (payment->type() != element_type::OBJECT) {
      return Violation{QuarantineReason::kWrongType,
                       std::string("payment must be an object, got ") + TypeName(payment->type())};
    }
    const Fields<3> pay(object(*payment), kPaymentKeys);
    if (auto v = OptionalString(pay[kMethod], Path{"payment", -1, "method"}, &ev->payment_method)) return v;
    if (auto v = OptionalString(pay[kCurrency], Path{"payment", -1, "currency"}, &ev->currency)) return v;
    if (const auto& amount = pay[kAmount]) {
      int64_t units = 0;
      if (auto v = ReadMoney(*amount, Path{"payment", -1, "amount"}, QuarantineReason::kBadPaymentAmount,
                             QuarantineReason::kBadPaymentAmount, &units)) {
        return v;
      }
      ev->payment_amount = units;
    }
  }
  return std::nullopt;
}

}  // namespace

class EventParser::Impl {
 public:
  explicit Impl(EventParserOptions options) : options_(options) {}

  arrow::Result<ParseResult> Parse(const arrow::RecordBatch& bronze) {
    ARROW_ASSIGN_OR_RAISE(const auto in, internal::BronzeRecords::Make(bronze, "EventParser"));
    Event ev;
    ARROW_RETURN_NOT_OK(internal::ForEachRecord(
        in, &dom_, options_.max_future_skew_us, &quarantine_,
        [&ev](const element& root, const TimeBound& bound) { return ReadEvent(root, bound, &ev); },
        [this, &ev](int32_t partition, int64_t offset) { AppendEvent(ev, partition, offset); }));
    ParseResult result;
    ARROW_ASSIGN_OR_RAISE(result.events, FinishEvents());
    ARROW_ASSIGN_OR_RAISE(result.quarantine, quarantine_.Finish());
    return result;
  }

 private:
  void AppendEvent(const Event& ev, int32_t partition, int64_t offset) {
    event_id_.Append(ev.event_id);
    event_type_.Append(ev.event_type);
    event_time_.Append(ev.event_time_us);
    order_id_.Append(ev.order_id);
    status_.Append(ev.status);
    customer_id_.Append(ev.customer_id);
    customer_name_.Append(ev.customer_name);
    customer_email_.Append(ev.customer_email);
    customer_country_.Append(ev.customer_country);
    customer_segment_.Append(ev.customer_segment);
    for (const auto& item : ev.items) {
      product_id_.Append(item.product_id);
      product_name_.Append(item.product_name);
      category_.Append(item.category);
      quantity_.Append(item.quantity);
      unit_price_.Append(item.unit_price);
      if (item.discount) {
        discount_.Append(*item.discount);
      } else {
        discount_.AppendNull();
      }
      sku_.Append(item.sku);
    }
    item_offsets_.push_back(static_cast<int32_t>(product_id_.length()));
    payment_method_.Append(ev.payment_method);
    currency_.Append(ev.currency);
    if (ev.payment_amount) {
      payment_amount_.Append(*ev.payment_amount);
    } else {
      payment_amount_.AppendNull();
    }
    kafka_partition_.Append(partition);
    kafka_offset_.Append(offset);
    schema_version_.Append(ev.schema_version);
    channel_.Append(ev.channel);
    customer_loyalty_tier_.Append(ev.customer_loyalty_tier);
  }

  /// The items column: a list (never null) of item structs (never null) over the item columns.
  arrow::Result<std::shared_ptr<arrow::Array>> FinishItems() {
    const int64_t events = static_cast<int64_t>(item_offsets_.size()) - 1;
    const int64_t items = product_id_.length();
    std::vector<std::shared_ptr<arrow::Array>> children(7);
    ARROW_ASSIGN_OR_RAISE(children[0], product_id_.Finish());
    ARROW_ASSIGN_OR_RAISE(children[1], product_name_.Finish());
    ARROW_ASSIGN_OR_RAISE(children[2], category_.Finish());
    ARROW_ASSIGN_OR_RAISE(children[3], quantity_.Finish());
    ARROW_ASSIGN_OR_RAISE(children[4], unit_price_.Finish());
    ARROW_ASSIGN_OR_RAISE(children[5], discount_.Finish());
    ARROW_ASSIGN_OR_RAISE(children[6], sku_.Finish());
    auto item = std::make_shared<arrow::StructArray>(ItemType(), items, std::move(children));
    auto offsets = arrow::Buffer::FromVector(std::move(item_offsets_));
    item_offsets_ = {};
    item_offsets_.reserve(static_cast<size_t>(events + 1));
    item_offsets_.push_back(0);
    return std::make_shared<arrow::ListArray>(EventSchema()->GetFieldByName("items")->type(), events,
                                              std::move(offsets), std::move(item));
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> FinishEvents() {
    const int64_t rows = event_id_.length();
    std::vector<std::shared_ptr<arrow::Array>> cols(19);
    ARROW_ASSIGN_OR_RAISE(cols[0], event_id_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[1], event_type_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[2], event_time_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[3], order_id_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[4], status_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[5], customer_id_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[6], customer_name_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[7], customer_email_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[8], customer_country_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[9], customer_segment_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[10], FinishItems());
    ARROW_ASSIGN_OR_RAISE(cols[11], payment_method_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[12], currency_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[13], payment_amount_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[14], kafka_partition_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[15], kafka_offset_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[16], schema_version_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[17], channel_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[18], customer_loyalty_tier_.Finish());
    return arrow::RecordBatch::Make(EventSchema(), rows, std::move(cols));
  }

  EventParserOptions options_;
  simdjson::dom::parser dom_;
  // The events table (EventSchema), in its column order.
  StringColumn event_id_, event_type_, order_id_, status_, customer_id_, customer_name_,
      customer_email_, customer_country_, customer_segment_, payment_method_, currency_;
  FixedColumn<int64_t> event_time_{TimestampType()};
  std::vector<int32_t> item_offsets_{0};  // events' first items, and the end
  StringColumn product_id_, product_name_, category_, sku_;
  FixedColumn<int64_t> quantity_{arrow::int64()};
  ScaledDecimalColumn unit_price_{MoneyType()};
  ScaledDecimalColumn discount_{MoneyType()};
  ScaledDecimalColumn payment_amount_{MoneyType()};
  FixedColumn<int32_t> kafka_partition_{arrow::int32()};
  FixedColumn<int64_t> kafka_offset_{arrow::int64()};
  FixedColumn<int32_t> schema_version_{arrow::int32()};
  StringColumn channel_, customer_loyalty_tier_;
  internal::QuarantineBuilder quarantine_;
};

EventParser::EventParser(EventParserOptions options) : impl_(std::make_unique<Impl>(options)) {}
EventParser::~EventParser() = default;

arrow::Result<ParseResult> EventParser::Parse(const arrow::RecordBatch& bronze) {
  return impl_->Parse(bronze);
}

}  // namespace medallion::format
