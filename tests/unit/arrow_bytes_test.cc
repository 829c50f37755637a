#include "common/arrow_bytes.h"

#include <gtest/gtest.h>

#include <arrow/api.h>
#include <arrow/util/byte_size.h>

namespace medallion {
namespace {

std::shared_ptr<arrow::Array> Strings(int n, bool with_nulls) {
  arrow::StringBuilder b;
  for (int i = 0; i < n; ++i) {
    if (with_nulls && i % 7 == 3) {
      EXPECT_TRUE(b.AppendNull().ok());
    } else {
      EXPECT_TRUE(b.Append(std::string(static_cast<size_t>(i % 40), 'x')).ok());
    }
  }
  return b.Finish().ValueOrDie();
}

std::shared_ptr<arrow::Array> Int64s(int n, bool with_nulls) {
  arrow::Int64Builder b;
  for (int i = 0; i < n; ++i) {
    if (with_nulls && i % 5 == 0) {
      EXPECT_TRUE(b.AppendNull().ok());
    } else {
      EXPECT_TRUE(b.Append(i).ok());
    }
  }
  return b.Finish().ValueOrDie();
}

TEST(ValueBytesTest, CountsWhatArrowCountsForTheTablesFlatTypes) {
  // Arrow's ReferencedBufferSize counts the bytes of a slice's byte ranges: the same figure,
  // up to a byte of validity bits at either end of a slice.
  for (bool nulls : {false, true}) {
    for (const auto& array : {Strings(1000, nulls), Int64s(1000, nulls)}) {
      for (const auto& [offset, length] : std::vector<std::pair<int64_t, int64_t>>{{0, 1000}, {0, 1}, {13, 500},
                                                                                     {999, 1}, {0, 0}}) {
        const auto slice = array->Slice(offset, length);
        const int64_t arrow_bytes = arrow::util::ReferencedBufferSize(*slice).ValueOrDie();
        EXPECT_NEAR(static_cast<double>(ValueBytes(*slice)), static_cast<double>(arrow_bytes), 2.0)
            << array->type()->ToString() << " nulls " << nulls << " slice " << offset << "+" << length;
      }
    }
  }
}

TEST(ValueBytesTest, ABatchIsTheSumOfItsColumnsAndStringsCountTheirBytes) {
  const auto strings = Strings(100, /*with_nulls=*/false);
  const auto ints = Int64s(100, /*with_nulls=*/false);
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("s", arrow::utf8()), arrow::field("i", arrow::int64())}), 100, {strings, ints});
  // An offset of 4 bytes per value, then the strings: lengths 0..39 twice (780 each), then 0..19 (190).
  EXPECT_EQ(ValueBytes(*strings), 100 * 4 + 780 + 780 + 190);
  EXPECT_EQ(ValueBytes(*ints), 100 * 8);
  EXPECT_EQ(ValueBytes(*batch), ValueBytes(*strings) + ValueBytes(*ints));
  arrow::BooleanBuilder bools;
  ASSERT_TRUE(bools.AppendValues(std::vector<bool>(20, true)).ok());
  EXPECT_EQ(ValueBytes(*bools.Finish().ValueOrDie()), 3);
}

}  // namespace
}  // namespace medallion
