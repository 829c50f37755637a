// Partition values the engine writes into folder names and the Delta log.
#include "engine/partitioning.h"

#include <gtest/gtest.h>

#include "common/time_util.h"

namespace medallion::engine {
namespace {

TEST(PartitioningTest, HourIsAnUnpaddedInteger) {
  // Hours before 10 have no leading zero, so every reader types the folder as an integer.
  const std::pair<const char*, const char*> cases[] = {
      {"2026-11-26T00:00:52Z", "0"}, {"2026-11-26T09:59:59.999999Z", "9"},
      {"2026-11-26T10:00:00Z", "10"}, {"2026-11-25T23:30:00Z", "23"},
      {"1969-12-31T23:59:59Z", "23"}};  // before the epoch: the floor, not the truncation
  for (const auto& [time, hour] : cases) {
    SCOPED_TRACE(time);
    const auto micros = ParseIso8601Micros(time);
    ASSERT_TRUE(micros.has_value());
    EXPECT_EQ(HourPartitionValue(*micros), hour);
  }
}

}  // namespace
}  // namespace medallion::engine
