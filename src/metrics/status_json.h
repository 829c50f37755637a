#pragma once

#include <string>

#include "metrics/run_status.h"

namespace medallion::metrics {

/// A run status as one JSON object (served on /status, read by the status page): what the
/// query reads and writes, totals, the recent batches, state, lag per partition, table sizes
/// and alerts. Times are Unix microseconds; a value not known yet is null.
std::string StatusJson(const RunStatus& status);

}  // namespace medallion::metrics
