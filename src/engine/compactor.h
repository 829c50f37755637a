#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics/run_status.h"
#include "sink/table.h"
#include "sink/table_compaction.h"

namespace medallion::engine {

/// How the engine compacts its append tables beside the stream.
struct CompactorOptions {
  sink::CompactionOptions compaction;
  /// The share of one core the compactor may use (0.25): after a call that took t seconds
  /// it rests t * (1 - share) / share before the next, so a backlog of small files is worked
  /// off at a quarter of a core while the stream keeps the rest.
  double cpu_share = 0.25;
  /// With nothing to merge in any table, it looks again after this long.
  int64_t idle_ms = 2000;
};

/// The app ids whose files the compactor merges in a table, one Compact call each: the
/// query's in a single process; in group mode every member's and the Gold stage's.
using CompactionWriters = std::function<std::vector<std::string>(sink::Table&)>;

/// Auto-compaction of the append tables (Bronze, Quarantine, Silver, Late and the payments
/// side's): one thread that calls sink::Table::Compact on handles of its own on the same
/// tables, so the engine thread never waits for a merge. Delta's optimistic concurrency
/// orders its OPTIMIZE commits (dataChange false, no txn) with the stream's appends, which
/// never conflict with them; a merge whose input another writer removed first (delta-rs'
/// or Spark's OPTIMIZE) is abandoned and tried again later. A kill at any point leaves the
/// table correct: the commit is one log entry, and merged files without it are orphans the
/// next start-up removes (sink::Table::RemoveOrphans). An error (a full disk) is logged and
/// the table is tried again after a pause: compaction never stops the stream. While the
/// stream has a backlog (a catch-up run, a burst) the compactor waits: the engine's cores go
/// to the backlog, and its larger batches write fewer, larger files anyway.
class Compactor {
 public:
  /// Starts the thread over `tables` (handles no one else uses), merging the files of the
  /// `writers` of each.
  Compactor(std::vector<std::unique_ptr<sink::Table>> tables, CompactionWriters writers, CompactorOptions options);
  /// Stops the thread after the call in progress (a merge of at most max_bytes_per_run).
  ~Compactor();

  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  /// What it did since it started (the status board's and /metrics' compaction figures).
  metrics::CompactionTotals totals() const;

  /// Whether the stream is behind (the engine sets it after every batch): no merge starts
  /// while it is.
  void SetBacklog(bool behind) { backlog_.store(behind); }

 private:
  void Loop();
  /// One pass: a Compact call on each table; returns the CPU seconds it took and whether
  /// any table has more to merge.
  bool Pass(double* cpu_seconds);
  /// One Compact call on `table` for `writer`'s files, counted in the totals; false when
  /// stopped.
  bool Compact(sink::Table& table, const std::string& writer, double* cpu_seconds, bool* more);
  /// Waits `ms` or until stopped; false when stopped.
  bool Rest(int64_t ms);

  std::vector<std::unique_ptr<sink::Table>> tables_;
  CompactionWriters writers_;
  CompactorOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<bool> backlog_{true};  // until the first batch says otherwise
  metrics::CompactionTotals totals_;
  std::thread thread_;
};

}  // namespace medallion::engine
