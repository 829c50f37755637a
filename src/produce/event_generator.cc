#include "produce/event_generator.h"

#include <algorithm>
#include <string_view>

#include "common/check.h"
#include "produce/text_append.h"

namespace medallion::produce {

/// Ways an invalid event breaks the contract while staying a JSON object.
enum class EventGenerator::Breakage : uint8_t {
  kNone,
  kMissingField,
  kWrongType,
  kEmptyItems,
  kBadQuantity,
  kNegativePrice,
  kBadEventTime,
  kUnknownStatus,
  kInvalidUtf8,  // makes the whole record malformed, not merely invalid
  // Version-2 rules (only in version-2 events).
  kNegativeDiscount,
  kDiscountExceedsLine,
  kBadChannel,
  kUnsupportedVersion,
};

namespace {

using text::AppendCents;
using text::AppendInt;
using text::AppendIsoMillis;
using text::AppendMoney4;
using text::AppendPadded;
using text::AppendQuoted;
using text::FloorDiv;

constexpr size_t kRecentCapacity = 256;

constexpr std::string_view kCategories[] = {"Electronics", "Books",  "Home & Kitchen",
                                            "Clothing",    "Sports", "Toys",
                                            "Beauty",      "Grocery"};
constexpr std::string_view kProductNouns[8][4] = {
    {"Headphones", "Charger", "Monitor", "Keyboard"},
    {"Novel", "Cookbook", "Atlas", "Biography"},
    {"Kettle", "Pan", "Knife Set", "Blender"},
    {"T-Shirt", "Jacket", "Sneakers", "Scarf"},
    {"Yoga Mat", "Football", "Dumbbell", "Tent"},
    {"Puzzle", "Robot Kit", "Board Game", "Plush Bear"},
    {"Face Cream", "Shampoo", "Perfume", "Lip Balm"},
    {"Coffee Beans", "Olive Oil", "Green Tea", "Dark Chocolate"}};
constexpr std::string_view kAdjectives[] = {"Classic", "Pro",     "Eco", "Mini",
                                            "Deluxe",  "Compact", "Smart", "Vintage"};
constexpr std::string_view kFirstNames[] = {"Anna", "Ben",   "Chloé", "David", "Emma",  "Felix",
                                            "Grace", "Hiro", "Inès",  "Jonas", "Kofi",  "Lena",
                                            "Mateo", "Nora", "Omar",  "Priya"};
constexpr std::string_view kLastNames[] = {"Schmidt", "Smith", "Müller",  "García",
                                           "Rossi",   "Dubois", "Tanaka", "Kowalski",
                                           "Silva",   "Nguyen", "O'Brien", "Jensen",
                                           "Novák",   "Haddad", "Singh",  "Larsen"};
constexpr std::string_view kCountries[] = {"DE", "US", "FR", "GB", "ES", "IT",
                                           "NL", "PL", "SE", "JP", "BR", "IN"};
constexpr std::string_view kPaymentMethods[] = {"card", "card", "card", "paypal",
                                                "bank_transfer", "gift_card"};
/// Discounts of a version-2 line, in thousandths of the line's gross amount.
constexpr int64_t kDiscountPermille[] = {50, 100, 125, 150, 200, 250, 300, 500, 1000};
constexpr std::string_view kSkuColors[] = {"BLK", "WHT", "RED", "BLU", "GRN", "NAT"};
constexpr std::string_view kBadChannels[] = {"phone", "WEB", "kiosk", "marketplace"};
/// Salt of the stream that draws an order's version-2 content (apart from its v1 content).
constexpr uint64_t kVersion2Salt = 0x7632c0ffee5eedULL;

/// SplitMix64 finalizer: a bijective mix, used to derive attributes from ids.
uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A tiny deterministic stream for the content of one order.
struct SplitMix {
  uint64_t state;
  uint64_t Next() {
    state += 0x9e3779b97f4a7c15ULL;
    return Mix64(state);
  }
};

/// Price in cents of a product, a pure function of its number.
int64_t ProductPriceCents(int64_t product) {
  const uint64_t m = Mix64(product * 0x51ed27ULL);
  // Mostly cheap items, a few expensive ones: 0.99 .. ~500.
  const int64_t base = 99 + static_cast<int64_t>(m % 4900);
  return (m >> 40) % 10 == 0 ? base * 10 : base;
}

}  // namespace

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kValid: return "valid";
    case EventKind::kDuplicate: return "duplicate";
    case EventKind::kMalformed: return "malformed";
    case EventKind::kInvalid: return "invalid";
  }
  return "unknown";
}

std::string EventGeneratorOptions::Validate() const {
  const std::pair<const char*, double> fractions[] = {
      {"duplicate_fraction", duplicate_fraction},
      {"out_of_order_fraction", out_of_order_fraction},
      {"late_fraction", late_fraction},
      {"malformed_fraction", malformed_fraction},
      {"invalid_fraction", invalid_fraction}};
  double sum = 0;
  for (const auto& [name, value] : fractions) {
    if (!(value >= 0.0 && value <= 1.0)) {
      return std::string(name) + " must be a number in [0, 1], got " + std::to_string(value);
    }
    sum += value;
  }
  if (sum > 1.0 + 1e-9) {
    return "the sum of the fractions (duplicate, out_of_order, late, malformed, invalid) must "
           "be at most 1, got " + std::to_string(sum);
  }
  if (event_time_step_micros < 0) return "event_time_step_micros must be >= 0";
  if (num_customers < 1) return "num_customers must be >= 1";
  if (num_products < 1) return "num_products must be >= 1";
  if (late_by_micros < 0) return "late_by_micros must be >= 0";
  if (!(v2_fraction >= 0.0 && v2_fraction <= 1.0)) {
    return "v2_fraction must be a number in [0, 1], got " + std::to_string(v2_fraction);
  }
  return "";
}

EventGenerator::EventGenerator(EventGeneratorOptions options)
    : options_(options), rng_(options.seed), clock_micros_(options.start_time_micros) {
  MEDALLION_CHECK(options_.Validate().empty());
  recent_.resize(kRecentCapacity);
}

uint64_t EventGenerator::Uniform(uint64_t n) {
  // Rejection sampling: unbiased and identical on every standard library.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = rng_();
    if (r >= threshold) return r % n;
  }
}

double EventGenerator::UniformUnit() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

bool EventGenerator::DrawVersion2() {
  if (options_.v2_fraction <= 0.0) return false;
  return UniformUnit() < options_.v2_fraction;
}

void EventGenerator::AdvanceClock() {
  clock_micros_ += static_cast<int64_t>(Uniform(2 * options_.event_time_step_micros + 1));
}

EventGenerator::OrderRef EventGenerator::PickOrder() {
  int64_t order_no;
  if (next_order_no_ == 1 || Uniform(10) < 8) {
    order_no = next_order_no_++;  // a new order
  } else {                        // a status change of a recent order
    const int64_t window = std::min<int64_t>(next_order_no_ - 1, 1000);
    order_no = next_order_no_ - 1 - static_cast<int64_t>(Uniform(window));
  }
  return {order_no, Mix64(options_.seed * 0x2545f4914f6cdd1dULL ^ static_cast<uint64_t>(order_no))};
}

GeneratedEvent EventGenerator::Next() {
  GeneratedEvent event;
  Next(&event);
  return event;
}

void EventGenerator::Next(GeneratedEvent* out) {
  ++generated_;
  last_order_.first_paid = false;
  AdvanceClock();
  const double u = UniformUnit();
  double edge = options_.duplicate_fraction;
  out->shift = TimeShift::kNone;
  out->event_time_micros = clock_micros_;
  const bool duplicate = u < edge;
  if (duplicate && recent_size_ > 0) {
    const GeneratedEvent& original = recent_[Uniform(recent_size_)];
    out->key = original.key;
    out->value = original.value;
    out->kind = EventKind::kDuplicate;
    out->shift = original.shift;
    out->schema_version = original.schema_version;
    out->event_time_micros = original.event_time_micros;
    return;
  }
  // (A duplicate drawn before any valid event exists becomes a plain valid event.)
  if (!duplicate && u < (edge += options_.malformed_fraction)) {
    out->kind = EventKind::kMalformed;
    out->schema_version = 0;
    WriteMalformed(out);
    return;
  }
  if (!duplicate && u < (edge += options_.invalid_fraction)) {
    out->kind = EventKind::kInvalid;
    const bool version2 = DrawVersion2();
    Breakage breakage;
    if (version2) {  // 7 version-1 breakages and 4 version-2 ones
      const uint64_t b = Uniform(11);
      breakage = b < 7 ? static_cast<Breakage>(1 + b)
                       : static_cast<Breakage>(static_cast<uint8_t>(Breakage::kNegativeDiscount) +
                                               (b - 7));
    } else {
      breakage = static_cast<Breakage>(1 + Uniform(7));
    }
    out->key.clear();
    out->schema_version = breakage == Breakage::kUnsupportedVersion ? 3 : version2 ? 2 : 1;
    WriteEvent(PickOrder(), clock_micros_, false, breakage, version2, &out->value);
    // Key as a replay from a file would derive it: the order_id when it is a string.
    const size_t pos = out->value.find("\"order_id\":\"");
    if (pos != std::string::npos) out->key.assign(out->value, pos + 12, 12);
    return;
  }
  int64_t event_time = clock_micros_;
  if (duplicate) {
    // no time shift
  } else if (u < (edge += options_.late_fraction)) {
    out->shift = TimeShift::kLate;
    event_time -= options_.late_by_micros +
                  static_cast<int64_t>(Uniform(options_.late_by_micros / 2 + 1));
  } else if (u < (edge += options_.out_of_order_fraction)) {
    out->shift = TimeShift::kOutOfOrder;
    event_time -= 1 + static_cast<int64_t>(Uniform(kMaxOutOfOrderMicros));
  }
  const bool epoch_millis = Uniform(20) == 0;
  const bool version2 = DrawVersion2();
  out->kind = EventKind::kValid;
  out->schema_version = version2 ? 2 : 1;
  out->event_time_micros = FloorDiv(event_time, 1000) * 1000;
  const OrderRef order = PickOrder();
  out->key.clear();
  out->key.append("ORD-");
  AppendPadded(&out->key, order.order_no, 8);
  WriteEvent(order, event_time, epoch_millis, Breakage::kNone, version2, &out->value);
  RememberValid(*out);
  if (last_status_ == "PAID") {
    const auto index = static_cast<size_t>(order.order_no);
    if (paid_orders_.size() <= index) paid_orders_.resize(2 * index + 1024, false);
    if (!paid_orders_[index]) {
      paid_orders_[index] = true;
      last_order_.first_paid = true;
      last_order_.order_no = order.order_no;
      last_order_.order_id = out->key;
      last_order_.event_time_micros = out->event_time_micros;
    }
  }
}

void EventGenerator::RememberValid(const GeneratedEvent& event) {
  GeneratedEvent& slot = recent_[recent_next_];
  slot.key = event.key;  // assignment re-uses the slot's capacity
  slot.value = event.value;
  slot.kind = event.kind;
  slot.shift = event.shift;
  slot.event_time_micros = event.event_time_micros;
  slot.schema_version = event.schema_version;
  recent_next_ = (recent_next_ + 1) % kRecentCapacity;
  recent_size_ = std::min(recent_size_ + 1, kRecentCapacity);
}

void EventGenerator::WriteMalformed(GeneratedEvent* out) {
  static constexpr std::string_view kNotJson[] = {
      "hello world", "<order id=\"1\"/>", "ORD-00000001,PAID,19.99", "{not json}",
      "{\"event_id\": evt-1}", "\x01\x02\x03"};
  static constexpr std::string_view kNotObject[] = {
      "[1,2,3]", "\"ORD-00000001\"", "42", "null", "true", "[{\"event_id\":\"evt-x\"}]"};
  out->key.clear();
  out->value.clear();
  switch (Uniform(4)) {
    case 0:
      out->value.append(kNotJson[Uniform(std::size(kNotJson))]);
      break;
    case 1:
      out->value.append(kNotObject[Uniform(std::size(kNotObject))]);
      break;
    case 2: {  // a proper prefix of an object is never valid JSON
      WriteEvent(PickOrder(), clock_micros_, false, Breakage::kNone, false, &scratch_);
      out->value.assign(scratch_, 0, 1 + Uniform(scratch_.size() - 1));
      break;
    }
    default:
      WriteEvent(PickOrder(), clock_micros_, false, Breakage::kInvalidUtf8, false, &out->value);
      break;
  }
}

void EventGenerator::WriteEvent(const OrderRef& order, int64_t event_time, bool epoch_millis,
                                Breakage breakage, bool version2, std::string* out) {
  // Which field an invalid event breaks (only meaningful with kMissingField/kWrongType).
  enum Field { kEventId, kEventTime, kOrderId, kStatus, kCustomer, kItems, kProductId,
               kCategory, kQuantity, kUnitPrice, kNumFields };
  int broken = -1;
  if (breakage == Breakage::kMissingField || breakage == Breakage::kWrongType) {
    broken = static_cast<int>(Uniform(kNumFields));
  }
  const bool missing = breakage == Breakage::kMissingField;
  const bool wrong = breakage == Breakage::kWrongType;

  static constexpr std::string_view kStatuses[] = {"CREATED", "PAID", "SHIPPED", "CANCELLED",
                                                   "REFUNDED"};
  const uint64_t s = Uniform(100);
  std::string_view status = s < 60 ? kStatuses[1] : s < 75 ? kStatuses[0] : s < 87 ? kStatuses[2]
                                                  : s < 95 ? kStatuses[3] : kStatuses[4];
  if (breakage == Breakage::kUnknownStatus) {
    static constexpr std::string_view kUnknown[] = {"PENDING", "LOST", "", "paid_maybe"};
    status = kUnknown[Uniform(std::size(kUnknown))];
  }
  last_status_ = status;

  std::string& o = *out;
  o.clear();
  o.push_back('{');
  if (!(missing && broken == kEventId)) {
    o.append("\"event_id\":");
    if (wrong && broken == kEventId) {
      AppendInt(&o, static_cast<int64_t>(event_seq_));
    } else {
      o.append("\"evt-");
      AppendInt(&o, static_cast<int64_t>(options_.seed));
      o.push_back('-');
      AppendInt(&o, static_cast<int64_t>(event_seq_));
      o.push_back('"');
    }
    o.push_back(',');
  }
  ++event_seq_;
  o.append(status == "CREATED" ? "\"event_type\":\"order_created\","
                               : "\"event_type\":\"order_status_changed\",");
  if (!(missing && broken == kEventTime)) {
    o.append("\"event_time\":");
    if (wrong && broken == kEventTime) {
      o.append("true");
    } else if (breakage == Breakage::kBadEventTime) {
      static constexpr std::string_view kBadTimes[] = {
          "\"yesterday\"", "\"2026-11-24T10:00:00\"", "\"2026-13-45T10:00:00Z\"", "\"\""};
      o.append(kBadTimes[Uniform(std::size(kBadTimes))]);
    } else if (epoch_millis) {
      AppendInt(&o, FloorDiv(event_time, 1000));
    } else {
      o.push_back('"');
      AppendIsoMillis(&o, FloorDiv(event_time, 1000));
      o.push_back('"');
    }
    o.push_back(',');
  }
  if (!(missing && broken == kOrderId)) {
    o.append("\"order_id\":");
    if (wrong && broken == kOrderId) {
      AppendInt(&o, order.order_no);
    } else {
      o.append("\"ORD-");
      AppendPadded(&o, order.order_no, 8);
      o.push_back('"');
    }
    o.push_back(',');
  }
  if (!(missing && broken == kStatus)) {
    o.append("\"status\":");
    if (wrong && broken == kStatus) {
      AppendInt(&o, 2);
    } else {
      AppendQuoted(&o, status);
    }
    o.push_back(',');
  }

  SplitMix content{order.content_seed};
  const int64_t customer = 1 + static_cast<int64_t>(content.Next() % options_.num_customers);
  const uint64_t cm = Mix64(static_cast<uint64_t>(customer) * 0x9e37ULL);
  o.append("\"customer\":");
  if (wrong && broken == kCustomer) {
    o.append("\"C-");
    AppendPadded(&o, customer, 4);
    o.append("\",");
  } else {
    o.push_back('{');
    if (!(missing && broken == kCustomer)) {
      o.append("\"customer_id\":\"C-");
      AppendPadded(&o, customer, 4);
      o.append("\",");
    }
    o.append("\"name\":\"");
    o.append(kFirstNames[cm % std::size(kFirstNames)]);
    o.push_back(' ');
    if (breakage == Breakage::kInvalidUtf8) {
      o.append("M\xC3\x28ller");  // 0xC3 0x28 is not a UTF-8 sequence
    } else {
      o.append(kLastNames[(cm >> 8) % std::size(kLastNames)]);
    }
    o.append("\",\"email\":\"c");
    AppendPadded(&o, customer, 4);
    o.append("@example.com\",\"country\":");
    AppendQuoted(&o, kCountries[(cm >> 16) % std::size(kCountries)]);
    const uint64_t seg = (cm >> 24) % 10;
    o.append(seg < 7 ? ",\"segment\":\"consumer\"" : seg < 9 ? ",\"segment\":\"corporate\""
                                                            : ",\"segment\":\"home_office\"");
    if (version2) {  // three customers in ten have no tier
      static constexpr std::string_view kTiers[] = {"bronze", "bronze", "bronze", "silver",
                                                    "silver", "gold",   "platinum"};
      const uint64_t tier = Mix64(cm ^ kVersion2Salt) % 10;
      if (tier >= 3) {
        o.append(",\"loyalty_tier\":");
        AppendQuoted(&o, kTiers[tier - 3]);
      }
    }
    o.append("},");
  }
  // The version-2 content of the order, drawn apart so that it leaves the rest unchanged.
  SplitMix v2_content{Mix64(order.content_seed ^ kVersion2Salt)};

  // An items-as-object breakage carries a single line: {"line": {...}}.
  const bool items_as_object = wrong && broken == kItems;
  int num_lines = 1 + static_cast<int>(content.Next() % 4);
  if (breakage == Breakage::kEmptyItems) num_lines = 0;
  if (items_as_object) num_lines = 1;
  int64_t total_cents = 0;
  int64_t total_units = 0;  // version 2: net of the discounts, in 1/10^4
  if (!(missing && broken == kItems)) {
    o.append("\"items\":");
    o.push_back(items_as_object ? '{' : '[');
    if (items_as_object) o.append("\"line\":");
    for (int line = 0; line < num_lines; ++line) {
      const int64_t product = 1 + static_cast<int64_t>(content.Next() % options_.num_products);
      const uint64_t q = content.Next() % 20;
      int64_t quantity = q < 12 ? 1 : q < 16 ? 2 : q < 18 ? 3 : q < 19 ? 4 : 5;
      int64_t price = ProductPriceCents(product);
      const size_t category = Mix64(static_cast<uint64_t>(product)) % std::size(kCategories);
      const bool first = line == 0;  // invalid events break their first line
      if (first && breakage == Breakage::kBadQuantity) quantity = -static_cast<int64_t>(Uniform(2));
      if (first && breakage == Breakage::kNegativePrice) price = -price;
      if (line > 0) o.push_back(',');
      o.push_back('{');
      bool need_comma = false;
      auto field = [&](Field f, const char* name) {
        if (first && missing && broken == f) return false;
        if (need_comma) o.push_back(',');
        need_comma = true;
        o.append(name);
        return true;
      };
      if (field(kProductId, "\"product_id\":")) {
        if (first && wrong && broken == kProductId) {
          AppendInt(&o, product);
        } else {
          o.append("\"P-");
          AppendPadded(&o, product, 4);
          o.push_back('"');
        }
      }
      field(kNumFields, "\"product_name\":\"");
      o.append(kAdjectives[(Mix64(product) >> 8) % std::size(kAdjectives)]);
      o.push_back(' ');
      o.append(kProductNouns[category][(Mix64(product) >> 16) % 4]);
      o.push_back('"');
      if (field(kCategory, "\"category\":")) {
        if (first && wrong && broken == kCategory) {
          AppendInt(&o, static_cast<int64_t>(category));
        } else {
          AppendQuoted(&o, kCategories[category]);
        }
      }
      if (field(kQuantity, "\"quantity\":")) {
        if (first && wrong && broken == kQuantity) o.push_back('"');
        AppendInt(&o, quantity);
        if (first && wrong && broken == kQuantity) o.push_back('"');
      }
      if (field(kUnitPrice, "\"unit_price\":")) {
        if (first && wrong && broken == kUnitPrice) o.push_back('"');
        AppendCents(&o, price);
        if (first && wrong && broken == kUnitPrice) o.push_back('"');
      }
      const int64_t gross_units = quantity * price * 100;
      int64_t discount_units = 0;
      if (version2) {
        const uint64_t sku = v2_content.Next();
        const uint64_t discount = v2_content.Next() % 100;
        if (sku % 10 != 0) {  // nine lines in ten carry a sku
          o.append(",\"sku\":\"SKU-");
          AppendPadded(&o, product, 5);
          o.push_back('-');
          o.append(kSkuColors[Mix64(static_cast<uint64_t>(product) ^ kVersion2Salt) %
                              std::size(kSkuColors)]);
          o.push_back('"');
        }
        const bool broken_discount = first && (breakage == Breakage::kNegativeDiscount ||
                                               breakage == Breakage::kDiscountExceedsLine);
        if (broken_discount) {
          o.append(",\"discount\":");
          AppendMoney4(&o, breakage == Breakage::kNegativeDiscount
                               ? -(100 + gross_units / 10)
                               : std::max<int64_t>(gross_units, 0) + 100);
        } else if (discount >= 60 && gross_units > 0) {  // 40 lines in 100 carry a discount
          // 5 of those 40 carry an explicit zero; the rest a share of the line.
          if (discount >= 65) {
            const size_t share = (discount - 65) % std::size(kDiscountPermille);
            discount_units = gross_units * kDiscountPermille[share] / 1000;
          }
          o.append(",\"discount\":");
          AppendMoney4(&o, discount_units);
        }
      }
      o.push_back('}');
      total_cents += quantity * price;
      total_units += gross_units - discount_units;
    }
    o.append(items_as_object ? "}," : "],");
  }

  o.append("\"payment\":{\"method\":");
  const std::string_view method = kPaymentMethods[content.Next() % std::size(kPaymentMethods)];
  AppendQuoted(&o, method);
  // The facts a payments side needs (kept for every event; read for a first PAID one only).
  last_order_.total_units = total_units;
  last_order_.currency = "USD";
  last_order_.method = method;
  o.append(",\"currency\":\"USD\",\"amount\":");
  if (!version2) {
    AppendCents(&o, total_cents);
    o.append("},\"schema_version\":1}");
    return;
  }
  AppendMoney4(&o, total_units);
  o.push_back('}');
  static constexpr std::string_view kChannels[] = {"web", "app", "store"};
  const uint64_t channel = v2_content.Next() % 100;  // web 53%, app 32%, store 10%, none 5%
  if (breakage == Breakage::kBadChannel) {
    o.append(",\"channel\":");
    AppendQuoted(&o, kBadChannels[Uniform(std::size(kBadChannels))]);
  } else if (channel >= 5) {
    o.append(",\"channel\":");
    AppendQuoted(&o, kChannels[channel < 58 ? 0 : channel < 90 ? 1 : 2]);
  }
  o.append(breakage == Breakage::kUnsupportedVersion ? ",\"schema_version\":3}"
                                                     : ",\"schema_version\":2}");
}

}  // namespace medallion::produce
