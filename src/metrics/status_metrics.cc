#include "metrics/status_metrics.h"

#include <string>

#include <spdlog/fmt/fmt.h>

#include "common/file_util.h"

namespace medallion::metrics {

PrometheusText StatusMetrics(const RunStatus& s) {
  PrometheusText m({{"topic", s.topic}, {"query", s.query_id}});
  m.Gauge("medallion_start_time_seconds", "When this process started (Unix time).", s.started_at_us / 1e6);
  m.Counter("medallion_batches_total", "Micro-batches this process committed.", s.batches);
  m.Counter("medallion_records_total", "Kafka records written to Bronze.", s.records);
  m.Counter("medallion_quarantined_total", "Records that broke the contract (quarantine).", s.quarantined);
  m.Counter("medallion_paid_events_total", "First-seen PAID events taken into Silver.", s.paid_new);
  m.Counter("medallion_silver_lines_total", "Order lines written to Silver.", s.silver_lines);
  m.Counter("medallion_late_lines_total", "Lines written to late/order_lines.", s.late_lines);
  for (const auto& [reason, n] : s.quarantined_by_reason) {
    m.Counter("medallion_quarantined_by_reason_total", "Quarantined records by reason code (quarantine.error).",
              n, {{"reason", reason}});
  }
  for (const auto& [reason, n] : s.late_by_reason) {
    m.Counter("medallion_late_lines_by_reason_total", "Late lines by reason (late/order_lines.reason).", n,
              {{"reason", reason}});
  }
  m.Histogram("medallion_batch_duration_seconds", "Time a micro-batch took, from planned to committed.",
              BatchDurationBounds(), s.duration_counts, s.duration_sum);
  if (const BatchSummary* last = s.Last()) {
    m.Gauge("medallion_last_batch_id", "Id of the last committed batch.", last->batch_id);
    m.Gauge("medallion_last_batch_timestamp_seconds", "When the last batch committed (Unix time).",
            last->committed_at_us / 1e6);
    m.Gauge("medallion_last_batch_duration_seconds", "Time the last batch took.", last->seconds);
    m.Gauge("medallion_dedup_ids", "Event ids the deduplicator holds.", s.dedup_ids);
    m.Gauge("medallion_open_window_groups", "Gold window groups not final yet.", s.open_windows);
    m.Gauge("medallion_state_bytes", "Size of the operator state written for the last batch.", s.state_bytes);
    if (s.join) {
      m.Gauge("medallion_join_orders_waiting", "Orders the payment join holds, waiting for their payment.",
              s.join_orders_waiting);
      m.Gauge("medallion_join_payments_waiting", "Captured payments the payment join holds, waiting for their order.",
              s.join_payments_waiting);
    }
  }
  if (s.join) {
    m.Counter("medallion_join_matches_total", "Orders matched with their payment (silver/order_payments rows).",
              s.join_matches);
    for (const auto& [reason, n] : s.reconciliation_by_reason) {
      m.Counter("medallion_reconciliation_rows_total", "gold/payment_reconciliation rows by reason.", n,
                {{"reason", reason}});
    }
  }
  if (s.lag != kUnknown) {
    m.Gauge("medallion_lag_records", "Records the topic holds beyond what was read.", s.lag);
  }
  for (const auto& [p, lag] : s.lag_by_partition) {
    if (lag == kUnknown) continue;
    m.Gauge("medallion_partition_lag_records", "Records a partition holds beyond what was read.", lag,
            {{"partition", std::to_string(p)}});
  }
  for (const auto& [p, lag] : s.payments_lag_by_partition) {
    if (lag == kUnknown) continue;
    m.Gauge("medallion_payments_partition_lag_records",
            "Records a partition of the payments topic holds beyond what was read.", lag,
            {{"partition", std::to_string(p)}});
  }
  if (s.watermark_us != kUnknown) {
    m.Gauge("medallion_watermark_timestamp_seconds", "The event-time watermark (Unix time).",
            s.watermark_us / 1e6);
  }
  for (const auto& [table, size] : s.tables) {
    m.Gauge("medallion_table_files", "Data files the table's current version references.", size.files,
            {{"table", table}});
  }
  for (const auto& [table, size] : s.tables) {
    m.Gauge("medallion_table_bytes", "Bytes of the data files the table's current version references.",
            size.bytes, {{"table", table}});
  }
  if (s.compaction) {
    const CompactionTotals& c = *s.compaction;
    m.Counter("medallion_compaction_merges_total", "Merges of small files the compactor committed.", c.merges);
    m.Counter("medallion_compaction_conflicts_total",
              "Merges abandoned because another writer removed an input first (tried again later).", c.conflicts);
    m.Counter("medallion_compaction_errors_total",
              "Merges that failed (logged; the table is tried again after a pause).", c.errors);
    m.Counter("medallion_compaction_files_in_total", "Files the committed merges replaced.", c.files_in);
    m.Counter("medallion_compaction_files_out_total", "Files the committed merges wrote.", c.files_out);
    m.Counter("medallion_compaction_bytes_in_total", "Bytes of the files the committed merges replaced.",
              c.bytes_in);
    m.Counter("medallion_compaction_bytes_out_total", "Bytes of the files the committed merges wrote.", c.bytes_out);
    m.Counter("medallion_compaction_rows_total", "Rows the committed merges rewrote.", c.rows);
    m.Counter("medallion_compaction_files_joined_total",
              "Files the committed merges wrote by joining their inputs' row groups, not rewriting the rows.",
              c.files_joined);
    m.Counter("medallion_compaction_cpu_seconds_total", "CPU time of the compactor's thread.", c.cpu_seconds);
  }
  m.Counter("medallion_fsyncs_total", "fsyncs of files and directories this process made.", s.disk_syncs);
  m.Counter("medallion_fsync_seconds_total", "Seconds this process's fsyncs took.", s.disk_sync_seconds);
  static const std::string slow_help =
      fmt::format("fsyncs that took {} s or longer: the disk stalled (on a shared disk, typically behind another "
                  "process's data being written back).",
                  kSlowDiskSyncSeconds);
  m.Counter("medallion_fsyncs_slow_total", slow_help, s.slow_disk_syncs);
  m.Gauge("medallion_ready", "1 when the lag is known and at most http.ready_max_lag.", s.Ready() ? 1 : 0);
  for (const auto& a : s.alerts) {
    PrometheusText::Labels labels{{"alert", a.name}};
    if (!a.reason.empty()) labels["reason"] = a.reason;
    m.Gauge("medallion_alert", "1 while the engine's own alert rule ([alerts]) is firing.", a.firing ? 1 : 0,
            labels);
  }
  return m;
}

}  // namespace medallion::metrics
