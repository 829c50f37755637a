#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace medallion {

/// The longest duration accepted anywhere: 36500 days (100 years). Longer ones would bring
/// event-time arithmetic (a watermark minus a horizon, a window end) near int64 overflow.
constexpr int64_t kMaxDurationMicros = 36500LL * 86'400'000'000LL;

/// Parses a duration such as "250ms", "5s", "1m", "2h" or "1d" into microseconds.
/// A bare integer is not accepted (the unit must be explicit). Returns nullopt when the
/// text is not of that form, the value is not > 0 (>= 0 with `allow_zero`, as "0s"), or it
/// exceeds kMaxDurationMicros.
std::optional<int64_t> ParseDurationMicros(std::string_view text, bool allow_zero = false);

/// The accepted range of durations, for messages: "from 1us to 36500d".
inline constexpr const char* kDurationRange = "from 1us to 36500d";

/// The range of a setting whose least value is `min_us` (0, 1us, or 1ms for values the engine
/// counts in ms), for messages.
inline const char* DurationRange(int64_t min_us) {
  return min_us >= 1000 ? "from 1ms to 36500d" : min_us == 0 ? "from 0s to 36500d" : kDurationRange;
}

}  // namespace medallion
