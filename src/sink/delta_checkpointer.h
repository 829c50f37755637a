#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <arrow/status.h>

#include "sink/delta_actions.h"
#include "sink/delta_table_properties.h"

namespace medallion::sink {

/// Rebuilds the snapshot of `version` from the files of `log_dir` alone: the newest
/// single-part checkpoint at or below `version`, then the JSON entries after it up to
/// `version`, each of which must exist. `snapshot` is replaced.
arrow::Status LoadDeltaSnapshot(const std::string& log_dir, int64_t version, DeltaSnapshot* snapshot);

/// Writes the checkpoint of `snapshot` (WriteDeltaCheckpoint: atomic, then _last_checkpoint)
/// and then, unless the table turned it off, deletes the log files the retention no longer
/// needs (CleanUpExpiredLog). Fault points, in order: delta_log.before_checkpoint,
/// delta_log.after_checkpoint, delta_log.before_cleanup, delta_log.after_cleanup.
arrow::Status WriteCheckpointAndCleanUp(const std::string& log_dir, const DeltaSnapshot& snapshot,
                                        const LogRetention& retention, int64_t now_ms);

/// Writes a table's interval checkpoints off the commit path, on a thread of its own.
///
/// A job knows only the log directory and a committed version: it rebuilds that version's
/// snapshot from the newest checkpoint and the entries after it (LoadDeltaSnapshot), so it
/// shares no state with the DeltaLog that asked for it, and the commit that asks waits for
/// nothing: not for a copy of the snapshot, not for the Parquet encoding, not for the fsyncs.
/// The price is the reading of the previous checkpoint, on the background thread, and a
/// second copy of the table's live files while a job runs (not between jobs).
///
/// At most one job runs and one waits; a newer request replaces the waiting one (its
/// checkpoint would cover it). A crash mid-job leaves the table as a crash inside a
/// synchronous checkpoint would: the checkpoint appears atomically, _last_checkpoint after it,
/// log files are deleted only after both.
///
/// Threading: Request, TakeFailure and Wait may be called from any thread. Lifecycle: the
/// thread starts at the first Request; the destructor finishes the running and the waiting
/// job, then joins it.
class BackgroundCheckpointer {
 public:
  BackgroundCheckpointer(std::string log_dir, std::string table_name);
  ~BackgroundCheckpointer();

  BackgroundCheckpointer(const BackgroundCheckpointer&) = delete;
  BackgroundCheckpointer& operator=(const BackgroundCheckpointer&) = delete;

  /// Asks for a checkpoint of `version`, which must be committed, and a cleanup by
  /// `retention` after it. Returns at once.
  void Request(int64_t version, const LogRetention& retention);

  /// The first failure of a job since the last call (cleared by the call), without waiting.
  arrow::Status TakeFailure();

  /// Waits until no job runs or waits, then returns TakeFailure().
  arrow::Status Wait();

 private:
  struct Job {
    int64_t version;
    LogRetention retention;
  };

  void Loop();
  arrow::Status Run(const Job& job) const;

  const std::string log_dir_;
  const std::string table_name_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Job> waiting_;
  bool running_ = false;
  bool stopping_ = false;
  arrow::Status failure_;
  std::thread thread_;
};

}  // namespace medallion::sink
