#include "engine/batch_metrics.h"

#include "metrics/prometheus_text.h"
#include "state/watermark.h"

namespace medallion::engine {

BatchMetrics::BatchMetrics(std::string path, const std::string& topic, const std::string& query_id)
    : path_(std::move(path)), topic_(topic), query_id_(query_id) {}

arrow::Status BatchMetrics::Start() {
  auto st = Write(nullptr, 0);
  if (!st.ok()) {
    return arrow::Status::Invalid("metrics.file (--metrics-file) '", path_, "': ", st.message());
  }
  return st;
}

arrow::Status BatchMetrics::Record(const BatchReport& report, int64_t committed_at_us) {
  ++batches_;
  records_ += report.records;
  quarantined_ += report.quarantined;
  paid_new_ += report.paid_new;
  silver_lines_ += report.silver_lines;
  late_lines_ += report.late_lines;
  return Write(&report, committed_at_us);
}

arrow::Status BatchMetrics::Write(const BatchReport* last, int64_t committed_at_us) const {
  metrics::PrometheusText m({{"topic", topic_}, {"query", query_id_}});
  m.Counter("medallion_batches_total", "Micro-batches this process committed.", batches_);
  m.Counter("medallion_records_total", "Kafka records written to Bronze.", records_);
  m.Counter("medallion_quarantined_total", "Records that broke the contract (quarantine).", quarantined_);
  m.Counter("medallion_paid_events_total", "First-seen PAID events taken into Silver.", paid_new_);
  m.Counter("medallion_silver_lines_total", "Order lines written to Silver.", silver_lines_);
  m.Counter("medallion_late_lines_total", "Lines written to late/order_lines.", late_lines_);
  if (last != nullptr) {
    m.Gauge("medallion_last_batch_id", "Id of the last committed batch.", last->batch_id);
    m.Gauge("medallion_last_batch_timestamp_seconds", "When the last batch committed (Unix time).",
            committed_at_us / 1e6);
    m.Gauge("medallion_last_batch_duration_seconds", "Time the last batch took.", last->seconds);
    if (last->lag >= 0) {
      m.Gauge("medallion_lag_records", "Records the topic holds beyond the last batch.", last->lag);
    }
    if (last->watermark_us != state::Watermark::kNone) {
      m.Gauge("medallion_watermark_timestamp_seconds", "The event-time watermark (Unix time).",
              last->watermark_us / 1e6);
    }
    m.Gauge("medallion_dedup_ids", "Event ids the deduplicator holds.", last->dedup_state);
    m.Gauge("medallion_open_window_groups", "Gold window groups not final yet.", last->open_windows);
    m.Gauge("medallion_state_bytes", "Size of the operator state written for the last batch.",
            last->state_bytes);
  }
  return m.WriteTo(path_);
}

}  // namespace medallion::engine
