#pragma once

#include <cstdint>

#include <arrow/array.h>
#include <arrow/record_batch.h>

namespace medallion {

/// The bytes the values of `array` take, counted for its slice only: its validity bits, then
/// its fixed-width values, or its offsets and value bytes (strings, binary). What held rows
/// weigh against their limits and whether a column is small enough for LZ4.
///
/// Arrow's ReferencedBufferSize gives the same for these types, but builds Arrow arrays of
/// byte ranges (and a struct type with its name map) to get there: in a continuous run that
/// was 2.7% of the engine's CPU (held rows as they are added, and each column of a file
/// written). Other types (nested, dictionary, views) still go to it.
int64_t ValueBytes(const arrow::Array& array);

/// ValueBytes of every column.
int64_t ValueBytes(const arrow::RecordBatch& batch);

}  // namespace medallion
