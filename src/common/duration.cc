#include "common/duration.h"

namespace medallion {

std::optional<int64_t> ParseDurationMicros(std::string_view text, bool allow_zero) {
  size_t pos = 0;
  int64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (value > kMaxDurationMicros) return std::nullopt;  // too long in any unit; no overflow below
    value = value * 10 + (text[pos] - '0');
    ++pos;
  }
  if (pos == 0 || value < 0 || (value == 0 && !allow_zero)) return std::nullopt;
  const std::string_view unit = text.substr(pos);
  int64_t scale;
  if (unit == "us") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1000;
  } else if (unit == "s") {
    scale = 1'000'000;
  } else if (unit == "m") {
    scale = 60'000'000;
  } else if (unit == "h") {
    scale = 3'600'000'000LL;
  } else if (unit == "d") {
    scale = 86'400'000'000LL;
  } else {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (__builtin_mul_overflow(value, scale, &micros) || micros > kMaxDurationMicros) return std::nullopt;
  return micros;
}

}  // namespace medallion
