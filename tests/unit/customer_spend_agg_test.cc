#include "ops/customer_spend_agg.h"

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

const std::vector<std::string> kColumns = {"customer_id", "customer_name",    "country",
                                           "orders",      "total_spend",      "first_order_time",
                                           "last_order_time"};

std::vector<std::string> SnapshotRows(const CustomerSpendAggregator& agg) {
  auto snap = agg.Snapshot();
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  if (!snap.ok()) return {};
  EXPECT_TRUE((*snap)->schema()->Equals(*format::CustomerSpendSchema()));
  EXPECT_TRUE((*snap)->ValidateFull().ok());
  return Rows(**snap, kColumns);
}

TEST(CustomerSpendAggTest, AggregatesPerCustomer) {
  struct Case {
    std::string name;
    std::vector<std::vector<SilverLine>> batches;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"empty", {}, {}},
      {"lines of one event count one order; rows sorted by customer_id",
       {{{.event_id = "e1", .event_time_us = 30, .customer_id = "C-2", .quantity = 2,
          .unit_price = 12'500},
         {.event_id = "e1", .event_time_us = 30, .customer_id = "C-2", .line_no = 1,
          .quantity = 1, .unit_price = 1},
         {.event_id = "e2", .event_time_us = 10, .customer_id = "C-1", .unit_price = 3 * kUnit}}},
       {"C-1|Ann|DE|1|3.0000|10|10", "C-2|Ann|DE|1|2.5001|30|30"}},
      {"orders, min and max time across batches",
       {{{.event_id = "e1", .event_time_us = 50, .unit_price = kUnit},
         {.event_id = "e2", .event_time_us = -5, .unit_price = kUnit}},
        {{.event_id = "e3", .event_time_us = 20, .unit_price = kUnit},
         {.event_id = "e3", .event_time_us = 20, .line_no = 1, .unit_price = kUnit}},
        {{.event_id = "e4", .event_time_us = 90, .unit_price = kUnit}}},
       {"C-1|Ann|DE|4|5.0000|-5|90"}},
      {"name and country from the latest event, not the last consumed",
       {{{.event_id = "e2", .event_time_us = 20, .customer_name = "New", .customer_country = "FR"}},
        {{.event_id = "e1", .event_time_us = 10, .customer_name = "Old",
          .customer_country = "DE"}}},
       {"C-1|New|FR|2|2.0000|10|20"}},
      {"same time: higher partition, then higher offset wins",
       {{{.event_id = "e1", .event_time_us = 10, .customer_name = "p0", .partition = 0,
          .offset = 50},
         {.event_id = "e2", .event_time_us = 10, .customer_name = "p1o3", .partition = 1,
          .offset = 3},
         {.event_id = "e3", .event_time_us = 10, .customer_name = "p1o2", .partition = 1,
          .offset = 2}}},
       {"C-1|p1o3|DE|3|3.0000|10|10"}},
      {"latest within a batch beats older state; null attributes are kept",
       {{{.event_id = "e1", .event_time_us = 10, .customer_name = "Old"}},
        {{.event_id = "e3", .event_time_us = 5, .customer_name = "Older"},
         {.event_id = "e2", .event_time_us = 30, .customer_name = std::nullopt,
          .customer_country = std::nullopt}}},
       {"C-1|null|null|3|3.0000|5|30"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CustomerSpendAggregator agg;
    for (const auto& lines : c.batches) {
      MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch(lines));
      MEDALLION_ASSERT_OK(agg.Consume(*batch));
    }
    EXPECT_EQ(SnapshotRows(agg), c.expected);
  }
}

TEST(CustomerSpendAggTest, RejectsBadInputWithoutChangingState) {
  CustomerSpendAggregator agg;
  MEDALLION_ASSIGN_OR_FAIL(auto good, MakeSilverBatch({{.event_id = "e1"}}));
  MEDALLION_ASSERT_OK(agg.Consume(*good));
  const auto before = SnapshotRows(agg);
  for (const std::string column :
       {"customer_id", "customer_name", "customer_country", "event_id", "line_amount",
        "event_time", "kafka_partition", "kafka_offset"}) {
    SCOPED_TRACE("missing " + column);
    auto status = agg.Consume(*testing::DropColumn(*good, column));
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
  }
  {
    SCOPED_TRACE("timestamp in milliseconds");
    auto millis = arrow::MakeArrayFromScalar(
                      arrow::TimestampScalar(0, arrow::timestamp(arrow::TimeUnit::MILLI, "UTC")), 1)
                      .ValueOrDie();
    auto bad = good->SetColumn(good->schema()->GetFieldIndex("event_time"),
                               arrow::field("event_time", millis->type()), millis)
                   .ValueOrDie();
    EXPECT_TRUE(agg.Consume(*bad).IsInvalid());
  }
  {
    SCOPED_TRACE("money with another scale");
    auto cents = arrow::MakeArrayFromScalar(
                     arrow::Decimal128Scalar(arrow::Decimal128(100), arrow::decimal128(18, 2)), 1)
                     .ValueOrDie();
    auto bad = good->SetColumn(good->schema()->GetFieldIndex("line_amount"),
                               arrow::field("line_amount", cents->type()), cents)
                   .ValueOrDie();
    EXPECT_TRUE(agg.Consume(*bad).IsInvalid());
  }
  EXPECT_EQ(SnapshotRows(agg), before);
}

TEST(CustomerSpendAggTest, StateRoundTripThenContinue) {
  MEDALLION_ASSIGN_OR_FAIL(
      auto b1,
      MakeSilverBatch({{.event_id = "e1", .event_time_us = 100, .customer_id = "C-1"},
                       {.event_id = "e2", .event_time_us = 50, .customer_id = "C-2",
                        .customer_name = std::nullopt, .unit_price = 7 * kUnit}}));
  MEDALLION_ASSIGN_OR_FAIL(
      auto b2, MakeSilverBatch({{.event_id = "e3", .event_time_us = 70, .customer_id = "C-1",
                                 .customer_name = "Older"},
                                {.event_id = "e4", .event_time_us = 60, .customer_id = "C-2",
                                 .customer_name = "Bob", .customer_country = "US"},
                                {.event_id = "e5", .customer_id = "C-0"}}));
  CustomerSpendAggregator all, before, after;
  MEDALLION_ASSERT_OK(all.Consume(*b1));
  MEDALLION_ASSERT_OK(all.Consume(*b2));
  MEDALLION_ASSERT_OK(before.Consume(*b1));

  const std::string state = before.SerializeState();
  MEDALLION_ASSERT_OK(after.RestoreState(state));
  EXPECT_EQ(SnapshotRows(after), SnapshotRows(before));
  EXPECT_EQ(after.SerializeState(), state);

  MEDALLION_ASSERT_OK(after.Consume(*b2));
  MEDALLION_ASSIGN_OR_FAIL(auto expected, all.Snapshot());
  MEDALLION_ASSIGN_OR_FAIL(auto actual, after.Snapshot());
  EXPECT_TRUE(actual->Equals(*expected)) << actual->ToString() << "\nvs\n" << expected->ToString();
  EXPECT_EQ(SnapshotRows(after),
            (std::vector<std::string>{"C-0|Ann|DE|1|1.0000|0|0", "C-1|Ann|DE|2|2.0000|70|100",
                                      "C-2|Bob|US|2|8.0000|50|60"}));
}

TEST(CustomerSpendAggTest, CorruptStateIsInvalid) {
  CustomerSpendAggregator agg;
  MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch({{.event_id = "e1"},
                                                        {.event_id = "e2", .customer_id = "C-2"}}));
  MEDALLION_ASSERT_OK(agg.Consume(*batch));
  const std::string good = agg.SerializeState();
  const auto before = SnapshotRows(agg);

  std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""}, {"truncated", good.substr(0, good.size() / 3)}, {"trailing", good + "z"}};
  for (size_t i = 0; i < good.size(); i += 3) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x80);
    bad.emplace_back("bit flip at " + std::to_string(i), flipped);
  }
  {
    StateWriter w("ops.customer_spend", 0);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("version 0", std::move(w).Finish());
  }
  {
    StateWriter w("ops.customer_spend", 1);
    w.WriteInt<uint64_t>(2);
    for (int k = 0; k < 2; ++k) {  // the same customer twice
      w.WriteString("C-1");
      for (int f = 0; f < 5; ++f) w.WriteInt<int64_t>(1);
      w.WriteInt<int32_t>(0);
      w.WriteInt<int64_t>(0);
      w.WriteOptionalString(std::nullopt);
      w.WriteOptionalString(std::nullopt);
    }
    bad.emplace_back("duplicate customer", std::move(w).Finish());
  }
  {
    StateWriter w("ops.customer_spend", 1);
    w.WriteInt<uint64_t>(1);
    w.WriteString("C-1");
    for (int f = 0; f < 5; ++f) w.WriteInt<int64_t>(1);
    w.WriteInt<int32_t>(0);
    w.WriteInt<int64_t>(0);
    w.WriteInt<uint8_t>(7);  // neither absent (0) nor present (1)
    w.WriteOptionalString(std::nullopt);
    bad.emplace_back("bad presence byte", std::move(w).Finish());
  }
  for (const auto& [name, bytes] : bad) {
    SCOPED_TRACE(name);
    auto status = agg.RestoreState(bytes);
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
    EXPECT_EQ(SnapshotRows(agg), before);
  }
}


TEST(CustomerSpendAggTest, DeltasReplayedOnARestoredSnapshotGiveTheSameState) {
  // As the engine checkpoints: a whole snapshot every few batches, a delta after each other
  // one; the replica restores the newest snapshot and replays the deltas since. `reference`
  // consumes the same batches and is the one whose SerializeState is compared (serializing
  // `original` would start a new delta).
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const int customers = 1 + static_cast<int>(seed % 7) * 5;
    CustomerSpendAggregator original, reference, replica;
    int64_t next_event = 0;
    for (int b = 0; b < 30; ++b) {
      const int events = static_cast<int>(rng() % 6);  // some batches empty
      MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch(testing::RandomLines(rng, events, customers, 5, &next_event)));
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

TEST(CustomerSpendAggTest, ADeltaHoldsOnlyTheCustomersChanged) {
  CustomerSpendAggregator agg;
  std::vector<SilverLine> lines;
  for (int c = 0; c < 100'000; ++c) {
    lines.push_back({.event_id = "e" + std::to_string(c), .customer_id = "C-" + std::to_string(c)});
  }
  MEDALLION_ASSIGN_OR_FAIL(auto all, MakeSilverBatch(lines));
  MEDALLION_ASSERT_OK(agg.Consume(*all));
  const std::string full = agg.SerializeState();
  EXPECT_EQ(agg.SerializeDelta(), CustomerSpendAggregator().SerializeDelta());  // nothing changed

  std::vector<SilverLine> few;
  for (int c = 0; c < 10; ++c) {
    few.push_back({.event_id = "x" + std::to_string(c), .event_time_us = 5,
                   .customer_id = "C-" + std::to_string(c * 9'999), .customer_name = "Renamed"});
  }
  MEDALLION_ASSIGN_OR_FAIL(auto touching_ten, MakeSilverBatch(few));
  MEDALLION_ASSERT_OK(agg.Consume(*touching_ten));
  const std::string delta = agg.SerializeDelta();
  std::cout << "customer spend, 100000 held, a batch touching 10: whole state " << full.size()
            << " bytes, delta " << delta.size() << " bytes\n";
  EXPECT_LT(delta.size(), 1'000u);
  EXPECT_LT(delta.size() * 1'000, full.size());

  CustomerSpendAggregator replica;
  MEDALLION_ASSERT_OK(replica.RestoreState(full));
  MEDALLION_ASSERT_OK(replica.ApplyDelta(delta));
  EXPECT_EQ(replica.SerializeState(), agg.SerializeState());
}

TEST(CustomerSpendAggTest, AWholeSnapshotInPlaceOfADeltaReplacesTheState) {
  // What a build that checkpointed this state whole wrote in every file.
  MEDALLION_ASSIGN_OR_FAIL(auto b1, MakeSilverBatch({{.event_id = "e1", .customer_id = "C-1"}}));
  MEDALLION_ASSIGN_OR_FAIL(auto b2, MakeSilverBatch({{.event_id = "e2", .customer_id = "C-2"}}));
  CustomerSpendAggregator agg, replica;
  MEDALLION_ASSERT_OK(agg.Consume(*b1));
  MEDALLION_ASSERT_OK(replica.RestoreState(agg.SerializeState()));
  MEDALLION_ASSERT_OK(agg.Consume(*b2));
  const std::string whole = agg.SerializeState();
  MEDALLION_ASSERT_OK(replica.ApplyDelta(whole));
  EXPECT_EQ(replica.SerializeState(), whole);
}

TEST(CustomerSpendAggTest, CorruptDeltaIsInvalidAndChangesNothing) {
  MEDALLION_ASSIGN_OR_FAIL(auto b1, MakeSilverBatch({{.event_id = "e1", .customer_id = "C-1"}}));
  MEDALLION_ASSIGN_OR_FAIL(auto b2, MakeSilverBatch({{.event_id = "e2", .event_time_us = 9, .customer_id = "C-1"},
                                                      {.event_id = "e3", .customer_id = "C-2"}}));
  CustomerSpendAggregator source, agg;
  MEDALLION_ASSERT_OK(source.Consume(*b1));
  const std::string base = source.SerializeState();
  MEDALLION_ASSERT_OK(source.Consume(*b2));
  const std::string good = source.SerializeDelta();
  MEDALLION_ASSERT_OK(agg.RestoreState(base));

  std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""}, {"truncated", good.substr(0, good.size() / 2)}, {"trailing", good + "z"}};
  for (size_t i = 0; i < good.size(); i += 3) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x80);
    bad.emplace_back("bit flip at " + std::to_string(i), flipped);
  }
  {
    StateWriter w("ops.customer_spend.delta", 2);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("future version", std::move(w).Finish());
  }
  {
    StateWriter w("ops.top_products.delta", 1);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("other operator's delta", std::move(w).Finish());
  }
  for (const char* order : {"C-2 C-1", "C-1 C-1"}) {
    StateWriter w("ops.customer_spend.delta", 1);
    w.WriteInt<uint64_t>(2);
    for (std::string id : {std::string(order, 3), std::string(order + 4, 3)}) {
      w.WriteString(id);
      w.WriteInt<int64_t>(1);  // orders
      WriteMoneySum(&w, 1);
      for (int f = 0; f < 3; ++f) w.WriteInt<int64_t>(0);  // first, last, latest time
      w.WriteInt<int32_t>(0);
      w.WriteInt<int64_t>(0);
      w.WriteOptionalString(std::nullopt);
      w.WriteOptionalString(std::nullopt);
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
