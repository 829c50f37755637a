#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

namespace medallion::ops {

/// Row numbers of one record batch, ascending. The Silver operators narrow a selection over
/// the parsed events (status, dedup horizon, first occurrence) instead of copying the events
/// at each step; FlattenToOrderLines copies the selected rows once, into the order lines.
using RowSelection = std::vector<int64_t>;

/// Every row of a batch of `num_rows` rows.
inline RowSelection AllRows(int64_t num_rows) {
  RowSelection rows(static_cast<size_t>(num_rows));
  std::iota(rows.begin(), rows.end(), int64_t{0});
  return rows;
}

}  // namespace medallion::ops
