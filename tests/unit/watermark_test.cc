#include "state/watermark.h"

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "common/time_util.h"
#include "ops/state_codec.h"

namespace medallion::state {
namespace {

constexpr int64_t kSec = 1'000'000;

TEST(WatermarkTest, MinOverActivePartitionsMinusLateness) {
  Watermark wm(10 * kSec, 30 * kSec);
  EXPECT_EQ(wm.current(), Watermark::kNone);
  wm.Observe(0, 100 * kSec, 0);
  wm.Observe(1, 60 * kSec, 0);
  EXPECT_EQ(wm.Advance(0), 50 * kSec);  // partition 1 is behind: it holds the watermark
  wm.Observe(1, 200 * kSec, 1 * kSec);
  EXPECT_EQ(wm.Advance(1 * kSec), 90 * kSec);  // now partition 0 is the slowest
}

TEST(WatermarkTest, IdlePartitionStopsHoldingItBack) {
  Watermark wm(0, 30 * kSec);
  wm.Observe(0, 100 * kSec, 0);
  wm.Observe(1, 10 * kSec, 0);
  EXPECT_EQ(wm.Advance(0), 10 * kSec);
  wm.Observe(0, 150 * kSec, 40 * kSec);  // partition 1 silent for 40 s > 30 s
  EXPECT_EQ(wm.Advance(40 * kSec), 150 * kSec);
}

TEST(WatermarkTest, AllIdleUsesMaximumAndNeverGoesBack) {
  Watermark wm(5 * kSec, 1 * kSec);
  wm.Observe(0, 100 * kSec, 0);
  wm.Observe(1, 50 * kSec, 0);
  EXPECT_EQ(wm.Advance(10 * kSec), 95 * kSec);  // both idle: the maximum counts
  wm.Observe(1, 60 * kSec, 11 * kSec);          // partition 1 wakes up, far behind
  EXPECT_EQ(wm.Advance(11 * kSec), 95 * kSec);  // but the watermark does not go back
}

TEST(WatermarkTest, BehindPartitionThatDeliveredStaysActiveHoweverLongAgo) {
  Watermark wm(0, 30 * kSec);
  wm.Observe(0, 100 * kSec, 0);
  wm.Observe(1, 10 * kSec, 0);
  EXPECT_EQ(wm.Advance(0), 10 * kSec);
  // Partition 1 was not read for 40 s (> idle timeout), but it still holds unread records:
  // it is not idle, so it keeps holding the watermark.
  wm.Observe(0, 150 * kSec, 40 * kSec);
  EXPECT_EQ(wm.Advance(40 * kSec, {1}), 10 * kSec);
  // Caught up and silent: now it is idle.
  EXPECT_EQ(wm.Advance(40 * kSec, {}), 150 * kSec);
}

TEST(WatermarkTest, BehindPartitionThatNeverDeliveredFreezesTheWatermark) {
  Watermark wm(0, 30 * kSec);
  wm.Observe(0, 100 * kSec, 0);
  EXPECT_EQ(wm.Advance(0, {1}), Watermark::kNone);  // partition 1 not read yet
  wm.Observe(0, 200 * kSec, 1 * kSec);
  EXPECT_EQ(wm.Advance(1 * kSec, {1}), Watermark::kNone);
  wm.Observe(1, 50 * kSec, 2 * kSec);  // its first events: far behind partition 0
  EXPECT_EQ(wm.Advance(2 * kSec, {1}), 50 * kSec);
  EXPECT_EQ(wm.Advance(3 * kSec, {}), 50 * kSec);  // both active: the minimum
}

TEST(WatermarkTest, BehindRuleTable) {
  struct Case {
    const char* name;
    std::set<int32_t> behind;
    int64_t now;
    int64_t want;
  };
  // Partition 0 up to 100 s, seen at 0; partition 1 up to 60 s, seen at 0; idle after 30 s.
  const Case cases[] = {
      {"none behind, both active", {}, 0, 60 * kSec},
      {"none behind, both idle: maximum", {}, 40 * kSec, 100 * kSec},
      {"1 behind while idle by time", {1}, 40 * kSec, 60 * kSec},
      {"0 behind while idle by time", {0}, 40 * kSec, 100 * kSec},
      {"an unseen partition behind", {0, 7}, 40 * kSec, Watermark::kNone},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Watermark wm(0, 30 * kSec);
    wm.Observe(0, 100 * kSec, 0);
    wm.Observe(1, 60 * kSec, 0);
    EXPECT_EQ(wm.Advance(c.now, c.behind), c.want);
  }
}

TEST(WatermarkTest, StateRoundTrip) {
  Watermark wm(5 * kSec, 30 * kSec);
  wm.Observe(3, 100 * kSec, 7);
  wm.Advance(7);
  Watermark restored(5 * kSec, 30 * kSec);
  ASSERT_TRUE(restored.RestoreState(wm.SerializeState()).ok());
  EXPECT_EQ(restored.current(), wm.current());
  EXPECT_EQ(restored.SerializeState(), wm.SerializeState());
  std::string bad = wm.SerializeState();
  bad[bad.size() - 1] ^= 1;
  EXPECT_FALSE(restored.RestoreState(bad).ok());
}

/// A watermark snapshot written by hand: the watermark, then one partition.
std::string Snapshot(int64_t current, int64_t max_event_time_us, int64_t last_seen_us) {
  ops::StateWriter w("state.watermark", 1);
  w.WriteInt<int64_t>(current);
  w.WriteInt<uint64_t>(1);
  w.WriteInt<int32_t>(3);
  w.WriteInt<int64_t>(max_event_time_us);
  w.WriteInt<int64_t>(last_seen_us);
  return std::move(w).Finish();
}

// state_fuzz found this: a checksummed snapshot whose last-seen time was near INT64_MIN made
// the next Advance overflow (now - last_seen). Times the engine cannot have recorded are refused.
TEST(WatermarkTest, RefusesASnapshotWithTimesTheEngineCannotHaveRecorded) {
  const int64_t kNone = Watermark::kNone;
  const int64_t kMax = kMaxEventTimeMicros;
  Watermark wm(5 * kSec, 30 * kSec);
  for (const auto& [current, max_time, last_seen] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {kNone, 100 * kSec, kNone + 128},  // the fuzzer's input
           {kNone, 100 * kSec, -1},
           {kNone, -1, 7},
           {kNone, kMax + 1, 7},
           {kNone + 1, 100 * kSec, 7},
           {kMax + 1, 100 * kSec, 7},
       }) {
    const arrow::Status st = wm.RestoreState(Snapshot(current, max_time, last_seen));
    EXPECT_TRUE(st.IsInvalid()) << current << " " << max_time << " " << last_seen;
    EXPECT_NE(st.message().find("outside years 1970..9999"), std::string::npos) << st.ToString();
  }
  // A partition that brought no event yet, and a watermark before 1970 by the allowed lateness.
  ASSERT_TRUE(wm.RestoreState(Snapshot(-5 * kSec, kNone, 0)).ok());
  EXPECT_EQ(wm.current(), -5 * kSec);
  ASSERT_TRUE(wm.RestoreState(Snapshot(kNone, kMax, kMax)).ok());
  EXPECT_EQ(wm.Advance(kMax), kMax - 5 * kSec);
}

}  // namespace
}  // namespace medallion::state
