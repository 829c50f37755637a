#include "common/time_util.h"

#include <gtest/gtest.h>

namespace medallion {
namespace {

TEST(TimeUtilTest, ParsesZoneForms) {
  struct Case {
    const char* text;
    int64_t micros;
  };
  const Case cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2026-11-24T10:15:30.123Z", 1795515330123000},
      {"2026-11-24T11:15:30.123+01:00", 1795515330123000},
      {"2026-11-24T10:15:30.1234567Z", 1795515330123456},
      {"1969-12-31T23:59:59.999999Z", -1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto v = ParseIso8601Micros(c.text);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, c.micros);
  }
}

TEST(TimeUtilTest, RejectsMalformed) {
  for (const char* text : {"2026-11-24T10:15:30", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                           "2026-11-24 10:15Z", "yesterday", "2026-11-24T10:15:30.Z",
                           "2026-11-24T10:15:30Zjunk"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ParseIso8601Micros(text).has_value());
  }
}

TEST(TimeUtilTest, FormatsRoundTrip) {
  EXPECT_EQ(FormatIso8601Micros(1795515330123000), "2026-11-24T10:15:30.123000Z");
  EXPECT_EQ(FormatDate(-1), "1969-12-31");
  EXPECT_EQ(MicrosToEpochDays(-1), -1);
}

}  // namespace
}  // namespace medallion
