#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <arrow/array.h>
#include <arrow/scalar.h>
#include <gtest/gtest.h>

#include "common/utf8.h"
#include "format/bronze_builder.h"
#include "format/event_parser.h"

/// The contract's value rules at their boundaries: money and quantities exact or refused,
/// line amounts and totals within decimal(18,4), event time within the readable years and
/// at most max_future_skew ahead, strings valid UTF-8 and details cut on character
/// boundaries.
namespace medallion::format {
namespace {

/// 2026-11-25T00:00:00Z: the ingest time and (by default) the Kafka timestamp.
constexpr int64_t kIngestUs = 1795564800000000;

/// What the parser made of one record: the quarantine code ("" when accepted) and detail,
/// or the accepted event.
struct Outcome {
  std::string code;
  std::string detail;
  std::shared_ptr<arrow::RecordBatch> events;

  /// Field `name` of item `i` of the accepted event, formatted.
  std::string Item(int64_t i, const char* name) const {
    auto items = std::static_pointer_cast<arrow::ListArray>(events->GetColumnByName("items"));
    const auto& item = static_cast<const arrow::StructArray&>(*items->values());
    return item.GetFieldByName(name)->GetScalar(i).ValueOrDie()->ToString();
  }
  std::string PaymentAmount() const {
    auto a = events->GetColumnByName("payment_amount");
    return a->IsNull(0) ? "null" : a->GetScalar(0).ValueOrDie()->ToString();
  }
  int64_t EventTime() const {
    return std::static_pointer_cast<arrow::TimestampArray>(events->GetColumnByName("event_time"))->Value(0);
  }
};

Outcome ParseOne(const std::string& value, EventParserOptions options = {},
                 std::optional<int64_t> kafka_ms = kIngestUs / 1000) {
  BronzeBuilder b("orders", kIngestUs);
  EXPECT_TRUE(b.Append(0, 0, kafka_ms, "k", 1, value.data(), value.size()).ok());
  EventParser parser(options);
  auto result = parser.Parse(*b.Finish().ValueOrDie()).ValueOrDie();
  EXPECT_EQ(result.events->num_rows() + result.quarantine->num_rows(), 1);
  EXPECT_TRUE(result.events->ValidateFull().ok());
  EXPECT_TRUE(result.quarantine->ValidateFull().ok());
  Outcome out;
  if (result.quarantine->num_rows() == 1) {
    out.code = std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("error"))->GetString(0);
    out.detail =
        std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("detail"))->GetString(0);
    EXPECT_TRUE(IsValidUtf8(out.detail)) << out.detail;
  } else {
    out.events = result.events;
  }
  return out;
}

constexpr const char* kTime = "\"2026-11-24T10:15:30.123Z\"";
constexpr const char* kPayment = R"({"method":"card","currency":"USD","amount":1})";

/// A PAID event whose first item has the given raw JSON quantity and unit_price, followed
/// by `more_items`, with the given raw event_time and payment.
std::string Order(const std::string& quantity, const std::string& price, const std::string& more_items = "",
                  const std::string& time = kTime, const std::string& payment = kPayment,
                  const std::string& status = "\"PAID\"", const std::string& name = "\"Ann\"") {
  return R"({"event_id":"e1","event_time":)" + time + R"(,"order_id":"O-1","status":)" + status +
         R"(,"customer":{"customer_id":"C-1","name":)" + name +
         R"(},"items":[{"product_id":"P-1","category":"Toys","quantity":)" + quantity +
         R"(,"unit_price":)" + price + "}" + more_items + R"(],"payment":)" + payment +
         R"(,"extra":{"kept":"in bronze"}})";
}

/// One more item, to append after the first.
std::string Line(const std::string& quantity, const std::string& price) {
  return R"(,{"product_id":"P-2","category":"Toys","quantity":)" + quantity + R"(,"unit_price":)" + price + "}";
}

/// One case: a quarantine code and a part of its detail, or (code "") the accepted value.
struct Expect {
  std::string input;
  std::string code;
  std::string text;
};

TEST(EventParserValuesTest, UnitPriceIsExactOrRefused) {
  const std::vector<Expect> cases = {
      {"99999999999999", "", "99999999999999.0000"},
      {"100000000000000", "bad_unit_price", "out of range"},
      {"1844674407370956", "bad_unit_price", "out of range"},
      {"18446744073709551615", "bad_unit_price", "out of range"},
      {"-99999999999999", "bad_unit_price", "must be >= 0"},
      {"19.99", "", "19.9900"},
      {"0.0001", "", "0.0001"},
      {"0.00015", "bad_unit_price", "more than 4 decimals"},
      {"0.00005", "bad_unit_price", "more than 4 decimals"},
      {"1.000001", "bad_unit_price", "more than 4 decimals"},
      {"1e-4", "", "0.0001"},
      {"1.5e3", "", "1500.0000"},
      {"1E2", "", "100.0000"},
      {"-0.0", "", "0.0000"},
      {"-0", "", "0.0000"},
      {"0", "", "0.0000"},
      {"1e-400", "", "0.0000"},
      {"-1.5", "bad_unit_price", "must be >= 0"},
      {"-1.23456", "bad_unit_price", "more than 4 decimals"},
      {"900719925474.0992", "", "900719925474.0992"},  // 2^53 units
      {"900719925474.0993", "", "900719925474.0992"},  // the same double as ...0992
      {"900719925474.0991", "", "900719925474.0991"},
      {"900719925474.1", "bad_unit_price", "out of range"},
      {"9007199254740.9921", "bad_unit_price", "out of range"},
      {"99999999999999.9999", "bad_unit_price", "out of range"},
      {"1e300", "bad_unit_price", "out of range"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const Outcome out = ParseOne(Order("1", c.input));
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (c.code.empty()) {
      if (out.events) {
        EXPECT_EQ(out.Item(0, "unit_price"), c.text);
      }
    } else {
      EXPECT_NE(out.detail.find("items[0].unit_price"), std::string::npos) << out.detail;
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
}

TEST(EventParserValuesTest, PaymentAmountIsExactOrRefused) {
  const std::vector<Expect> cases = {
      {"44.98", "", "44.9800"},
      {"99999999999999", "", "99999999999999.0000"},
      {"-5", "bad_payment_amount", "must be >= 0, got -5"},
      {"-0.0001", "bad_payment_amount", "must be >= 0"},
      {"-0.0", "", "0.0000"},
      {"0", "", "0.0000"},
      {"100000000000000", "bad_payment_amount", "out of range"},
      {"1.00001", "bad_payment_amount", "more than 4 decimals"},
      {"1e300", "bad_payment_amount", "out of range"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const Outcome out = ParseOne(Order("1", "1", "", kTime, R"({"amount":)" + c.input + "}"));
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (c.code.empty()) {
      if (out.events) {
        EXPECT_EQ(out.PaymentAmount(), c.text);
      }
    } else {
      EXPECT_NE(out.detail.find("payment.amount"), std::string::npos) << out.detail;
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
  const Outcome absent = ParseOne(Order("1", "1", "", kTime, R"({"method":"card"})"));
  ASSERT_EQ(absent.code, "") << absent.detail;
  EXPECT_EQ(absent.PaymentAmount(), "null");
}

TEST(EventParserValuesTest, QuantityIsAnIntegerUpToOneBillion) {
  const std::vector<Expect> cases = {
      {"1", "", "1"},
      {"1000000000", "", "1000000000"},
      {"1000000001", "bad_quantity", "items[0].quantity must be <= 1000000000, got 1000000001"},
      {"9223372036854775807", "bad_quantity", "must be <= 1000000000"},
      {"18446744073709551615", "bad_quantity", "must be <= 1000000000, got 18446744073709551615"},
      {"0", "bad_quantity", "items[0].quantity must be > 0, got 0"},
      {"-1", "bad_quantity", "must be > 0"},
      {"2.0", "wrong_type", "items[0].quantity must be an integer"},
      {"1e2", "wrong_type", "items[0].quantity must be an integer"},
      {"\"2\"", "wrong_type", "items[0].quantity must be an integer"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const Outcome out = ParseOne(Order(c.input, "0.0001"));
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (c.code.empty()) {
      if (out.events) {
        EXPECT_EQ(out.Item(0, "quantity"), c.text);
      }
    } else {
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
}

TEST(EventParserValuesTest, LineAmountAndTotalFitDecimal18) {
  // 999999999999999999 units (the largest decimal(18,4)) = 999999999 x 1000000001 units.
  struct Case {
    std::string name, value, code, detail;
  };
  const std::vector<Case> cases = {
      {"line at the limit", Order("999999999", "100000.0001"), "", ""},
      {"line one unit past", Order("1000000000", "100000"), "amount_out_of_range", "items[0] amount"},
      {"largest price x largest quantity", Order("1000000000", "99999999999999"), "amount_out_of_range",
       "items[0] amount"},
      {"total at the limit", Order("999999999", "100000.0001", Line("1", "0")), "", ""},
      {"total one unit past", Order("999999999", "100000.0001", Line("1", "0.0001")), "amount_out_of_range",
       "total of items[0..1]"},
      {"second line past", Order("1", "1", Line("1000000000", "100000")), "amount_out_of_range",
       "items[1] amount"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(c.value);
    EXPECT_EQ(out.code, c.code) << out.detail;
    EXPECT_NE(out.detail.find(c.detail), std::string::npos) << out.detail;
  }
  const Outcome at_limit = ParseOne(Order("999999999", "100000.0001"));
  ASSERT_EQ(at_limit.code, "") << at_limit.detail;
  EXPECT_EQ(at_limit.Item(0, "unit_price"), "100000.0001");
  EXPECT_EQ(at_limit.Item(0, "quantity"), "999999999");
}

TEST(EventParserValuesTest, EventTimeLiesInTheYearsEveryReaderAccepts) {
  // A skew so large that only the range matters.
  const EventParserOptions far{.max_future_skew_us = int64_t{9'000'000'000'000'000'000}};
  struct Case {
    std::string time, code;
    int64_t micros;  // when accepted
  };
  const std::vector<Case> cases = {
      {"\"1969-12-31T23:59:59.999Z\"", "event_time_out_of_range", 0},
      {"\"1970-01-01T00:00:00Z\"", "", 0},
      {"\"1970-01-01T01:00:00+01:00\"", "", 0},
      {"\"1970-01-01T00:59:59.999999+01:00\"", "event_time_out_of_range", 0},
      {"\"9999-12-31T23:59:59.999999Z\"", "", 253402300799999999},
      {"\"9999-12-31T23:59:59.9999999Z\"", "", 253402300799999999},  // digits past 6 are cut
      {"\"9999-12-31T23:59:59-01:00\"", "event_time_out_of_range", 0},
      {"\"0000-01-01T00:00:00+01:00\"", "event_time_out_of_range", 0},
      {"\"0001-01-01T00:00:00Z\"", "event_time_out_of_range", 0},
      {"\"+10000-01-01T00:00:00Z\"", "bad_event_time", 0},
      {"\"10000-01-01T00:00:00Z\"", "bad_event_time", 0},
      {"\"-0001-01-01T00:00:00Z\"", "bad_event_time", 0},
      {"-1", "event_time_out_of_range", 0},
      {"-9223372036854775808", "event_time_out_of_range", 0},
      {"0", "", 0},
      {"253402300799999", "", 253402300799999000},
      {"253402300800000", "event_time_out_of_range", 0},
      {"18446744073709551615", "event_time_out_of_range", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.time);
    const Outcome out = ParseOne(Order("1", "1", "", c.time), far);
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (c.code.empty() && out.events) {
      EXPECT_EQ(out.EventTime(), c.micros);
    }
    if (!c.code.empty()) {
      EXPECT_NE(out.detail.find("event_time"), std::string::npos) << out.detail;
    }
  }
}

TEST(EventParserValuesTest, EventTimeAtMostMaxFutureSkewAheadOfTheRecord) {
  constexpr int64_t kTenMinutes = 600'000'000;
  const int64_t kafka = kIngestUs / 1000;
  struct Case {
    std::string name, time;
    std::optional<int64_t> kafka_ms;
    int64_t skew_us;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"at the limit", "\"2026-11-25T00:10:00Z\"", kafka, kTenMinutes, ""},
      {"1 us past", "\"2026-11-25T00:10:00.000001Z\"", kafka, kTenMinutes, "event_time_in_future"},
      {"epoch millis at the limit", "1795565400000", kafka, kTenMinutes, ""},
      {"epoch millis 1 ms past", "1795565400001", kafka, kTenMinutes, "event_time_in_future"},
      {"no Kafka timestamp: ingest time counts", "\"2026-11-25T00:10:00Z\"", std::nullopt, kTenMinutes, ""},
      {"no Kafka timestamp, 1 us past", "\"2026-11-25T00:10:00.000001Z\"", std::nullopt, kTenMinutes,
       "event_time_in_future"},
      {"negative Kafka timestamp is ignored", "\"2026-11-25T00:10:00Z\"", -1, kTenMinutes, ""},
      {"earlier Kafka timestamp counts", "\"2026-11-25T00:09:00Z\"", kafka - 60'000, kTenMinutes, ""},
      {"earlier Kafka timestamp, 1 us past", "\"2026-11-25T00:09:00.000001Z\"", kafka - 60'000, kTenMinutes,
       "event_time_in_future"},
      {"later Kafka timestamp: ingest time counts", "\"2026-11-25T00:10:00.000001Z\"", kafka + 60'000,
       kTenMinutes, "event_time_in_future"},
      {"own skew at the limit", "\"2026-11-25T00:00:01+00:00\"", kafka, 1'000'000, ""},
      {"own skew 1 us past", "\"2026-11-25T01:00:01.000001+01:00\"", kafka, 1'000'000, "event_time_in_future"},
      {"year 2099", "\"2099-01-01T00:00:00Z\"", kafka, kTenMinutes, "event_time_in_future"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(Order("1", "1", "", c.time), {.max_future_skew_us = c.skew_us}, c.kafka_ms);
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (!c.code.empty()) {
      EXPECT_NE(out.detail.find("the record's time 2026-11-2"), std::string::npos) << out.detail;
      EXPECT_NE(out.detail.find("max_future_skew"), std::string::npos) << out.detail;
    }
  }
}

TEST(EventParserValuesTest, DetailsQuoteValuesOnCharacterBoundaries) {
  std::string e16, e40;
  for (int i = 0; i < 16; ++i) e16 += "\xC3\xA9";  // é
  for (int i = 0; i < 40; ++i) e40 += "\xC3\xA9";
  const std::string emoji = "\xF0\x9F\x98\x80";
  auto with_status = [](const std::string& status) { return Order("1", "1", "", kTime, kPayment, status); };
  struct Case {
    std::string name, value, code, quoted;
  };
  const std::vector<Case> cases = {
      {"A + 16 x e-acute, whole", with_status("\"A" + e16 + "\""), "unknown_status", "'A" + e16 + "'"},
      {"A + 40 x e-acute, cut to 63 bytes", with_status("\"A" + e40 + "\""), "unknown_status",
       "'A" + e40.substr(0, 62) + "'"},
      {"40 x e-acute, cut to 64 bytes", with_status("\"" + e40 + "\""), "unknown_status",
       "'" + e40.substr(0, 64) + "'"},
      {"cut inside a 4-byte character", with_status("\"AB" + std::string(60, 'x') + emoji + "\""),
       "unknown_status", "'AB" + std::string(60, 'x') + "'"},
      {"event_time", Order("1", "1", "", "\"A" + e40 + "\""), "bad_event_time", "'A" + e40.substr(0, 62) + "'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(c.value);
    EXPECT_EQ(out.code, c.code) << out.detail;
    EXPECT_NE(out.detail.find(c.quoted), std::string::npos) << out.detail;
  }
}

TEST(EventParserValuesTest, WhatSimdjsonRejectsIsNotJson) {
  auto with_name = [](const std::string& name) { return Order("1", "1", "", kTime, kPayment, "\"PAID\"", name); };
  auto with_extra = [](const std::string& from, const std::string& to) {
    std::string s = Order("1", "1");
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  struct Case {
    std::string name, value, detail;
  };
  const std::vector<Case> cases = {
      {"invalid byte in a value", with_name("\"A\xFFn\""), "not valid UTF-8"},
      {"truncated character", with_name("\"A\xC3\""), "not valid UTF-8"},
      {"UTF-8 encoded surrogate", with_name("\"\xED\xA0\x80\""), "not valid UTF-8"},
      {"overlong NUL", with_name("\"\xC0\x80\""), "not valid UTF-8"},
      {"invalid byte in a key", with_extra("\"kept\"", "\"ke\xFFpt\""), "not valid UTF-8"},
      {"invalid byte in an unknown field", with_extra("\"in bronze\"", "\"in \xFE bronze\""), "not valid UTF-8"},
      {"lone high surrogate", with_name(R"("\ud800")"), "unpaired surrogate"},
      {"lone low surrogate", with_name(R"("\udc00")"), "unpaired surrogate"},
      {"reversed pair", with_name(R"("\udc00\ud800")"), "unpaired surrogate"},
      {"high surrogate then a letter", with_name(R"("\ud800\u0041")"), "unpaired surrogate"},
      {"lone surrogate in an unknown key", with_extra("\"kept\"", R"("\ud800")"), "unpaired surrogate"},
      {"integer beyond 64 bits in an unknown field", with_extra("\"in bronze\"", "123456789012345678901234567890"),
       "a number is out of range"},
      {"integer beyond 64 bits as quantity", Order("18446744073709551616", "1"), "a number is out of range"},
      {"integer below -2^63", with_extra("\"in bronze\"", "-9223372036854775809"), "a number is out of range"},
      {"double beyond its range", with_extra("\"in bronze\"", "1e400"), "a number is out of range"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(c.value);
    EXPECT_EQ(out.code, "not_json") << out.detail;
    EXPECT_NE(out.detail.find(c.detail), std::string::npos) << out.detail;
  }
  // A valid surrogate pair and an escaped NUL are valid UTF-8 and are kept.
  const Outcome kept = ParseOne(with_name(R"("\ud83d\ude00\u0000")"));
  ASSERT_EQ(kept.code, "") << kept.detail;
  EXPECT_EQ(std::static_pointer_cast<arrow::StringArray>(kept.events->GetColumnByName("customer_name"))->GetString(0),
            std::string("\xF0\x9F\x98\x80\0", 5));
}

/// A PAID event of version `version` (raw JSON; "" leaves schema_version out) whose one item
/// has quantity 2 and unit_price 1.5 (3.0000 gross). `event_extra`, `customer_extra` and
/// `item_extra` are raw ",key:value" pairs added to the event, its customer and its item.
std::string Versioned(const std::string& version, const std::string& event_extra = "",
                      const std::string& customer_extra = "", const std::string& item_extra = "",
                      const std::string& more_items = "") {
  return R"({"event_id":"e1","event_time":)" + std::string(kTime) + R"(,"order_id":"O-1","status":"PAID")" +
         event_extra + R"(,"customer":{"customer_id":"C-1")" + customer_extra +
         R"(},"items":[{"product_id":"P-1","category":"Toys","quantity":2,"unit_price":1.5)" + item_extra + "}" +
         more_items + "]" + (version.empty() ? "" : R"(,"schema_version":)" + version) + "}";
}

/// Column `name` of the accepted event, formatted ("null" for null).
std::string EventColumn(const Outcome& out, const char* name) {
  auto a = out.events->GetColumnByName(name);
  return a->IsNull(0) ? "null" : a->GetScalar(0).ValueOrDie()->ToString();
}

/// Field `name` of item `i` of the accepted event, formatted ("null" for null).
std::string ItemOrNull(const Outcome& out, int64_t i, const char* name) {
  auto items = std::static_pointer_cast<arrow::ListArray>(out.events->GetColumnByName("items"));
  const auto& item = static_cast<const arrow::StructArray&>(*items->values());
  return item.GetFieldByName(name)->IsNull(i) ? "null" : out.Item(i, name);
}

TEST(EventParserValuesTest, SchemaVersionSelectsTheContract) {
  struct Case {
    std::string version, code, text;  // text: the version read, or a part of the detail
  };
  const std::vector<Case> cases = {
      {"", "", "1"},
      {"null", "", "1"},
      {"1", "", "1"},
      {"2", "", "2"},
      {"0", "unsupported_schema_version", "schema_version 0 is not supported"},
      {"3", "unsupported_schema_version", "schema_version 3 is not supported"},
      {"-1", "unsupported_schema_version", "schema_version -1"},
      {"9223372036854775807", "unsupported_schema_version", "schema_version 9223372036854775807"},
      {"18446744073709551615", "unsupported_schema_version", "schema_version 18446744073709551615"},
      {"\"2\"", "wrong_type", "schema_version must be an integer, got string"},
      {"\"1\"", "wrong_type", "schema_version must be an integer, got string"},
      {"2.5", "wrong_type", "schema_version must be an integer, got a fraction"},
      {"2.0", "wrong_type", "got a fraction"},
      {"1e0", "wrong_type", "got a fraction"},
      {"true", "wrong_type", "got boolean"},
      {"[2]", "wrong_type", "got array"},
      {"{}", "wrong_type", "got object"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.version);
    const Outcome out = ParseOne(Versioned(c.version));
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (c.code.empty()) {
      if (out.events) {
        EXPECT_EQ(EventColumn(out, "schema_version"), c.text);
      }
    } else {
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
  // The version is judged before any other field: an unknown version is never guessed at.
  const Outcome first = ParseOne(R"({"status":"NOPE","schema_version":3})");
  EXPECT_EQ(first.code, "unsupported_schema_version") << first.detail;
}

TEST(EventParserValuesTest, Version2FieldsAreReadOnlyInVersion2) {
  const std::string event = R"(,"channel":"app")";
  const std::string customer = R"(,"loyalty_tier":"gold")";
  const std::string item = R"(,"sku":"SKU-1","discount":0.5)";
  struct Case {
    std::string name, value;
    std::string version, channel, tier, sku, discount;
  };
  const std::vector<Case> cases = {
      {"version 2 with every field", Versioned("2", event, customer, item), "2", "app", "gold", "SKU-1", "0.5000"},
      {"version 2 without them", Versioned("2"), "2", "null", "null", "null", "null"},
      {"version 2, nulls", Versioned("2", R"(,"channel":null)", R"(,"loyalty_tier":null)",
                                     R"(,"sku":null,"discount":null)"),
       "2", "null", "null", "null", "null"},
      {"version 1: unknown fields", Versioned("1", event, customer, item), "1", "null", "null", "null", "null"},
      {"no version: unknown fields", Versioned("", event, customer, item), "1", "null", "null", "null", "null"},
      // In version 1 the fields are not read at all, so values that break version 2 pass.
      {"version 1 with values version 2 refuses",
       Versioned("1", R"(,"channel":"tv")", R"(,"loyalty_tier":7)", R"(,"sku":[],"discount":-99.123456)"), "1",
       "null", "null", "null", "null"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(c.value);
    ASSERT_EQ(out.code, "") << out.detail;
    EXPECT_EQ(EventColumn(out, "schema_version"), c.version);
    EXPECT_EQ(EventColumn(out, "channel"), c.channel);
    EXPECT_EQ(EventColumn(out, "customer_loyalty_tier"), c.tier);
    EXPECT_EQ(ItemOrNull(out, 0, "sku"), c.sku);
    EXPECT_EQ(ItemOrNull(out, 0, "discount"), c.discount);
  }
}

TEST(EventParserValuesTest, Version2StringFields) {
  const std::vector<Expect> cases = {
      {Versioned("2", R"(,"channel":"web")"), "", ""},
      {Versioned("2", R"(,"channel":"app")"), "", ""},
      {Versioned("2", R"(,"channel":"store")"), "", ""},
      {Versioned("2", R"(,"channel":"WEB")"), "bad_channel", "channel 'WEB' is not one of web|app|store"},
      {Versioned("2", R"(,"channel":"tv")"), "bad_channel", "channel 'tv'"},
      {Versioned("2", R"(,"channel":"")"), "bad_channel", "channel ''"},
      {Versioned("2", R"(,"channel":" web")"), "bad_channel", "channel ' web'"},
      {Versioned("2", R"(,"channel":7)"), "wrong_type", "channel must be a string, got number"},
      {Versioned("2", R"(,"channel":["web"])"), "wrong_type", "channel must be a string, got array"},
      {Versioned("2", "", R"(,"loyalty_tier":"")"), "", ""},
      {Versioned("2", "", R"(,"loyalty_tier":1)"), "wrong_type", "customer.loyalty_tier must be a string"},
      {Versioned("2", "", R"(,"loyalty_tier":{})"), "wrong_type", "customer.loyalty_tier must be a string, got object"},
      {Versioned("2", "", "", R"(,"sku":"")"), "", ""},
      {Versioned("2", "", "", R"(,"sku":12345)"), "wrong_type", "items[0].sku must be a string, got number"},
      {Versioned("2", "", "", R"(,"sku":true)"), "wrong_type", "items[0].sku must be a string, got boolean"},
      {Versioned("2", "", "", "", R"(,{"product_id":"P-2","category":"Toys","quantity":1,"unit_price":1,"sku":0})"),
       "wrong_type", "items[1].sku"},
      // Where the check sits: after status, before customer (absent here).
      {R"({"event_id":"e1","event_time":)" + std::string(kTime) +
           R"(,"order_id":"O-1","status":"PAID","channel":"tv","schema_version":2})",
       "bad_channel", "channel 'tv'"},
      {R"({"event_id":"e1","event_time":)" + std::string(kTime) +
           R"(,"order_id":"O-1","status":"NOPE","channel":"tv","schema_version":2})",
       "unknown_status", "NOPE"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const Outcome out = ParseOne(c.input);
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (!c.code.empty()) {
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
  const Outcome kept = ParseOne(Versioned("2", R"(,"channel":"store")", R"(,"loyalty_tier":"")", R"(,"sku":"")"));
  ASSERT_EQ(kept.code, "") << kept.detail;
  EXPECT_EQ(EventColumn(kept, "channel"), "store");
  EXPECT_EQ(EventColumn(kept, "customer_loyalty_tier"), "");
  EXPECT_EQ(ItemOrNull(kept, 0, "sku"), "");
}

TEST(EventParserValuesTest, DiscountIsExactNonNegativeAndAtMostTheLine) {
  // The item is 2 x 1.5 = 3.0000 gross.
  const std::vector<Expect> cases = {
      {"0", "", "0.0000"},
      {"0.5", "", "0.5000"},
      {"1e-4", "", "0.0001"},
      {"-0.0", "", "0.0000"},
      {"2.9999", "", "2.9999"},
      {"3", "", "3.0000"},  // equal to the line: the line is worth 0
      {"3.0000", "", "3.0000"},
      {"3.0001", "discount_exceeds_line", "items[0].discount 3.0001 is more than the line's quantity x unit_price = 2 x 1.5"},
      {"4", "discount_exceeds_line", "is more than the line's"},
      {"99999999999999", "discount_exceeds_line", "is more than the line's"},
      {"-1", "negative_discount", "items[0].discount must be >= 0, got -1"},
      {"-0.0001", "negative_discount", "must be >= 0"},
      {"-99999999999999", "negative_discount", "must be >= 0"},
      {"0.00001", "bad_discount", "items[0].discount has more than 4 decimals"},
      {"1.23456", "bad_discount", "more than 4 decimals"},
      {"-1.23456", "bad_discount", "more than 4 decimals"},  // the money rule first, as for unit_price
      {"100000000000000", "bad_discount", "out of range"},
      {"-100000000000000", "bad_discount", "out of range"},
      {"18446744073709551615", "bad_discount", "out of range"},
      {"1e300", "bad_discount", "out of range"},
      {"900719925474.1", "bad_discount", "out of range"},
      {"\"0.5\"", "wrong_type", "items[0].discount must be a number, got string"},
      {"true", "wrong_type", "items[0].discount must be a number, got boolean"},
      {"{}", "wrong_type", "items[0].discount must be a number, got object"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const Outcome out = ParseOne(Versioned("2", "", "", R"(,"discount":)" + c.input));
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (c.code.empty()) {
      if (out.events) {
        EXPECT_EQ(ItemOrNull(out, 0, "discount"), c.text);
      }
    } else {
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
}

TEST(EventParserValuesTest, DiscountCountsInTheTotalNotInTheGrossLine) {
  // 999999999999999999 units (the largest decimal(18,4)) = 999999999 x 1000000001 units.
  const std::string at_limit = R"({"product_id":"P-2","category":"Toys","quantity":999999999,"unit_price":100000.0001)";
  const std::string one_unit = R"(,{"product_id":"P-3","category":"Toys","quantity":1,"unit_price":0.0001)";
  auto order = [](const std::string& version, const std::string& items) {
    return R"({"event_id":"e1","event_time":)" + std::string(kTime) +
           R"(,"order_id":"O-1","status":"PAID","customer":{"customer_id":"C-1"},"items":[)" + items +
           R"(],"schema_version":)" + version + "}";
  };
  struct Case {
    std::string name, value, code, detail;
  };
  const std::vector<Case> cases = {
      {"v1: total one unit past", order("1", at_limit + "}" + one_unit + "}"), "amount_out_of_range",
       "total of items[0..1]"},
      {"v1: a discount is not read", order("1", at_limit + R"(,"discount":1})" + one_unit + "}"),
       "amount_out_of_range", "total of items[0..1]"},
      {"v2: the discount brings the total back", order("2", at_limit + R"(,"discount":0.0001})" + one_unit + "}"),
       "", ""},
      {"v2: a discount on the second line too", order("2", at_limit + "}" + one_unit + R"(,"discount":0.0001})"),
       "", ""},
      // quantity x unit_price must fit decimal(18,4) whatever the discount.
      {"v2: gross one unit past, discount or not",
       order("2", R"({"product_id":"P-2","category":"Toys","quantity":1000000000,"unit_price":100000,"discount":1})"),
       "amount_out_of_range", "items[0] amount"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(c.value);
    EXPECT_EQ(out.code, c.code) << out.detail;
    EXPECT_NE(out.detail.find(c.detail), std::string::npos) << out.detail;
  }
}

TEST(EventParserValuesTest, Utf8PrefixNeverEndsInsideACharacter) {
  struct Case {
    std::string text;
    size_t max_bytes;
    std::string prefix;
  };
  const std::vector<Case> cases = {
      {"abc", 64, "abc"},
      {"abc", 2, "ab"},
      {"a\xC3\xA9", 2, "a"},
      {"a\xC3\xA9", 3, "a\xC3\xA9"},
      {"\xF0\x9F\x98\x80z", 3, ""},
      {"\xF0\x9F\x98\x80z", 4, "\xF0\x9F\x98\x80"},
      {"\xE2\x82\xAC\xE2\x82\xAC", 5, "\xE2\x82\xAC"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text + " / " + std::to_string(c.max_bytes));
    EXPECT_EQ(std::string(Utf8Prefix(c.text, c.max_bytes)), c.prefix);
    EXPECT_TRUE(IsValidUtf8(Utf8Prefix(c.text, c.max_bytes)));
  }
  for (const char* bad : {"\xFF", "\xC3", "\xED\xA0\x80", "\xC0\x80", "\xF4\x90\x80\x80", "a\x80"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(IsValidUtf8(bad));
  }
}

}  // namespace
}  // namespace medallion::format
