#include "ops/state_codec.h"

#include <limits>

#include <gtest/gtest.h>

namespace medallion::ops {
namespace {

TEST(StateCodecTest, RoundTripsEveryFieldKind) {
  StateWriter w("test.op", 3);
  w.WriteInt<int64_t>(std::numeric_limits<int64_t>::min());
  w.WriteInt<int32_t>(-7);
  w.WriteInt<uint64_t>(std::numeric_limits<uint64_t>::max());
  w.WriteBool(true);
  w.WriteString("");
  w.WriteString(std::string("a\0b", 3));
  w.WriteOptionalString(std::nullopt);
  w.WriteOptionalString(std::string("x"));
  const std::string bytes = std::move(w).Finish();

  auto r = StateReader::Open(bytes, "test.op", 3).ValueOrDie();
  EXPECT_EQ(r.version(), 3u);
  EXPECT_EQ(r.ReadInt<int64_t>().ValueOrDie(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(r.ReadInt<int32_t>().ValueOrDie(), -7);
  EXPECT_EQ(r.ReadInt<uint64_t>().ValueOrDie(), std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(r.ReadBool().ValueOrDie());
  EXPECT_EQ(r.ReadString().ValueOrDie(), "");
  EXPECT_EQ(r.ReadString().ValueOrDie(), std::string("a\0b", 3));
  EXPECT_EQ(r.ReadOptionalString().ValueOrDie(), std::nullopt);
  EXPECT_EQ(r.ReadOptionalString().ValueOrDie(), std::optional<std::string>("x"));
  EXPECT_TRUE(r.Finish().ok());
  EXPECT_TRUE(r.ReadInt<uint8_t>().status().IsInvalid());  // past the end
}

TEST(StateCodecTest, LittleEndianLayout) {
  StateWriter w("t", 1);
  w.WriteInt<uint32_t>(0x01020304);
  const std::string bytes = std::move(w).Finish();
  // "MDST", u32 tag length 1, "t", u32 version 1, payload, u64 checksum.
  ASSERT_EQ(bytes.size(), 4u + 4 + 1 + 4 + 4 + 8);
  EXPECT_EQ(bytes.substr(0, 4), "MDST");
  EXPECT_EQ(bytes.substr(13, 4), std::string("\x04\x03\x02\x01", 4));
}

TEST(StateCodecTest, OpenRejects) {
  StateWriter w("test.op", 2);
  w.WriteInt<uint64_t>(5);
  const std::string good = std::move(w).Finish();
  struct Case {
    std::string name;
    std::string bytes;
    std::string tag;
    uint32_t max_version;
  };
  const Case cases[] = {
      {"empty", "", "test.op", 2},
      {"short", "MDST", "test.op", 2},
      {"bad magic", "XDST" + good.substr(4), "test.op", 2},
      {"truncated", good.substr(0, good.size() - 1), "test.op", 2},
      {"other tag", good, "test.other", 2},
      {"newer version", good, "test.op", 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(StateReader::Open(c.bytes, c.tag, c.max_version).status().IsInvalid());
  }
}

TEST(StateCodecTest, CountIsBoundedByBytesLeft) {
  StateWriter w("t", 1);
  w.WriteInt<uint64_t>(3);
  w.WriteString("abc");
  const std::string bytes = std::move(w).Finish();
  {
    auto r = StateReader::Open(bytes, "t", 1).ValueOrDie();
    EXPECT_EQ(r.ReadCount(1).ValueOrDie(), 3u);  // 7 bytes left
  }
  {
    auto r = StateReader::Open(bytes, "t", 1).ValueOrDie();
    EXPECT_TRUE(r.ReadCount(4).status().IsInvalid());  // 3 * 4 > 7
  }
  {
    auto r = StateReader::Open(bytes, "t", 1).ValueOrDie();
    ASSERT_TRUE(r.ReadInt<uint64_t>().ok());
    EXPECT_TRUE(r.Finish().IsInvalid());  // the string is left
  }
}

}  // namespace
}  // namespace medallion::ops
