#include "format/event_parser.h"

#include <limits>
#include <string>
#include <vector>

#include <arrow/array.h>
#include <gtest/gtest.h>

#include "format/bronze_builder.h"
#include "format/schemas.h"

namespace medallion::format {
namespace {

constexpr const char* kValid =
    R"({"event_id":"e1","event_type":"order_status_changed","event_time":"2026-11-24T10:15:30.123Z",)"
    R"("order_id":"ORD-1","status":"PAID","customer":{"customer_id":"C-1","name":"Ann","email":"a@x",)"
    R"("country":"DE","segment":"consumer"},"items":[{"product_id":"P-1","product_name":"Pen",)"
    R"("category":"Office","quantity":2,"unit_price":19.99},{"product_id":"P-2","category":"Toys",)"
    R"("quantity":1,"unit_price":5}],"payment":{"method":"card","currency":"USD","amount":44.98},)"
    R"("schema_version":1,"extra":{"kept":"in bronze"}})";

/// 2026-11-25T00:00:00Z: the ingest time and Kafka timestamp of the records, after every
/// event time of kValid.
constexpr int64_t kIngestUs = 1795564800000000;

std::shared_ptr<arrow::RecordBatch> Bronze(const std::vector<std::string>& values) {
  BronzeBuilder b("orders", kIngestUs);
  int64_t offset = 0;
  for (const auto& v : values) {
    EXPECT_TRUE(b.Append(0, offset++, kIngestUs / 1000, "k", 1, v.data(), v.size()).ok());
  }
  return b.Finish().ValueOrDie();
}

/// Replaces the first occurrence of `from` in the valid event.
std::string Valid(const std::string& from = "", const std::string& to = "") {
  std::string s = kValid;
  if (!from.empty()) {
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    s.replace(pos, from.size(), to);
  }
  return s;
}

// A Kafka timestamp is whatever the producer set: one whose microseconds overflow 64 bits is
// stored as null (as a record without one), never wrapped round; the row is kept.
TEST(BronzeBuilderTest, KafkaTimestampsBeyondMicrosecondsAreNull) {
  BronzeBuilder b("orders", kIngestUs);
  const int64_t limit = std::numeric_limits<int64_t>::max() / 1000;
  for (int64_t ms : {limit, limit + 1, -limit, -limit - 1, std::numeric_limits<int64_t>::min()}) {
    ASSERT_TRUE(b.Append(0, 0, ms, nullptr, 0, "v", 1).ok());
  }
  auto batch = b.Finish().ValueOrDie();
  ASSERT_EQ(batch->num_rows(), 5);
  auto ts = std::static_pointer_cast<arrow::TimestampArray>(batch->column(3));
  EXPECT_EQ(ts->Value(0), limit * 1000);
  EXPECT_TRUE(ts->IsNull(1));
  EXPECT_EQ(ts->Value(2), -limit * 1000);
  EXPECT_TRUE(ts->IsNull(3));
  EXPECT_TRUE(ts->IsNull(4));
}

TEST(EventParserTest, ParsesValidEvent) {
  EventParser parser;
  auto result = parser.Parse(*Bronze({kValid})).ValueOrDie();
  ASSERT_EQ(result.quarantine->num_rows(), 0);
  ASSERT_EQ(result.events->num_rows(), 1);
  ASSERT_TRUE(result.events->schema()->Equals(*EventSchema()));
  auto col = [&](const char* n) { return result.events->GetColumnByName(n); };
  EXPECT_EQ(std::static_pointer_cast<arrow::StringArray>(col("event_id"))->GetString(0), "e1");
  EXPECT_EQ(std::static_pointer_cast<arrow::TimestampArray>(col("event_time"))->Value(0),
            1795515330123000);
  EXPECT_EQ(std::static_pointer_cast<arrow::StringArray>(col("customer_country"))->GetString(0), "DE");
  auto items = std::static_pointer_cast<arrow::ListArray>(col("items"));
  EXPECT_EQ(items->value_length(0), 2);
  auto amount = std::static_pointer_cast<arrow::Decimal128Array>(col("payment_amount"));
  EXPECT_EQ(amount->FormatValue(0), "44.9800");
  const auto& item = static_cast<const arrow::StructArray&>(*items->values());
  auto price = std::static_pointer_cast<arrow::Decimal128Array>(item.GetFieldByName("unit_price"));
  EXPECT_EQ(price->FormatValue(0), "19.9900");
  EXPECT_EQ(price->FormatValue(1), "5.0000");
  EXPECT_TRUE(item.GetFieldByName("product_name")->IsNull(1));
}

TEST(EventParserTest, AcceptsOffsetsAndEpochMillis) {
  EventParser parser;
  auto result = parser
                    .Parse(*Bronze({Valid("\"2026-11-24T10:15:30.123Z\"", "\"2026-11-24T11:15:30.123+01:00\""),
                                    Valid("\"2026-11-24T10:15:30.123Z\"", "1795515330123")}))
                    .ValueOrDie();
  ASSERT_EQ(result.quarantine->num_rows(), 0);
  auto t = std::static_pointer_cast<arrow::TimestampArray>(result.events->GetColumnByName("event_time"));
  EXPECT_EQ(t->Value(0), 1795515330123000);
  EXPECT_EQ(t->Value(1), 1795515330123000);
}

TEST(EventParserTest, QuarantinesEveryReason) {
  struct Case {
    std::string value;
    std::string code;
    std::string detail_part;
  };
  const std::vector<Case> cases = {
      {"", "not_json", "empty"},
      {"{\"event_id\":", "not_json", "JSON"},
      {Valid() + "garbage", "not_json", "JSON"},
      {"[1,2]", "not_object", "array"},
      {"42", "not_object", "number"},
      {Valid("\"event_id\":\"e1\",", ""), "missing_field", "event_id"},
      {Valid("\"event_id\":\"e1\"", "\"event_id\":\"\""), "missing_field", "event_id is empty"},
      {Valid("\"order_id\":\"ORD-1\"", "\"order_id\":null"), "missing_field", "order_id"},
      {Valid("\"customer_id\":\"C-1\",", ""), "missing_field", "customer.customer_id"},
      {Valid("\"order_id\":\"ORD-1\"", "\"order_id\":7"), "wrong_type", "order_id must be a string"},
      {Valid("\"customer\":{", "\"customer\":[],\"x\":{"), "wrong_type", "customer must be an object"},
      {Valid("\"quantity\":2", "\"quantity\":2.5"), "wrong_type", "items[0].quantity"},
      {Valid("\"unit_price\":19.99", "\"unit_price\":\"19.99\""), "wrong_type", "items[0].unit_price"},
      {Valid("\"event_time\":\"2026-11-24T10:15:30.123Z\"", "\"event_time\":true"), "wrong_type", "event_time"},
      {Valid("\"items\":[", "\"items\":[],\"old\":["), "empty_items", "items"},
      {Valid("2026-11-24T10:15:30.123Z", "2026-11-24 10:15"), "bad_event_time", "event_time"},
      {Valid("2026-11-24T10:15:30.123Z", "2026-11-24T10:15:30"), "bad_event_time", "zone"},
      {Valid("\"PAID\"", "\"PAYED\""), "unknown_status", "PAYED"},
      {Valid("\"quantity\":2", "\"quantity\":0"), "bad_quantity", "items[0].quantity must be > 0"},
      {Valid("\"quantity\":1", "\"quantity\":-3"), "bad_quantity", "items[1].quantity"},
      {Valid("\"unit_price\":19.99", "\"unit_price\":-1"), "bad_unit_price", "items[0].unit_price"},
      {Valid("\"unit_price\":19.99", "\"unit_price\":1.000001"), "bad_unit_price", "decimals"},
  };
  std::vector<std::string> values;
  for (const auto& c : cases) values.push_back(c.value);
  values.push_back(kValid);
  EventParser parser;
  auto result = parser.Parse(*Bronze(values)).ValueOrDie();
  auto parsed_offsets =
      std::static_pointer_cast<arrow::Int64Array>(result.events->GetColumnByName("kafka_offset"));
  ASSERT_EQ(result.events->num_rows(), 1) << "first accepted offset " << parsed_offsets->Value(0);
  ASSERT_EQ(result.quarantine->num_rows(), static_cast<int64_t>(cases.size()));
  auto error = std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("error"));
  auto detail = std::static_pointer_cast<arrow::StringArray>(result.quarantine->GetColumnByName("detail"));
  auto offset = std::static_pointer_cast<arrow::Int64Array>(result.quarantine->GetColumnByName("offset"));
  auto value = std::static_pointer_cast<arrow::BinaryArray>(result.quarantine->GetColumnByName("value"));
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].value);
    EXPECT_EQ(offset->Value(i), static_cast<int64_t>(i));
    EXPECT_EQ(error->GetString(i), cases[i].code) << detail->GetString(i);
    EXPECT_NE(detail->GetString(i).find(cases[i].detail_part), std::string::npos) << detail->GetString(i);
    EXPECT_EQ(value->GetString(i), cases[i].value);
  }
}

TEST(EventParserTest, EveryRowLandsOnce) {
  std::vector<std::string> values;
  for (int i = 0; i < 1000; ++i) values.push_back(i % 7 == 0 ? std::string("{oops") : Valid());
  EventParser parser;
  for (int round = 0; round < 2; ++round) {  // reused parser gives the same answer
    auto result = parser.Parse(*Bronze(values)).ValueOrDie();
    EXPECT_EQ(result.events->num_rows() + result.quarantine->num_rows(), 1000);
    EXPECT_EQ(result.quarantine->num_rows(), 143);
    EXPECT_TRUE(result.events->ValidateFull().ok());
    EXPECT_TRUE(result.quarantine->ValidateFull().ok());
  }
}

TEST(EventParserTest, EmptyBatchGivesEmptyValidTables) {
  EventParser parser;
  auto result = parser.Parse(*Bronze({})).ValueOrDie();
  EXPECT_EQ(result.events->num_rows(), 0);
  EXPECT_EQ(result.quarantine->num_rows(), 0);
  EXPECT_TRUE(result.events->ValidateFull().ok());
}

}  // namespace
}  // namespace medallion::format
