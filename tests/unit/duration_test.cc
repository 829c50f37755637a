// ParseDurationMicros: units, and the values it refuses (zero, signs, overflow, too long).
#include "common/duration.h"

#include <gtest/gtest.h>

namespace medallion {
namespace {

TEST(DurationTest, ParsesUnits) {
  EXPECT_EQ(ParseDurationMicros("7us"), 7);
  EXPECT_EQ(ParseDurationMicros("500ms"), 500'000);
  EXPECT_EQ(ParseDurationMicros("2h"), 7'200'000'000LL);
  EXPECT_EQ(ParseDurationMicros("36500d"), kMaxDurationMicros);
}

TEST(DurationTest, RefusesZeroSignsOverflowAndTooLong) {
  for (const char* bad : {"0s", "-1s", "+1s", "1", "s", "1 s", "36501d", "9999999999999d",
                          "9223372036854775807us", "99999999999999999999999us", "153722867280912931m"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseDurationMicros(bad).has_value());
  }
}

TEST(DurationTest, ZeroOnlyWhereAllowed) {
  EXPECT_EQ(ParseDurationMicros("0s", /*allow_zero=*/true), 0);
  EXPECT_EQ(ParseDurationMicros("0ms", /*allow_zero=*/true), 0);
  EXPECT_EQ(ParseDurationMicros("5s", /*allow_zero=*/true), 5'000'000);
  for (const char* bad : {"0", "-0s", "-1s", "s"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseDurationMicros(bad, /*allow_zero=*/true).has_value());
  }
}

}  // namespace
}  // namespace medallion
