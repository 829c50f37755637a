#include "format/event_parser.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/builder.h>
#include <arrow/memory_pool.h>
#include <simdjson.h>

#include "common/time_util.h"
#include "common/utf8.h"
#include "format/column_appender.h"
#include "format/quarantine_reason.h"
#include "format/schemas.h"

namespace medallion::format {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

/// A contract violation found while reading one record.
struct Violation {
  QuarantineReason reason;
  std::string detail;
};

/// Result of reading one optional/required field.
enum class Presence { kAbsent, kPresent };

constexpr std::string_view kStatuses[] = {"CREATED", "PAID", "SHIPPED", "CANCELLED", "REFUNDED"};

const char* TypeName(element_type t) {
  switch (t) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "number";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

/// The values of the keys a reader needs from one object, found in one pass over it (one
/// at_key per key would walk the object again for each). The first occurrence of a key counts,
/// as with at_key; a null value counts as absent.
template <size_t N>
class Fields {
 public:
  Fields(const object& obj, const std::array<std::string_view, N>& keys) {
    static_assert(N <= 32);
    uint32_t seen = 0;
    for (const auto field : obj) {
      for (size_t i = 0; i < N; ++i) {
        if ((seen >> i & 1u) == 0 && field.key == keys[i]) {
          seen |= 1u << i;
          if (field.value.type() != element_type::NULL_VALUE) values_[i] = field.value;
          break;
        }
      }
    }
  }
  const std::optional<element>& operator[](size_t i) const { return values_[i]; }

 private:
  std::array<std::optional<element>, N> values_;
};

/// Where a value sits in the event ("customer.name", "items[2].quantity"), spelled out only
/// when a violation names it.
struct Path {
  std::string_view parent;  // "" at the top level
  int64_t index = -1;       // the item's index, under "items"
  std::string_view key;     // "" for the item itself

  std::string str() const {
    std::string out(parent);
    if (index >= 0) out += "[" + std::to_string(index) + "]";
    if (!key.empty()) {
      if (!out.empty()) out += ".";
      out += key;
    }
    return out;
  }
};

std::optional<Violation> RequiredString(const std::optional<element>& e, const Path& path,
                                        std::string_view* out) {
  if (!e) return Violation{QuarantineReason::kMissingField, path.str() + " is missing"};
  if (e->type() != element_type::STRING) {
    return Violation{QuarantineReason::kWrongType,
                     path.str() + " must be a string, got " + TypeName(e->type())};
  }
  *out = std::string_view(*e);
  if (out->empty()) return Violation{QuarantineReason::kMissingField, path.str() + " is empty"};
  return std::nullopt;
}

std::optional<Violation> OptionalString(const std::optional<element>& e, const Path& path,
                                        std::optional<std::string_view>* out) {
  if (!e) {
    *out = std::nullopt;
    return std::nullopt;
  }
  if (e->type() != element_type::STRING) {
    return Violation{QuarantineReason::kWrongType,
                     path.str() + " must be a string, got " + TypeName(e->type())};
  }
  *out = std::string_view(*e);
  return std::nullopt;
}

/// Largest integer literal accepted as money: its value times 10^4 fits decimal(18,4).
constexpr int64_t kMaxMoneyInteger = 99'999'999'999'999;
/// Largest amount in 1/10000 units that decimal(18,4) holds.
constexpr int64_t kMaxMoneyUnits = 999'999'999'999'999'999;
/// Largest quantity: a sum of 9.2e9 maximal lines still fits int64.
constexpr int64_t kMaxQuantity = 1'000'000'000;
/// Bytes of a value quoted in a violation's detail.
constexpr size_t kQuotedBytes = 64;

/// `value` cut to at most kQuotedBytes on a UTF-8 character boundary, for a detail.
std::string Quoted(std::string_view value) { return std::string(Utf8Prefix(value, kQuotedBytes)); }

/// Why a JSON number is not money.
enum class MoneyError { kNone, kOutOfRange, kTooManyDecimals };

/// Reads a JSON number as an exact count of 1/10000 units. An integer literal must satisfy
/// |v| <= kMaxMoneyInteger. A literal with a fraction or exponent is read as the double d
/// (as every JSON parser reads it); n = round-half-even(d * 10000.0) is accepted iff
/// |n| <= 2^53 and n / 10000.0 == d exactly.
MoneyError ToMoney(const element& e, int64_t* units) {
  if (e.type() == element_type::INT64) {
    const int64_t v = int64_t(e);
    if (v > kMaxMoneyInteger || v < -kMaxMoneyInteger) return MoneyError::kOutOfRange;
    *units = v * kMoneyScale;
    return MoneyError::kNone;
  }
  if (e.type() == element_type::UINT64) return MoneyError::kOutOfRange;  // > INT64_MAX
  const double d = double(e);
  if (!std::isfinite(d)) return MoneyError::kOutOfRange;
  const double n = std::nearbyint(d * static_cast<double>(kMoneyScale));
  if (std::fabs(n) > 9007199254740992.0) return MoneyError::kOutOfRange;
  if (n / static_cast<double>(kMoneyScale) != d) return MoneyError::kTooManyDecimals;
  *units = static_cast<int64_t>(n);
  return MoneyError::kNone;
}

/// The detail for a number that is not money, e.g. "items[0].unit_price has more than 4
/// decimals, got 1.23456".
std::string MoneyDetail(const std::string& path, MoneyError error, const element& e) {
  const std::string text = Quoted(simdjson::minify(e));
  if (error == MoneyError::kTooManyDecimals) return path + " has more than 4 decimals, got " + text;
  return path + " is out of range for decimal(18,4) (|value| must be <= 99999999999999.9999), got " + text;
}

bool IsNumber(element_type t) {
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

/// Reads a money field that is present (unit_price, payment.amount, discount): a JSON number
/// (else wrong_type) that ToMoney accepts (else `malformed`) and that is >= 0 (else
/// `negative`), as a count of 1/10000 units.
std::optional<Violation> ReadMoney(const element& e, const std::string& path, QuarantineReason malformed,
                                   QuarantineReason negative, int64_t* units) {
  if (!IsNumber(e.type())) {
    return Violation{QuarantineReason::kWrongType, path + " must be a number, got " + TypeName(e.type())};
  }
  if (const MoneyError error = ToMoney(e, units); error != MoneyError::kNone) {
    return Violation{malformed, MoneyDetail(path, error, e)};
  }
  if (*units < 0) return Violation{negative, path + " must be >= 0, got " + Quoted(simdjson::minify(e))};
  return std::nullopt;
}

/// The versions of the order event this parser knows (EVENTS.md).
constexpr int64_t kMinSchemaVersion = 1;
constexpr int64_t kMaxSchemaVersion = 2;
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

/// The time an event's time is judged against: the latest it may be is
/// reference_us + max_future_skew_us.
struct TimeBound {
  int64_t reference_us;
  int64_t max_future_skew_us;
};

std::optional<Violation> ReadEventTime(const std::optional<element>& e, const TimeBound& bound,
                                       int64_t* out) {
  if (!e) return Violation{QuarantineReason::kMissingField, "event_time is missing"};
  auto out_of_range = [](const std::string& shown) {
    return Violation{QuarantineReason::kEventTimeOutOfRange,
                     "event_time " + shown + " is outside [1970-01-01T00:00:00Z, 9999-12-31T23:59:59.999999Z]"};
  };
  if (e->type() == element_type::STRING) {
    const std::string_view text(*e);
    const std::string shown = "'" + Quoted(text) + "'";
    auto micros = ParseIso8601Micros(text);
    if (!micros) {
      return Violation{QuarantineReason::kBadEventTime,
                       "event_time " + shown + " is not ISO-8601 with a zone (e.g. 2026-11-24T10:15:30.123Z)"};
    }
    if (*micros < kMinEventTimeMicros || *micros > kMaxEventTimeMicros) return out_of_range(shown);
    *out = *micros;
  } else if (e->type() == element_type::INT64) {
    const int64_t millis = int64_t(*e);
    if (millis < kMinEventTimeMicros / 1000 || millis > kMaxEventTimeMicros / 1000) {
      return out_of_range(std::to_string(millis) + " (epoch millis)");
    }
    *out = millis * 1000;
  } else if (e->type() == element_type::UINT64) {
    return out_of_range(std::to_string(uint64_t(*e)) + " (epoch millis)");
  } else {
    return Violation{QuarantineReason::kWrongType,
                     std::string("event_time must be an ISO-8601 string or epoch millis, got ") +
                         TypeName(e->type())};
  }
  int64_t latest;
  if (__builtin_add_overflow(bound.reference_us, bound.max_future_skew_us, &latest)) {
    latest = std::numeric_limits<int64_t>::max();
  }
  if (*out > latest) {
    return Violation{QuarantineReason::kEventTimeInFuture,
                     "event_time " + FormatIso8601Micros(*out) + " is more than " +
                         std::to_string(bound.max_future_skew_us) + " us (watermark.max_future_skew) ahead of " +
                         "the record's time " + FormatIso8601Micros(bound.reference_us) +
                         " (min of Kafka timestamp and ingest time)"};
  }
  return std::nullopt;
}

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
  if (auto v = ReadMoney(*p, at("unit_price").str(), QuarantineReason::kBadUnitPrice,
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
    if (auto v = ReadMoney(*d, at("discount").str(), QuarantineReason::kBadDiscount,
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

/// Reads schema_version: absent (or null) is version 1; an integer must be a known version.
std::optional<Violation> ReadSchemaVersion(const std::optional<element>& e, int32_t* out) {
  if (!e) {
    *out = 1;
    return std::nullopt;
  }
  auto unsupported = [](const std::string& shown) {
    return Violation{QuarantineReason::kUnsupportedSchemaVersion,
                     "schema_version " + shown + " is not supported (this engine reads versions 1 and 2)"};
  };
  if (e->type() == element_type::UINT64) return unsupported(std::to_string(uint64_t(*e)));
  if (e->type() != element_type::INT64) {
    return Violation{QuarantineReason::kWrongType,
                     std::string("schema_version must be an integer, got ") +
                         (e->type() == element_type::DOUBLE ? "a fraction" : TypeName(e->type()))};
  }
  const int64_t version = int64_t(*e);
  if (version < kMinSchemaVersion || version > kMaxSchemaVersion) return unsupported(std::to_string(version));
  *out = static_cast<int32_t>(version);
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
  if (root.type() != element_type::OBJECT) {
    return Violation{QuarantineReason::kNotObject,
                     std::string("top level must be an object, got ") + TypeName(root.type())};
  }
  const Fields<10> f(object(root), kEventKeys);
  // The version selects the contract, so it is judged first. Version 2 fields are checked
  // where they belong (channel after status, customer.loyalty_tier after customer.segment,
  // an item's sku and discount after its unit_price); in a version 1 event they are unknown
  // fields, not read (kept in Bronze only).
  if (auto v = ReadSchemaVersion(f[kSchemaVersion], &ev->schema_version)) return v;
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
      if (auto v = ReadMoney(*amount, "payment.amount", QuarantineReason::kBadPaymentAmount,
                             QuarantineReason::kBadPaymentAmount, &units)) {
        return v;
      }
      ev->payment_amount = units;
    }
  }
  return std::nullopt;
}

/// The detail for a record simdjson's DOM parser rejects. simdjson validates the whole
/// document: bytes that are not UTF-8 (UTF8_ERROR), a string escape encoding an unpaired
/// surrogate (STRING_ERROR) and an integer literal outside the 64-bit range (NUMBER_ERROR)
/// all reject it, wherever they are, unknown fields included.
std::string NotJsonDetail(simdjson::error_code error) {
  std::string detail = "not valid JSON: ";
  switch (error) {
    case simdjson::UTF8_ERROR:
      detail += "the bytes are not valid UTF-8";
      break;
    case simdjson::STRING_ERROR:
      detail += "a string is malformed (a bad escape or an unpaired surrogate)";
      break;
    case simdjson::NUMBER_ERROR:
      detail += "a number is out of range (an integer beyond 64 bits or a double beyond its range) or malformed";
      break;
    default:
      detail += simdjson::error_message(error);
      return detail;
  }
  detail += " (";
  detail += simdjson::error_message(error);
  detail += ")";
  return detail;
}

}  // namespace

class EventParser::Impl {
 public:
  explicit Impl(EventParserOptions options) : options_(options), q_ingest_(TimestampType(), pool_) {}

  arrow::Result<ParseResult> Parse(const arrow::RecordBatch& bronze) {
    auto topic = std::static_pointer_cast<arrow::StringArray>(bronze.GetColumnByName("topic"));
    auto partition = std::static_pointer_cast<arrow::Int32Array>(bronze.GetColumnByName("partition"));
    auto offset = std::static_pointer_cast<arrow::Int64Array>(bronze.GetColumnByName("offset"));
    auto value = std::static_pointer_cast<arrow::BinaryArray>(bronze.GetColumnByName("value"));
    auto ingest = std::static_pointer_cast<arrow::TimestampArray>(bronze.GetColumnByName("ingest_time"));
    auto kafka_ts = std::static_pointer_cast<arrow::TimestampArray>(bronze.GetColumnByName("kafka_timestamp"));
    if (!topic || !partition || !offset || !value || !ingest || !kafka_ts) {
      return arrow::Status::Invalid("EventParser: input batch is not a Bronze batch: ",
                                    bronze.schema()->ToString());
    }
    Event ev;
    for (int64_t row = 0; row < bronze.num_rows(); ++row) {
      std::optional<Violation> violation;
      if (value->IsNull(row) || value->value_length(row) == 0) {
        violation = Violation{QuarantineReason::kNotJson, "value is empty"};
      } else {
        const std::string_view bytes = value->GetView(row);
        // The JSON parser reads up to SIMDJSON_PADDING bytes past the value; where the
        // Bronze buffer has them (every value but the last few), it parses in place.
        const int64_t end = value->value_offset(row) + value->value_length(row);
        const bool padded = end + static_cast<int64_t>(simdjson::SIMDJSON_PADDING) <= value->value_data()->capacity();
        element root;
        auto error = dom_.parse(bytes.data(), bytes.size(), /*realloc_if_needed=*/!padded).get(root);
        if (error != simdjson::SUCCESS) {
          violation = Violation{QuarantineReason::kNotJson, NotJsonDetail(error)};
        } else {
          TimeBound bound{ingest->Value(row), options_.max_future_skew_us};
          if (kafka_ts->IsValid(row) && kafka_ts->Value(row) >= 0) {
            bound.reference_us = std::min(bound.reference_us, kafka_ts->Value(row));
          }
          violation = ReadEvent(root, bound, &ev);
        }
      }
      if (violation) {
        ARROW_RETURN_NOT_OK(q_topic_.Append(topic->GetView(row)));
        ARROW_RETURN_NOT_OK(q_partition_.Append(partition->Value(row)));
        ARROW_RETURN_NOT_OK(q_offset_.Append(offset->Value(row)));
        if (value->IsNull(row)) {
          ARROW_RETURN_NOT_OK(q_value_.AppendNull());
        } else {
          ARROW_RETURN_NOT_OK(q_value_.Append(value->GetView(row)));
        }
        ARROW_RETURN_NOT_OK(q_error_.Append(ReasonCode(violation->reason)));
        ARROW_RETURN_NOT_OK(q_detail_.Append(violation->detail));
        ARROW_RETURN_NOT_OK(q_ingest_.Append(ingest->Value(row)));
        continue;
      }
      AppendEvent(ev, partition->Value(row), offset->Value(row));
    }
    ParseResult result;
    ARROW_ASSIGN_OR_RAISE(result.events, FinishEvents());
    ARROW_ASSIGN_OR_RAISE(result.quarantine, FinishQuarantine());
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

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> FinishQuarantine() {
    const int64_t rows = q_offset_.length();
    std::vector<std::shared_ptr<arrow::Array>> cols;
    for (arrow::ArrayBuilder* b : std::initializer_list<arrow::ArrayBuilder*>{
             &q_topic_, &q_partition_, &q_offset_, &q_value_, &q_error_, &q_detail_, &q_ingest_}) {
      std::shared_ptr<arrow::Array> a;
      ARROW_RETURN_NOT_OK(b->Finish(&a));
      cols.push_back(std::move(a));
    }
    return arrow::RecordBatch::Make(QuarantineSchema(), rows, std::move(cols));
  }

  EventParserOptions options_;
  arrow::MemoryPool* pool_ = arrow::default_memory_pool();
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
  // The quarantine table; rare rows, Arrow's builders.
  arrow::StringBuilder q_topic_, q_error_, q_detail_;
  arrow::Int32Builder q_partition_;
  arrow::Int64Builder q_offset_;
  arrow::BinaryBuilder q_value_;
  arrow::TimestampBuilder q_ingest_;
};

EventParser::EventParser(EventParserOptions options) : impl_(std::make_unique<Impl>(options)) {}
EventParser::~EventParser() = default;

arrow::Result<ParseResult> EventParser::Parse(const arrow::RecordBatch& bronze) {
  return impl_->Parse(bronze);
}

}  // namespace medallion::format
