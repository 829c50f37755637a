#include "ops/top_products_agg.h"

#include <gtest/gtest.h>

#include "format/schemas.h"
#include "ops/state_codec.h"
#include "silver_batch_builder.h"

namespace medallion::ops {
namespace {

using testing::kUnit;
using testing::MakeSilverBatch;
using testing::Rows;
using testing::SilverLine;

const std::vector<std::string> kColumns = {"rank",           "product_id", "product_name",
                                           "category",       "total_quantity", "revenue"};

std::vector<std::string> SnapshotRows(const TopProductsAggregator& agg) {
  auto snap = agg.Snapshot();
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  if (!snap.ok()) return {};
  EXPECT_TRUE((*snap)->schema()->Equals(*format::TopProductsSchema()));
  EXPECT_TRUE((*snap)->ValidateFull().ok());
  return Rows(**snap, kColumns);
}

TEST(TopProductsAggTest, RanksByQuantityRevenueThenId) {
  struct Case {
    std::string name;
    int top_n;
    std::vector<std::vector<SilverLine>> batches;
    std::vector<std::string> expected;
  };
  // Ties: P-b and P-c have equal quantity, P-c more revenue; P-a and P-d tie on both.
  const std::vector<std::vector<SilverLine>> ties = {
      {{.event_id = "e1", .product_id = "P-d", .quantity = 2, .unit_price = kUnit},
       {.event_id = "e1", .line_no = 1, .product_id = "P-b", .quantity = 5,
        .unit_price = kUnit},
       {.event_id = "e2", .product_id = "P-c", .quantity = 5, .unit_price = 2 * kUnit}},
      {{.event_id = "e3", .product_id = "P-a", .quantity = 1, .unit_price = kUnit},
       {.event_id = "e3", .line_no = 1, .product_id = "P-a", .quantity = 1,
        .unit_price = kUnit},
       {.event_id = "e4", .product_id = "P-e", .quantity = 9, .unit_price = 0}}};
  const std::vector<std::string> all = {
      "1|P-e|Widget|Toys|9|0.0000",  "2|P-c|Widget|Toys|5|10.0000",
      "3|P-b|Widget|Toys|5|5.0000",  "4|P-a|Widget|Toys|2|2.0000",
      "5|P-d|Widget|Toys|2|2.0000"};
  const std::vector<Case> cases = {
      {"empty", 3, {}, {}},
      {"all products when top_n is 0", 0, ties, all},
      {"all products when top_n is negative", -1, ties, all},
      {"all products when top_n exceeds them", 10, ties, all},
      {"top 3", 3, ties, {all[0], all[1], all[2]}},
      {"top 1", 1, ties, {all[0]}},
      {"sums across batches",
       0,
       {{{.event_id = "e1", .product_id = "P-1", .quantity = 2, .unit_price = 15'000}},
        {{.event_id = "e2", .product_id = "P-1", .quantity = 3, .unit_price = 10'001}}},
       {"1|P-1|Widget|Toys|5|6.0003"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TopProductsAggregator agg(c.top_n);
    for (const auto& lines : c.batches) {
      MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch(lines));
      MEDALLION_ASSERT_OK(agg.Consume(*batch));
    }
    EXPECT_EQ(SnapshotRows(agg), c.expected);
  }
}

TEST(TopProductsAggTest, NameAndCategoryFromLatestLine) {
  struct Case {
    std::string name;
    std::vector<std::vector<SilverLine>> batches;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"later event time wins even when consumed first",
       {{{.event_id = "e2", .event_time_us = 20, .product_name = "New", .category = "B"}},
        {{.event_id = "e1", .event_time_us = 10, .product_name = "Old", .category = "A"}}},
       "1|P-1|New|B|2|2.0000"},
      {"same time: higher partition wins",
       {{{.event_id = "e1", .event_time_us = 10, .product_name = "P1", .partition = 1},
         {.event_id = "e2", .event_time_us = 10, .product_name = "P0", .partition = 0,
          .offset = 99}}},
       "1|P-1|P1|Toys|2|2.0000"},
      {"same partition: higher offset wins",
       {{{.event_id = "e1", .event_time_us = 10, .product_name = "O7", .offset = 7},
         {.event_id = "e2", .event_time_us = 10, .product_name = "O3", .offset = 3}}},
       "1|P-1|O7|Toys|2|2.0000"},
      {"same event: higher line_no wins",
       {{{.event_id = "e1", .line_no = 1, .product_name = "L1"},
         {.event_id = "e1", .line_no = 0, .product_name = "L0"}}},
       "1|P-1|L1|Toys|2|2.0000"},
      {"a null name is kept when it is the latest",
       {{{.event_id = "e1", .event_time_us = 1, .product_name = "Named"}},
        {{.event_id = "e2", .event_time_us = 2, .product_name = std::nullopt}}},
       "1|P-1|null|Toys|2|2.0000"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TopProductsAggregator agg(0);
    for (const auto& lines : c.batches) {
      MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch(lines));
      MEDALLION_ASSERT_OK(agg.Consume(*batch));
    }
    EXPECT_EQ(SnapshotRows(agg), std::vector<std::string>{c.expected});
  }
}

TEST(TopProductsAggTest, RejectsBadInputWithoutChangingState) {
  TopProductsAggregator agg(0);
  MEDALLION_ASSIGN_OR_FAIL(auto good, MakeSilverBatch({{.event_id = "e1"}}));
  MEDALLION_ASSERT_OK(agg.Consume(*good));
  const auto before = SnapshotRows(agg);
  for (const std::string column :
       {"product_id", "product_name", "category", "quantity", "line_amount", "event_time",
        "kafka_partition", "kafka_offset", "line_no"}) {
    SCOPED_TRACE("missing " + column);
    auto status = agg.Consume(*testing::DropColumn(*good, column));
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  }
  {
    SCOPED_TRACE("null in a required column");
    auto null_ids = arrow::MakeArrayOfNull(arrow::utf8(), 1).ValueOrDie();
    auto bad = good->SetColumn(good->schema()->GetFieldIndex("product_id"),
                               arrow::field("product_id", arrow::utf8()), null_ids)
                   .ValueOrDie();
    EXPECT_TRUE(agg.Consume(*bad).IsInvalid());
  }
  EXPECT_EQ(SnapshotRows(agg), before);
}

TEST(TopProductsAggTest, StateRoundTripThenContinue) {
  MEDALLION_ASSIGN_OR_FAIL(
      auto b1, MakeSilverBatch({{.event_id = "e1", .product_id = "P-1", .quantity = 3},
                                {.event_id = "e1", .line_no = 1, .product_id = "P-2",
                                 .product_name = std::nullopt, .quantity = 1},
                                {.event_id = "e2", .product_id = "P-3", .quantity = 2}}));
  MEDALLION_ASSIGN_OR_FAIL(
      auto b2, MakeSilverBatch({{.event_id = "e3", .event_time_us = 5, .product_id = "P-2",
                                 .product_name = "Renamed", .quantity = 4},
                                {.event_id = "e4", .product_id = "P-4", .quantity = 1}}));
  TopProductsAggregator all(2), before(2), after(2);
  MEDALLION_ASSERT_OK(all.Consume(*b1));
  MEDALLION_ASSERT_OK(all.Consume(*b2));
  MEDALLION_ASSERT_OK(before.Consume(*b1));

  const std::string state = before.SerializeState();
  MEDALLION_ASSERT_OK(after.RestoreState(state));
  EXPECT_EQ(SnapshotRows(after), SnapshotRows(before));
  EXPECT_EQ(after.num_products(), 3u);  // the state keeps products outside the top 2
  EXPECT_EQ(after.SerializeState(), state);

  MEDALLION_ASSERT_OK(after.Consume(*b2));
  MEDALLION_ASSIGN_OR_FAIL(auto expected, all.Snapshot());
  MEDALLION_ASSIGN_OR_FAIL(auto actual, after.Snapshot());
  EXPECT_TRUE(actual->Equals(*expected)) << actual->ToString() << "\nvs\n" << expected->ToString();
  EXPECT_EQ(SnapshotRows(after),
            (std::vector<std::string>{"1|P-2|Renamed|Toys|5|5.0000",
                                      "2|P-1|Widget|Toys|3|3.0000"}));
}

TEST(TopProductsAggTest, CorruptStateIsInvalid) {
  TopProductsAggregator agg(0);
  MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch({{.event_id = "e1"}}));
  MEDALLION_ASSERT_OK(agg.Consume(*batch));
  const std::string good = agg.SerializeState();
  const auto before = SnapshotRows(agg);

  std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"truncated", good.substr(0, good.size() - 3)},
      {"trailing", good + std::string(1, '\0')}};
  for (size_t i = 0; i < good.size(); i += 5) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    bad.emplace_back("bit flip at " + std::to_string(i), flipped);
  }
  {
    StateWriter w("ops.top_products", 9);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("future version", std::move(w).Finish());
  }
  {
    StateWriter w("ops.customer_spend", 1);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("other operator's state", std::move(w).Finish());
  }
  for (const auto& [name, bytes] : bad) {
    SCOPED_TRACE(name);
    auto status = agg.RestoreState(bytes);
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
    EXPECT_EQ(SnapshotRows(agg), before);
  }
}

}  // namespace
}  // namespace medallion::ops
