#include "engine/engine_state.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ops/customer_spend_agg.h"
#include "ops/state_codec.h"
#include "ops/top_products_agg.h"
#include "silver_batch_builder.h"
#include "status_assertions.h"

namespace medallion::engine {
namespace {

/// A stand-in operator: a value (whole) or a list of added items (incremental).
struct FakeOp {
  std::string value;
  std::vector<std::string> items;
  size_t delta_from = 0;  // items[delta_from..] are the changes since the last snapshot

  std::string SerializeState() {
    delta_from = items.size();
    std::string out = value;
    for (const auto& i : items) out += "|" + i;
    return out;
  }
  arrow::Status RestoreState(std::string_view bytes) {
    if (bytes.starts_with("bad")) return arrow::Status::Invalid("bad state");
    items.clear();
    size_t bar = bytes.find('|');
    value = std::string(bytes.substr(0, bar));
    while (bar != std::string_view::npos) {
      const size_t next = bytes.find('|', bar + 1);
      items.emplace_back(bytes.substr(bar + 1, next == std::string_view::npos ? next : next - bar - 1));
      bar = next;
    }
    delta_from = items.size();
    return arrow::Status::OK();
  }
  std::string SerializeDelta() {
    std::string out;
    for (size_t i = delta_from; i < items.size(); ++i) out += (out.empty() ? "" : ",") + items[i];
    delta_from = items.size();
    return out;
  }
  arrow::Status ApplyDelta(std::string_view bytes) {
    size_t start = 0;
    while (start < bytes.size()) {
      const size_t comma = bytes.find(',', start);
      items.emplace_back(bytes.substr(start, comma == std::string_view::npos ? comma : comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    delta_from = items.size();
    return arrow::Status::OK();
  }
};

/// State files by batch id, as a checkpoint holds them.
struct Files {
  std::map<int64_t, std::string> by_batch;
  StateFileReader Reader() const {
    return [this](int64_t id) -> arrow::Result<std::string> {
      auto it = by_batch.find(id);
      if (it == by_batch.end()) return arrow::Status::Invalid("state/", id, " is missing");
      return it->second;
    };
  }
};

TEST(EngineStateTest, RestoresWholePartsFromTheNewestAndIncrementalOnesThroughTheirDeltas) {
  FakeOp w, d;
  EngineState state({WholeState("w", &w), IncrementalState("d", &d)});
  Files files;
  for (int64_t b = 0; b < 7; ++b) {
    w.value = "v" + std::to_string(b);
    d.items.push_back("i" + std::to_string(b));
    files.by_batch[b] = state.Serialize(/*full=*/b % 3 == 0);
  }
  FakeOp w2, d2;
  EngineState restored({WholeState("w", &w2), IncrementalState("d", &d2)});
  ASSERT_TRUE(restored.Restore(5, files.Reader()).ok());
  EXPECT_EQ(w2.value, "v5");
  EXPECT_EQ(d2.items, (std::vector<std::string>{"i0", "i1", "i2", "i3", "i4", "i5"}));
  // Batch 3 is full: the files before it are not needed.
  files.by_batch.erase(0);
  files.by_batch.erase(1);
  FakeOp w3, d3;
  ASSERT_TRUE(EngineState({WholeState("w", &w3), IncrementalState("d", &d3)}).Restore(6, files.Reader()).ok());
  EXPECT_EQ(d3.items.size(), 7u);
}

TEST(EngineStateTest, AFullFileIsWrittenWhenTheDeltasSinceTheLastOneAddUpToIt) {
  FakeOp w, d;
  EngineState state({WholeState("w", &w), IncrementalState("d", &d)});
  Files files;
  std::vector<int64_t> fulls;
  for (int64_t b = 0; b < 40; ++b) {
    w.value = std::string(100, 'w');  // whole parts do not count towards the cadence
    d.items.push_back("item" + std::to_string(1000 + b));
    files.by_batch[b] = state.SerializeBatch(b);
    if (state.last_full() == b) fulls.push_back(b);
  }
  // A state that grows by the same amount each batch: a full file each time the deltas since
  // the last one (8 bytes each) reach its size (9 bytes an item), so about when it has doubled.
  EXPECT_EQ(fulls, (std::vector<int64_t>{0, 3, 9, 22}));
  // A restore goes on with the same cadence: from the full file at 22 and the deltas after it.
  FakeOp w2, d2;
  EngineState restored({WholeState("w", &w2), IncrementalState("d", &d2)});
  MEDALLION_ASSERT_OK(restored.Restore(39, files.Reader()));
  EXPECT_EQ(restored.last_full(), 22);
  EXPECT_EQ(d2.items, d.items);
  for (int64_t b = 40; b < 70; ++b) {
    d2.items.push_back("item" + std::to_string(1000 + b));
    files.by_batch[b] = restored.SerializeBatch(b);
    if (restored.last_full() == b) fulls.push_back(b);
  }
  EXPECT_EQ(fulls.back(), 49);
}

TEST(EngineStateTest, AStateThatStopsGrowingStillGetsAFullFileEveryMaxDeltaFiles) {
  FakeOp d;
  d.items = {std::string(1000, 'x')};
  EngineState state({IncrementalState("d", &d)});
  for (int64_t b = 0; b <= EngineState::kMaxDeltaFiles + 1; ++b) (void)state.SerializeBatch(b);
  EXPECT_EQ(state.last_full(), EngineState::kMaxDeltaFiles + 1);
}

TEST(EngineStateTest, APartTheFilesDoNotHoldStartsEmptyAndAnUnknownOneIsRefused) {
  FakeOp w;
  w.value = "x";
  Files files;
  files.by_batch[0] = EngineState({WholeState("w", &w)}).Serialize(true);
  FakeOp w2, extra;
  extra.value = "untouched";
  ASSERT_TRUE(EngineState({WholeState("w", &w2), WholeState("new", &extra)}).Restore(0, files.Reader()).ok());
  EXPECT_EQ(w2.value, "x");
  EXPECT_EQ(extra.value, "untouched");

  FakeOp other;
  auto st = EngineState({WholeState("other", &other)}).Restore(0, files.Reader());
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("part 'w'"), std::string::npos) << st.message();
}

TEST(EngineStateTest, ErrorsNameTheFileAndAMissingFullSnapshotIsAnError) {
  FakeOp d;
  d.items = {"a"};
  EngineState state({IncrementalState("d", &d)});
  Files files;
  files.by_batch[4] = state.Serialize(false);  // a delta whose full snapshot is gone
  auto st = state.Restore(4, files.Reader());
  EXPECT_FALSE(st.ok());
  files.by_batch[4] = "garbage";
  st = state.Restore(4, files.Reader());
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("state/4"), std::string::npos) << st.message();
}

/// A version 3 or 4 state file as earlier releases wrote it: fields in a fixed order.
std::string LegacyFile(uint32_t version, bool full, const std::vector<std::string>& fields) {
  ops::StateWriter w("engine.state", version);
  w.WriteString(fields[0]);
  w.WriteBool(full);
  for (size_t i = 1; i < fields.size(); ++i) w.WriteString(fields[i]);
  return std::move(w).Finish();
}

TEST(EngineStateTest, ReadsTheFixedOrderFilesOfEarlierReleases) {
  Files files;
  files.by_batch[0] = LegacyFile(3, true, {"wm", "d0", "win", "top", "cust"});
  files.by_batch[1] = LegacyFile(4, false, {"wm1", "d1", "win1", "top1", "cust1", "", "", "", ""});
  FakeOp wm, dedup, windows, top, customers;
  EngineState state({WholeState("watermark", &wm), IncrementalState("dedup", &dedup), WholeState("windows", &windows),
                     WholeState("top_products", &top), WholeState("customer_spend", &customers)});
  ASSERT_TRUE(state.Restore(1, files.Reader()).ok());
  EXPECT_EQ(wm.value, "wm1");
  EXPECT_EQ(dedup.value, "d0");
  EXPECT_EQ(dedup.items, (std::vector<std::string>{"d1"}));
  EXPECT_EQ(windows.value, "win1");
  EXPECT_EQ(customers.value, "cust1");

  // A version 4 file of a query with a payment join restores its parts by name too.
  files.by_batch[2] = LegacyFile(4, true, {"wm2", "d2", "w2", "t2", "c2", "pw", "pd", "po", "pj"});
  FakeOp pw, pd, po, pj;
  EngineState joined({WholeState("watermark", &wm), IncrementalState("dedup", &dedup), WholeState("windows", &windows),
                      WholeState("top_products", &top), WholeState("customer_spend", &customers),
                      WholeState("payments_watermark", &pw), IncrementalState("payment_dedup", &pd),
                      IncrementalState("paid_orders", &po), WholeState("payment_join", &pj)});
  ASSERT_TRUE(joined.Restore(2, files.Reader()).ok());
  EXPECT_EQ((std::vector<std::string>{pw.value, pd.value, po.value, pj.value}),
            (std::vector<std::string>{"pw", "pd", "po", "pj"}));
}


TEST(EngineStateTest, APartThatBecameIncrementalRestoresFromFilesThatHoldItWhole) {
  // An earlier build checkpointed top_products and customer_spend whole, so its files that
  // are not full hold snapshots where this build writes deltas. A checkpoint that such a
  // build started and this one continued restores at every batch.
  std::mt19937_64 rng(7);
  int64_t next_event = 0;
  ops::TopProductsAggregator top(3), top_reference(3);
  ops::CustomerSpendAggregator customers, customers_reference;
  EngineState earlier({WholeState("top_products", &top), WholeState("customer_spend", &customers)});
  EngineState current({IncrementalState("top_products", &top), IncrementalState("customer_spend", &customers)});
  Files files;
  std::map<int64_t, std::pair<std::string, std::string>> expected;  // by batch: both snapshots
  for (int64_t b = 0; b < 14; ++b) {
    MEDALLION_ASSIGN_OR_FAIL(auto batch, testing::MakeSilverBatch(testing::RandomLines(rng, 4, 20, 20, &next_event)));
    MEDALLION_ASSERT_OK(top.Consume(*batch));
    MEDALLION_ASSERT_OK(customers.Consume(*batch));
    files.by_batch[b] = (b < 6 ? earlier : current).Serialize(/*full=*/b % 10 == 0);
    // The references consume the same batches and are the ones serialized here: serializing
    // `top` or `customers` would start a new delta.
    MEDALLION_ASSERT_OK(top_reference.Consume(*batch));
    MEDALLION_ASSERT_OK(customers_reference.Consume(*batch));
    expected[b] = {top_reference.SerializeState(), customers_reference.SerializeState()};
  }
  for (int64_t last = 0; last < 14; ++last) {
    SCOPED_TRACE("restore after batch " + std::to_string(last));
    ops::TopProductsAggregator top2(3);
    ops::CustomerSpendAggregator customers2;
    MEDALLION_ASSERT_OK(EngineState({IncrementalState("top_products", &top2), IncrementalState("customer_spend", &customers2)})
                            .Restore(last, files.Reader()));
    EXPECT_EQ(top2.SerializeState(), expected[last].first);
    EXPECT_EQ(customers2.SerializeState(), expected[last].second);
  }
}

}  // namespace
}  // namespace medallion::engine
