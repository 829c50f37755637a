#include "ops/window_assign.h"

#include <gtest/gtest.h>

namespace medallion::ops {
namespace {

TEST(WindowAssignTest, TumblingStartIsAFloor) {
  struct Case {
    int64_t ts;
    int64_t size;
    int64_t start;
  };
  const Case cases[] = {
      {0, 60, 0},      {59, 60, 0},     {60, 60, 60},       {61, 60, 60},
      {-1, 60, -60},   {-60, 60, -60},  {-61, 60, -120},    {1, 1, 1},
      {1795515330123456, 60'000'000, 1795515300000000},
      {-1, 60'000'000, -60'000'000},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.ts) + " / " + std::to_string(c.size));
    EXPECT_EQ(TumblingWindowStart(c.ts, c.size), c.start);
  }
}

TEST(WindowAssignTest, SlidingStartsCoverTimestamp) {
  struct Case {
    int64_t ts;
    int64_t size;
    int64_t slide;
    std::vector<int64_t> starts;
  };
  const Case cases[] = {
      {0, 60, 20, {-40, -20, 0}},
      {19, 60, 20, {-40, -20, 0}},
      {20, 60, 20, {-20, 0, 20}},
      {65, 60, 20, {20, 40, 60}},
      {-1, 60, 20, {-60, -40, -20}},
      {-20, 60, 20, {-60, -40, -20}},
      {-21, 60, 20, {-80, -60, -40}},
      {65, 60, 60, {60}},
      {7, 10, 5, {0, 5}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.ts) + " size " + std::to_string(c.size) + " slide " +
                 std::to_string(c.slide));
    const auto starts = SlidingWindowStarts(c.ts, c.size, c.slide);
    EXPECT_EQ(starts, c.starts);
    for (int64_t s : starts) {
      EXPECT_LE(s, c.ts);
      EXPECT_LT(c.ts, s + c.size);
    }
  }
}

TEST(WindowAssignTest, SpecValidates) {
  struct Case {
    int64_t size;
    int64_t slide;
    bool ok;
  };
  const Case cases[] = {
      {60, 60, true}, {60, 20, true}, {60, 1, true},   {60, 25, false},
      {60, 120, false}, {0, 0, false}, {-60, -60, false}, {60, 0, false}, {60, -20, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.size) + "/" + std::to_string(c.slide));
    auto spec = WindowSpec::Make(c.size, c.slide);
    EXPECT_EQ(spec.ok(), c.ok) << spec.status().ToString();
    if (!c.ok) {
      EXPECT_TRUE(spec.status().IsInvalid());
    }
  }
}

TEST(WindowAssignTest, SpecStarts) {
  auto tumbling = WindowSpec::Tumbling(60).ValueOrDie();
  EXPECT_TRUE(tumbling.tumbling());
  EXPECT_EQ(tumbling.Starts(-1), std::vector<int64_t>{-60});
  EXPECT_EQ(tumbling.Starts(125), std::vector<int64_t>{120});

  auto sliding = WindowSpec::Make(60, 30).ValueOrDie();
  EXPECT_FALSE(sliding.tumbling());
  EXPECT_EQ(sliding.Starts(45), (std::vector<int64_t>{0, 30}));
}

}  // namespace
}  // namespace medallion::ops
