// The Deduplicator alone: N ids ("ev-<seed>-<n>", event times spread over one hour) in
// batches of 10,000; prints RSS growth per id, ns per Process row (fresh ids, then all
// repeats) and per delta row, EvictBefore cost (nothing due, 1/60 due, half due) and snapshot bytes per id.
//
// Usage: dedup_bench [N]   (default 2,000,000)
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "ops/dedup.h"

namespace {

int64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0;
  int64_t resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Check(const arrow::Status& st) {
  if (!st.ok()) {
    std::fprintf(stderr, "dedup_bench: %s\n", st.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 2'000'000;
  constexpr int64_t kBatch = 10'000;
  constexpr int64_t kStart = 1795514400000000;  // 2026-11-24T10:00Z
  constexpr int64_t kHourUs = 3'600'000'000;
  auto type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  auto schema = arrow::schema({arrow::field("event_id", arrow::utf8()), arrow::field("event_time", type)});
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int64_t from = 0; from < n; from += kBatch) {
    arrow::StringBuilder ids;
    arrow::TimestampBuilder times(type, arrow::default_memory_pool());
    for (int64_t i = from; i < std::min(n, from + kBatch); ++i) {
      Check(ids.Append("ev-" + std::to_string(1000 + i % 7919) + "-" + std::to_string(i)));
      Check(times.Append(kStart + i * kHourUs / n));
    }
    const int64_t length = ids.length();
    batches.push_back(
        arrow::RecordBatch::Make(schema, length, {ids.Finish().ValueOrDie(), times.Finish().ValueOrDie()}));
  }
  std::vector<medallion::ops::RowSelection> rows;
  for (const auto& b : batches) {
    rows.emplace_back(b->num_rows());
    for (int64_t i = 0; i < b->num_rows(); ++i) rows.back()[i] = i;
  }
  malloc_trim(0);
  const int64_t rss_before = RssBytes();

  medallion::ops::Deduplicator dedup;
  // As the engine does: a delta after every batch (so the delta's list stays one batch long).
  double insert_s = 0;
  double delta_s = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    auto start = std::chrono::steady_clock::now();
    Check(dedup.Process(*batches[i], rows[i]).status());
    insert_s += Seconds(start);
    start = std::chrono::steady_clock::now();
    const std::string delta = dedup.SerializeDelta();
    delta_s += Seconds(start);
  }
  malloc_trim(0);
  const int64_t rss_after = RssBytes();
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < batches.size(); ++i) Check(dedup.Process(*batches[i], rows[i]).status());
  const double repeat_s = Seconds(start);

  start = std::chrono::steady_clock::now();
  const std::string full = dedup.SerializeState();
  const double snapshot_s = Seconds(start);
  medallion::ops::Deduplicator restored;
  start = std::chrono::steady_clock::now();
  Check(restored.RestoreState(full));
  const double restore_s = Seconds(start);

  start = std::chrono::steady_clock::now();
  const int64_t none = dedup.EvictBefore(kStart);  // nothing due, but a new horizon
  const double evict_none_s = Seconds(start);
  start = std::chrono::steady_clock::now();
  const int64_t minute = dedup.EvictBefore(kStart + kHourUs / 60);  // the first minute
  const double evict_minute_s = Seconds(start);
  start = std::chrono::steady_clock::now();
  const int64_t half = dedup.EvictBefore(kStart + kHourUs / 2);
  const double evict_half_s = Seconds(start);

  std::printf(
      "{\"ids\": %lld, \"rss_bytes_per_id\": %.1f, \"ns_per_fresh_row\": %.0f, \"ns_per_repeat_row\": %.0f, "
      "\"ns_per_delta_row\": %.0f, \"evict_none_ms\": %.2f, \"evict_minute_ms\": %.2f, \"evicted_minute\": %lld, \"evict_half_ms\": %.2f, "
      "\"evicted_half\": %lld, \"snapshot_bytes_per_id\": %.1f, \"snapshot_ms\": %.1f, \"restore_ms\": %.1f}\n",
      static_cast<long long>(n), static_cast<double>(rss_after - rss_before) / static_cast<double>(n),
      insert_s / static_cast<double>(n) * 1e9, repeat_s / static_cast<double>(n) * 1e9, delta_s / static_cast<double>(n) * 1e9, evict_none_s * 1e3,
      evict_minute_s * 1e3, static_cast<long long>(minute + none), evict_half_s * 1e3,
      static_cast<long long>(half), static_cast<double>(full.size()) / static_cast<double>(n), snapshot_s * 1e3,
      restore_s * 1e3);
  return 0;
}
