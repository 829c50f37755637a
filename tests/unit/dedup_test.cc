// Unit tests of the Deduplicator's fingerprint table: the hash against its reference, growth,
// exact eviction, deletion against a model, and the state formats (version 1 still restores).
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "ops/dedup.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {

using Ids = std::vector<std::pair<std::string, int64_t>>;

std::shared_ptr<arrow::RecordBatch> Batch(const Ids& ids) {
  arrow::StringBuilder id_builder;
  arrow::TimestampBuilder time_builder(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                                       arrow::default_memory_pool());
  for (const auto& [id, t] : ids) {
    EXPECT_TRUE(id_builder.Append(id).ok());
    EXPECT_TRUE(time_builder.Append(t).ok());
  }
  auto schema = arrow::schema({arrow::field("event_id", arrow::utf8()),
                               arrow::field("event_time", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()),
                                  {id_builder.Finish().ValueOrDie(), time_builder.Finish().ValueOrDie()});
}

RowSelection All(size_t n) {
  RowSelection rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = static_cast<int64_t>(i);
  return rows;
}

/// The ids of `ids` that `dedup` keeps (and now remembers).
std::vector<std::string> Fresh(Deduplicator* dedup, const Ids& ids, int64_t remember_from_us = INT64_MIN) {
  auto batch = Batch(ids);
  std::vector<std::string> out;
  for (int64_t row : dedup->Process(*batch, All(ids.size()), remember_from_us).ValueOrDie()) {
    out.push_back(ids[row].first);
  }
  return out;
}

/// The version 1 writers, as the string-keyed Deduplicator wrote its snapshots and deltas.
std::string V1State(const Ids& ids) {
  StateWriter w("ops.dedup", 1);
  w.WriteInt<uint64_t>(ids.size());
  for (const auto& [id, t] : ids) {
    w.WriteString(id);
    w.WriteInt<int64_t>(t);
  }
  return std::move(w).Finish();
}

std::string V1Delta(int64_t horizon, const Ids& ids) {
  StateWriter w("ops.dedup.delta", 1);
  w.WriteInt<int64_t>(horizon);
  w.WriteInt<uint64_t>(ids.size());
  for (const auto& [id, t] : ids) {
    w.WriteString(id);
    w.WriteInt<int64_t>(t);
  }
  return std::move(w).Finish();
}

/// The version 2 snapshot of a model state: fingerprints and times, sorted by fingerprint.
std::string V2State(const std::unordered_map<std::string, int64_t>& model) {
  std::vector<std::pair<IdFingerprint, int64_t>> entries;
  for (const auto& [id, t] : model) entries.emplace_back(FingerprintOf(id), t);
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first.hi != b.first.hi ? a.first.hi < b.first.hi : a.first.lo < b.first.lo;
  });
  StateWriter w("ops.dedup", 2);
  w.WriteInt<uint64_t>(entries.size());
  for (const auto& [fp, t] : entries) {
    w.WriteInt<uint64_t>(fp.hi);
    w.WriteInt<uint64_t>(fp.lo);
    w.WriteInt<int64_t>(t);
  }
  return std::move(w).Finish();
}

TEST(DedupTest, FingerprintIsMurmurHash3x64_128) {
  // SMHasher's verification: hash keys {}, {0}, {0,1}, ... {0..254} with seed 256 - length,
  // hash the concatenated 16-byte results with seed 0; the first 4 bytes read 0x6384BA69.
  std::string key;
  std::string hashes;
  for (int i = 0; i < 256; ++i) {
    const IdFingerprint fp = FingerprintOf(key, 256 - i);
    for (uint64_t word : {fp.hi, fp.lo}) {
      for (int b = 0; b < 8; ++b) hashes.push_back(static_cast<char>(word >> (8 * b)));
    }
    key.push_back(static_cast<char>(i));
  }
  EXPECT_EQ(static_cast<uint32_t>(FingerprintOf(hashes).hi), 0x6384BA69u);
  EXPECT_EQ(FingerprintOf(""), (IdFingerprint{0, 0}));
}

TEST(DedupTest, GrowsThroughManyDoublings) {
  Deduplicator dedup;
  Ids ids;
  for (int i = 0; i < 200'000; ++i) ids.emplace_back("ev-7-" + std::to_string(i), 1'000'000 + i);
  // 16 buckets at first, 2^19 at the end: fifteen doublings, with every id findable after each.
  for (size_t from = 0; from < ids.size(); from += 10'000) {
    Ids part(ids.begin() + from, ids.begin() + from + 10'000);
    ASSERT_EQ(Fresh(&dedup, part).size(), part.size());
    ASSERT_TRUE(Fresh(&dedup, Ids(ids.begin(), ids.begin() + from + 10'000)).empty());
  }
  EXPECT_EQ(dedup.size(), 200'000);
}

TEST(DedupTest, EvictsExactlyToTheMicrosecond) {
  Deduplicator dedup;
  const int64_t t = 1795514400000000 + 59'999'999;  // the last µs of a minute
  ASSERT_EQ(Fresh(&dedup, {{"a", t - 1}, {"b", t}, {"c", t + 1}, {"d", t + 60'000'000}}).size(), 4u);
  EXPECT_EQ(dedup.EvictBefore(t - 1), 0);
  EXPECT_EQ(dedup.EvictBefore(t), 1);  // a only: b's time is not before the horizon
  EXPECT_EQ(dedup.EvictBefore(t), 0);
  EXPECT_EQ(Fresh(&dedup, {{"a", 0}, {"b", 0}}), (std::vector<std::string>{"a"}));  // a again, at time 0
  EXPECT_EQ(dedup.EvictBefore(t + 1), 2);  // the new a and b
  EXPECT_EQ(dedup.EvictBefore(t + 2), 1);  // c
  EXPECT_EQ(dedup.size(), 1);
  EXPECT_EQ(dedup.EvictBefore(t + 60'000'001), 1);
  EXPECT_EQ(dedup.size(), 0);
}

TEST(DedupTest, DeletionKeepsEveryOtherIdFindable) {
  // Random inserts and evictions (few at a time and many at once) against a model; after each
  // step the state is the model's, byte for byte.
  std::mt19937_64 rng(42);
  Deduplicator dedup;
  std::unordered_map<std::string, int64_t> model;
  size_t peak = 0;
  int64_t horizon = 0;
  for (int step = 0; step < 4000; ++step) {
    SCOPED_TRACE(step);
    Ids batch;
    const int n = static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      // One draw per statement: the order of evaluation of arguments is unspecified, and the
      // walk must be the same in every build (plain, sanitized).
      const std::string id = "ev-" + std::to_string(rng() % 3000);
      const auto t = horizon + static_cast<int64_t>(rng() % 1000);
      batch.emplace_back(id, t);
    }
    std::vector<std::string> expected;
    for (const auto& [id, t] : batch) {
      if (model.try_emplace(id, t).second) expected.push_back(id);
    }
    ASSERT_EQ(Fresh(&dedup, batch), expected);
    if (rng() % 4 == 0) {
      const bool big_step = rng() % 10 == 0;
      horizon += static_cast<int64_t>(rng() % (big_step ? 600 : 20));
      const auto dropped = std::erase_if(model, [horizon](const auto& e) { return e.second < horizon; });
      ASSERT_EQ(dedup.EvictBefore(horizon), static_cast<int64_t>(dropped));
    }
    ASSERT_EQ(dedup.size(), static_cast<int64_t>(model.size()));
    peak = std::max(peak, model.size());
    if (step % 50 == 0) {
      ASSERT_EQ(dedup.SerializeState(), V2State(model));
    }
  }
  EXPECT_GT(peak, 100u);  // the walk held a real state, not a handful of ids
}

TEST(DedupTest, RestoresAVersion1SnapshotAndDelta) {
  Deduplicator dedup;
  ASSERT_TRUE(dedup.RestoreState(V1State({{"a", 100}, {"b", 200}, {"c", 300}})).ok());
  EXPECT_EQ(dedup.size(), 3);
  // A version 1 delta: adds d and e, then evicts before 150 (a).
  ASSERT_TRUE(dedup.ApplyDelta(V1Delta(150, {{"d", 400}, {"e", 120}})).ok());
  EXPECT_EQ(dedup.size(), 3);  // b c d (e, at 120, was evicted too)
  EXPECT_EQ(dedup.SerializeState(), V2State({{"b", 200}, {"c", 300}, {"d", 400}}));
  EXPECT_EQ(Fresh(&dedup, {{"a", 500}, {"b", 500}, {"e", 500}, {"d", 500}}), (std::vector<std::string>{"a", "e"}));
  EXPECT_FALSE(dedup.RestoreState(V1State({{"a", 1}, {"a", 2}})).ok());
  EXPECT_EQ(dedup.size(), 0);
  EXPECT_FALSE(dedup.ApplyDelta(V1Delta(INT64_MIN, {{"x", 1}, {"x", 1}})).ok());
}

TEST(DedupTest, SnapshotsAndDeltasRoundTrip) {
  Deduplicator live;
  Deduplicator replica;
  ASSERT_TRUE(replica.RestoreState(live.SerializeState()).ok());
  std::string last_full;
  for (int b = 0; b < 30; ++b) {
    SCOPED_TRACE(b);
    Ids ids;
    for (int i = 0; i < 500; ++i) ids.emplace_back("ev-3-" + std::to_string(b * 300 + i), b * 1000 + i);
    Fresh(&live, ids, b * 1000 - 2500);
    if (b % 3 == 2) live.EvictBefore(b * 1000 - 4000);
    if (b % 10 == 9) {
      last_full = live.SerializeState();
      ASSERT_TRUE(replica.RestoreState(last_full).ok());
    } else {
      ASSERT_TRUE(replica.ApplyDelta(live.SerializeDelta()).ok());
    }
    ASSERT_EQ(replica.size(), live.size());
  }
  EXPECT_EQ(replica.SerializeState(), live.SerializeState());
  // A snapshot is 24 bytes per id plus a fixed header.
  Deduplicator restored;
  ASSERT_TRUE(restored.RestoreState(last_full).ok());
  EXPECT_LT(last_full.size(), 24u * static_cast<size_t>(restored.size()) + 64);
  EXPECT_EQ(restored.SerializeState(), last_full);
}

}  // namespace
}  // namespace medallion::ops
