#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

/// Allocation-free (amortized) appenders of JSON text pieces, for the event generator's
/// hot path: no JSON library, no printf parsing, no locale.
namespace medallion::produce::text {

/// Appends a decimal integer.
inline void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr);
}

/// Appends a decimal integer, left-padded with zeros to `width` digits.
inline void AppendPadded(std::string* out, int64_t v, int width) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  for (int pad = width - static_cast<int>(res.ptr - buf); pad > 0; --pad) out->push_back('0');
  out->append(buf, res.ptr);
}

/// Writes an amount in cents as a JSON number with two decimals ("-1.05").
inline void AppendCents(std::string* out, int64_t cents) {
  if (cents < 0) {
    out->push_back('-');
    cents = -cents;
  }
  AppendInt(out, cents / 100);
  out->push_back('.');
  AppendPadded(out, cents % 100, 2);
}

/// Writes an amount in 1/10^4 units as a JSON number with two to four decimals: the
/// decimals past the second are written only when they are not zero ("1.50", "1.4992").
inline void AppendMoney4(std::string* out, int64_t units) {
  if (units < 0) {
    out->push_back('-');
    units = -units;
  }
  AppendInt(out, units / 10'000);
  out->push_back('.');
  int64_t frac = units % 10'000;
  int digits = 4;
  while (digits > 2 && frac % 10 == 0) {
    frac /= 10;
    --digits;
  }
  AppendPadded(out, frac, digits);
}

/// Integer division rounding toward negative infinity.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/// "YYYY-MM-DDTHH:MM:SS.mmmZ" for UTC milliseconds (civil-from-days after H. Hinnant).
inline void AppendIsoMillis(std::string* out, int64_t millis) {
  const int64_t days = FloorDiv(millis, 86'400'000);
  int64_t ms_of_day = millis - days * 86'400'000;
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  AppendPadded(out, y, 4);
  out->push_back('-');
  AppendPadded(out, m, 2);
  out->push_back('-');
  AppendPadded(out, d, 2);
  out->push_back('T');
  AppendPadded(out, ms_of_day / 3'600'000, 2);
  out->push_back(':');
  AppendPadded(out, ms_of_day / 60'000 % 60, 2);
  out->push_back(':');
  AppendPadded(out, ms_of_day / 1000 % 60, 2);
  out->push_back('.');
  AppendPadded(out, ms_of_day % 1000, 3);
  out->push_back('Z');
}

/// Appends `s` in double quotes. No escaping: only for text that needs none.
inline void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  out->append(s);
  out->push_back('"');
}

}  // namespace medallion::produce::text
