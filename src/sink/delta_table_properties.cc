#include "sink/delta_table_properties.h"

#include <cctype>
#include <limits>
#include <utility>
#include <vector>

namespace medallion::sink {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.push_back(Lower(text.substr(start, i - start)));
  }
  return words;
}

/// A unit's length in nanoseconds, or 0 for a word that is not a unit Delta accepts.
int64_t UnitNanos(std::string unit) {
  if (unit.size() > 1 && unit.back() == 's') unit.pop_back();
  constexpr int64_t kMicro = 1000, kMilli = 1000 * kMicro, kSecond = 1000 * kMilli;
  static const std::pair<const char*, int64_t> kUnits[] = {
      {"nanosecond", 1},          {"microsecond", kMicro},       {"millisecond", kMilli},
      {"second", kSecond},        {"minute", 60 * kSecond},      {"hour", 3600 * kSecond},
      {"day", 86400 * kSecond},   {"week", 7 * 86400 * kSecond}};
  for (const auto& [name, nanos] : kUnits) {
    if (unit == name) return nanos;
  }
  return 0;
}

arrow::Status BadInterval(std::string_view text, const char* why) {
  return arrow::Status::Invalid("'", text, "' is not a Delta interval (", why,
                                "); write it as \"interval <N> <unit>\", e.g. \"interval 30 days\"");
}

arrow::Result<int64_t> Property(const PartitionValues& configuration, std::string_view key, int64_t fallback) {
  for (const auto& [k, v] : configuration) {
    if (k != key) continue;
    auto ms = ParseDeltaInterval(v);
    if (!ms.ok()) return ms.status().WithMessage("table property ", key, ": ", ms.status().message());
    return *ms;
  }
  return fallback;
}

}  // namespace

arrow::Result<int64_t> ParseDeltaInterval(std::string_view text) {
  std::vector<std::string> words = Words(text);
  size_t i = (!words.empty() && words[0] == "interval") ? 1 : 0;
  if (i == words.size()) return BadInterval(text, "no amount");
  // Whole milliseconds and the nanoseconds below them, summed separately to avoid overflow.
  int64_t ms = 0, nanos = 0;
  for (; i < words.size(); i += 2) {
    const std::string& amount = words[i];
    if (i + 1 == words.size()) return BadInterval(text, "an amount without a unit");
    if (amount.empty() || amount.size() > 18) return BadInterval(text, "amount out of range");
    int64_t n = 0;
    for (char c : amount) {
      if (c < '0' || c > '9') return BadInterval(text, "amounts are whole numbers >= 0");
      n = n * 10 + (c - '0');
    }
    const std::string& unit = words[i + 1];
    if (unit.starts_with("month") || unit.starts_with("year")) {
      return BadInterval(text, "months and years have no fixed length");
    }
    const int64_t unit_nanos = UnitNanos(unit);
    if (unit_nanos == 0) return BadInterval(text, "unknown unit");
    if (unit_nanos >= 1'000'000) {
      const int64_t unit_ms = unit_nanos / 1'000'000;
      if (n > (std::numeric_limits<int64_t>::max() - ms) / unit_ms) return BadInterval(text, "too long");
      ms += n * unit_ms;
    } else {
      // n * unit_nanos may pass int64: take the whole milliseconds out of n first.
      const int64_t whole_ms = n / (1'000'000 / unit_nanos);
      const int64_t rest = (n % (1'000'000 / unit_nanos)) * unit_nanos;
      if (whole_ms > std::numeric_limits<int64_t>::max() - ms) return BadInterval(text, "too long");
      ms += whole_ms;
      nanos += rest;
      ms += nanos / 1'000'000;
      nanos %= 1'000'000;
    }
  }
  return ms;
}

std::string FormatDeltaInterval(int64_t ms) {
  static const std::pair<int64_t, const char*> kUnits[] = {
      {kMillisPerDay, "day"}, {3'600'000, "hour"}, {60'000, "minute"}, {1000, "second"}, {1, "millisecond"}};
  for (const auto& [unit_ms, name] : kUnits) {
    if (ms > 0 && ms % unit_ms != 0) continue;
    const int64_t n = ms / unit_ms;
    return "interval " + std::to_string(n) + " " + name + (n == 1 ? "" : "s");
  }
  return "interval 0 milliseconds";  // unreachable: every ms is a multiple of 1
}

arrow::Result<LogRetention> RetentionOfTable(const PartitionValues& configuration, const LogRetention& defaults) {
  LogRetention out = defaults;
  ARROW_ASSIGN_OR_RAISE(out.log_retention_ms, Property(configuration, kLogRetentionProperty, defaults.log_retention_ms));
  ARROW_ASSIGN_OR_RAISE(out.removed_file_retention_ms, Property(configuration, kDeletedFileRetentionProperty,
                                                                defaults.removed_file_retention_ms));
  for (const auto& [k, v] : configuration) {
    if (k == kExpiredLogCleanupProperty) {
      const std::string value = Lower(v);
      if (value != "true" && value != "false") {
        return arrow::Status::Invalid("table property ", k, ": '", v, "' is neither true nor false");
      }
      out.log_cleanup_enabled = value == "true";
    }
  }
  return out;
}

arrow::Result<int> CheckpointIntervalOfTable(const PartitionValues& configuration, int fallback) {
  for (const auto& [k, v] : configuration) {
    if (k != kCheckpointIntervalProperty) continue;
    const std::vector<std::string> words = Words(v);
    const bool digits = words.size() == 1 && words[0].size() <= 7 &&
                        words[0].find_first_not_of("0123456789") == std::string::npos;
    const int interval = digits ? std::stoi(words[0]) : 0;
    if (interval < 1 || interval > 1'000'000) {
      return arrow::Status::Invalid("table property ", k, ": '", v,
                                    "' is not a number of commits from 1 to 1000000");
    }
    return interval;
  }
  return fallback;
}

PartitionValues RetentionProperties(const LogRetention& retention) {
  return {{std::string(kLogRetentionProperty), FormatDeltaInterval(retention.log_retention_ms)},
          {std::string(kDeletedFileRetentionProperty), FormatDeltaInterval(retention.removed_file_retention_ms)}};
}

}  // namespace medallion::sink
