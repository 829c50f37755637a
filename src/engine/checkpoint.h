#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "common/dir_lock.h"
#include "source/kafka_source.h"

namespace medallion::engine {

/// The partitions whose `next` offset is below their end in `ends` (or whose end is not
/// known): those still holding records the query has not read.
std::set<int32_t> PartitionsBehind(const std::map<int32_t, int64_t>& next, const std::map<int32_t, int64_t>& ends);

/// A second topic's part of a batch plan (the payments joined with the orders): its ranges,
/// next offsets and known ends, as BatchPlan's own fields are for the orders topic.
struct TopicPlan {
  std::string topic;
  source::BatchOffsets offsets;
  std::map<int32_t, int64_t> next;
  std::map<int32_t, int64_t> ends;
  std::set<int32_t> Behind() const { return PartitionsBehind(next, ends); }
};

/// The write-ahead plan of one micro-batch (offsets/<B>): everything needed to replay it
/// and get the same output.
struct BatchPlan {
  int64_t batch_id = 0;
  std::string topic;
  /// Time stamped on every row of the batch as ingest_time (fixed here so a replay
  /// writes identical rows).
  int64_t ingest_time_us = 0;
  source::BatchOffsets offsets;
  /// Next offset per partition after this batch (ranges' ends merged with earlier ones).
  std::map<int32_t, int64_t> next;
  /// Each partition's end offset as known when the batch was planned (-1: not known yet).
  /// A partition whose `next` is below its end (or whose end is unknown) is behind: it holds
  /// the watermark (state::Watermark). Empty in plans written before this field existed;
  /// then no partition counts as behind.
  std::map<int32_t, int64_t> ends;

  /// The payments topic's part (absent when the query has no payments side).
  std::optional<TopicPlan> payments;

  /// The partitions still holding records this query has not read after this batch.
  std::set<int32_t> Behind() const { return PartitionsBehind(next, ends); }
};

/// The failed attempts of one planned batch (attempts/<B>): how often a run ended with an
/// error while batch B was planned but not committed, and the last error.
struct BatchAttempts {
  int64_t failures = 0;
  std::string last_error;
};

/// The checkpoint directory, laid out as Spark's:
///
///     metadata        {"id": "<query id>"}: the appId of every table commit
///     query.json      the settings that shape state and tables (engine/query_settings.h)
///     offsets/<B>     BatchPlan, written (atomically, fsynced) BEFORE batch B writes output
///     state/<B>       operator state after batch B (binary, checksummed), written after
///                     every table committed B: its presence is B's commit
///     commits/<B>     written by earlier builds after state/<B>; read, never written
///     attempts/<B>    failed attempts of planned batch B (removed when B commits)
///
/// Spark writes commits/<B> as a file of its own; here state/<B> already is written once
/// every table holds B, so a second file said nothing more and cost a create, an fsync, a
/// directory fsync and a delete per batch.
///
/// Recovery: let C be the last commit. If offsets/<C+1> exists, batch C+1 was planned and
/// may be half done: replay it with the same offsets from state/<C>. Otherwise continue
/// with batch C+1 after the offsets of C. Older files are pruned, keeping `retain` batches.
/// Not thread-safe; one engine per directory (a lock file enforces it).
class Checkpoint {
 public:
  /// Opens or creates the directory and takes its lock. Fails if another process holds it,
  /// or if a file in offsets/, commits/, state/ or attempts/ is not named by a batch id
  /// (digits within int64): such a checkpoint was damaged, and guessing would lose data.
  static arrow::Result<std::unique_ptr<Checkpoint>> Open(const std::string& dir);

  const std::string& query_id() const { return query_id_; }

  /// Last committed batch id (the newest state/<B>, or commits/<B> of an earlier build), or -1.
  int64_t LastCommitted() const { return last_committed_; }
  /// The plan of batch `id`, if one was written.
  arrow::Result<std::optional<BatchPlan>> ReadPlan(int64_t id) const;
  /// The operator state after batch `id`, if present.
  arrow::Result<std::optional<std::string>> ReadState(int64_t id) const;

  arrow::Status WritePlan(const BatchPlan& plan);
  /// Commits batch `id`, whose tables all hold it: writes its operator state as state/<id>
  /// and forgets its failed attempts.
  arrow::Status Commit(int64_t id, const std::string& state);

  /// The failed attempts recorded for planned batch `id` (none: zero failures).
  arrow::Result<BatchAttempts> ReadAttempts(int64_t id) const;
  /// Adds one failed attempt of batch `id` with its error; returns the attempts now.
  arrow::Result<BatchAttempts> RecordFailedAttempt(int64_t id, const std::string& error);
  /// The path of attempts/<id>, for messages that tell the operator what to remove.
  std::string AttemptsPath(int64_t id) const;
  const std::string& dir() const { return dir_; }
  /// Removes plans, states and commits older than `id - retain`, keeping the state files from
  /// batch `states_from` on (the newest full state file and the deltas a restore reads after it).
  void Prune(int64_t id, int retain, int64_t states_from);

 private:
  Checkpoint(std::string dir, std::string query_id, int64_t last_committed, std::unique_ptr<DirLock> lock)
      : dir_(std::move(dir)), query_id_(std::move(query_id)), last_committed_(last_committed), lock_(std::move(lock)) {}
  std::string dir_;
  std::string query_id_;
  int64_t last_committed_;
  std::unique_ptr<DirLock> lock_;
  /// False while no attempts/ record can exist (none at open, none written since): a commit
  /// then has no stale record to remove, which saves a request per batch on an object store.
  bool attempts_may_exist_ = true;
  /// Per folder of kKinds (offsets, commits, state, attempts): every batch file below this id
  /// is removed; -1 until the first Prune, which lists the folder. Later prunes remove the
  /// few ids between by name instead of listing a folder per batch.
  std::array<int64_t, 4> removed_below_ = {-1, -1, -1, -1};
};

/// The last batch committed in checkpoint `dir`: the newest state/<B>, or commits/<B> that an
/// earlier build wrote, or -1 (also when the folders do not exist yet). Reads only; an error
/// names a file in those folders that is not named by a batch id.
arrow::Result<int64_t> LastCommittedBatch(const std::string& dir);

/// The batch id a checkpoint file is named by: digits only, within int64; nullopt otherwise.
std::optional<int64_t> ParseBatchId(std::string_view name);

/// JSON form of a plan, and its inverse (used for offsets/<B>).
std::string PlanToJson(const BatchPlan& plan);
arrow::Result<BatchPlan> PlanFromJson(const std::string& json);

/// The query id of a checkpoint directory that several processes share (group mode's
/// members, the Gold stage): read, or created by the first of them (created exclusively, so
/// processes starting at once agree on one).
arrow::Result<std::string> SharedQueryId(const std::string& dir);

/// The query id in `dir`/metadata, or nullopt if the file does not exist; an error if it is
/// corrupt. Reads only: no lock, nothing created.
arrow::Result<std::optional<std::string>> ReadQueryId(const std::string& dir);

}  // namespace medallion::engine
