#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/status.h>

#include "engine/pipeline.h"
#include "metrics/alert_rules.h"
#include "metrics/run_status.h"
#include "sink/table.h"
#include "source/kafka_source.h"

namespace medallion::engine {

/// Where the engine publishes what it is doing: it folds every committed batch (and, while
/// waiting, the lag) into a run status, evaluates the alert rules, and publishes the result
/// as an immutable snapshot. Readers (the HTTP server's threads) take the current snapshot
/// and never wait for a batch: publishing is a shared_ptr swap under a short mutex.
/// With a metrics file, every snapshot is also written there (metrics::StatusMetrics).
///
/// Threads: Start, SetPartitions, RecordBatch and Refresh are called by the engine thread
/// only; Snapshot from any thread.
class StatusBoard {
 public:
  StatusBoard(const PipelineOptions& options, const std::string& query_id);

  /// Publishes the first (empty) snapshot and writes the metrics file, so that a path that
  /// cannot be written fails at start-up.
  arrow::Status Start();

  /// The topic's partitions, once known.
  void SetPartitions(const std::vector<int32_t>& partitions);

  /// Adds a committed batch and publishes.
  void RecordBatch(const BatchReport& report, int64_t committed_at_us);

  /// Updates the lag while no batch runs (an empty poll) and publishes, so that the lag,
  /// readiness and the "no batch for" alert stay current.
  void Refresh(int64_t now_us, int64_t lag, const std::map<int32_t, int64_t>& lag_by_partition,
               const std::map<int32_t, int64_t>& payments_lag_by_partition = {});

  /// The compactor's totals, published with the next batch or refresh (the engine thread
  /// calls it before both while a compactor runs).
  void SetCompaction(const metrics::CompactionTotals& totals) { draft_.compaction = totals; }

  /// The last published snapshot; never null after construction.
  std::shared_ptr<const metrics::RunStatus> Snapshot() const;

 private:
  void Publish(int64_t now_us);

  metrics::RunStatus draft_;  // the engine thread's working copy
  metrics::AlertEvaluator alerts_;
  std::string metrics_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<const metrics::RunStatus> published_;  // guarded by mutex_
};

/// Files and bytes of each table's loaded version, by table name.
std::map<std::string, metrics::TableSize> TableSizes(const std::vector<sink::Table*>& tables);

/// Rows per value of the string column `column` of `batch` (a quarantine's or Late's reason).
arrow::Result<std::map<std::string, int64_t>> CountReasons(const arrow::RecordBatch& batch,
                                                            const std::string& column);

/// Records each partition of `source`'s topic holds beyond `next`, as last seen in fetch
/// responses (metrics::kUnknown while a partition's end is not known).
std::map<int32_t, int64_t> LagByPartition(const source::KafkaSource& source, const std::map<int32_t, int64_t>& next);

}  // namespace medallion::engine
