#pragma once

#include <string>
#include <string_view>

#include <arrow/result.h>

/// Small JSON text helpers for the table log: writing is done by hand (the log's
/// actions are flat and few), reading goes through simdjson.
namespace medallion::sink {

/// Appends `value` to `out` as a quoted JSON string, escaping quotes, backslashes and
/// control characters. Bytes >= 0x80 are copied unchanged (the input is UTF-8).
void AppendJsonString(std::string* out, std::string_view value);

/// `value` as a quoted JSON string.
std::string JsonString(std::string_view value);

/// Re-serializes a JSON document with object keys sorted and no whitespace, so that
/// two documents equal as values compare equal as strings.
arrow::Result<std::string> CanonicalJson(std::string_view json);

/// Percent-encodes a relative file path for the log's `path` fields (a URI
/// reference): every byte outside [A-Za-z0-9-._~/=] is written as %XX.
std::string EncodeLogPath(std::string_view path);

/// Inverse of EncodeLogPath (decodes any %XX).
std::string DecodeLogPath(std::string_view path);

}  // namespace medallion::sink
