#pragma once

#include <cstdint>
#include <string>

#include <arrow/status.h>
#include <arrow/type_fwd.h>

namespace medallion::sink {

/// Appends row `row` of `batch` to `out` as one JSON object, columns in schema order, no
/// newline. Values: null as null; integers and booleans as JSON numbers and literals;
/// floating point as numbers (NaN and infinities as strings); decimals as strings with their
/// full scale ("19.9900"), exact in every JSON reader; strings as strings; dates as
/// "YYYY-MM-DD"; timestamps as ISO-8601 UTC with microseconds ("2026-11-24T10:22:24.290000Z");
/// binary as a string when the bytes are valid UTF-8, else as {"base64":"…"}; lists as arrays
/// and structs as objects. Other types are written as strings in Arrow's own form.
arrow::Status AppendRowJson(const arrow::RecordBatch& batch, int64_t row, std::string* out);

}  // namespace medallion::sink
