#include "ops/revenue_window_agg.h"

#include <map>
#include <random>
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include "format/schemas.h"
#include "ops/state_codec.h"
#include "silver_batch_builder.h"

namespace medallion::ops {
namespace {

using testing::kMinute;
using testing::kUnit;
using testing::MakeSilverBatch;
using testing::Rows;
using testing::SilverLine;

const std::vector<std::string> kColumns = {"window_start", "window_end", "category",
                                           "revenue",      "quantity",   "orders"};

RevenueWindowAggregator Tumbling(int64_t size) {
  return RevenueWindowAggregator(WindowSpec::Tumbling(size).ValueOrDie());
}

std::vector<std::string> SnapshotRows(const RevenueWindowAggregator& agg) {
  auto snap = agg.Snapshot();
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  if (!snap.ok()) return {};
  EXPECT_TRUE((*snap)->schema()->Equals(*format::RevenueWindowSchema()));
  EXPECT_TRUE((*snap)->ValidateFull().ok());
  return Rows(**snap, kColumns);
}

TEST(RevenueWindowAggTest, AggregatesPerWindowAndCategory) {
  struct Case {
    std::string name;
    int64_t size;
    int64_t slide;
    std::vector<std::vector<SilverLine>> batches;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"empty", kMinute, kMinute, {}, {}},
      {"one line",
       kMinute,
       kMinute,
       {{{.event_id = "e1", .event_time_us = 90'000'000, .quantity = 2, .unit_price = 12'345}}},
       {"60000000|120000000|Toys|2.4690|2|1"}},
      {"multi-line event counts once per category; rows sorted by window then category",
       kMinute,
       kMinute,
       {{{.event_id = "e1", .event_time_us = 61'000'000, .line_no = 0, .category = "Toys",
          .quantity = 1, .unit_price = 5 * kUnit},
         {.event_id = "e1", .event_time_us = 61'000'000, .line_no = 1, .category = "Toys",
          .quantity = 3, .unit_price = kUnit / 2},
         {.event_id = "e1", .event_time_us = 61'000'000, .line_no = 2, .category = "Books",
          .quantity = 1, .unit_price = 7 * kUnit},
         {.event_id = "e2", .event_time_us = 10'000'000, .category = "Toys", .quantity = 4,
          .unit_price = kUnit},
         {.event_id = "e3", .event_time_us = 119'999'999, .category = "Toys", .quantity = 1,
          .unit_price = 1}}},
       {"0|60000000|Toys|4.0000|4|1", "60000000|120000000|Books|7.0000|1|1",
        "60000000|120000000|Toys|6.5001|5|2"}},
      {"negative event time and window boundary",
       kMinute,
       kMinute,
       {{{.event_id = "e1", .event_time_us = -1, .unit_price = kUnit},
         {.event_id = "e2", .event_time_us = 0, .unit_price = kUnit}}},
       {"-60000000|0|Toys|1.0000|1|1", "0|60000000|Toys|1.0000|1|1"}},
      {"counts add across batches",
       kMinute,
       kMinute,
       {{{.event_id = "e1", .event_time_us = 0, .quantity = 1, .unit_price = kUnit}},
        {{.event_id = "e2", .event_time_us = 1, .quantity = 2, .unit_price = kUnit},
         {.event_id = "e2", .event_time_us = 1, .line_no = 1, .quantity = 1,
          .unit_price = kUnit}}},
       {"0|60000000|Toys|4.0000|4|2"}},
      {"sliding windows: a line lands in size/slide windows",
       2 * kMinute,
       kMinute,
       {{{.event_id = "e1", .event_time_us = 90'000'000, .quantity = 1, .unit_price = kUnit},
         {.event_id = "e2", .event_time_us = 150'000'000, .quantity = 2, .unit_price = kUnit}}},
       {"0|120000000|Toys|1.0000|1|1", "60000000|180000000|Toys|3.0000|3|2",
        "120000000|240000000|Toys|2.0000|2|1"}},
      {"explicit line_amount is summed as given (exact decimals)",
       kMinute,
       kMinute,
       {{{.event_id = "e1", .quantity = 3, .unit_price = 3333, .line_amount = 9999},
         {.event_id = "e2", .quantity = 1, .unit_price = 1, .line_amount = 1}}},
       {"0|60000000|Toys|1.0000|4|2"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RevenueWindowAggregator agg(WindowSpec::Make(c.size, c.slide).ValueOrDie());
    for (const auto& lines : c.batches) {
      MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch(lines));
      MEDALLION_ASSERT_OK(agg.Consume(*batch));
    }
    EXPECT_EQ(SnapshotRows(agg), c.expected);
  }
}

TEST(RevenueWindowAggTest, RejectsBadInputWithoutChangingState) {
  auto agg = Tumbling(kMinute);
  MEDALLION_ASSIGN_OR_FAIL(auto good, MakeSilverBatch({{.event_id = "e1"}}));
  MEDALLION_ASSERT_OK(agg.Consume(*good));
  const auto before = SnapshotRows(agg);

  for (const std::string column : {"event_id", "category", "event_time", "quantity",
                                   "line_amount"}) {
    SCOPED_TRACE("missing " + column);
    auto status = agg.Consume(*testing::DropColumn(*good, column));
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
    EXPECT_NE(status.message().find(column), std::string::npos) << status.ToString();
  }
  {
    SCOPED_TRACE("wrong type");
    auto quantity_as_string = arrow::MakeArrayFromScalar(arrow::StringScalar("1"), 1).ValueOrDie();
    auto bad = good->SetColumn(good->schema()->GetFieldIndex("quantity"),
                               arrow::field("quantity", arrow::utf8()), quantity_as_string)
                   .ValueOrDie();
    EXPECT_TRUE(agg.Consume(*bad).IsInvalid());
  }
  EXPECT_EQ(SnapshotRows(agg), before);
}

TEST(RevenueWindowAggTest, StateRoundTripThenContinue) {
  const std::vector<SilverLine> first = {
      {.event_id = "e1", .event_time_us = 5, .category = "Toys", .quantity = 2},
      {.event_id = "e1", .event_time_us = 5, .line_no = 1, .category = "Books"},
      {.event_id = "e2", .event_time_us = kMinute + 5, .category = "Toys"}};
  const std::vector<SilverLine> second = {
      {.event_id = "e3", .event_time_us = 6, .category = "Toys", .unit_price = 3 * kUnit},
      {.event_id = "e4", .event_time_us = 3 * kMinute, .category = "Garden"}};
  MEDALLION_ASSIGN_OR_FAIL(auto b1, MakeSilverBatch(first));
  MEDALLION_ASSIGN_OR_FAIL(auto b2, MakeSilverBatch(second));

  for (int64_t slide : {kMinute, kMinute / 2}) {
    SCOPED_TRACE("slide " + std::to_string(slide));
    const auto spec = WindowSpec::Make(kMinute, slide).ValueOrDie();
    RevenueWindowAggregator all(spec), before(spec), after(spec);
    MEDALLION_ASSERT_OK(all.Consume(*b1));
    MEDALLION_ASSERT_OK(all.Consume(*b2));
    MEDALLION_ASSERT_OK(before.Consume(*b1));

    const std::string state = before.SerializeState();
    MEDALLION_ASSERT_OK(after.RestoreState(state));
    EXPECT_EQ(SnapshotRows(after), SnapshotRows(before));
    EXPECT_EQ(after.SerializeState(), state);  // deterministic bytes

    MEDALLION_ASSERT_OK(after.Consume(*b2));
    MEDALLION_ASSIGN_OR_FAIL(auto expected, all.Snapshot());
    MEDALLION_ASSIGN_OR_FAIL(auto actual, after.Snapshot());
    EXPECT_TRUE(actual->Equals(*expected)) << actual->ToString() << "\nvs\n"
                                           << expected->ToString();
  }
}

TEST(RevenueWindowAggTest, CorruptStateIsInvalid) {
  auto agg = Tumbling(kMinute);
  MEDALLION_ASSIGN_OR_FAIL(
      auto batch, MakeSilverBatch({{.event_id = "e1"}, {.event_id = "e2", .category = "Books"}}));
  MEDALLION_ASSERT_OK(agg.Consume(*batch));
  const std::string good = agg.SerializeState();
  const auto before = SnapshotRows(agg);

  std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"garbage", "not a state at all"},
      {"trailing byte", good + "x"},
  };
  for (size_t n : {size_t{4}, good.size() / 2, good.size() - 1}) {
    bad.emplace_back("truncated to " + std::to_string(n), good.substr(0, n));
  }
  for (size_t i = 0; i < good.size(); i += 7) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x10);
    bad.emplace_back("bit flip at " + std::to_string(i), flipped);
  }
  {
    StateWriter w("ops.revenue_window", 3);
    w.WriteInt<int64_t>(kMinute);
    w.WriteInt<int64_t>(kMinute);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("future version", std::move(w).Finish());
  }
  {
    StateWriter w("ops.top_products", 1);
    w.WriteInt<uint64_t>(0);
    bad.emplace_back("other operator's state", std::move(w).Finish());
  }
  {
    StateWriter w("ops.revenue_window", 1);
    w.WriteInt<int64_t>(kMinute);
    w.WriteInt<int64_t>(kMinute);
    w.WriteInt<uint64_t>(uint64_t{1} << 60);
    bad.emplace_back("huge count", std::move(w).Finish());
  }
  for (const auto& [name, bytes] : bad) {
    SCOPED_TRACE(name);
    auto status = agg.RestoreState(bytes);
    EXPECT_TRUE(status.IsInvalid()) << status.ToString();
    EXPECT_EQ(SnapshotRows(agg), before);
  }

  SCOPED_TRACE("state of another window size");
  RevenueWindowAggregator other(WindowSpec::Tumbling(2 * kMinute).ValueOrDie());
  EXPECT_TRUE(other.RestoreState(good).IsInvalid());
}

/// Random events split into batches at event boundaries, checked against a direct
/// recomputation over all lines; the split must not change the result.
TEST(RevenueWindowAggTest, MatchesRecomputationForAnySplit) {
  std::mt19937_64 rng(42);
  const std::vector<std::string> categories = {"Books", "Garden", "Toys"};
  std::vector<std::vector<SilverLine>> events;
  for (int e = 0; e < 200; ++e) {
    std::vector<SilverLine> lines;
    const int64_t ts = static_cast<int64_t>(rng() % (10 * kMinute)) - 3 * kMinute;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int l = 0; l < n; ++l) {
      lines.push_back({.event_id = "e" + std::to_string(e), .event_time_us = ts,
                       .line_no = l, .category = categories[rng() % categories.size()],
                       .quantity = 1 + static_cast<int64_t>(rng() % 5),
                       .unit_price = static_cast<int64_t>(rng() % 100'000)});
    }
    events.push_back(std::move(lines));
  }
  const auto spec = WindowSpec::Make(2 * kMinute, kMinute / 2).ValueOrDie();

  // Expected: (start, category) -> (revenue, quantity, distinct events).
  std::map<std::pair<int64_t, std::string>, std::tuple<int64_t, int64_t, std::set<std::string>>>
      expected;
  for (const auto& lines : events) {
    for (const auto& l : lines) {
      for (int64_t start : spec.Starts(l.event_time_us)) {
        auto& [revenue, quantity, ids] = expected[{start, l.category}];
        revenue += l.quantity * l.unit_price;
        quantity += l.quantity;
        ids.insert(l.event_id);
      }
    }
  }
  std::vector<std::string> expected_rows;
  for (const auto& [key, v] : expected) {
    const auto& [revenue, quantity, ids] = v;
    expected_rows.push_back(std::to_string(key.first) + "|" +
                            std::to_string(key.first + spec.size_us) + "|" + key.second + "|" +
                            arrow::Decimal128(revenue).ToString(4) + "|" +
                            std::to_string(quantity) + "|" + std::to_string(ids.size()));
  }

  for (size_t events_per_batch : {size_t{1}, size_t{7}, size_t{200}}) {
    SCOPED_TRACE("events per batch " + std::to_string(events_per_batch));
    RevenueWindowAggregator agg(spec);
    for (size_t i = 0; i < events.size(); i += events_per_batch) {
      std::vector<SilverLine> lines;
      for (size_t e = i; e < std::min(events.size(), i + events_per_batch); ++e) {
        lines.insert(lines.end(), events[e].begin(), events[e].end());
      }
      MEDALLION_ASSIGN_OR_FAIL(auto batch, MakeSilverBatch(lines));
      MEDALLION_ASSERT_OK(agg.Consume(*batch));
    }
    EXPECT_EQ(SnapshotRows(agg), expected_rows);
  }
}

}  // namespace
}  // namespace medallion::ops

namespace medallion::ops {
namespace {

TEST(RevenueWindowWatermarkTest, LateRowsSkipFinalWindowsOnly) {
  // Sliding windows of 2 min every 1 min: a row at 1:30 is in [0:00,2:00) and [1:00,3:00).
  RevenueWindowAggregator agg(WindowSpec::Make(2 * kMinute, kMinute).ValueOrDie());
  auto batch = MakeSilverBatch({{.event_id = "e1", .event_time_us = 90'000'000, .quantity = 1,
                                 .unit_price = testing::kUnit}})
                   .ValueOrDie();
  std::vector<LateLine> late;
  // Watermark at 2:00: the first window is final, the second still open.
  ASSERT_TRUE(agg.Consume(*batch, 2 * kMinute, &late).ok());
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].row, 0);
  EXPECT_EQ(late[0].window_start_us, 0);
  EXPECT_EQ(SnapshotRows(agg), (std::vector<std::string>{"60000000|180000000|Toys|1.0000|1|1"}));
}

TEST(RevenueWindowWatermarkTest, TakeFinalHandsOutAndForgetsPassedWindows) {
  RevenueWindowAggregator agg(WindowSpec::Tumbling(kMinute).ValueOrDie());
  auto batch = MakeSilverBatch({{.event_id = "a", .event_time_us = 10'000'000, .category = "Toys"},
                                {.event_id = "b", .event_time_us = 70'000'000, .category = "Books"},
                                {.event_id = "c", .event_time_us = 130'000'000, .category = "Toys"}})
                   .ValueOrDie();
  ASSERT_TRUE(agg.Consume(*batch).ok());
  auto final_rows = agg.TakeFinal(2 * kMinute).ValueOrDie();
  EXPECT_EQ(Rows(*final_rows, kColumns),
            (std::vector<std::string>{"0|60000000|Toys|1.0000|1|1", "60000000|120000000|Books|1.0000|1|1"}));
  EXPECT_EQ(agg.num_groups(), 1u);
  EXPECT_EQ(SnapshotRows(agg), (std::vector<std::string>{"120000000|180000000|Toys|1.0000|1|1"}));
  EXPECT_EQ(agg.TakeFinal(2 * kMinute).ValueOrDie()->num_rows(), 0);  // nothing twice
}

}  // namespace
}  // namespace medallion::ops
