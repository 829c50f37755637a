#pragma once

#include <atomic>
#include <memory>

#include <arrow/status.h>

#include "engine/compactor.h"
#include "engine/pipeline_options.h"

namespace medallion::engine {

class StatusBoard;

/// Group mode's partition stage (`[scale] mode = "group"`, docs/scale-out.md): one member of
/// the consumer group `kafka.group_id`. Several members, on one machine or several sharing
/// the data and checkpoint directories, split the topic's partitions and write one set of
/// Bronze, Quarantine, Silver and Late tables, exactly once per partition.
///
/// What makes that hold:
/// - Progress lives in the tables: every commit carries, per Kafka partition it covers, a
///   txn "<query id>/<topic>/<partition>" with the partition's next offset, and is a
///   compare-and-set on them (sink::CommitConflict::kSourceTaken when another member moved a
///   partition since this one read the table).
/// - Bronze is the authority and is committed last. A member given partition p starts it at
///   Bronze's txn for p; a table already past that (the last owner died between that table's
///   commit and Bronze's) gets p's rows from its own txn on only.
/// - p's dedup state (its ids and greatest event time: ops::PartitionDedup, judged event by
///   event) is written to `<checkpoint>/partitions/<topic>-<p>/<offset>` before the Bronze
///   commit that moves p to that offset, so the next owner restores exactly the state that
///   goes with Bronze's txn.
/// - Duplicates share their key (order_id) and so their partition: dedup is partition-local.
///
/// Not in this stage (group mode refuses them at start-up): Gold (docs/scale-out.md, step 4),
/// the payments join; side_commit_interval and bronze_commit_interval do not apply (Quarantine,
/// Late and Bronze commit every batch: Bronze's txn is each partition's progress here).
class GroupStage {
 public:
  ~GroupStage();
  static arrow::Result<std::unique_ptr<GroupStage>> Make(const PipelineOptions& options);

  /// Joins the group and runs batches of the partitions it is given until `stop` is set.
  arrow::Status Run(const std::atomic<bool>& stop);

  /// What this member has done (its own batches, records and partitions; lag of its
  /// partitions), for /metrics, /status and the metrics file.
  std::shared_ptr<StatusBoard> status_board() const;

  class Impl;

 private:
  explicit GroupStage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The writers whose files the Gold stage's compactor merges in the tables of query
/// `query_id` in group mode: every app id "<query id>-…" naming a live part file (members'
/// "<query id>-member-<8 hex>", the Gold stage's "<query id>-gold"), each merged on its own.
CompactionWriters SharedTableWriters(const std::string& query_id);

/// The reason group mode cannot run with `options`, or an empty string.
std::string GroupModeRefusal(const PipelineOptions& options);

}  // namespace medallion::engine
