#include "ops/window_assign.h"

#include "common/check.h"

namespace medallion::ops {

int64_t TumblingWindowStart(int64_t ts_us, int64_t size_us) {
  MEDALLION_CHECK_OP(size_us, >, 0);
  int64_t rem = ts_us % size_us;  // in (-size_us, size_us), same sign as ts_us
  if (rem < 0) rem += size_us;
  return ts_us - rem;
}

std::vector<int64_t> SlidingWindowStarts(int64_t ts_us, int64_t size_us, int64_t slide_us) {
  MEDALLION_CHECK_OP(slide_us, >, 0);
  MEDALLION_CHECK_OP(size_us % slide_us, ==, 0);
  const int64_t count = size_us / slide_us;
  // The last window holding ts starts at floor(ts / slide) * slide; each earlier one
  // starts one slide before, down to the first whose end (start + size) is still > ts.
  const int64_t last = TumblingWindowStart(ts_us, slide_us);
  std::vector<int64_t> starts(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    starts[static_cast<size_t>(count - 1 - k)] = last - k * slide_us;
  }
  return starts;
}

arrow::Result<WindowSpec> WindowSpec::Make(int64_t size_us, int64_t slide_us) {
  if (size_us <= 0 || slide_us <= 0) {
    return arrow::Status::Invalid("window size (", size_us, " us) and slide (", slide_us,
                                  " us) must be positive");
  }
  if (size_us % slide_us != 0) {
    return arrow::Status::Invalid("window size (", size_us,
                                  " us) must be a multiple of the slide (", slide_us, " us)");
  }
  return WindowSpec{size_us, slide_us};
}

std::vector<int64_t> WindowSpec::Starts(int64_t ts_us) const {
  if (tumbling()) return {TumblingWindowStart(ts_us, size_us)};
  return SlidingWindowStarts(ts_us, size_us, slide_us);
}

}  // namespace medallion::ops
