#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <arrow/array.h>
#include <gtest/gtest.h>

#include "format/schemas.h"
#include "ops/customer_spend_agg.h"
#include "ops/revenue_window_agg.h"
#include "ops/state_codec.h"
#include "ops/top_products_agg.h"
#include "silver_batch_builder.h"

/// Gold's money sums are exact past the int64 and decimal(18,4) limits, are written as
/// decimal(38,4), and state written in the 64-bit format still restores.
namespace medallion::ops {
namespace {

using testing::kMinute;
using testing::MakeSilverBatch;
using testing::SilverLine;

/// The largest decimal(18,4) line amount, in 1/10000 units.
constexpr int64_t kMaxLine = 999'999'999'999'999'999;

/// `n` one-line events of the largest line amount, in the first minute.
std::shared_ptr<arrow::RecordBatch> MaxLines(int n, const std::string& prefix) {
  std::vector<SilverLine> lines;
  for (int i = 0; i < n; ++i) {
    lines.push_back({.event_id = prefix + std::to_string(i), .event_time_us = 1'000'000, .quantity = 1,
                     .unit_price = kMaxLine, .line_amount = kMaxLine, .offset = i});
  }
  return MakeSilverBatch(lines).ValueOrDie();
}

/// Column `name` of `batch` at `row`, formatted, after checking its type is decimal(38,4).
std::string Money(const arrow::RecordBatch& batch, const char* name, int64_t row = 0) {
  auto column = batch.GetColumnByName(name);
  EXPECT_TRUE(column->type()->Equals(*format::GoldMoneyType())) << column->type()->ToString();
  return static_cast<const arrow::Decimal128Array&>(*column).FormatValue(row);
}

/// 20 x 99999999999999.9999: past int64 (9.2e18 units) and past decimal(18,4).
constexpr const char* kTwentyMax = "1999999999999999.9980";

TEST(GoldMoneyTest, SumsPastInt64AreExactDecimal38) {
  RevenueWindowAggregator windows(WindowSpec::Tumbling(kMinute).ValueOrDie());
  TopProductsAggregator top(10);
  CustomerSpendAggregator customers;
  for (const auto& batch : {MaxLines(10, "a"), MaxLines(10, "b")}) {
    MEDALLION_ASSERT_OK(windows.Consume(*batch));
    MEDALLION_ASSERT_OK(top.Consume(*batch));
    MEDALLION_ASSERT_OK(customers.Consume(*batch));
  }
  auto w = windows.Snapshot().ValueOrDie();
  ASSERT_TRUE(w->schema()->Equals(*format::RevenueWindowSchema()));
  EXPECT_EQ(Money(*w, "revenue"), kTwentyMax);
  auto t = top.Snapshot().ValueOrDie();
  ASSERT_TRUE(t->schema()->Equals(*format::TopProductsSchema()));
  EXPECT_EQ(Money(*t, "revenue"), kTwentyMax);
  auto c = customers.Snapshot().ValueOrDie();
  ASSERT_TRUE(c->schema()->Equals(*format::CustomerSpendSchema()));
  EXPECT_EQ(Money(*c, "total_spend"), kTwentyMax);
  EXPECT_TRUE(w->ValidateFull().ok());
  EXPECT_TRUE(t->ValidateFull().ok());
  EXPECT_TRUE(c->ValidateFull().ok());

  // The wide sums survive a state round trip.
  RevenueWindowAggregator windows2(WindowSpec::Tumbling(kMinute).ValueOrDie());
  TopProductsAggregator top2(10);
  CustomerSpendAggregator customers2;
  MEDALLION_ASSERT_OK(windows2.RestoreState(windows.SerializeState()));
  MEDALLION_ASSERT_OK(top2.RestoreState(top.SerializeState()));
  MEDALLION_ASSERT_OK(customers2.RestoreState(customers.SerializeState()));
  EXPECT_EQ(Money(*windows2.Snapshot().ValueOrDie(), "revenue"), kTwentyMax);
  EXPECT_EQ(Money(*top2.Snapshot().ValueOrDie(), "revenue"), kTwentyMax);
  EXPECT_EQ(Money(*customers2.Snapshot().ValueOrDie(), "total_spend"), kTwentyMax);
}

TEST(GoldMoneyTest, QuantityOverflowIsACapacityErrorNamingTheGroup) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  auto batch = MakeSilverBatch({{.event_id = "e1", .event_time_us = 1'000'000, .product_id = "P-9",
                                 .category = "Toys", .quantity = big, .unit_price = 0, .line_amount = 0},
                                {.event_id = "e2", .event_time_us = 1'000'000, .product_id = "P-9",
                                 .category = "Toys", .quantity = 1, .unit_price = 0, .line_amount = 0, .offset = 1}})
                   .ValueOrDie();
  RevenueWindowAggregator windows(WindowSpec::Tumbling(kMinute).ValueOrDie());
  TopProductsAggregator top(10);
  const std::string windows_before = windows.SerializeState();
  const std::string top_before = top.SerializeState();
  const arrow::Status w = windows.Consume(*batch);
  EXPECT_TRUE(w.IsCapacityError()) << w.ToString();
  EXPECT_NE(w.message().find("'Toys'"), std::string::npos) << w.ToString();
  EXPECT_EQ(windows.SerializeState(), windows_before);
  const arrow::Status t = top.Consume(*batch);
  EXPECT_TRUE(t.IsCapacityError()) << t.ToString();
  EXPECT_NE(t.message().find("'P-9'"), std::string::npos) << t.ToString();
  EXPECT_EQ(top.SerializeState(), top_before);
}

TEST(GoldMoneyTest, RestoresVersion1StateAndWidens) {
  // The 64-bit state format (version 1) of each aggregator, holding one group whose sum is
  // 9 x the largest line, just below int64's limit.
  const int64_t nine = 9 * kMaxLine;
  StateWriter w("ops.revenue_window", 1);
  w.WriteInt<int64_t>(kMinute);
  w.WriteInt<int64_t>(kMinute);
  w.WriteInt<uint64_t>(1);
  w.WriteInt<int64_t>(0);
  w.WriteString("Toys");
  w.WriteInt<int64_t>(nine);
  w.WriteInt<int64_t>(9);
  w.WriteInt<int64_t>(9);
  StateWriter t("ops.top_products", 1);
  t.WriteInt<uint64_t>(1);
  t.WriteString("P-1");
  t.WriteInt<int64_t>(9);
  t.WriteInt<int64_t>(nine);
  t.WriteInt<int64_t>(1'000'000);
  t.WriteInt<int32_t>(0);
  t.WriteInt<int64_t>(8);
  t.WriteInt<int32_t>(0);
  t.WriteOptionalString(std::string("Widget"));
  t.WriteString("Toys");
  StateWriter c("ops.customer_spend", 1);
  c.WriteInt<uint64_t>(1);
  c.WriteString("C-1");
  c.WriteInt<int64_t>(9);
  c.WriteInt<int64_t>(nine);
  c.WriteInt<int64_t>(1'000'000);
  c.WriteInt<int64_t>(1'000'000);
  c.WriteInt<int64_t>(1'000'000);
  c.WriteInt<int32_t>(0);
  c.WriteInt<int64_t>(8);
  c.WriteOptionalString(std::string("Ann"));
  c.WriteOptionalString(std::string("DE"));

  RevenueWindowAggregator windows(WindowSpec::Tumbling(kMinute).ValueOrDie());
  TopProductsAggregator top(10);
  CustomerSpendAggregator customers;
  MEDALLION_ASSERT_OK(windows.RestoreState(std::move(w).Finish()));
  MEDALLION_ASSERT_OK(top.RestoreState(std::move(t).Finish()));
  MEDALLION_ASSERT_OK(customers.RestoreState(std::move(c).Finish()));
  EXPECT_EQ(Money(*windows.Snapshot().ValueOrDie(), "revenue"), "899999999999999.9991");
  // Eleven more lines take every sum past int64, exactly.
  auto more = MaxLines(11, "m");
  MEDALLION_ASSERT_OK(windows.Consume(*more));
  MEDALLION_ASSERT_OK(top.Consume(*more));
  MEDALLION_ASSERT_OK(customers.Consume(*more));
  EXPECT_EQ(Money(*windows.Snapshot().ValueOrDie(), "revenue"), kTwentyMax);
  EXPECT_EQ(Money(*top.Snapshot().ValueOrDie(), "revenue"), kTwentyMax);
  EXPECT_EQ(Money(*customers.Snapshot().ValueOrDie(), "total_spend"), kTwentyMax);
  auto rows = testing::Rows(*windows.Snapshot().ValueOrDie(), {"quantity", "orders"});
  EXPECT_EQ(rows, std::vector<std::string>{"20|20"});
}

}  // namespace
}  // namespace medallion::ops
