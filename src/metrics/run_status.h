#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace medallion::metrics {

/// Upper bounds (seconds) of the batch duration histogram's buckets.
inline const std::vector<double>& BatchDurationBounds() {
  static const std::vector<double> kBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return kBounds;
}

/// Batches kept in memory for the status page and the alert window.
constexpr size_t kRecentBatches = 120;

/// "No value": no watermark yet, lag not known yet.
constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();

/// One committed micro-batch as the status page and the alerts see it.
struct BatchSummary {
  int64_t batch_id = 0;
  int64_t records = 0;
  int64_t quarantined = 0;
  int64_t silver_lines = 0;
  int64_t late_lines = 0;
  /// Quarantined records by reason code (quarantine.error), late lines by reason.
  std::map<std::string, int64_t> quarantined_by_reason, late_by_reason;
  int64_t lag = kUnknown;
  int64_t watermark_us = kUnknown;
  int64_t state_bytes = 0;
  double seconds = 0;
  int64_t committed_at_us = 0;
  bool replayed = false;
};

/// Files and bytes a table's current version references.
struct TableSize {
  int64_t files = 0;
  int64_t bytes = 0;
};

/// What the compactor did since the process started (a continuous single-process run, or
/// the Gold stage that holds the lease in group mode).
struct CompactionTotals {
  /// Merges committed, abandoned (another writer removed an input first), failed.
  int64_t merges = 0, conflicts = 0, errors = 0;
  int64_t files_in = 0, files_out = 0, bytes_in = 0, bytes_out = 0, rows = 0;
  /// Output files written by joining their inputs' row groups, not by rewriting the rows
  /// (sink::CompactionOptions::join_row_groups).
  int64_t files_joined = 0;
  double cpu_seconds = 0;
};

/// One alert rule's state: a rule per reason code has `reason` set.
struct AlertState {
  std::string name;
  std::string reason;
  bool firing = false;
  double value = 0;
  double threshold = 0;
  /// When it last changed state (Unix micros; 0: never).
  int64_t since_us = 0;
  std::string description;
};

/// An immutable picture of a run, published by the engine after every batch (and while it
/// waits) and read by the HTTP server and the metrics file writer. Plain data: copied, never
/// shared mutably.
struct RunStatus {
  // What the query reads and where it writes.
  std::string brokers, topic, group_id, query_id, data_dir, checkpoint_dir;
  std::vector<int32_t> partitions;
  int64_t started_at_us = 0;
  /// When this snapshot was published (Unix micros).
  int64_t published_at_us = 0;

  // Totals since the process started (counters).
  int64_t batches = 0, records = 0, quarantined = 0, paid_new = 0, silver_lines = 0, late_lines = 0;
  std::map<std::string, int64_t> quarantined_by_reason, late_by_reason;
  /// Batch durations: counts per BatchDurationBounds() bucket plus one above, and their sum.
  std::vector<int64_t> duration_counts = std::vector<int64_t>(BatchDurationBounds().size() + 1, 0);
  double duration_sum = 0;

  /// The last kRecentBatches batches, oldest first.
  std::vector<BatchSummary> recent;

  // State after the last batch.
  int64_t watermark_us = kUnknown;
  int64_t dedup_ids = 0, open_windows = 0, state_bytes = 0;
  /// The payment join (when the query has a payments topic): orders and payments waiting in
  /// its state for their partner, matches written so far and reconciliation rows by reason.
  bool join = false;
  int64_t join_orders_waiting = 0, join_payments_waiting = 0, join_matches = 0;
  std::map<std::string, int64_t> reconciliation_by_reason;
  /// Records the topic holds beyond what was read, summed and per partition (kUnknown while
  /// a partition's end is not known).
  int64_t lag = kUnknown;
  std::map<int32_t, int64_t> lag_by_partition;
  /// The payments topic's lag per partition, with a payment join.
  std::map<int32_t, int64_t> payments_lag_by_partition;
  std::map<std::string, TableSize> tables;
  /// Set while a compactor runs in this process.
  std::optional<CompactionTotals> compaction;
  /// The fsyncs of files and directories this process made (counters): how many, the
  /// seconds they took, how many took kSlowDiskSyncSeconds or longer (the disk stalled).
  int64_t disk_syncs = 0, slow_disk_syncs = 0;
  double disk_sync_seconds = 0;

  /// Every configured alert rule, firing or not.
  std::vector<AlertState> alerts;
  /// Ready (/readyz) when the lag is known and at most this.
  int64_t ready_max_lag = 0;

  bool Ready() const { return lag != kUnknown && lag <= ready_max_lag; }
  const BatchSummary* Last() const { return recent.empty() ? nullptr : &recent.back(); }
};

}  // namespace medallion::metrics
