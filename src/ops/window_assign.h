#pragma once

#include <cstdint>
#include <vector>

#include <arrow/result.h>

/// Event-time window assignment: which windows [start, start + size) hold a timestamp.
/// All times are microseconds since the Unix epoch (UTC); windows are aligned to the
/// epoch, so window starts are multiples of the slide.
namespace medallion::ops {

/// The start of the tumbling window of `size_us` that holds `ts_us`: the largest multiple
/// of size_us that is <= ts_us (a floor, also for negative timestamps).
/// Precondition: size_us > 0 and the result is representable (any real event time is).
int64_t TumblingWindowStart(int64_t ts_us, int64_t size_us);

/// The starts of every sliding window [start, start + size_us) that holds `ts_us`, in
/// ascending order; there are size_us / slide_us of them.
/// Precondition: 0 < slide_us <= size_us and size_us % slide_us == 0 (see WindowSpec::Make).
std::vector<int64_t> SlidingWindowStarts(int64_t ts_us, int64_t size_us, int64_t slide_us);

/// A validated window definition. slide_us == size_us means tumbling windows.
struct WindowSpec {
  int64_t size_us = 0;
  int64_t slide_us = 0;

  /// Returns Invalid unless size_us > 0, slide_us > 0, and size_us is a multiple of
  /// slide_us.
  static arrow::Result<WindowSpec> Make(int64_t size_us, int64_t slide_us);
  /// Tumbling windows of size_us (slide == size).
  static arrow::Result<WindowSpec> Tumbling(int64_t size_us) { return Make(size_us, size_us); }

  bool tumbling() const { return size_us == slide_us; }
  /// The starts of the windows holding ts_us, ascending (exactly one when tumbling).
  std::vector<int64_t> Starts(int64_t ts_us) const;

  bool operator==(const WindowSpec&) const = default;
};

}  // namespace medallion::ops
