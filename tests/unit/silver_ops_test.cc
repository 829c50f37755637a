// Unit tests of the Silver operators: SelectByStatus, SplitByTime, Deduplicator,
// FlattenToOrderLines.
// Events are made by the parser from JSON, so the tests read like the data contract.
#include <cctype>
#include <string>
#include <vector>

#include <arrow/array.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>

#include "format/bronze_builder.h"
#include "format/event_parser.h"
#include "format/schemas.h"
#include "ops/customer_spend_agg.h"
#include "ops/dedup.h"
#include "ops/filter_status.h"
#include "ops/flatten.h"
#include "ops/revenue_window_agg.h"
#include "ops/split_by_time.h"
#include "ops/top_products_agg.h"
#include "silver_batch_builder.h"

namespace medallion::ops {
namespace {

std::string Event(const std::string& id, const std::string& status, const std::string& items,
                  const std::string& time = "2026-11-24T10:00:00Z") {
  return R"({"event_id":")" + id + R"(","event_time":")" + time + R"(","order_id":"O-)" + id +
         R"(","status":")" + status + R"(","customer":{"customer_id":"C-1"},"items":[)" + items + "]}";
}

std::string Item(const std::string& product, int quantity, const std::string& price) {
  return R"({"product_id":")" + product + R"(","category":"Toys","quantity":)" + std::to_string(quantity) +
         R"(,"unit_price":)" + price + "}";
}

std::shared_ptr<arrow::RecordBatch> Events(const std::vector<std::string>& values) {
  format::BronzeBuilder b("orders", 1795564800000000);  // 2026-11-25T00:00:00Z, after every event
  int64_t offset = 0;
  for (const auto& v : values) EXPECT_TRUE(b.Append(0, offset++, std::nullopt, nullptr, 0, v.data(), v.size()).ok());
  format::EventParser parser;
  auto parsed = parser.Parse(*b.Finish().ValueOrDie()).ValueOrDie();
  EXPECT_EQ(parsed.quarantine->num_rows(), 0);
  return parsed.events;
}

std::vector<std::string> Strings(const std::shared_ptr<arrow::RecordBatch>& batch, const char* column) {
  auto a = std::static_pointer_cast<arrow::StringArray>(batch->GetColumnByName(column));
  std::vector<std::string> out;
  for (int64_t i = 0; i < a->length(); ++i) out.push_back(a->GetString(i));
  return out;
}

/// The event_id of each selected row.
std::vector<std::string> Ids(const std::shared_ptr<arrow::RecordBatch>& events, const RowSelection& rows) {
  auto a = std::static_pointer_cast<arrow::StringArray>(events->GetColumnByName("event_id"));
  std::vector<std::string> out;
  for (int64_t row : rows) out.push_back(a->GetString(row));
  return out;
}

class SilverOpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(arrow::compute::Initialize().ok()); }
};

TEST_F(SilverOpsTest, SelectKeepsOnlyPaid) {
  auto events = Events({Event("a", "PAID", Item("P", 1, "1")), Event("b", "CREATED", Item("P", 1, "1")),
                        Event("c", "PAID", Item("P", 1, "1")), Event("d", "REFUNDED", Item("P", 1, "1"))});
  EXPECT_EQ(SelectByStatus(*events, "PAID").ValueOrDie(), (RowSelection{0, 2}));
}

TEST_F(SilverOpsTest, SplitByTimeKeepsOrderOnBothSides) {
  auto events = Events({Event("a", "PAID", Item("P", 1, "1"), "2026-11-24T09:00:00Z"),
                        Event("b", "PAID", Item("P", 1, "1"), "2026-11-24T11:00:00Z"),
                        Event("c", "PAID", Item("P", 1, "1"), "2026-11-24T08:00:00Z"),
                        Event("d", "PAID", Item("P", 1, "1"), "2026-11-24T10:00:00Z")});
  // Row 2 is not selected; 10:00Z itself is not before the threshold.
  auto split = SplitByTime(*events, {0, 1, 3}, "event_time", 1795514400000000 /* 10:00Z */).ValueOrDie();
  EXPECT_EQ(split.before, (RowSelection{0}));
  EXPECT_EQ(split.after, (RowSelection{1, 3}));
  EXPECT_FALSE(SplitByTime(*events, {0}, "no_such_column", 0).ok());
}

TEST_F(SilverOpsTest, DedupKeepsFirstAcrossBatchesAndRestarts) {
  Deduplicator dedup;
  auto batch1 = Events({Event("a", "PAID", Item("P", 1, "1")), Event("b", "PAID", Item("P", 1, "1")),
                        Event("a", "PAID", Item("Q", 9, "9")), Event("x", "PAID", Item("P", 1, "1"))});
  // Row 3 ("x") is not selected, so it is neither kept nor remembered.
  auto first = dedup.Process(*batch1, {0, 1, 2}).ValueOrDie();
  EXPECT_EQ(first, (RowSelection{0, 1}));
  EXPECT_EQ(dedup.size(), 2);

  Deduplicator restored;
  ASSERT_TRUE(restored.RestoreState(dedup.SerializeState()).ok());
  EXPECT_EQ(restored.SerializeState(), dedup.SerializeState());
  auto batch2 = Events({Event("b", "PAID", Item("P", 1, "1")), Event("c", "PAID", Item("P", 1, "1")),
                        Event("x", "PAID", Item("P", 1, "1"))});
  auto second = restored.Process(*batch2, AllRows(batch2->num_rows())).ValueOrDie();
  EXPECT_EQ(Ids(batch2, second), (std::vector<std::string>{"c", "x"}));
}

TEST_F(SilverOpsTest, DedupEvictsByEventTime) {
  Deduplicator dedup;
  auto events = Events({Event("old", "PAID", Item("P", 1, "1"), "2026-11-24T09:00:00Z"),
                        Event("new", "PAID", Item("P", 1, "1"), "2026-11-24T11:00:00Z")});
  ASSERT_TRUE(dedup.Process(*events, AllRows(2)).ok());
  EXPECT_EQ(dedup.EvictBefore(1795514400000000 /* 10:00Z */), 1);
  EXPECT_EQ(dedup.size(), 1);
}

TEST_F(SilverOpsTest, DedupRemembersAnIdFromItsArrivalWhenThatIsLater) {
  // An id seen at 09:00 event time while the stream is at 12:00 is kept as if seen at 12:00:
  // a horizon at 10:00 does not evict it, one past 12:00 does.
  Deduplicator dedup;
  auto events = Events({Event("e1", "PAID", Item("P", 1, "1"), "2026-11-24T09:00:00Z")});
  const int64_t noon = 1795514400000000 + 2 * 3'600'000'000LL;
  ASSERT_EQ(dedup.Process(*events, AllRows(1), noon).ValueOrDie().size(), 1u);
  EXPECT_EQ(dedup.EvictBefore(1795514400000000 /* 10:00Z */), 0);
  auto resent = Events({Event("e1", "PAID", Item("P", 1, "1"), "2026-11-24T09:00:00Z")});
  EXPECT_TRUE(dedup.Process(*resent, AllRows(1), noon).ValueOrDie().empty());
  EXPECT_EQ(dedup.EvictBefore(noon + 1), 1);
  EXPECT_EQ(dedup.size(), 0);
}

TEST_F(SilverOpsTest, DedupDeltasRebuildTheSameState) {
  Deduplicator live;
  Deduplicator replica;
  ASSERT_TRUE(replica.RestoreState(live.SerializeState()).ok());
  const std::vector<std::vector<std::string>> batches = {
      {"a", "b"}, {"b", "c", "d"}, {"e"}, {"a", "f"}};
  const char* times[] = {"2026-11-24T09:00:00Z", "2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z",
                         "2026-11-24T12:00:00Z"};
  for (size_t i = 0; i < batches.size(); ++i) {
    SCOPED_TRACE(i);
    std::vector<std::string> values;
    for (const auto& id : batches[i]) values.push_back(Event(id, "PAID", Item("P", 1, "1"), times[i]));
    auto events = Events(values);
    ASSERT_TRUE(live.Process(*events, AllRows(events->num_rows())).ok());
    if (i == 2) live.EvictBefore(1795514400000000 /* 10:00Z: forgets a and b */);
    ASSERT_TRUE(replica.ApplyDelta(live.SerializeDelta()).ok());
    EXPECT_EQ(replica.size(), live.size());
  }
  // "a" was evicted, so it came back in the last batch; both agree on every id.
  EXPECT_EQ(live.size(), 5);  // c d e a f
  EXPECT_EQ(replica.SerializeState(), live.SerializeState());
  std::string bad = live.SerializeDelta();
  bad[bad.size() - 3] ^= 1;
  EXPECT_FALSE(replica.ApplyDelta(bad).ok());
}

TEST_F(SilverOpsTest, DedupRejectsCorruptState) {
  Deduplicator dedup;
  std::string bytes = dedup.SerializeState();
  bytes[bytes.size() / 2] ^= 0x5a;
  EXPECT_FALSE(dedup.RestoreState(bytes).ok());
  EXPECT_FALSE(dedup.RestoreState("").ok());
}

TEST_F(SilverOpsTest, FlattenMakesOneRowPerLine) {
  auto events = Events({Event("a", "PAID", Item("P1", 2, "19.99") + "," + Item("P2", 3, "0.5")),
                        Event("b", "PAID", Item("P3", 1, "100"))});
  auto lines = FlattenToOrderLines(*events, AllRows(2)).ValueOrDie();
  ASSERT_TRUE(lines->schema()->Equals(*format::SilverSchema()));
  ASSERT_EQ(lines->num_rows(), 3);
  EXPECT_EQ(Strings(lines, "event_id"), (std::vector<std::string>{"a", "a", "b"}));
  EXPECT_EQ(Strings(lines, "product_id"), (std::vector<std::string>{"P1", "P2", "P3"}));
  auto line_no = std::static_pointer_cast<arrow::Int32Array>(lines->GetColumnByName("line_no"));
  EXPECT_EQ(line_no->Value(0), 1);
  EXPECT_EQ(line_no->Value(1), 2);
  EXPECT_EQ(line_no->Value(2), 1);
  auto amount = std::static_pointer_cast<arrow::Decimal128Array>(lines->GetColumnByName("line_amount"));
  EXPECT_EQ(amount->FormatValue(0), "39.9800");
  EXPECT_EQ(amount->FormatValue(1), "1.5000");
  EXPECT_EQ(amount->FormatValue(2), "100.0000");
  auto offset = std::static_pointer_cast<arrow::Int64Array>(lines->GetColumnByName("kafka_offset"));
  EXPECT_EQ(offset->Value(2), 1);
}

TEST_F(SilverOpsTest, FlattenOfSelectedRowsKeepsTheirItems) {
  auto events = Events({Event("a", "PAID", Item("A1", 1, "1") + "," + Item("A2", 2, "1")),
                        Event("b", "CREATED", Item("X", 1, "1")),
                        Event("c", "PAID", Item("C1", 4, "2.5")),
                        Event("d", "PAID", Item("D1", 5, "3") + "," + Item("D2", 6, "0.25"))});
  // Items that do not start at the list's first value (a slice of it), and items with gaps
  // between them (taken one by one); both must give each line its own event's values.
  const std::vector<std::pair<RowSelection, std::vector<std::string>>> cases = {
      {{2, 3}, {"C1", "D1", "D2"}}, {{0, 2, 3}, {"A1", "A2", "C1", "D1", "D2"}}, {{0, 3}, {"A1", "A2", "D1", "D2"}}};
  for (const auto& [rows, products] : cases) {
    SCOPED_TRACE(::testing::PrintToString(rows));
    auto lines = FlattenToOrderLines(*events, rows).ValueOrDie();
    ASSERT_TRUE(lines->ValidateFull().ok());
    EXPECT_EQ(Strings(lines, "product_id"), products);
    std::vector<std::string> parents;
    for (const auto& p : products) parents.push_back(std::string(1, static_cast<char>(std::tolower(p[0]))));
    EXPECT_EQ(Strings(lines, "event_id"), parents);
    auto amount = std::static_pointer_cast<arrow::Decimal128Array>(lines->GetColumnByName("line_amount"));
    EXPECT_EQ(amount->FormatValue(lines->num_rows() - 1), "1.5000");  // D2: 6 x 0.25
  }
  EXPECT_EQ(FlattenToOrderLines(*events, {}).ValueOrDie()->num_rows(), 0);
}

TEST_F(SilverOpsTest, FlattenCarriesTheVersion2ColumnsAndNetsTheDiscount) {
  const std::string v2_items =
      R"({"product_id":"P1","category":"Toys","quantity":2,"unit_price":19.99,"sku":"S-1","discount":4.98},)"
      R"({"product_id":"P2","category":"Toys","quantity":3,"unit_price":0.5},)"
      R"({"product_id":"P3","category":"Toys","quantity":1,"unit_price":7,"discount":7})";
  const std::string v2 = R"({"event_id":"b","event_time":"2026-11-24T10:00:00Z","order_id":"O-b","status":"PAID",)"
                         R"("channel":"web","customer":{"customer_id":"C-1","loyalty_tier":"gold"},"items":[)" +
                         v2_items + R"(],"schema_version":2})";
  // Version 1 (here without schema_version): the same fields are unknown, so ignored.
  const std::string v1 = R"({"event_id":"a","event_time":"2026-11-24T10:00:00Z","order_id":"O-a","status":"PAID",)"
                         R"("channel":"web","customer":{"customer_id":"C-1","loyalty_tier":"gold"},"items":[)" +
                         v2_items.substr(0, v2_items.find("},") + 1) + "]}";
  auto events = Events({v1, v2});
  ASSERT_EQ(events->num_rows(), 2);
  auto lines = FlattenToOrderLines(*events, AllRows(2)).ValueOrDie();
  ASSERT_TRUE(lines->schema()->Equals(*format::SilverSchema()));
  ASSERT_TRUE(lines->ValidateFull().ok());
  // The version 2 columns come last, in this order.
  const auto& fields = lines->schema()->fields();
  std::vector<std::string> last;
  for (size_t i = fields.size() - 5; i < fields.size(); ++i) last.push_back(fields[i]->name());
  EXPECT_EQ(last, (std::vector<std::string>{"schema_version", "channel", "customer_loyalty_tier", "sku", "discount"}));
  EXPECT_EQ(testing::Rows(*lines, {"event_id", "product_id", "quantity", "unit_price", "line_amount", "schema_version",
                                   "channel", "customer_loyalty_tier", "sku", "discount"}),
            (std::vector<std::string>{
                "a|P1|2|19.9900|39.9800|1|null|null|null|null",
                "b|P1|2|19.9900|35.0000|2|web|gold|S-1|4.9800",
                "b|P2|3|0.5000|1.5000|2|web|gold|null|null",  // no discount: null, line not reduced
                "b|P3|1|7.0000|0.0000|2|web|gold|null|7.0000",  // discount equal to the line
            }));
  // Only some rows, taken one by one: the item columns follow their lines.
  auto some = FlattenToOrderLines(*events, {1}).ValueOrDie();
  EXPECT_EQ(testing::Rows(*some, {"product_id", "line_amount", "sku", "discount"}),
            (std::vector<std::string>{"P1|35.0000|S-1|4.9800", "P2|1.5000|null|null", "P3|0.0000|null|7.0000"}));

  // Gold sums line_amount, so it counts the net amounts.
  TopProductsAggregator top(10);
  ASSERT_TRUE(top.Consume(*lines).ok());
  EXPECT_EQ(testing::Rows(*top.Snapshot().ValueOrDie(), {"product_id", "revenue"}),
            (std::vector<std::string>{"P1|74.9800", "P2|1.5000", "P3|0.0000"}));
  CustomerSpendAggregator customers;
  ASSERT_TRUE(customers.Consume(*lines).ok());
  EXPECT_EQ(testing::Rows(*customers.Snapshot().ValueOrDie(), {"customer_id", "orders", "total_spend"}),
            (std::vector<std::string>{"C-1|2|76.4800"}));
  RevenueWindowAggregator windows(WindowSpec::Tumbling(60'000'000).ValueOrDie());
  ASSERT_TRUE(windows.Consume(*lines).ok());
  EXPECT_EQ(testing::Rows(*windows.Snapshot().ValueOrDie(), {"category", "revenue", "quantity", "orders"}),
            (std::vector<std::string>{"Toys|76.4800|8|2"}));
}

}  // namespace
}  // namespace medallion::ops
