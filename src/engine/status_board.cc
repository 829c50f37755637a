#include "engine/status_board.h"

#include <algorithm>

#include <arrow/array.h>

#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "common/time_util.h"
#include "format/quarantine_reason.h"
#include "metrics/status_metrics.h"
#include "state/watermark.h"

namespace medallion::engine {

StatusBoard::StatusBoard(const PipelineOptions& o, const std::string& query_id)
    : alerts_(o.alerts), metrics_file_(o.metrics_file) {
  draft_.brokers = o.source.brokers;
  draft_.topic = o.source.topic;
  draft_.group_id = o.source.group_id;
  draft_.query_id = query_id;
  draft_.data_dir = o.data_dir;
  draft_.checkpoint_dir = o.checkpoint_dir;
  draft_.ready_max_lag = o.ready_max_lag;
  draft_.started_at_us = NowMicros();
  draft_.published_at_us = draft_.started_at_us;
  // Every reason starts at zero, so a reason's first records are an increase that
  // Prometheus' rate() and increase() see (a series that appears at 100 shows none).
  for (int r = 0; r <= static_cast<int>(format::kLastQuarantineReason); ++r) {
    draft_.quarantined_by_reason[std::string(format::ReasonCode(static_cast<format::QuarantineReason>(r)))] = 0;
  }
  for (const char* reason : {"window_final", "beyond_dedup_horizon"}) draft_.late_by_reason[reason] = 0;
  published_ = std::make_shared<const metrics::RunStatus>(draft_);
}

arrow::Status StatusBoard::Start() {
  Publish(NowMicros());
  if (metrics_file_.empty()) return arrow::Status::OK();
  auto st = metrics::StatusMetrics(*Snapshot()).WriteTo(metrics_file_);
  if (!st.ok()) {
    return arrow::Status::Invalid("metrics.file (--metrics-file) '", metrics_file_, "': ", st.message());
  }
  return st;
}

void StatusBoard::SetPartitions(const std::vector<int32_t>& partitions) {
  draft_.partitions = partitions;
  Publish(NowMicros());
}

void StatusBoard::RecordBatch(const BatchReport& r, int64_t committed_at_us) {
  metrics::RunStatus& s = draft_;
  ++s.batches;
  s.records += r.records;
  s.quarantined += r.quarantined;
  s.paid_new += r.paid_new;
  s.silver_lines += r.silver_lines;
  s.late_lines += r.late_lines;
  for (const auto& [k, n] : r.quarantined_by_reason) s.quarantined_by_reason[k] += n;
  for (const auto& [k, n] : r.late_by_reason) s.late_by_reason[k] += n;
  const auto& bounds = metrics::BatchDurationBounds();
  const size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), r.seconds) - bounds.begin();
  ++s.duration_counts[bucket];
  s.duration_sum += r.seconds;

  metrics::BatchSummary b;
  b.batch_id = r.batch_id;
  b.records = r.records;
  b.quarantined = r.quarantined;
  b.silver_lines = r.silver_lines;
  b.late_lines = r.late_lines;
  b.quarantined_by_reason = r.quarantined_by_reason;
  b.late_by_reason = r.late_by_reason;
  b.lag = r.lag < 0 ? metrics::kUnknown : r.lag;
  b.watermark_us = r.watermark_us == state::Watermark::kNone ? metrics::kUnknown : r.watermark_us;
  b.state_bytes = r.state_bytes;
  b.seconds = r.seconds;
  b.committed_at_us = committed_at_us;
  b.replayed = r.replayed;
  s.recent.push_back(std::move(b));
  if (s.recent.size() > metrics::kRecentBatches) s.recent.erase(s.recent.begin());

  s.watermark_us = s.recent.back().watermark_us;
  s.dedup_ids = r.dedup_state;
  s.open_windows = r.open_windows;
  s.state_bytes = r.state_bytes;
  s.join = r.join;
  s.join_orders_waiting = r.join_orders_waiting;
  s.join_payments_waiting = r.join_payments_waiting;
  s.join_matches += r.join_matches;
  for (const auto& [reason, n] : r.reconciliation_by_reason) s.reconciliation_by_reason[reason] += n;
  s.lag = s.recent.back().lag;
  s.lag_by_partition = r.lag_by_partition;
  s.payments_lag_by_partition = r.payments_lag_by_partition;
  s.tables = r.tables;
  Publish(committed_at_us);
  if (!metrics_file_.empty()) {
    // Metrics describe the run; failing to publish them must not stop the data.
    if (auto st = metrics::StatusMetrics(*Snapshot()).WriteTo(metrics_file_); !st.ok()) {
      spdlog::warn("metrics file not updated: {}", st.message());
    }
  }
}

void StatusBoard::Refresh(int64_t now_us, int64_t lag, const std::map<int32_t, int64_t>& lag_by_partition,
                          const std::map<int32_t, int64_t>& payments_lag_by_partition) {
  draft_.lag = lag < 0 ? metrics::kUnknown : lag;
  draft_.lag_by_partition = lag_by_partition;
  draft_.payments_lag_by_partition = payments_lag_by_partition;
  Publish(now_us);
}

std::shared_ptr<const metrics::RunStatus> StatusBoard::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return published_;
}

void StatusBoard::Publish(int64_t now_us) {
  draft_.published_at_us = now_us;
  const DiskSyncTotals syncs = DiskSyncs();
  draft_.disk_syncs = syncs.count;
  draft_.slow_disk_syncs = syncs.slow;
  draft_.disk_sync_seconds = syncs.seconds;
  draft_.alerts = alerts_.Evaluate(draft_, now_us);
  auto next = std::make_shared<const metrics::RunStatus>(draft_);
  std::lock_guard<std::mutex> lock(mutex_);
  published_ = std::move(next);
}

std::map<std::string, metrics::TableSize> TableSizes(const std::vector<sink::Table*>& tables) {
  std::map<std::string, metrics::TableSize> out;
  for (sink::Table* table : tables) {
    metrics::TableSize& size = out[table->name()];
    size.files = static_cast<int64_t>(table->log().live_files().size());
    size.bytes = table->log().live_bytes();
  }
  return out;
}

arrow::Result<std::map<std::string, int64_t>> CountReasons(const arrow::RecordBatch& batch,
                                                            const std::string& column) {
  std::map<std::string, int64_t> out;
  auto array = std::dynamic_pointer_cast<arrow::StringArray>(batch.GetColumnByName(column));
  if (array == nullptr) return arrow::Status::Invalid("no string column '", column, "'");
  for (int64_t i = 0; i < array->length(); ++i) {
    if (array->IsValid(i)) ++out[std::string(array->GetView(i))];
  }
  return out;
}

std::map<int32_t, int64_t> LagByPartition(const source::KafkaSource& source, const std::map<int32_t, int64_t>& next) {
  std::map<int32_t, int64_t> out;
  for (const auto& [p, end] : source.KnownEnds(next)) {
    auto n = next.find(p);
    out[p] = end < 0 || n == next.end() ? metrics::kUnknown : std::max<int64_t>(0, end - n->second);
  }
  return out;
}

}  // namespace medallion::engine
