#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace medallion {

/// Parses a duration such as "250ms", "5s", "1m", "2h" or "1d" into microseconds.
/// A bare integer is not accepted (the unit must be explicit). Returns nullopt when the
/// text is not of that form or the value is not > 0.
std::optional<int64_t> ParseDurationMicros(std::string_view text);

}  // namespace medallion
