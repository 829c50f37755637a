#pragma once

#include <cstdint>

#include <arrow/result.h>
#include <arrow/util/decimal.h>

#include "ops/state_codec.h"

/// Exact sums of money for Gold: 1/10000 units accumulated in 128 bits and written as
/// decimal(38,4) (format::GoldMoneyType()).
namespace medallion::ops {

using MoneySum = __int128;

/// The largest decimal(38,4) value, in 1/10000 units: 10^38 - 1.
inline constexpr MoneySum kMaxMoneySum =
    static_cast<MoneySum>(10'000'000'000'000'000'000ULL) * 10'000'000'000'000'000'000ULL - 1;

/// Adds `units` to `*sum`; false (and `*sum` unchanged) when the result would leave
/// decimal(38,4).
inline bool AddMoney(MoneySum* sum, MoneySum units) {
  MoneySum result;
  if (__builtin_add_overflow(*sum, units, &result) || result > kMaxMoneySum || result < -kMaxMoneySum) {
    return false;
  }
  *sum = result;
  return true;
}

/// Adds `count` to `*total`; false (and `*total` unchanged) on int64 overflow.
inline bool AddCount(int64_t* total, int64_t count) {
  int64_t result;
  if (__builtin_add_overflow(*total, count, &result)) return false;
  *total = result;
  return true;
}

inline arrow::Decimal128 ToDecimal(MoneySum sum) {
  const auto bits = static_cast<unsigned __int128>(sum);
  return arrow::Decimal128(static_cast<int64_t>(bits >> 64), static_cast<uint64_t>(bits));
}

/// Writes a sum as its low then high 64-bit word.
inline void WriteMoneySum(StateWriter* w, MoneySum sum) {
  const auto bits = static_cast<unsigned __int128>(sum);
  w->WriteInt<uint64_t>(static_cast<uint64_t>(bits));
  w->WriteInt<uint64_t>(static_cast<uint64_t>(bits >> 64));
}

/// Reads a sum written by WriteMoneySum; Invalid when it is outside decimal(38,4).
inline arrow::Result<MoneySum> ReadMoneySum(StateReader* r) {
  ARROW_ASSIGN_OR_RAISE(uint64_t low, r->ReadInt<uint64_t>());
  ARROW_ASSIGN_OR_RAISE(uint64_t high, r->ReadInt<uint64_t>());
  const auto sum = static_cast<MoneySum>(static_cast<unsigned __int128>(high) << 64 | low);
  if (sum > kMaxMoneySum || sum < -kMaxMoneySum) {
    return arrow::Status::Invalid("operator state: money sum outside decimal(38,4)");
  }
  return sum;
}

}  // namespace medallion::ops
