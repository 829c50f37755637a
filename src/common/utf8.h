#pragma once

#include <cstddef>
#include <string_view>

namespace medallion {

/// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
/// nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

/// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a
/// UTF-8 character, so a valid UTF-8 input gives a valid UTF-8 prefix.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

}  // namespace medallion
