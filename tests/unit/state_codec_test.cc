#include "ops/state_codec.h"

#include <limits>

#include <gtest/gtest.h>

#include "status_assertions.h"

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
  // "MDS3", u32 tag length 1, "t", u32 version 1, payload, u64 checksum.
  ASSERT_EQ(bytes.size(), 4u + 4 + 1 + 4 + 4 + 8);
  EXPECT_EQ(bytes.substr(0, 4), "MDS3");
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

/// 64-bit FNV-1a, written out here on its own: the checksum of earlier builds' snapshots.
uint64_t ReferenceFnv1a(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

std::string LittleEndian(uint64_t value, size_t width) {
  std::string out;
  for (size_t i = 0; i < width; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
  return out;
}

// A snapshot an earlier build wrote ("MDST", FNV-1a) is still read; one byte changed in it,
// or its checksum taken as the new one's, is refused.
TEST(StateCodecTest, ReadsEarlierBuildsFnvSnapshots) {
  const std::string body = "MDST" + LittleEndian(7, 4) + "test.op" + LittleEndian(2, 4) + LittleEndian(42, 8) +
                           LittleEndian(3, 4) + "abc";
  const std::string old = body + LittleEndian(ReferenceFnv1a(body), 8);
  ASSERT_OK_AND_ASSIGN(r, StateReader::Open(old, "test.op", 2));
  EXPECT_EQ(r.version(), 2u);
  EXPECT_EQ(r.ReadInt<uint64_t>().ValueOrDie(), 42u);
  EXPECT_EQ(r.ReadString().ValueOrDie(), "abc");
  EXPECT_TRUE(r.Finish().ok());
  EXPECT_EQ(StateReader::PeekTag(old), std::optional<std::string_view>("test.op"));

  std::string flipped = old;
  flipped[20] ^= 1;
  EXPECT_TRUE(StateReader::Open(flipped, "test.op", 2).status().IsInvalid());
  // The same fields written now differ only in magic and checksum; swapping the magics breaks both.
  StateWriter w("test.op", 2);
  w.WriteInt<uint64_t>(42);
  w.WriteString("abc");
  const std::string now = std::move(w).Finish();
  EXPECT_EQ(now.substr(4, now.size() - 12), old.substr(4, old.size() - 12));
  EXPECT_TRUE(StateReader::Open("MDS3" + old.substr(4), "test.op", 2).status().IsInvalid());
  EXPECT_TRUE(StateReader::Open("MDST" + now.substr(4), "test.op", 2).status().IsInvalid());
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
