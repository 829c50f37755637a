#include "ops/top_products_agg.h"

#include <iostream>
#include <random>

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


TEST(TopProductsAggTest, DeltasReplayedOnARestoredSnapshotGiveTheSameState) {
  // As the engine checkpoints: a whole snapshot every few batches, a delta after each other
  // one; the replica restores the newest snapshot and replays the deltas since. `reference`
  // consumes the same batches and is the one whose SerializeState is compared (serializing
  // `original` would start a new delta).
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const int products = 1 + static_cast<int>(seed % 7) * 5;
    TopProductsAggregator original(3), reference(3), replica(3);
    int64_t next_event = 0;
    for (int b = 0; b < 30; ++b) {
      const int events = static_cast<int>(rng() % 6);  // some batches empty
      MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch(testing::RandomLines(rng, events, 5, products, &next_event)));
      MEDALLION_ASSERT_OK(original.Consume(*batch));
      MEDALLION_ASSERT_OK(reference.Consume(*batch));
      if (b % 7 == 0) {
        MEDALLION_ASSERT_OK(replica.RestoreState(original.SerializeState()));
      } else {
        MEDALLION_ASSERT_OK(replica.ApplyDelta(original.SerializeDelta()));
      }
      ASSERT_EQ(replica.SerializeState(), reference.SerializeState()) << "after batch " << b;
    }
    EXPECT_EQ(SnapshotRows(replica), SnapshotRows(reference));
  }
}

TEST(TopProductsAggTest, ADeltaHoldsOnlyTheProductsChanged) {
  TopProductsAggregator agg(10);
  std::vector<SilverLine> lines;
  for (int p = 0; p < 100'000; ++p) {
    lines.push_back({.event_id = "e" + std::to_string(p), .product_id = "P-" + std::to_string(p)});
  }
  MEDALLION_ASSIGN_OR_FAIL(auto all, MakeSilverBatch(lines));
  MEDALLION_ASSERT_OK(agg.Consume(*all));
  const std::string full = agg.SerializeState();
  EXPECT_EQ(agg.SerializeDelta(), TopProductsAggregator(10).SerializeDelta());  // nothing changed

  std::vector<SilverLine> few;
  for (int p = 0; p < 10; ++p) {
    few.push_back({.event_id = "x" + std::to_string(p), .product_id = "P-" + std::to_string(p * 9'999), .quantity = 2});
  }
  MEDALLION_ASSIGN_OR_FAIL(auto touching_ten, MakeSilverBatch(few));
  MEDALLION_ASSERT_OK(agg.Consume(*touching_ten));
  const std::string delta = agg.SerializeDelta();
  std::cout << "top products, 100000 held, a batch touching 10: whole state " << full.size()
            << " bytes, delta " << delta.size() << " bytes\n";
  EXPECT_LT(delta.size(), 1'000u);
  EXPECT_LT(delta.size() * 1'000, full.size());

  TopProductsAggregator replica(10);
  MEDALLION_ASSERT_OK(replica.RestoreState(full));
  MEDALLION_ASSERT_OK(replica.ApplyDelta(delta));
  EXPECT_EQ(replica.SerializeState(), agg.SerializeState());
}

TEST(TopProductsAggTest, AWholeSnapshotInPlaceOfADeltaReplacesTheState) {
  // What a build that checkpointed this state whole wrote in every file.
  MEDALLION_ASSIGN_OR_FAIL(auto b1, MakeSilverBatch({{.event_id = "e1", .product_id = "P-1"}}));
  MEDALLION_ASSIGN_OR_FAIL(auto b2, MakeSilverBatch({{.event_id = "e2", .product_id = "P-2"}}));
  TopProductsAggregator agg(0), replica(0);
  MEDALLION_ASSERT_OK(agg.Consume(*b1));
  MEDALLION_ASSERT_OK(replica.RestoreState(agg.SerializeState()));
  MEDALLION_ASSERT_OK(agg.Consume(*b2));
  const std::string whole = agg.SerializeState();
  MEDALLION_ASSERT_OK(replica.ApplyDelta(whole));
  EXPECT_EQ(replica.SerializeState(), whole);
}

TEST(TopProductsAggTest, CorruptDeltaIsInvalidAndChangesNothing) {
  MEDALLION_ASSIGN_OR_FAIL(auto b1, MakeSilverBatch({{.event_id = "e1", .product_id = "P-1"}}));
  MEDALLION_ASSIGN_OR_FAIL(auto b2, MakeSilverBatch({{.event_id = "e2", .product_id = "P-1", .quantity = 4},
                                                      {.event_id = "e3", .product_id = "P-2"}}));
  TopProductsAggregator source(0), agg(0);
  MEDALLION_ASSERT_OK(source.Consume(*b1));
  const std::string base = source.SerializeState();
  MEDALLION_ASSERT_OK(source.Consume(*b2));
  const std::string good = source.SerializeDelta();
  MEDALLION_ASSERT_OK(agg.RestoreState(base));

  std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""}, {"truncated", good.substr(0, good.size() - 3)}, {"trailing", good + std::string(1, '\0')}};
  for (size_t i = 0; i < good.size(); i += 3) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    bad.emplace_back("bit flip at " + std::to_string(i), flipped);
  }
  {
    StateWriter w("ops.top_products.delta", 9);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("future version", std::move(w).Finish());
  }
  {
    StateWriter w("ops.customer_spend.delta", 1);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("other operator's delta", std::move(w).Finish());
  }
  for (const char* order : {"P-2 P-1", "P-1 P-1"}) {
    StateWriter w("ops.top_products.delta", 1);
    w.WriteInt<uint64_t>(2);
    for (std::string id : {std::string(order, 3), std::string(order + 4, 3)}) {
      w.WriteString(id);
      w.WriteInt<int64_t>(1);  // quantity
      WriteMoneySum(&w, 1);
      w.WriteInt<int64_t>(0);
      w.WriteInt<int32_t>(0);
      w.WriteInt<int64_t>(0);
      w.WriteInt<int32_t>(0);
      w.WriteOptionalString(std::nullopt);
      w.WriteString("Toys");
    }
    bad.emplace_back(std::string("ids out of order: ") + order, std::move(w).Finish());
  }
  for (const auto& [name, bytes] : bad) {
    SCOPED_TRACE(name);
    auto status = agg.ApplyDelta(bytes);
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
    EXPECT_EQ(agg.SerializeState(), base);
  }
  MEDALLION_ASSERT_OK(agg.ApplyDelta(good));
  EXPECT_EQ(agg.SerializeState(), source.SerializeState());
}

}  // namespace
}  // namespace medallion::ops
