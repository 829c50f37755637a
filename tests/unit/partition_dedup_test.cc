// Unit tests of PartitionDedup: against a model that reads each partition event by event, for
// any cut of the stream into batches, any interleaving of partitions, and restores from
// snapshots and deltas taken anywhere; and its state format's checks.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "common/time_util.h"
#include "ops/partition_dedup.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {

constexpr int64_t kLateness = 30;
constexpr int64_t kHorizon = 100;

struct Event {
  int32_t partition;
  int64_t offset;
  std::string id;
  int64_t time;
  bool paid;
};

/// The outcome per (partition, offset): 'F' fresh, 'D' duplicate, 'B' beyond the horizon.
using Outcomes = std::map<std::pair<int32_t, int64_t>, char>;

/// The rule read literally: each partition on its own, event by event, every id it took kept
/// with its time, judged "within the horizon" against the partition's watermark at the event.
Outcomes Model(const std::vector<Event>& stream) {
  Outcomes out;
  std::map<int32_t, int64_t> max_time;
  std::map<int32_t, std::map<std::string, int64_t>> taken;
  for (const Event& e : stream) {
    auto m = max_time.find(e.partition);
    if (e.paid) {
      const bool has_wm = m != max_time.end();
      const int64_t horizon = has_wm ? m->second - kLateness - kHorizon : PartitionDedup::kNone;
      auto& ids = taken[e.partition];
      auto held = ids.find(e.id);
      if (has_wm && e.time < horizon) {
        out[{e.partition, e.offset}] = 'B';
      } else if (held != ids.end() && held->second >= horizon) {
        out[{e.partition, e.offset}] = 'D';
      } else {
        out[{e.partition, e.offset}] = 'F';
        ids[e.id] = e.time;
      }
    }
    max_time[e.partition] = m == max_time.end() ? e.time : std::max(m->second, e.time);
  }
  return out;
}

/// Events of four partitions: times walk forward with jitter, some far behind (beyond the
/// horizon), ids repeat (re-sends at the same time, and some at another time).
std::vector<Event> Stream(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  std::vector<Event> out;
  std::map<int32_t, int64_t> clock, next_offset;
  std::vector<Event> sent;
  for (int i = 0; i < n; ++i) {
    const int32_t p = static_cast<int32_t>(rng() % 4);
    // From 1,000 so that late events stay after 1970: a restore refuses earlier times.
    int64_t& t = clock.try_emplace(p, 1000).first->second;
    t += static_cast<int64_t>(rng() % 7);
    Event e{p, next_offset[p]++, "e" + std::to_string(i), t, rng() % 3 != 0};
    const uint32_t kind = rng() % 20;
    if (kind == 0 || kind >= 18) e.time = t - 80 - static_cast<int64_t>(rng() % 150);  // late, some beyond
    std::vector<const Event*> same_partition;
    for (size_t k = sent.size(); k-- > 0 && same_partition.size() < 40;) {
      if (sent[k].partition == p) same_partition.push_back(&sent[k]);
    }
    if (kind <= 4 && !same_partition.empty()) {  // a re-send of a recent event of p
      const Event& of = *same_partition[rng() % same_partition.size()];
      e.id = of.id;
      e.time = kind == 1 ? t : of.time;  // kind 1: the same id at another time
      e.paid = of.paid;
    }
    sent.push_back(e);
    out.push_back(e);
  }
  return out;
}

std::shared_ptr<arrow::RecordBatch> Batch(std::vector<Event> rows) {
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Event& a, const Event& b) { return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset); });
  arrow::StringBuilder ids;
  arrow::TimestampBuilder times(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
  arrow::Int32Builder parts;
  arrow::Int64Builder offsets;
  for (const Event& e : rows) {
    EXPECT_TRUE(ids.Append(e.id).ok());
    EXPECT_TRUE(times.Append(e.time).ok());
    EXPECT_TRUE(parts.Append(e.partition).ok());
    EXPECT_TRUE(offsets.Append(e.offset).ok());
  }
  auto schema = arrow::schema({arrow::field("event_id", arrow::utf8()),
                               arrow::field("event_time", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                               arrow::field("kafka_partition", arrow::int32()),
                               arrow::field("kafka_offset", arrow::int64())});
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(rows.size()),
                                  {ids.Finish().ValueOrDie(), times.Finish().ValueOrDie(),
                                   parts.Finish().ValueOrDie(), offsets.Finish().ValueOrDie()});
}

/// Judges `rows` (one batch) with `dedup`, records each PAID row's outcome in `out` ('F' new,
/// 'D' duplicate, 'B' beyond the horizon), then evicts as the engine does after a batch.
void Judge(PartitionDedup* dedup, const std::vector<Event>& rows, Outcomes* out) {
  auto batch = Batch(rows);
  auto parts = std::static_pointer_cast<arrow::Int32Array>(batch->GetColumnByName("kafka_partition"));
  auto offsets = std::static_pointer_cast<arrow::Int64Array>(batch->GetColumnByName("kafka_offset"));
  std::map<std::pair<int32_t, int64_t>, bool> paid_of;
  for (const Event& e : rows) paid_of[{e.partition, e.offset}] = e.paid;
  RowSelection paid;
  for (int64_t r = 0; r < batch->num_rows(); ++r) {
    if (paid_of[{parts->Value(r), offsets->Value(r)}]) paid.push_back(r);
  }
  auto judged = dedup->Process(*batch, paid);
  ASSERT_TRUE(judged.ok()) << judged.status().ToString();
  for (int64_t r : paid) (*out)[{parts->Value(r), offsets->Value(r)}] = 'D';
  for (int64_t r : judged->fresh) (*out)[{parts->Value(r), offsets->Value(r)}] = 'F';
  ASSERT_EQ(judged->beyond.size(), judged->beyond_watermarks.size());
  for (size_t k = 0; k < judged->beyond.size(); ++k) {
    const int64_t r = judged->beyond[k];
    (*out)[{parts->Value(r), offsets->Value(r)}] = 'B';
    EXPECT_NE(judged->beyond_watermarks[k], PartitionDedup::kNone);
  }
  dedup->Evict();
}

/// Runs `stream` cut into batches of random sizes up to `max_batch`, snapshotting after each
/// batch (a full file every few, deltas between) and, at random, restoring into a new
/// PartitionDedup from the last full file and the deltas after it.
Outcomes Engine(const std::vector<Event>& stream, size_t max_batch, uint32_t seed) {
  std::mt19937 rng(seed);
  auto dedup = std::make_unique<PartitionDedup>(kLateness, kHorizon);
  std::string full = dedup->SerializeState();
  std::vector<std::string> deltas;
  Outcomes out;
  for (size_t from = 0; from < stream.size();) {
    const size_t n = std::min(stream.size() - from, 1 + rng() % max_batch);
    std::vector<Event> rows(stream.begin() + static_cast<std::ptrdiff_t>(from),
                            stream.begin() + static_cast<std::ptrdiff_t>(from + n));
    from += n;
    Judge(dedup.get(), rows, &out);
    if (rng() % 4 == 0) {
      full = dedup->SerializeState();
      deltas.clear();
    } else {
      deltas.push_back(dedup->SerializeDelta());
    }
    if (rng() % 3 == 0) {
      const int64_t held = dedup->size();
      dedup = std::make_unique<PartitionDedup>(kLateness, kHorizon);
      EXPECT_TRUE(dedup->RestoreState(full).ok());
      for (const std::string& d : deltas) EXPECT_TRUE(dedup->ApplyDelta(d).ok());
      EXPECT_EQ(dedup->size(), held);
    }
  }
  return out;
}

TEST(PartitionDedupTest, EveryCutIntoBatchesGivesTheEventByEventOutcome) {
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    const std::vector<Event> stream = Stream(seed, 2000);
    const Outcomes expected = Model(stream);
    std::map<char, int> kinds;
    for (const auto& [key, kind] : expected) ++kinds[kind];
    ASSERT_GT(kinds['F'], 100);
    ASSERT_GT(kinds['D'], 10);
    ASSERT_GT(kinds['B'], 10);
    for (size_t max_batch : {size_t{1}, size_t{7}, size_t{50}, size_t{5000}}) {
      EXPECT_EQ(Engine(stream, max_batch, seed * 31 + static_cast<uint32_t>(max_batch)), expected)
          << "seed " << seed << ", batches of up to " << max_batch;
    }
  }
}

/// Group mode: two members hold the partitions between them, and after every batch some
/// partitions move from one to the other, as SerializePartition and RestorePartition carry
/// them (the member losing one drops it). Each batch is judged by the member that holds each
/// partition: the outcome is the event-by-event one all the same.
TEST(PartitionDedupTest, PartitionsMovingBetweenMembersGiveTheEventByEventOutcome) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    const std::vector<Event> stream = Stream(seed, 2000);
    std::mt19937 rng(seed * 7);
    PartitionDedup members[2] = {PartitionDedup(kLateness, kHorizon), PartitionDedup(kLateness, kHorizon)};
    std::map<int32_t, int> owner = {{0, 0}, {1, 0}, {2, 1}, {3, 1}};
    Outcomes out;
    for (size_t from = 0; from < stream.size();) {
      const size_t n = std::min(stream.size() - from, 1 + rng() % 60);
      for (int m = 0; m < 2; ++m) {
        std::vector<Event> rows;
        for (size_t i = from; i < from + n; ++i) {
          if (owner[stream[i].partition] == m) rows.push_back(stream[i]);
        }
        if (!rows.empty()) Judge(&members[m], rows, &out);
      }
      from += n;
      for (auto& [p, m] : owner) {
        if (rng() % 5 != 0) continue;
        const std::string moved = members[m].SerializePartition(p);
        members[m].DropPartition(p);
        m = 1 - m;
        ASSERT_TRUE(members[m].RestorePartition(p, moved).ok());
        EXPECT_EQ(members[m].SerializePartition(p), moved);
      }
    }
    EXPECT_EQ(out, Model(stream)) << "seed " << seed;
  }
}

TEST(PartitionDedupTest, APartitionIsRestoredOnlyFromItsOwnSnapshot) {
  PartitionDedup dedup(kLateness, kHorizon);
  ASSERT_TRUE(dedup.Process(*Batch({{0, 0, "a", 5, true}, {1, 0, "b", 7, true}}), {0, 1}).ok());
  const std::string zero = dedup.SerializePartition(0);
  const std::string none = dedup.SerializePartition(2);  // a partition with no events yet
  PartitionDedup other(kLateness, kHorizon);
  ASSERT_TRUE(other.Process(*Batch({{1, 0, "c", 9, true}}), {0}).ok());
  EXPECT_FALSE(other.RestorePartition(1, zero).ok());
  EXPECT_EQ(other.size(), 1);  // left as it was
  ASSERT_TRUE(other.RestorePartition(0, zero).ok());
  EXPECT_EQ(other.size(), 2);
  EXPECT_EQ(other.WatermarkOf(0), 5 - kLateness);
  ASSERT_TRUE(other.RestorePartition(1, none).ok());  // an empty snapshot: partition 1 starts afresh
  EXPECT_EQ(other.WatermarkOf(1), PartitionDedup::kNone);
  EXPECT_EQ(other.size(), 1);
}

TEST(PartitionDedupTest, APartitionJudgesByItsOwnWatermarkOnly) {
  PartitionDedup dedup(kLateness, kHorizon);
  // Partition 0 runs far ahead; partition 1's old event is judged by partition 1 alone.
  auto first = Batch({{0, 0, "a", 10'000, true}, {1, 0, "b", 100, true}});
  ASSERT_TRUE(dedup.Process(*first, {0, 1}).ok());
  dedup.Evict();
  auto second = Batch({{0, 1, "c", 200, true}, {1, 1, "d", 90, true}, {1, 2, "b", 100, true}});
  auto judged = dedup.Process(*second, {0, 1, 2});
  ASSERT_TRUE(judged.ok());
  EXPECT_EQ(judged->beyond, RowSelection({0}));  // 200 < 10'000 - 30 - 100
  EXPECT_EQ(judged->beyond_watermarks, std::vector<int64_t>({10'000 - kLateness}));
  EXPECT_EQ(judged->fresh, RowSelection({1}));   // "b" again in partition 1 is a duplicate
  EXPECT_EQ(dedup.WatermarkOf(1), 100 - kLateness);
  EXPECT_EQ(dedup.MinWatermark(), 100 - kLateness);
  EXPECT_EQ(dedup.MaxWatermark(), 10'000 - kLateness);
}

TEST(PartitionDedupTest, AFloorSendsOlderEventsBeyondTheHorizon) {
  PartitionDedup dedup(kLateness, kHorizon);
  auto batch = Batch({{0, 0, "a", 500, true}, {0, 1, "b", 450, true}});
  auto judged = dedup.Process(*batch, {0, 1}, /*floor_us=*/460);
  ASSERT_TRUE(judged.ok());
  EXPECT_EQ(judged->fresh, RowSelection({0}));
  EXPECT_EQ(judged->beyond, RowSelection({1}));
}

TEST(PartitionDedupTest, DamagedStateIsRefused) {
  PartitionDedup dedup(kLateness, kHorizon);
  ASSERT_TRUE(dedup.Process(*Batch({{3, 0, "a", 5, true}}), {0}).ok());
  std::string full = dedup.SerializeState();
  std::string delta = dedup.SerializeDelta();
  PartitionDedup other(kLateness, kHorizon);
  ASSERT_TRUE(other.RestoreState(full).ok());
  EXPECT_EQ(other.size(), 1);
  full[full.size() / 2] ^= 0x5a;
  EXPECT_FALSE(other.RestoreState(full).ok());
  EXPECT_EQ(other.size(), 0);
  EXPECT_FALSE(other.ApplyDelta(full).ok());   // a snapshot is not a delta
  EXPECT_FALSE(other.RestoreState(delta).ok());  // nor a delta a snapshot
}

/// A one-partition snapshot or delta written by hand, partition 0 at `max_event_time_us`.
std::string OnePartition(std::string_view tag, int64_t max_event_time_us) {
  Deduplicator ids;
  StateWriter w(tag, 1);
  w.WriteInt<uint64_t>(1);
  w.WriteInt<int32_t>(0);
  w.WriteInt<int64_t>(max_event_time_us);
  w.WriteString(tag.ends_with(".delta") ? ids.SerializeDelta() : ids.SerializeState());
  return std::move(w).Finish();
}

// The twin of the watermark's case state_fuzz found: a partition's greatest event time near
// INT64_MIN would make its watermark (time - lateness) overflow. Times outside years
// 1970..9999 are refused in snapshots, partition snapshots and deltas alike.
TEST(PartitionDedupTest, RefusesEventTimesTheEngineCannotHaveRecorded) {
  for (const int64_t t : {PartitionDedup::kNone + 1, int64_t{-1}, kMaxEventTimeMicros + 1}) {
    PartitionDedup dedup(kLateness, kHorizon);
    const arrow::Status full = dedup.RestoreState(OnePartition("ops.partition_dedup", t));
    EXPECT_TRUE(full.IsInvalid()) << t;
    EXPECT_NE(full.message().find("outside years 1970..9999"), std::string::npos) << full.ToString();
    EXPECT_TRUE(dedup.RestorePartition(0, OnePartition("ops.partition_dedup", t)).IsInvalid()) << t;
    EXPECT_TRUE(dedup.ApplyDelta(OnePartition("ops.partition_dedup.delta", t)).IsInvalid()) << t;
    EXPECT_TRUE(dedup.ApplyPartitionDelta(0, OnePartition("ops.partition_dedup.delta", t)).IsInvalid()) << t;
  }
  // A partition with no event yet, and the last microsecond of 9999.
  for (const int64_t t : {PartitionDedup::kNone, kMaxEventTimeMicros}) {
    PartitionDedup dedup(kLateness, kHorizon);
    ASSERT_TRUE(dedup.RestoreState(OnePartition("ops.partition_dedup", t)).ok()) << t;
    EXPECT_EQ(dedup.WatermarkOf(0), t == PartitionDedup::kNone ? t : t - kLateness);
  }
}

}  // namespace
}  // namespace medallion::ops
