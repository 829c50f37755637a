#include "format/payment_parser.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/array.h>
#include <arrow/scalar.h>
#include <gtest/gtest.h>

#include "common/utf8.h"
#include "format/bronze_builder.h"
#include "format/schemas.h"

/// The payment event's contract (EVENTS.md, topic payments): every status, every quarantine
/// rule with the field its detail names, money and event time at their boundaries, and the
/// records simdjson rejects.
namespace medallion::format {
namespace {

/// 2026-11-25T00:00:00Z: the ingest time and (by default) the Kafka timestamp.
constexpr int64_t kIngestUs = 1795564800000000;
/// 2026-11-24T10:15:41.002Z, the event_time of the base payment.
constexpr int64_t kEventUs = 1795515341002000;

/// Marks a field to leave out of Payment().
constexpr const char* kAbsent = "<absent>";

/// A valid payment, its fields as raw JSON literals in the order of EVENTS.md.
const std::vector<std::pair<std::string, std::string>>& BaseFields() {
  static const std::vector<std::pair<std::string, std::string>> fields = {
      {"payment_id", "\"pay-1\""},  {"order_id", "\"ORD-1\""},
      {"event_time", "\"2026-11-24T10:15:41.002Z\""},
      {"status", "\"CAPTURED\""},   {"amount", "39.98"},
      {"currency", "\"USD\""},      {"method", "\"card\""},
      {"provider", "\"acme-pay\""}, {"schema_version", "1"},
  };
  return fields;
}

/// The base payment with `changes` applied: a field's raw literal replaced, kAbsent removing
/// it, a key the base lacks appended.
std::string Payment(const std::vector<std::pair<std::string, std::string>>& changes = {}) {
  auto fields = BaseFields();
  for (const auto& [key, literal] : changes) {
    bool found = false;
    for (auto& f : fields) {
      if (f.first == key) {
        f.second = literal;
        found = true;
      }
    }
    if (!found) fields.emplace_back(key, literal);
  }
  std::string out = "{";
  for (const auto& [key, literal] : fields) {
    if (literal == kAbsent) continue;
    if (out.size() > 1) out += ",";
    out += "\"" + key + "\":" + literal;
  }
  return out + "}";
}

/// A Bronze batch of `values` at offsets 0, 1, ... (std::nullopt is a null value, a Kafka
/// tombstone), each with Kafka timestamp `kafka_ms`.
std::shared_ptr<arrow::RecordBatch> Bronze(const std::vector<std::optional<std::string>>& values,
                                           std::optional<int64_t> kafka_ms = kIngestUs / 1000) {
  BronzeBuilder b("payments", kIngestUs);
  int64_t offset = 0;
  for (const auto& v : values) {
    const arrow::Status st = v ? b.Append(3, offset++, kafka_ms, "ORD-1", 5, v->data(), v->size())
                               : b.Append(3, offset++, kafka_ms, "ORD-1", 5, nullptr, 0);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return b.Finish().ValueOrDie();
}

/// What the parser made of one record: the quarantine code ("" when accepted) and detail,
/// or the accepted payment.
struct Outcome {
  std::string code;
  std::string detail;
  std::shared_ptr<arrow::RecordBatch> payments;

  /// Column `name` of the accepted payment, formatted ("null" when null).
  std::string Column(const char* name) const {
    auto a = payments->GetColumnByName(name);
    return a->IsNull(0) ? "null" : a->GetScalar(0).ValueOrDie()->ToString();
  }
  int64_t EventTime() const {
    return std::static_pointer_cast<arrow::TimestampArray>(payments->GetColumnByName("event_time"))->Value(0);
  }
};

Outcome ParseOne(const std::optional<std::string>& value, EventParserOptions options = {},
                 std::optional<int64_t> kafka_ms = kIngestUs / 1000) {
  PaymentParser parser(options);
  auto result = parser.Parse(*Bronze({value}, kafka_ms)).ValueOrDie();
  EXPECT_EQ(result.events->num_rows() + result.quarantine->num_rows(), 1);
  EXPECT_TRUE(result.events->schema()->Equals(*PaymentSchema()));
  EXPECT_TRUE(result.quarantine->schema()->Equals(*QuarantineSchema()));
  EXPECT_TRUE(result.events->ValidateFull().ok());
  EXPECT_TRUE(result.quarantine->ValidateFull().ok());
  Outcome out;
  if (result.quarantine->num_rows() == 1) {
    out.code =
        std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("error"))->GetString(0);
    out.detail =
        std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("detail"))->GetString(0);
    EXPECT_TRUE(IsValidUtf8(out.detail)) << out.detail;
    EXPECT_FALSE(out.detail.empty());
  } else {
    out.payments = result.events;
  }
  return out;
}

/// One case: a quarantine code and a part of its detail, or (code "") the accepted value.
struct Expect {
  std::string input;
  std::string code;
  std::string text;
};

TEST(PaymentParserTest, ParsesAPaymentOfEachStatus) {
  const std::vector<std::string> statuses = {"AUTHORIZED", "CAPTURED", "FAILED", "REFUNDED"};
  std::vector<std::optional<std::string>> values;
  for (const auto& s : statuses) values.push_back(Payment({{"status", "\"" + s + "\""}}));
  PaymentParser parser;
  auto result = parser.Parse(*Bronze(values)).ValueOrDie();
  ASSERT_EQ(result.quarantine->num_rows(), 0);
  ASSERT_EQ(result.events->num_rows(), 4);
  ASSERT_TRUE(result.events->schema()->Equals(*PaymentSchema()));
  ASSERT_TRUE(result.events->ValidateFull().ok());
  auto str = [&](const char* n) {
    return std::static_pointer_cast<arrow::StringArray>(result.events->GetColumnByName(n));
  };
  auto time = std::static_pointer_cast<arrow::TimestampArray>(result.events->GetColumnByName("event_time"));
  auto amount = std::static_pointer_cast<arrow::Decimal128Array>(result.events->GetColumnByName("amount"));
  auto partition = std::static_pointer_cast<arrow::Int32Array>(result.events->GetColumnByName("kafka_partition"));
  auto offset = std::static_pointer_cast<arrow::Int64Array>(result.events->GetColumnByName("kafka_offset"));
  auto version = std::static_pointer_cast<arrow::Int32Array>(result.events->GetColumnByName("schema_version"));
  for (int64_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(statuses[i]);
    EXPECT_EQ(str("payment_id")->GetString(i), "pay-1");
    EXPECT_EQ(str("order_id")->GetString(i), "ORD-1");
    EXPECT_EQ(time->Value(i), kEventUs);
    EXPECT_EQ(str("status")->GetString(i), statuses[i]);
    EXPECT_EQ(amount->FormatValue(i), "39.9800");
    EXPECT_EQ(str("currency")->GetString(i), "USD");
    EXPECT_EQ(str("method")->GetString(i), "card");
    EXPECT_EQ(str("provider")->GetString(i), "acme-pay");
    EXPECT_EQ(partition->Value(i), 3);
    EXPECT_EQ(offset->Value(i), i);
    EXPECT_EQ(version->Value(i), 1);
  }
}

TEST(PaymentParserTest, OptionalFieldsMayBeNullOrAbsentAndUnknownFieldsAreIgnored) {
  struct Case {
    std::string name, value, method, provider;
  };
  const std::vector<Case> cases = {
      {"both null", Payment({{"method", "null"}, {"provider", "null"}}), "null", "null"},
      {"both absent", Payment({{"method", kAbsent}, {"provider", kAbsent}}), "null", "null"},
      {"method absent", Payment({{"method", kAbsent}}), "null", "acme-pay"},
      {"provider null", Payment({{"provider", "null"}}), "card", "null"},
      {"empty strings are kept", Payment({{"method", "\"\""}, {"provider", "\"\""}}), "", ""},
      {"unknown fields", Payment({{"extra", R"({"deep":[1,{"x":null}]})"}, {"note", "\"\\u00e9\""}}), "card",
       "acme-pay"},
      {"schema_version absent", Payment({{"schema_version", kAbsent}}), "card", "acme-pay"},
      {"schema_version null", Payment({{"schema_version", "null"}}), "card", "acme-pay"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(c.value);
    ASSERT_EQ(out.code, "") << out.detail;
    EXPECT_EQ(out.Column("method"), c.method);
    EXPECT_EQ(out.Column("provider"), c.provider);
    EXPECT_EQ(out.Column("schema_version"), "1");
  }
}

TEST(PaymentParserTest, AcceptsEventTimeFormsOfOrders) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"\"2026-11-24T10:15:41.002Z\"", kEventUs},
      {"\"2026-11-24T11:15:41.002+01:00\"", kEventUs},
      {"\"2026-11-24T05:45:41.002-04:30\"", kEventUs},
      {"1795515341002", kEventUs},  // epoch millis
      {"0", 0},
      {"\"2026-11-24T10:15:41Z\"", kEventUs - 2000},
  };
  for (const auto& [time, micros] : cases) {
    SCOPED_TRACE(time);
    const Outcome out = ParseOne(Payment({{"event_time", time}}));
    ASSERT_EQ(out.code, "") << out.detail;
    EXPECT_EQ(out.EventTime(), micros);
  }
}

TEST(PaymentParserTest, QuarantinesEveryRule) {
  const std::vector<Expect> cases = {
      // not_json / not_object
      {"", "not_json", "value is empty"},
      {"{\"payment_id\":", "not_json", "not valid JSON"},
      {Payment() + "x", "not_json", "not valid JSON"},
      {"[" + Payment() + "]", "not_object", "top level must be an object, got array"},
      {"\"pay-1\"", "not_object", "got string"},
      {"null", "not_object", "got null"},
      // missing_field: absent, null or empty
      {Payment({{"payment_id", kAbsent}}), "missing_field", "payment_id is missing"},
      {Payment({{"payment_id", "null"}}), "missing_field", "payment_id is missing"},
      {Payment({{"payment_id", "\"\""}}), "missing_field", "payment_id is empty"},
      {Payment({{"order_id", kAbsent}}), "missing_field", "order_id is missing"},
      {Payment({{"order_id", "\"\""}}), "missing_field", "order_id is empty"},
      {Payment({{"event_time", kAbsent}}), "missing_field", "event_time is missing"},
      {Payment({{"event_time", "null"}}), "missing_field", "event_time is missing"},
      {Payment({{"status", kAbsent}}), "missing_field", "status is missing"},
      {Payment({{"status", "\"\""}}), "missing_field", "status is empty"},
      {Payment({{"amount", kAbsent}}), "missing_field", "amount is missing"},
      {Payment({{"amount", "null"}}), "missing_field", "amount is missing"},
      {Payment({{"currency", kAbsent}}), "missing_field", "currency is missing"},
      {Payment({{"currency", "null"}}), "missing_field", "currency is missing"},
      {Payment({{"currency", "\"\""}}), "missing_field", "currency is empty"},
      // wrong_type
      {Payment({{"payment_id", "7"}}), "wrong_type", "payment_id must be a string, got number"},
      {Payment({{"order_id", "{}"}}), "wrong_type", "order_id must be a string, got object"},
      {Payment({{"event_time", "true"}}), "wrong_type", "event_time must be an ISO-8601 string or epoch millis"},
      {Payment({{"event_time", "1.5"}}), "wrong_type", "event_time"},
      {Payment({{"status", "[\"CAPTURED\"]"}}), "wrong_type", "status must be a string, got array"},
      {Payment({{"amount", "\"39.98\""}}), "wrong_type", "amount must be a number, got string"},
      {Payment({{"amount", "true"}}), "wrong_type", "amount must be a number, got boolean"},
      {Payment({{"currency", "840"}}), "wrong_type", "currency must be a string, got number"},
      {Payment({{"method", "1"}}), "wrong_type", "method must be a string, got number"},
      {Payment({{"provider", "false"}}), "wrong_type", "provider must be a string, got boolean"},
      {Payment({{"schema_version", "\"1\""}}), "wrong_type", "schema_version must be an integer, got string"},
      // event time
      {Payment({{"event_time", "\"2026-11-24T25:15:41Z\""}}), "bad_event_time", "event_time '2026-11-24T25:15:41Z'"},
      {Payment({{"event_time", "\"2026-11-24T10:15:41\""}}), "bad_event_time", "zone"},
      {Payment({{"event_time", "\"1969-12-31T23:59:59Z\""}}), "event_time_out_of_range", "event_time"},
      {Payment({{"event_time", "-1"}}), "event_time_out_of_range", "-1 (epoch millis)"},
      {Payment({{"event_time", "\"2026-11-25T00:10:00.001Z\""}}), "event_time_in_future", "max_future_skew"},
      // status: the payment statuses, exactly
      {Payment({{"status", "\"PAID\""}}), "unknown_status",
       "status 'PAID' is not one of AUTHORIZED|CAPTURED|FAILED|REFUNDED"},
      {Payment({{"status", "\"captured\""}}), "unknown_status", "'captured'"},
      {Payment({{"status", "\"CAPTURED \""}}), "unknown_status", "'CAPTURED '"},
      // amount
      {Payment({{"amount", "-0.01"}}), "bad_payment_amount", "amount must be >= 0, got -0.01"},
      {Payment({{"amount", "39.98001"}}), "bad_payment_amount", "amount has more than 4 decimals"},
      {Payment({{"amount", "1e300"}}), "bad_payment_amount", "amount is out of range for decimal(18,4)"},
      // schema_version
      {Payment({{"schema_version", "2"}}), "unsupported_schema_version",
       "schema_version 2 is not supported (this engine reads version 1)"},
  };
  std::vector<std::optional<std::string>> values;
  for (const auto& c : cases) values.push_back(c.input);
  values.push_back(Payment());
  PaymentParser parser;
  auto result = parser.Parse(*Bronze(values)).ValueOrDie();
  auto accepted = std::static_pointer_cast<arrow::Int64Array>(result.events->GetColumnByName("kafka_offset"));
  ASSERT_EQ(result.events->num_rows(), 1) << "first accepted: " << values[accepted->Value(0)].value();
  ASSERT_EQ(result.quarantine->num_rows(), static_cast<int64_t>(cases.size()));
  EXPECT_EQ(accepted->Value(0), static_cast<int64_t>(cases.size()));
  auto column = [&](const char* n) { return result.quarantine->GetColumnByName(n); };
  auto topic = std::static_pointer_cast<arrow::StringArray>(column("topic"));
  auto partition = std::static_pointer_cast<arrow::Int32Array>(column("partition"));
  auto offset = std::static_pointer_cast<arrow::Int64Array>(column("offset"));
  auto value = std::static_pointer_cast<arrow::BinaryArray>(column("value"));
  auto error = std::static_pointer_cast<arrow::StringArray>(column("error"));
  auto detail = std::static_pointer_cast<arrow::StringArray>(column("detail"));
  auto ingest = std::static_pointer_cast<arrow::TimestampArray>(column("ingest_time"));
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].input);
    EXPECT_EQ(topic->GetString(i), "payments");
    EXPECT_EQ(partition->Value(i), 3);
    EXPECT_EQ(offset->Value(i), static_cast<int64_t>(i));
    EXPECT_EQ(value->GetString(i), cases[i].input);
    EXPECT_EQ(error->GetString(i), cases[i].code) << detail->GetString(i);
    EXPECT_NE(detail->GetString(i).find(cases[i].text), std::string::npos) << detail->GetString(i);
    EXPECT_EQ(ingest->Value(i), kIngestUs);
  }
}

TEST(PaymentParserTest, AmountIsExactOrRefused) {
  const std::vector<Expect> cases = {
      {"0", "", "0.0000"},
      {"0.0", "", "0.0000"},
      {"-0", "", "0.0000"},
      {"-0.0", "", "0.0000"},
      {"39.98", "", "39.9800"},
      {"0.0001", "", "0.0001"},
      {"1234.5678", "", "1234.5678"},
      {"0.00015", "bad_payment_amount", "more than 4 decimals, got 0.00015"},
      {"1.23456", "bad_payment_amount", "more than 4 decimals"},
      {"1e-4", "", "0.0001"},
      {"1.5e3", "", "1500.0000"},
      {"1E2", "", "100.0000"},
      {"2.5E-2", "", "0.0250"},
      {"1e-5", "bad_payment_amount", "more than 4 decimals"},
      {"1e-400", "", "0.0000"},
      {"99999999999999", "", "99999999999999.0000"},
      {"100000000000000", "bad_payment_amount", "out of range"},
      {"900719925474.0992", "", "900719925474.0992"},  // 2^53 units
      {"900719925474.1", "bad_payment_amount", "out of range"},
      {"99999999999999.9999", "bad_payment_amount", "out of range"},
      {"9223372036854775807", "bad_payment_amount", "out of range"},
      {"18446744073709551615", "bad_payment_amount", "out of range"},
      {"1e300", "bad_payment_amount", "out of range"},
      {"-1", "bad_payment_amount", "amount must be >= 0, got -1"},
      {"-0.0001", "bad_payment_amount", "must be >= 0"},
      {"-1.23456", "bad_payment_amount", "more than 4 decimals"},
      {"-1e300", "bad_payment_amount", "out of range"},
      {"\"1\"", "wrong_type", "amount must be a number, got string"},
      {"[1]", "wrong_type", "got array"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const Outcome out = ParseOne(Payment({{"amount", c.input}}));
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (c.code.empty()) {
      if (out.payments) {
        EXPECT_EQ(out.Column("amount"), c.text);
      }
    } else {
      EXPECT_EQ(out.detail.rfind("amount ", 0), 0u) << out.detail;  // names the field first
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
}

TEST(PaymentParserTest, EventTimeLiesInTheReadableYearsAndAtMostMaxFutureSkewAhead) {
  constexpr int64_t kTenMinutes = 600'000'000;
  const int64_t kafka = kIngestUs / 1000;
  struct Case {
    std::string name, time;
    std::optional<int64_t> kafka_ms;
    int64_t skew_us;
    std::string code;
  };
  const int64_t far = int64_t{9'000'000'000'000'000'000};
  const std::vector<Case> cases = {
      {"epoch start", "\"1970-01-01T00:00:00Z\"", kafka, far, ""},
      {"before the epoch", "\"1969-12-31T23:59:59.999Z\"", kafka, far, "event_time_out_of_range"},
      {"last instant", "\"9999-12-31T23:59:59.999999Z\"", kafka, far, ""},
      {"year 0", "\"0000-01-01T00:00:00+01:00\"", kafka, far, "event_time_out_of_range"},
      {"millis max", "253402300799999", kafka, far, ""},
      {"millis beyond", "253402300800000", kafka, far, "event_time_out_of_range"},
      {"millis beyond int64", "18446744073709551615", kafka, far, "event_time_out_of_range"},
      {"not a date", "\"2026-02-30T00:00:00Z\"", kafka, far, "bad_event_time"},
      {"at the limit", "\"2026-11-25T00:10:00Z\"", kafka, kTenMinutes, ""},
      {"1 us past", "\"2026-11-25T00:10:00.000001Z\"", kafka, kTenMinutes, "event_time_in_future"},
      {"epoch millis 1 ms past", "1795565400001", kafka, kTenMinutes, "event_time_in_future"},
      {"no Kafka timestamp: ingest time counts", "\"2026-11-25T00:10:00Z\"", std::nullopt, kTenMinutes, ""},
      {"earlier Kafka timestamp, 1 us past", "\"2026-11-25T00:09:00.000001Z\"", kafka - 60'000, kTenMinutes,
       "event_time_in_future"},
      {"own skew 1 us past", "\"2026-11-25T00:00:01.000001Z\"", kafka, 1'000'000, "event_time_in_future"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Outcome out = ParseOne(Payment({{"event_time", c.time}}), {.max_future_skew_us = c.skew_us}, c.kafka_ms);
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (!c.code.empty()) {
      EXPECT_EQ(out.detail.rfind("event_time ", 0), 0u) << out.detail;
    }
  }
}

TEST(PaymentParserTest, SchemaVersionIsJudgedFirst) {
  const std::vector<Expect> cases = {
      {"1", "", ""},
      {"null", "", ""},
      {"2", "unsupported_schema_version", "schema_version 2 is not supported"},
      {"0", "unsupported_schema_version", "schema_version 0"},
      {"-1", "unsupported_schema_version", "schema_version -1"},
      {"18446744073709551615", "unsupported_schema_version", "schema_version 18446744073709551615"},
      {"1.0", "wrong_type", "schema_version must be an integer, got a fraction"},
      {"1e0", "wrong_type", "got a fraction"},
      {"\"1\"", "wrong_type", "got string"},
      {"true", "wrong_type", "got boolean"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const Outcome out = ParseOne(Payment({{"schema_version", c.input}}));
    EXPECT_EQ(out.code, c.code) << out.detail;
    if (!c.code.empty()) {
      EXPECT_NE(out.detail.find(c.text), std::string::npos) << out.detail;
    }
  }
  // Before any other field: a payment with every other field wrong is judged by its version.
  const Outcome first = ParseOne(R"({"status":"NOPE","amount":-1,"schema_version":2})");
  EXPECT_EQ(first.code, "unsupported_schema_version") << first.detail;
  const Outcome wrong = ParseOne(R"({"payment_id":7,"schema_version":"x"})");
  EXPECT_EQ(wrong.code, "wrong_type") << wrong.detail;
  EXPECT_NE(wrong.detail.find("schema_version"), std::string::npos) << wrong.detail;
}

TEST(PaymentParserTest, TheFirstOccurrenceOfARepeatedKeyCounts) {
  // As in the order parser (and simdjson's at_key): later duplicates are ignored.
  std::string p = Payment();
  p.pop_back();
  const Outcome kept = ParseOne(p + R"(,"status":"BOGUS","amount":-1,"payment_id":""})");
  ASSERT_EQ(kept.code, "") << kept.detail;
  EXPECT_EQ(kept.Column("status"), "CAPTURED");
  EXPECT_EQ(kept.Column("amount"), "39.9800");
  EXPECT_EQ(kept.Column("payment_id"), "pay-1");
  std::string q = Payment({{"status", "\"BOGUS\""}});
  q.pop_back();
  const Outcome first_bad = ParseOne(q + R"(,"status":"CAPTURED"})");
  EXPECT_EQ(first_bad.code, "unknown_status") << first_bad.detail;
  // A null first occurrence is absent, and the later value is not read instead.
  const Outcome null_first = ParseOne(R"({"currency":null,)" + Payment().substr(1));
  EXPECT_EQ(null_first.code, "missing_field") << null_first.detail;
  EXPECT_NE(null_first.detail.find("currency"), std::string::npos) << null_first.detail;
}

TEST(PaymentParserTest, WhatSimdjsonRejectsIsNotJson) {
  struct Case {
    std::string name;
    std::optional<std::string> value;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"empty value", std::string(), "value is empty"},
      {"null value (tombstone)", std::nullopt, "value is empty"},
      {"invalid byte in a field", Payment({{"provider", "\"acme\xFF\""}}), "not valid UTF-8"},
      {"invalid byte in an unknown field", Payment({{"extra", "\"\xC3\x28\""}}), "not valid UTF-8"},
      {"overlong encoding", Payment({{"payment_id", "\"\xC0\xAF\""}}), "not valid UTF-8"},
      {"truncated character", Payment({{"order_id", "\"O\xE2\x82\""}}), "not valid UTF-8"},
      {"Latin-1 byte", Payment({{"currency", "\"\xA3\""}}), "not valid UTF-8"},
      {"lone surrogate escape", Payment({{"method", R"("\ud800")"}}), "unpaired surrogate"},
      {"integer beyond 64 bits", Payment({{"amount", "18446744073709551616"}}), "number is out of range"},
      {"truncated", Payment().substr(0, 30), "not valid JSON"},
      {"trailing bytes", Payment() + "{}", "not valid JSON"},
      {"trailing comma", Payment().substr(0, Payment().size() - 1) + ",}", "not valid JSON"},
      {"single quotes", "{'payment_id':'p'}", "not valid JSON"},
      {"NaN", Payment({{"amount", "NaN"}}), "not valid JSON"},
      {"only whitespace", "  \n", "not valid JSON"},
  };
  std::vector<std::optional<std::string>> values;
  for (const auto& c : cases) values.push_back(c.value);
  PaymentParser parser;
  auto result = parser.Parse(*Bronze(values)).ValueOrDie();
  ASSERT_EQ(result.events->num_rows(), 0);
  ASSERT_EQ(result.quarantine->num_rows(), static_cast<int64_t>(cases.size()));
  ASSERT_TRUE(result.quarantine->ValidateFull().ok());
  auto error = std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("error"));
  auto detail = std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("detail"));
  auto value = std::static_pointer_cast<arrow::BinaryArray>(result.quarantine->GetColumnByName("value"));
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    EXPECT_EQ(error->GetString(i), "not_json") << detail->GetString(i);
    EXPECT_NE(detail->GetString(i).find(cases[i].detail), std::string::npos) << detail->GetString(i);
    // The value is kept unchanged, a tombstone as null.
    ASSERT_EQ(value->IsNull(i), !cases[i].value.has_value());
    if (cases[i].value) {
      EXPECT_EQ(value->GetString(i), *cases[i].value);
    }
  }
}

TEST(PaymentParserTest, DetailsQuoteValuesOnCharacterBoundaries) {
  std::string e40;
  for (int i = 0; i < 40; ++i) e40 += "\xC3\xA9";  // é
  const Outcome status = ParseOne(Payment({{"status", "\"A" + e40 + "\""}}));
  EXPECT_EQ(status.code, "unknown_status");
  EXPECT_NE(status.detail.find("'A" + e40.substr(0, 62) + "'"), std::string::npos) << status.detail;
  const Outcome time = ParseOne(Payment({{"event_time", "\"" + e40 + "\""}}));
  EXPECT_EQ(time.code, "bad_event_time");
  EXPECT_NE(time.detail.find("'" + e40.substr(0, 64) + "'"), std::string::npos) << time.detail;
}

TEST(PaymentParserTest, EveryRowLandsOnceInInputOrder) {
  std::vector<std::optional<std::string>> values;
  for (int i = 0; i < 1000; ++i) {
    if (i % 7 == 0) {
      values.push_back(std::string("{oops"));
    } else if (i % 11 == 0) {
      values.push_back(std::nullopt);
    } else {
      values.push_back(Payment({{"payment_id", "\"pay-" + std::to_string(i) + "\""}}));
    }
  }
  PaymentParser parser;
  for (int round = 0; round < 2; ++round) {  // a reused parser gives the same answer
    SCOPED_TRACE(round);
    auto result = parser.Parse(*Bronze(values)).ValueOrDie();
    EXPECT_EQ(result.events->num_rows() + result.quarantine->num_rows(), 1000);
    EXPECT_EQ(result.quarantine->num_rows(), 143 + 78);
    EXPECT_TRUE(result.events->ValidateFull().ok());
    EXPECT_TRUE(result.quarantine->ValidateFull().ok());
    auto ids = std::static_pointer_cast<arrow::StringArray>(result.events->GetColumnByName("payment_id"));
    auto ev_off = std::static_pointer_cast<arrow::Int64Array>(result.events->GetColumnByName("kafka_offset"));
    auto q_off = std::static_pointer_cast<arrow::Int64Array>(result.quarantine->GetColumnByName("offset"));
    std::vector<int> seen(1000, 0);
    for (int64_t i = 0; i < ev_off->length(); ++i) {
      ++seen[ev_off->Value(i)];
      if (i > 0) {
        EXPECT_LT(ev_off->Value(i - 1), ev_off->Value(i));
      }
      EXPECT_EQ(ids->GetString(i), "pay-" + std::to_string(ev_off->Value(i)));
    }
    for (int64_t i = 0; i < q_off->length(); ++i) {
      ++seen[q_off->Value(i)];
      if (i > 0) {
        EXPECT_LT(q_off->Value(i - 1), q_off->Value(i));
      }
    }
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], 1) << "offset " << i;
  }
}

TEST(PaymentParserTest, EmptyBatchGivesEmptyValidTables) {
  PaymentParser parser;
  auto result = parser.Parse(*Bronze({})).ValueOrDie();
  EXPECT_EQ(result.events->num_rows(), 0);
  EXPECT_EQ(result.quarantine->num_rows(), 0);
  EXPECT_TRUE(result.events->schema()->Equals(*PaymentSchema()));
  EXPECT_TRUE(result.events->ValidateFull().ok());
  EXPECT_TRUE(result.quarantine->ValidateFull().ok());
}

TEST(PaymentParserTest, RejectsABatchThatIsNotBronze) {
  PaymentParser parser;
  auto result = parser.Parse(*Bronze({Payment()})->SelectColumns({0, 1, 2, 4, 5, 6}).ValueOrDie());
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsInvalid());
  EXPECT_NE(result.status().message().find("PaymentParser: input batch is not a Bronze batch"), std::string::npos)
      << result.status().ToString();
}

}  // namespace
}  // namespace medallion::format
