#pragma once

#include <string>

#include <arrow/result.h>

namespace medallion {

/// A random RFC 4122 version-4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") from
/// /dev/urandom. Thread-safe.
arrow::Result<std::string> RandomUuid();

}  // namespace medallion
