// MEDALLION_CHECK and MEDALLION_CHECK_OP: a broken invariant aborts and says which, and why.
#include "common/check.h"

#include <gtest/gtest.h>

namespace medallion {
namespace {

TEST(CheckDeathTest, AFailedCheckNamesItsConditionAndItsReason) {
  const int buckets = 3;
  EXPECT_DEATH(MEDALLION_CHECK(buckets % 2 == 0, "bucket count must be even"),
               "invariant failed: buckets % 2 == 0: bucket count must be even");
  EXPECT_DEATH(MEDALLION_CHECK(buckets > 4), "invariant failed: buckets > 4\n");
  EXPECT_DEATH(MEDALLION_CHECK_OP(buckets, ==, 4), "invariant failed: buckets == 4 \\(3 vs 4\\)");
}

TEST(CheckDeathTest, AHeldCheckDoesNothing) {
  int evaluated = 0;
  MEDALLION_CHECK(++evaluated == 1, "evaluated once");
  MEDALLION_CHECK_OP(++evaluated, ==, 2);
  EXPECT_EQ(evaluated, 2);
}

}  // namespace
}  // namespace medallion
