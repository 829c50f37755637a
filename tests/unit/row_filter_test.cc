#include "sink/row_filter.h"

#include <arrow/api.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>

#include "status_assertions.h"

namespace medallion::sink {
namespace {

class RowFilterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_OK(arrow::compute::Initialize()); }

  /// Five rows: id, status, price decimal(18,4), at timestamp(us, UTC), raw binary, day date32.
  static std::shared_ptr<arrow::Table> Rows() {
    arrow::Int64Builder id;
    arrow::StringBuilder status;
    arrow::Decimal128Builder price(arrow::decimal128(18, 4));
    arrow::TimestampBuilder at(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool());
    arrow::BinaryBuilder raw;
    arrow::Date32Builder day;
    const char* statuses[] = {"PAID", "CANCELLED", "PAID", nullptr, "PAID"};
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(id.Append(i + 1).ok());
      EXPECT_TRUE((statuses[i] ? status.Append(statuses[i]) : status.AppendNull()).ok());
      EXPECT_TRUE(price.Append(arrow::Decimal128((i + 1) * 19990)).ok());  // 1.9990, 3.9980, ...
      EXPECT_TRUE(at.Append(1'764'000'000'000'000LL + i * 1'000'000LL).ok());
      EXPECT_TRUE(raw.Append("k" + std::to_string(i)).ok());
      EXPECT_TRUE(day.Append(20'416 + i % 2).ok());  // 2025-11-24 / 25
    }
    std::vector<std::shared_ptr<arrow::Array>> arrays(6);
    EXPECT_TRUE(id.Finish(&arrays[0]).ok());
    EXPECT_TRUE(status.Finish(&arrays[1]).ok());
    EXPECT_TRUE(price.Finish(&arrays[2]).ok());
    EXPECT_TRUE(at.Finish(&arrays[3]).ok());
    EXPECT_TRUE(raw.Finish(&arrays[4]).ok());
    EXPECT_TRUE(day.Finish(&arrays[5]).ok());
    auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("status", arrow::utf8()),
                                 arrow::field("price", arrow::decimal128(18, 4)),
                                 arrow::field("at", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                                 arrow::field("raw", arrow::binary()), arrow::field("day", arrow::date32())});
    return arrow::Table::Make(schema, arrays);
  }

  /// The ids of the rows `filter` keeps.
  static std::vector<int64_t> Ids(const std::string& filter) {
    auto conditions = ParseRowFilter(filter);
    EXPECT_TRUE(conditions.ok()) << conditions.status().ToString();
    auto kept = FilterRows(Rows(), *conditions);
    EXPECT_TRUE(kept.ok()) << kept.status().ToString();
    std::vector<int64_t> ids;
    if (!kept.ok()) return ids;
    auto column = (*kept)->GetColumnByName("id");
    for (const auto& chunk : column->chunks()) {
      const auto& values = static_cast<const arrow::Int64Array&>(*chunk);
      for (int64_t i = 0; i < values.length(); ++i) ids.push_back(values.Value(i));
    }
    return ids;
  }
};

TEST_F(RowFilterTest, ParsesConditions) {
  struct Case {
    std::string text;
    std::vector<RowCondition> expected;
  };
  const std::vector<Case> cases = {
      {"status=PAID", {{"status", CompareOp::kEqual, "PAID"}}},
      {"status!=PAID", {{"status", CompareOp::kNotEqual, "PAID"}}},
      {"quantity>2", {{"quantity", CompareOp::kGreater, "2"}}},
      {"quantity<2", {{"quantity", CompareOp::kLess, "2"}}},
      {" a = x ,b>1", {{"a", CompareOp::kEqual, " x "}, {"b", CompareOp::kGreater, "1"}}},
      {"detail=a=b", {{"detail", CompareOp::kEqual, "a=b"}}},
      {"name=", {{"name", CompareOp::kEqual, ""}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto parsed = ParseRowFilter(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, c.expected);
  }
}

TEST_F(RowFilterTest, RejectsMalformedConditionsQuotingThem) {
  for (const std::string text : {"", "status", "=PAID", "a=1,", "a=1,,b=2", "a!b", " >3"}) {
    SCOPED_TRACE(text);
    auto parsed = ParseRowFilter(text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_TRUE(parsed.status().IsInvalid());
    EXPECT_NE(parsed.status().message().find("--where"), std::string::npos);
  }
  EXPECT_NE(ParseRowFilter("a=1,status").status().message().find("'status'"), std::string::npos);
}

TEST_F(RowFilterTest, UnknownColumnIsNamedWithTheColumnsThereAre) {
  auto conditions = ParseRowFilter("id=1,nope=2");
  ASSERT_OK(conditions.status());
  const auto st = CheckRowFilter(*conditions, *Rows()->schema());
  ASSERT_TRUE(st.IsKeyError());
  EXPECT_NE(st.message().find("unknown column 'nope'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("id, status, price, at, raw, day"), std::string::npos) << st.message();
}

TEST_F(RowFilterTest, ValueOfTheWrongTypeIsNamed) {
  for (const std::string text : {"id=abc", "price=1.2.3", "at=yesterday", "day=24/11/2025"}) {
    SCOPED_TRACE(text);
    const auto st = CheckRowFilter(*ParseRowFilter(text), *Rows()->schema());
    ASSERT_TRUE(st.IsInvalid());
    const std::string column = text.substr(0, text.find('='));
    EXPECT_NE(st.message().find("column '" + column + "'"), std::string::npos) << st.message();
  }
}

TEST_F(RowFilterTest, ComparesOnTheColumnType) {
  struct Case {
    std::string filter;
    std::vector<int64_t> ids;
  };
  const std::vector<Case> cases = {
      {"status=PAID", {1, 3, 5}},
      {"status!=PAID", {2}},  // a null never matches
      {"id>3", {4, 5}},
      {"id<10", {1, 2, 3, 4, 5}},
      {"id>1,status=PAID", {3, 5}},
      {"price=5.997", {3}},  // exact decimal, other scale
      {"price>7.996", {5}},
      {"at>2025-11-24T16:00:02Z", {4, 5}},
      {"at=2025-11-24T16:00:00Z", {1}},
      {"raw=k3", {4}},
      {"day=2025-11-25", {2, 4}},
      {"status=NONE", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.filter);
    EXPECT_EQ(Ids(c.filter), c.ids);
  }
}

}  // namespace
}  // namespace medallion::sink
