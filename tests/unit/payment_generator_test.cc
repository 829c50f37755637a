#include "produce/payment_generator.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <array>
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/time_util.h"
#include "produce/event_generator.h"

namespace medallion::produce {
namespace {

constexpr int64_t kMinute = 60'000'000;

EventGeneratorOptions OrderOptions(uint64_t seed) {
  EventGeneratorOptions options;
  options.seed = seed;
  options.duplicate_fraction = 0.05;
  options.out_of_order_fraction = 0.10;
  options.late_fraction = 0.02;
  options.malformed_fraction = 0.03;
  options.invalid_fraction = 0.04;
  return options;
}

/// Larger fractions than the defaults, so that 20k orders give enough of each kind.
PaymentGeneratorOptions PaymentOptions(uint64_t seed) {
  PaymentGeneratorOptions options;
  options.seed = seed;
  options.missing_fraction = 0.05;
  options.orphan_fraction = 0.04;
  options.duplicate_fraction = 0.05;
  options.late_fraction = 0.05;
  options.mismatch_fraction = 0.05;
  options.outside_fraction = 0.05;
  options.malformed_fraction = 0.03;
  options.invalid_fraction = 0.03;
  return options;
}

/// One record of the interleaved stream.
struct Record {
  StreamTopic topic;
  GeneratedEvent order;
  GeneratedPayment payment;
};

struct Stream {
  std::vector<Record> records;
  uint64_t paid_orders = 0;
  uint64_t missing_orders = 0;
};

Stream Generate(const EventGeneratorOptions& orders, const PaymentGeneratorOptions& payments,
             int64_t n) {
  OrderPaymentStream stream(orders, payments, n);
  Stream run;
  for (;;) {
    Record record;
    record.topic = stream.Next(&record.order, &record.payment);
    if (record.topic == StreamTopic::kEnd) break;
    run.records.push_back(std::move(record));
  }
  run.paid_orders = stream.payments().paid_orders();
  run.missing_orders = stream.payments().missing_orders();
  return run;
}

/// The first kValid PAID event of an order, as read back from its JSON.
struct PaidOrder {
  int64_t event_time_micros;
  double amount;
  std::string currency;
  std::string method;
};

/// Reads the orders of a run: every order_id seen on the orders topic, and the first PAID
/// event of each order.
void ReadOrders(const Stream& run, std::unordered_set<std::string>* order_ids,
                std::unordered_map<std::string, PaidOrder>* paid) {
  simdjson::dom::parser parser;
  for (const Record& record : run.records) {
    if (record.topic != StreamTopic::kOrders) continue;
    if (!record.order.key.empty()) order_ids->insert(record.order.key);
    if (record.order.kind != EventKind::kValid) continue;
    simdjson::dom::object obj;
    ASSERT_FALSE(parser.parse(record.order.value).get_object().get(obj));
    std::string_view status, text;
    ASSERT_FALSE(obj["status"].get_string().get(status));
    if (status != "PAID" || paid->count(record.order.key) > 0) continue;
    PaidOrder order;
    order.event_time_micros = record.order.event_time_micros;
    ASSERT_FALSE(obj["payment"]["amount"].get_double().get(order.amount));
    ASSERT_FALSE(obj["payment"]["currency"].get_string().get(text));
    order.currency = std::string(text);
    ASSERT_FALSE(obj["payment"]["method"].get_string().get(text));
    order.method = std::string(text);
    paid->emplace(record.order.key, order);
  }
}

/// An independent check of the payment contract of EVENTS.md: "" when `value` conforms,
/// else why not.
std::string CheckPayment(simdjson::dom::parser& parser, const std::string& value) {
  simdjson::dom::element doc;
  if (parser.parse(value).get(doc)) return "not JSON";
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return "not an object";
  std::string_view text;
  if (obj["payment_id"].get_string().get(text) || text.empty()) return "payment_id";
  if (obj["order_id"].get_string().get(text) || text.empty()) return "order_id";
  if (obj["event_time"].get_string().get(text)) return "event_time type";
  if (!ParseIso8601Micros(text)) return "event_time text";
  if (obj["status"].get_string().get(text)) return "status type";
  static const std::unordered_set<std::string_view> kStatuses = {"AUTHORIZED", "CAPTURED",
                                                                "FAILED", "REFUNDED"};
  if (kStatuses.count(text) == 0) return "status value";
  double amount;
  if (obj["amount"].get_double().get(amount)) return "amount type";
  if (amount < 0) return "amount negative";
  if (obj["currency"].get_string().get(text)) return "currency";
  int64_t version;
  if (obj["schema_version"].get_int64().get(version) || version != 1) return "schema_version";
  return "";
}

TEST(PaymentGeneratorTest, SameSeedGivesIdenticalStream) {
  const Stream a = Generate(OrderOptions(42), PaymentOptions(42), 20'000);
  const Stream b = Generate(OrderOptions(42), PaymentOptions(42), 20'000);
  ASSERT_EQ(a.records.size(), b.records.size());
  for (size_t i = 0; i < a.records.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(a.records[i].topic, b.records[i].topic);
    if (a.records[i].topic == StreamTopic::kOrders) {
      ASSERT_EQ(a.records[i].order.value, b.records[i].order.value);
    } else {
      ASSERT_EQ(a.records[i].payment.key, b.records[i].payment.key);
      ASSERT_EQ(a.records[i].payment.value, b.records[i].payment.value);
    }
  }
  const Stream c = Generate(OrderOptions(42), PaymentOptions(43), 20'000);
  int same = 0, payments = 0;
  for (size_t i = 0; i < std::min(a.records.size(), c.records.size()); ++i) {
    if (a.records[i].topic != StreamTopic::kPayments) continue;
    ++payments;
    same += a.records[i].payment.value == c.records[i].payment.value;
  }
  EXPECT_LT(same, payments / 10);
}

TEST(PaymentGeneratorTest, OrdersAreTheOrderGeneratorsBytes) {
  const Stream run = Generate(OrderOptions(7), PaymentOptions(7), 20'000);
  EventGenerator plain(OrderOptions(7));
  GeneratedEvent expected;
  int orders = 0;
  for (const Record& record : run.records) {
    if (record.topic != StreamTopic::kOrders) continue;
    plain.Next(&expected);
    ++orders;
    ASSERT_EQ(record.order.key, expected.key);
    ASSERT_EQ(record.order.value, expected.value);
  }
  EXPECT_EQ(orders, 20'000);
}

TEST(PaymentGeneratorTest, FractionsAreRespected) {
  const PaymentGeneratorOptions options = PaymentOptions(3);
  const Stream run = Generate(OrderOptions(3), options, 20'000);
  std::array<double, kNumPaymentKinds> kinds{};
  double captures = 0;
  for (const Record& record : run.records) {
    if (record.topic != StreamTopic::kPayments) continue;
    ++kinds[static_cast<int>(record.payment.kind)];
    const PaymentKind kind = record.payment.kind;
    captures += kind != PaymentKind::kNoise && kind != PaymentKind::kDuplicate &&
                kind != PaymentKind::kMalformed && kind != PaymentKind::kInvalid;
  }
  const double paid = static_cast<double>(run.paid_orders);
  ASSERT_GT(paid, 5'000);
  auto expect_share = [](double count, double base, double fraction, const char* what) {
    SCOPED_TRACE(what);
    EXPECT_NEAR(count / base, fraction, fraction * 0.25);
  };
  expect_share(static_cast<double>(run.missing_orders), paid, options.missing_fraction,
               "missing");
  expect_share(kinds[static_cast<int>(PaymentKind::kLate)], paid, options.late_fraction, "late");
  expect_share(kinds[static_cast<int>(PaymentKind::kMismatch)], paid, options.mismatch_fraction,
               "mismatch");
  expect_share(kinds[static_cast<int>(PaymentKind::kOutside)], paid, options.outside_fraction,
               "outside");
  expect_share(kinds[static_cast<int>(PaymentKind::kOrphan)], paid, options.orphan_fraction,
               "orphan");
  expect_share(kinds[static_cast<int>(PaymentKind::kMalformed)], paid,
               options.malformed_fraction, "malformed");
  expect_share(kinds[static_cast<int>(PaymentKind::kInvalid)], paid, options.invalid_fraction,
               "invalid");
  expect_share(kinds[static_cast<int>(PaymentKind::kDuplicate)], captures,
               options.duplicate_fraction, "duplicate");
  // Every PAID order gets exactly one capture unless it misses it.
  const double order_captures = captures - kinds[static_cast<int>(PaymentKind::kOrphan)];
  EXPECT_EQ(order_captures, paid - static_cast<double>(run.missing_orders));
  EXPECT_GT(kinds[static_cast<int>(PaymentKind::kNoise)], paid * 0.3);
}

/// Checks every valid payment of `run` against the orders of `run`.
void CheckCapturesAgainstOrders(const Stream& run) {
  std::unordered_set<std::string> order_ids;
  std::unordered_map<std::string, PaidOrder> paid;
  ReadOrders(run, &order_ids, &paid);
  simdjson::dom::parser parser;
  std::unordered_set<std::string> captured;  // order ids with a CAPTURED payment
  std::map<PaymentKind, int> checked;
  for (const Record& record : run.records) {
    if (record.topic != StreamTopic::kPayments) continue;
    const GeneratedPayment& p = record.payment;
    if (p.kind == PaymentKind::kMalformed || p.kind == PaymentKind::kInvalid) continue;
    SCOPED_TRACE(p.value);
    ASSERT_EQ(CheckPayment(parser, p.value), "");
    simdjson::dom::object obj = parser.parse(p.value).get_object().value();
    const std::string order_id(obj["order_id"].get_string().value());
    const auto time = *ParseIso8601Micros(obj["event_time"].get_string().value());
    const double amount = obj["amount"].get_double().value();
    EXPECT_EQ(p.key, order_id);
    EXPECT_EQ(time, p.event_time_micros);
    EXPECT_EQ(obj["status"].get_string().value(), p.status);
    if (p.kind == PaymentKind::kOrphan) {
      EXPECT_EQ(order_id.rfind("ORD-X", 0), 0u);
      EXPECT_EQ(order_ids.count(order_id), 0u);
      EXPECT_EQ(paid.count(order_id), 0u);
      ++checked[p.kind];
      continue;
    }
    if (p.kind == PaymentKind::kDuplicate) continue;
    // Every other payment belongs to a PAID order, with its currency and method.
    auto it = paid.find(order_id);
    ASSERT_NE(it, paid.end());
    const PaidOrder& order = it->second;
    EXPECT_EQ(obj["currency"].get_string().value(), order.currency);
    EXPECT_EQ(obj["method"].get_string().value(), order.method);
    EXPECT_EQ(p.order_time_micros, order.event_time_micros);
    if (p.status != "CAPTURED") continue;
    EXPECT_TRUE(captured.insert(order_id).second) << "two captures of " << order_id;
    const int64_t delay = time - order.event_time_micros;
    const bool within = delay >= -15 * kMinute && delay <= 60 * kMinute;
    const double diff = std::abs(amount - order.amount);
    switch (p.kind) {
      case PaymentKind::kMatched:
      case PaymentKind::kLate:
        EXPECT_TRUE(within) << delay;
        EXPECT_LT(diff, 0.00005);
        break;
      case PaymentKind::kMismatch:
        EXPECT_TRUE(within) << delay;
        EXPECT_GT(diff, 0.0099);
        EXPECT_LT(diff, 0.0501);
        break;
      case PaymentKind::kOutside:
        EXPECT_FALSE(within) << delay;
        EXPECT_LT(diff, 0.00005);
        break;
      default:
        ADD_FAILURE() << "a CAPTURED payment of kind " << PaymentKindName(p.kind);
    }
    if (p.kind == PaymentKind::kLate) {
      EXPECT_GE(p.release_micros - p.event_time_micros, PaymentGeneratorOptions{}.late_by_micros);
    }
    ++checked[p.kind];
  }
  for (PaymentKind kind : {PaymentKind::kMatched, PaymentKind::kLate, PaymentKind::kMismatch,
                           PaymentKind::kOutside, PaymentKind::kOrphan}) {
    EXPECT_GT(checked[kind], 50) << PaymentKindName(kind);
  }
  // Every PAID order without a capture is one of the missing ones.
  EXPECT_EQ(paid.size() - captured.size(), run.missing_orders);
}

TEST(PaymentGeneratorTest, CapturesAgreeWithTheirPaidOrder) {
  CheckCapturesAgainstOrders(Generate(OrderOptions(5), PaymentOptions(5), 20'000));
}

TEST(PaymentGeneratorTest, CapturesOfVersion2OrdersCarryTheNetTotal) {
  EventGeneratorOptions orders = OrderOptions(6);
  orders.v2_fraction = 0.5;  // discounted lines: the capture is the net total
  CheckCapturesAgainstOrders(Generate(orders, PaymentOptions(6), 20'000));
}

/// FNV-1a over the topics, keys and values of a stream: a fingerprint of the bytes.
uint64_t Fingerprint(const Stream& run) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  };
  for (const Record& record : run.records) {
    const bool order = record.topic == StreamTopic::kOrders;
    mix(order ? "o" : "p");
    mix(order ? record.order.key : record.payment.key);
    mix(std::string_view("\0", 1));
    mix(order ? record.order.value : record.payment.value);
    mix("\n");
  }
  return h;
}

TEST(PaymentGeneratorTest, OutputIsPinned) {
  // Runs with a fixed seed are compared across machines and versions: the bytes a seed
  // gives never change (std::mt19937_64 through our own helpers, no std distributions).
  EXPECT_EQ(Fingerprint(Generate(OrderOptions(42), PaymentGeneratorOptions{}, 20'000)),
            0x88bd9af4dfb38037ULL);
}

TEST(PaymentGeneratorTest, DuplicatesRepeatAnEarlierCaptureExactly) {
  const Stream run = Generate(OrderOptions(11), PaymentOptions(11), 20'000);
  std::unordered_map<std::string, std::string> earlier;  // value -> key
  int duplicates = 0;
  for (const Record& record : run.records) {
    if (record.topic != StreamTopic::kPayments) continue;
    const GeneratedPayment& p = record.payment;
    if (p.kind != PaymentKind::kDuplicate) {
      if (p.status == "CAPTURED") earlier.emplace(p.value, p.key);
      continue;
    }
    ++duplicates;
    auto it = earlier.find(p.value);
    ASSERT_NE(it, earlier.end()) << p.value;
    EXPECT_EQ(it->second, p.key);
  }
  EXPECT_GT(duplicates, 200);
}

TEST(PaymentGeneratorTest, PaymentsComeOutInEventTimeOrderWithTheOrders) {
  // Without time-shifted orders, a payment that is neither late nor a duplicate is never
  // behind the orders emitted before it (payments due before their order included).
  EventGeneratorOptions orders;
  orders.seed = 9;
  const Stream run = Generate(orders, PaymentOptions(9), 20'000);
  int64_t order_time = INT64_MIN;
  int before_order = 0;
  for (const Record& record : run.records) {
    if (record.topic == StreamTopic::kOrders) {
      order_time = std::max(order_time, record.order.event_time_micros);
      continue;
    }
    const GeneratedPayment& p = record.payment;
    if (p.kind == PaymentKind::kLate || p.kind == PaymentKind::kDuplicate) continue;
    if (order_time == INT64_MIN) continue;  // due before the first order
    EXPECT_GE(p.event_time_micros, order_time - 1000) << p.value;
    before_order += p.order_time_micros != 0 && p.event_time_micros < p.order_time_micros;
  }
  EXPECT_GT(before_order, 100);
}

TEST(PaymentGeneratorTest, BrokenPaymentsBreakTheContract) {
  const Stream run = Generate(OrderOptions(13), PaymentOptions(13), 20'000);
  simdjson::dom::parser parser;
  std::map<std::string, int> reasons;
  for (const Record& record : run.records) {
    if (record.topic != StreamTopic::kPayments) continue;
    const GeneratedPayment& p = record.payment;
    if (p.kind != PaymentKind::kMalformed && p.kind != PaymentKind::kInvalid) continue;
    const std::string why = CheckPayment(parser, p.value);
    ASSERT_NE(why, "") << p.value;
    if (p.kind == PaymentKind::kMalformed) {
      EXPECT_TRUE(why == "not JSON" || why == "not an object") << p.value;
    } else {
      EXPECT_FALSE(why == "not JSON" || why == "not an object") << p.value;
    }
    ++reasons[why];
  }
  for (const char* why : {"not JSON", "not an object", "amount negative", "status value",
                          "event_time text", "payment_id", "currency"}) {
    EXPECT_GT(reasons[why], 0) << why;
  }
}

TEST(PaymentGeneratorTest, OptionsAreValidated) {
  EXPECT_EQ(PaymentGeneratorOptions{}.Validate(), "");
  for (const char* name :
       {"missing_fraction", "orphan_fraction", "duplicate_fraction", "late_fraction",
        "mismatch_fraction", "outside_fraction", "malformed_fraction", "invalid_fraction",
        "authorized_fraction", "failed_fraction", "refunded_fraction"}) {
    for (double bad : {-0.1, 1.5, std::nan("")}) {
      PaymentGeneratorOptions options;
      const std::string field = name;
      double* target = field == "missing_fraction"      ? &options.missing_fraction
                       : field == "orphan_fraction"     ? &options.orphan_fraction
                       : field == "duplicate_fraction"  ? &options.duplicate_fraction
                       : field == "late_fraction"       ? &options.late_fraction
                       : field == "mismatch_fraction"   ? &options.mismatch_fraction
                       : field == "outside_fraction"    ? &options.outside_fraction
                       : field == "malformed_fraction"  ? &options.malformed_fraction
                       : field == "invalid_fraction"    ? &options.invalid_fraction
                       : field == "authorized_fraction" ? &options.authorized_fraction
                       : field == "failed_fraction"     ? &options.failed_fraction
                                                        : &options.refunded_fraction;
      *target = bad;
      const std::string message = options.Validate();
      EXPECT_EQ(message.rfind(field + " must be a number in [0, 1]", 0), 0u) << message;
    }
  }
  PaymentGeneratorOptions options;
  options.missing_fraction = 0.5;
  options.late_fraction = 0.6;
  EXPECT_NE(options.Validate().find("missing_fraction, late_fraction, mismatch_fraction and "
                                    "outside_fraction must be at most 1"),
            std::string::npos);
  options = PaymentGeneratorOptions{};
  options.orphan_fraction = 0.7;
  options.invalid_fraction = 0.4;
  EXPECT_NE(options.Validate().find("orphan_fraction, malformed_fraction and invalid_fraction"),
            std::string::npos);
  options = PaymentGeneratorOptions{};
  options.late_by_micros = -1;
  EXPECT_EQ(options.Validate(), "late_by_micros must be >= 0");
  options = PaymentGeneratorOptions{};
  options.missing_fraction = 1.0;  // every order misses its capture: allowed
  options.late_fraction = options.mismatch_fraction = options.outside_fraction = 0;
  EXPECT_EQ(options.Validate(), "");
}

}  // namespace
}  // namespace medallion::produce
