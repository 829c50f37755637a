#include "metrics/status_json.h"

#include <cmath>
#include <cstdio>

namespace medallion::metrics {
namespace {

/// Writes JSON text: objects and arrays with the commas placed for the caller.
class JsonWriter {
 public:
  std::string Take() { return std::move(out_); }

  JsonWriter& Key(const std::string& key) {
    Comma();
    String(key);
    out_ += ':';
    pending_value_ = true;
    return *this;
  }
  void Begin(char c) {
    Comma();
    out_ += c;
    first_ = true;
  }
  void End(char c) {
    out_ += c;
    first_ = false;
  }
  void Str(const std::string& v) {
    Comma();
    String(v);
  }
  void Int(int64_t v) {
    Comma();
    if (v == kUnknown) out_ += "null";
    else out_ += std::to_string(v);
  }
  void Num(double v) {
    Comma();
    if (!std::isfinite(v)) {
      out_ += "null";
      return;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    out_ += buf;
  }
  void Bool(bool v) {
    Comma();
    out_ += v ? "true" : "false";
  }
  void Counts(const std::map<std::string, int64_t>& counts) {
    Begin('{');
    for (const auto& [k, v] : counts) Key(k).Int(v);
    End('}');
  }

 private:
  void Comma() {
    if (pending_value_) {
      pending_value_ = false;
      return;
    }
    if (!first_) out_ += ',';
    first_ = false;
  }
  void String(const std::string& v) {
    out_ += '"';
    for (const unsigned char c : v) {
      if (c == '"') out_ += "\\\"";
      else if (c == '\\') out_ += "\\\\";
      else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += static_cast<char>(c);
      }
    }
    out_ += '"';
  }

  std::string out_;
  bool first_ = true;
  bool pending_value_ = false;
};

}  // namespace

std::string StatusJson(const RunStatus& s) {
  JsonWriter w;
  w.Begin('{');
  w.Key("source").Begin('{');
  w.Key("brokers").Str(s.brokers);
  w.Key("topic").Str(s.topic);
  w.Key("group_id").Str(s.group_id);
  w.Key("partitions").Begin('[');
  for (int32_t p : s.partitions) w.Int(p);
  w.End(']');
  w.End('}');
  w.Key("sink").Begin('{');
  w.Key("data_dir").Str(s.data_dir);
  w.Key("checkpoint_dir").Str(s.checkpoint_dir);
  w.Key("query_id").Str(s.query_id);
  w.End('}');
  w.Key("started_at_us").Int(s.started_at_us);
  w.Key("published_at_us").Int(s.published_at_us);
  w.Key("ready").Bool(s.Ready());
  w.Key("ready_max_lag").Int(s.ready_max_lag);
  w.Key("totals").Begin('{');
  w.Key("batches").Int(s.batches);
  w.Key("records").Int(s.records);
  w.Key("quarantined").Int(s.quarantined);
  w.Key("paid_new").Int(s.paid_new);
  w.Key("silver_lines").Int(s.silver_lines);
  w.Key("late_lines").Int(s.late_lines);
  w.Key("quarantined_by_reason").Counts(s.quarantined_by_reason);
  w.Key("late_by_reason").Counts(s.late_by_reason);
  w.End('}');
  w.Key("state").Begin('{');
  w.Key("watermark_us").Int(s.watermark_us);
  w.Key("dedup_ids").Int(s.dedup_ids);
  w.Key("open_window_groups").Int(s.open_windows);
  w.Key("state_bytes").Int(s.state_bytes);
  w.End('}');
  w.Key("disk").Begin('{');
  w.Key("fsyncs").Int(s.disk_syncs);
  w.Key("fsync_seconds").Num(s.disk_sync_seconds);
  w.Key("slow_fsyncs").Int(s.slow_disk_syncs);
  w.End('}');
  if (s.join) {
    w.Key("payment_join").Begin('{');
    w.Key("orders_waiting").Int(s.join_orders_waiting);
    w.Key("payments_waiting").Int(s.join_payments_waiting);
    w.Key("matches").Int(s.join_matches);
    w.Key("reconciliation_by_reason").Counts(s.reconciliation_by_reason);
    w.Key("lag_by_partition").Begin('{');
    for (const auto& [p, lag] : s.payments_lag_by_partition) w.Key(std::to_string(p)).Int(lag);
    w.End('}');
    w.End('}');
  }
  w.Key("lag").Int(s.lag);
  w.Key("lag_by_partition").Begin('{');
  for (const auto& [p, lag] : s.lag_by_partition) w.Key(std::to_string(p)).Int(lag);
  w.End('}');
  w.Key("tables").Begin('{');
  for (const auto& [name, size] : s.tables) {
    w.Key(name).Begin('{');
    w.Key("files").Int(size.files);
    w.Key("bytes").Int(size.bytes);
    w.End('}');
  }
  w.End('}');
  if (s.compaction) {
    const CompactionTotals& c = *s.compaction;
    w.Key("compaction").Begin('{');
    w.Key("merges").Int(c.merges);
    w.Key("conflicts").Int(c.conflicts);
    w.Key("errors").Int(c.errors);
    w.Key("files_in").Int(c.files_in);
    w.Key("files_out").Int(c.files_out);
    w.Key("bytes_in").Int(c.bytes_in);
    w.Key("bytes_out").Int(c.bytes_out);
    w.Key("rows").Int(c.rows);
    w.Key("files_joined").Int(c.files_joined);
    w.Key("cpu_seconds").Num(c.cpu_seconds);
    w.End('}');
  }
  w.Key("batches").Begin('[');
  for (const auto& b : s.recent) {
    w.Begin('{');
    w.Key("batch_id").Int(b.batch_id);
    w.Key("records").Int(b.records);
    w.Key("quarantined").Int(b.quarantined);
    w.Key("silver_lines").Int(b.silver_lines);
    w.Key("late_lines").Int(b.late_lines);
    w.Key("quarantined_by_reason").Counts(b.quarantined_by_reason);
    w.Key("late_by_reason").Counts(b.late_by_reason);
    w.Key("lag").Int(b.lag);
    w.Key("watermark_us").Int(b.watermark_us);
    w.Key("state_bytes").Int(b.state_bytes);
    w.Key("seconds").Num(b.seconds);
    w.Key("committed_at_us").Int(b.committed_at_us);
    w.Key("replayed").Bool(b.replayed);
    w.End('}');
  }
  w.End(']');
  w.Key("alerts").Begin('[');
  for (const auto& a : s.alerts) {
    w.Begin('{');
    w.Key("alert").Str(a.name);
    w.Key("reason").Str(a.reason);
    w.Key("firing").Bool(a.firing);
    w.Key("value").Num(a.value);
    w.Key("threshold").Num(a.threshold);
    w.Key("since_us").Int(a.since_us);
    w.Key("description").Str(a.description);
    w.End('}');
  }
  w.End(']');
  w.End('}');
  return w.Take();
}

}  // namespace medallion::metrics
