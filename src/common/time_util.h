#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace medallion {

/// The event times every reader of the tables accepts: from the Unix epoch to the last
/// microsecond of year 9999, in UTC microseconds. Spark, DuckDB and delta-rs all read this
/// range; a date before the epoch or past 9999 breaks partition values and some readers.
constexpr int64_t kMinEventTimeMicros = 0;
constexpr int64_t kMaxEventTimeMicros = 253'402'300'799'999'999;

/// Whether `t` is in that range: the times a restored state may hold (an event time, or a
/// batch's processing time). A checkpoint with another is refused, since the operators
/// subtract lateness and horizons from these times and a forged one could make that overflow.
constexpr bool InEventTimeRange(int64_t t) { return t >= kMinEventTimeMicros && t <= kMaxEventTimeMicros; }

/// Parses an ISO-8601 timestamp with a zone ("2026-11-24T10:15:30.123Z",
/// "2026-11-24T10:15:30+01:00", fraction optional, up to 9 digits) into UTC
/// microseconds since the epoch. Returns nullopt for anything else, including a
/// missing zone. Thread-safe and allocation-free.
std::optional<int64_t> ParseIso8601Micros(std::string_view text);

/// Formats UTC microseconds as "YYYY-MM-DDTHH:MM:SS.ffffffZ".
std::string FormatIso8601Micros(int64_t micros);

/// Days since the epoch for UTC microseconds (floor division).
int32_t MicrosToEpochDays(int64_t micros);

/// "YYYY-MM-DD" for UTC microseconds.
std::string FormatDate(int64_t micros);

/// Current wall-clock time in UTC microseconds.
int64_t NowMicros();

/// Current wall-clock time in UTC milliseconds (the unit of Delta log timestamps).
inline int64_t NowMillis() { return NowMicros() / 1000; }

}  // namespace medallion
