#include "format/column_appender.h"

#include <arrow/array.h>
#include <arrow/util/decimal.h>
#include <gtest/gtest.h>

#include "format/schemas.h"

namespace medallion::format {
namespace {

TEST(ColumnAppenderTest, StringsNullsAndReuseAcrossBatches) {
  StringColumn column;
  for (int batch = 0; batch < 2; ++batch) {  // a finished column starts empty again
    column.Append(std::string_view("alpha"));
    column.AppendNull();
    column.Append(std::optional<std::string_view>("é"));
    column.Append(std::string_view(""));
    auto array = column.Finish().ValueOrDie();
    ASSERT_TRUE(array->ValidateFull().ok());
    const auto& s = static_cast<const arrow::StringArray&>(*array);
    ASSERT_EQ(s.length(), 4);
    EXPECT_EQ(s.null_count(), 1);
    EXPECT_EQ(s.GetView(0), "alpha");
    EXPECT_TRUE(s.IsNull(1));
    EXPECT_EQ(s.GetView(2), "é");
    EXPECT_EQ(s.GetView(3), "");
  }
}

TEST(ColumnAppenderTest, AllEmptyStringsAndNoValues) {
  StringColumn column;
  auto empty = column.Finish().ValueOrDie();
  EXPECT_EQ(empty->length(), 0);
  EXPECT_TRUE(empty->ValidateFull().ok());
  column.Append(std::string_view(""));
  auto one = column.Finish().ValueOrDie();
  EXPECT_TRUE(one->ValidateFull().ok());
  EXPECT_EQ(static_cast<const arrow::StringArray&>(*one).GetView(0), "");
}

TEST(ColumnAppenderTest, TimestampsKeepTheirType) {
  FixedColumn<int64_t> column(TimestampType());
  column.Append(1'700'000'000'000'000);
  column.AppendNull();
  auto array = column.Finish().ValueOrDie();
  ASSERT_TRUE(array->ValidateFull().ok());
  EXPECT_TRUE(array->type()->Equals(TimestampType()));
  EXPECT_EQ(static_cast<const arrow::TimestampArray&>(*array).Value(0), 1'700'000'000'000'000);
  EXPECT_TRUE(array->IsNull(1));
}

TEST(ColumnAppenderTest, MoneyWidensNegativeAndLargeValuesExactly) {
  ScaledDecimalColumn column(MoneyType());
  column.Append(199900);                  // 19.99
  column.Append(-50000);                  // -5.0000
  column.Append(999'999'999'999'999'999);  // the largest decimal(18, 4)
  column.AppendNull();
  auto array = column.Finish().ValueOrDie();
  ASSERT_TRUE(array->ValidateFull().ok());
  const auto& d = static_cast<const arrow::Decimal128Array&>(*array);
  EXPECT_EQ(d.FormatValue(0), "19.9900");
  EXPECT_EQ(d.FormatValue(1), "-5.0000");
  EXPECT_EQ(d.FormatValue(2), "99999999999999.9999");
  EXPECT_TRUE(d.IsNull(3));
}

}  // namespace
}  // namespace medallion::format
