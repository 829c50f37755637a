#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

/// Small shared pieces of the Gold aggregators' keyed state.
namespace medallion::ops {

/// The position of a Silver line in the stream: (event_time, kafka_partition, kafka_offset,
/// line_no), ordered lexicographically. "Latest" attributes (a product's name, a
/// customer's country) come from the greatest position seen, so the result does not depend
/// on the order in which batches arrive. Customer attributes use line_no = 0 (per event).
struct LinePosition {
  int64_t event_time_us = 0;
  int32_t partition = 0;
  int64_t offset = 0;
  int32_t line_no = 0;

  auto operator<=>(const LinePosition&) const = default;
};

/// Hash for std::string keys that also accepts std::string_view, so a lookup with a view
/// into an Arrow buffer does not allocate (use with std::equal_to<>).
struct StringKeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

}  // namespace medallion::ops
