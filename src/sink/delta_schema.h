#pragma once

#include <string>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

namespace medallion::sink {

/// The Delta `schemaString` for an Arrow schema: a JSON struct type whose fields carry
/// name, type, nullable and an empty metadata object. Supported types: utf8 (string),
/// binary, bool (boolean), int8/16/32/64 (byte/short/integer/long), float, double,
/// date32 (date), timestamp with a time zone (timestamp; any unit, stored as UTC),
/// decimal128 (decimal(p,s)), list (array), struct and map. Anything else, including a
/// timestamp without a zone (timestamp_ntz needs writer features we do not declare),
/// is NotImplemented.
arrow::Result<std::string> DeltaSchemaString(const arrow::Schema& schema);

}  // namespace medallion::sink
