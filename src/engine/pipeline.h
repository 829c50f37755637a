#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <arrow/result.h>

#include "engine/checkpoint.h"
#include "engine/pipeline_options.h"
#include "metrics/run_status.h"

namespace medallion::engine {

/// Counts of one micro-batch, for the batch report.
struct BatchReport {
  int64_t batch_id = 0;
  int64_t records = 0;
  int64_t quarantined = 0;
  int64_t events = 0;
  int64_t paid_new = 0;
  int64_t silver_lines = 0;
  int64_t late_lines = 0;
  int64_t dedup_state = 0;
  int64_t open_windows = 0;
  int64_t state_bytes = 0;
  /// The payment join (join false: the query has no payments topic): payment records read,
  /// quarantined, matches written, reconciliation rows by reason, state after the batch.
  bool join = false;
  int64_t payment_records = 0, payments_quarantined = 0, join_matches = 0;
  int64_t join_orders_waiting = 0, join_payments_waiting = 0;
  std::map<std::string, int64_t> reconciliation_by_reason;
  int64_t watermark_us = 0;
  /// Records left in the topic after this batch, the payments topic's included when the
  /// query joins one (-1: not known yet).
  int64_t lag = -1;
  /// Quarantined records by reason code, late lines by reason.
  std::map<std::string, int64_t> quarantined_by_reason, late_by_reason;
  /// Lag per partition (metrics::kUnknown while a partition's end is not known), of the
  /// orders topic and, with a payment join, of the payments topic.
  std::map<int32_t, int64_t> lag_by_partition, payments_lag_by_partition;
  /// Files and bytes of each table's version after this batch.
  std::map<std::string, metrics::TableSize> tables;
  double seconds = 0;
  double parse_seconds = 0;
  double write_seconds = 0;
  bool replayed = false;
};

/// Failed attempts after which a planned batch is not tried again: the next start-up stops
/// with an error for which IsBatchGivenUp is true (`medallion run` exits 3).
constexpr int64_t kMaxBatchAttempts = 3;

/// True if `status` is start-up refusing a planned batch that failed kMaxBatchAttempts
/// times: not a user error, not a passing failure, but one that needs an operator.
bool IsBatchGivenUp(const arrow::Status& status);

/// The micro-batch loop: plan (offsets/B) → Bronze → parse → Silver → Gold → commit each
/// table with txn(query id, B) → state/B, which commits B.
///
/// Lifecycle: Make (opens checkpoint, tables and Kafka; restores state; finds a batch to
/// replay), then Run once. Run returns when `stop` becomes true (after finishing the batch
/// in flight), when --until-caught-up has nothing left, or on an error.
///
/// Threads: Run is called from one thread. Bronze is written beside the other tables.
/// With --until-caught-up three batches are in flight: batch k is processed and written,
/// k+1 is copied into Bronze and parsed, k+2 is read from Kafka. Otherwise a batch is
/// parsed in up to `threads` slices at once.
class StatusBoard;

class Pipeline {
 public:
  ~Pipeline();
  static arrow::Result<std::unique_ptr<Pipeline>> Make(const PipelineOptions& options);
  /// Runs the loop. An error or exception while a batch is planned but not committed is
  /// recorded in the checkpoint as a failed attempt of that batch (attempts/<B>); an
  /// exception becomes an error status.
  arrow::Status Run(const std::atomic<bool>& stop);
  /// Where the run publishes its status after every batch (readable from any thread).
  std::shared_ptr<StatusBoard> status_board() const;

 private:
  class Impl;
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace medallion::engine
