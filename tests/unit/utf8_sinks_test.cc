#include <string>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "common/utf8.h"
#include "sink/file_stats.h"
#include "sink/json_text.h"

/// Hostile strings reach the Delta log only as valid JSON and valid UTF-8: control
/// characters are escaped, and string statistics are cut on character boundaries.
namespace medallion::sink {
namespace {

/// Parses `json` (simdjson validates UTF-8 and escapes) and returns the string at `key`.
std::string StringAt(const std::string& json, std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  auto error = parser.parse(json).get(root);
  EXPECT_EQ(error, simdjson::SUCCESS) << json;
  if (error) return "";
  std::string_view value;
  error = root.at_pointer(pointer).get(value);
  EXPECT_EQ(error, simdjson::SUCCESS) << json;
  return std::string(value);
}

TEST(Utf8SinksTest, JsonStringEscapesEveryControlCharacter) {
  std::string all;
  for (int c = 0; c < 0x20; ++c) all.push_back(static_cast<char>(c));
  all += "\"\\/\x7F\xC3\xA9\xF0\x9F\x98\x80";
  const std::string json = "{\"v\":" + JsonString(all) + "}";
  for (char c : json) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << json;
  EXPECT_EQ(StringAt(json, "/v"), all);
}

TEST(Utf8SinksTest, StringStatsStayValidUtf8) {
  std::string e40, emoji40;
  for (int i = 0; i < 40; ++i) e40 += "\xC3\xA9";
  for (int i = 0; i < 40; ++i) emoji40 += "\xF0\x9F\x98\x80";
  struct Case {
    std::string name;
    std::vector<std::string> values;
    std::string min, max;  // expected bounds
  };
  const std::string max_char = "\xF4\x8F\xBF\xBF";  // U+10FFFF
  const std::vector<Case> cases = {
      {"2-byte characters past the prefix", {"A" + e40}, "A" + e40.substr(0, 62), "A" + e40.substr(0, 62) + max_char},
      {"4-byte characters past the prefix", {emoji40}, emoji40.substr(0, 128), emoji40.substr(0, 128) + max_char},
      // The max cut right before U+10FFFF: its prefix and one U+10FFFF would be below it.
      {"U+10FFFF right after the prefix", {std::string(32, 'a') + max_char + "b"}, std::string(32, 'a'),
       std::string(32, 'a') + max_char + max_char},
      {"U+10FFFF to the end", {std::string(32, 'a') + max_char + max_char}, std::string(32, 'a'),
       std::string(32, 'a') + max_char + max_char},
      {"control characters", {std::string("\x01\n\x1F", 3), std::string("a\0b", 3)}, std::string("\x01\n\x1F", 3),
       std::string("a\0b", 3)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    arrow::StringBuilder b;
    ASSERT_TRUE(b.AppendValues(c.values).ok());
    auto array = b.Finish().ValueOrDie();
    auto schema = arrow::schema({arrow::field("s", arrow::utf8())});
    auto batch = arrow::RecordBatch::Make(schema, array->length(), {array});
    const std::string stats = ComputeFileStats(*batch);
    EXPECT_TRUE(IsValidUtf8(stats));
    EXPECT_EQ(StringAt(stats, "/minValues/s"), c.min);
    EXPECT_EQ(StringAt(stats, "/maxValues/s"), c.max);
  }
}

TEST(Utf8SinksTest, InvalidUtf8StringsGetNoBounds) {
  arrow::StringBuilder b;
  ASSERT_TRUE(b.Append(std::string_view("A\xFF")).ok());
  auto array = b.Finish().ValueOrDie();
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("s", arrow::utf8())}), 1, {array});
  const std::string stats = ComputeFileStats(*batch);
  EXPECT_TRUE(IsValidUtf8(stats)) << stats;
  EXPECT_EQ(stats.find("minValues\":{\"s\""), std::string::npos) << stats;
}

}  // namespace
}  // namespace medallion::sink
