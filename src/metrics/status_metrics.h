#pragma once

#include "metrics/prometheus_text.h"
#include "metrics/run_status.h"

namespace medallion::metrics {

/// Every figure of a run status as Prometheus samples labelled with the topic and query:
/// the totals (records, quarantined, PAID events, Silver and late lines, overall and by
/// reason), the last batch, the state, lag (summed and per partition), files and bytes per
/// table, the batch duration histogram and one `medallion_alert{alert=...}` gauge per rule.
/// The same text is served on /metrics and written to the metrics file.
PrometheusText StatusMetrics(const RunStatus& status);

}  // namespace medallion::metrics
