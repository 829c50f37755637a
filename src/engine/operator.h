#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "engine/engine_state.h"
#include "ops/payment_join.h"
#include "ops/row_selection.h"

/// The contract every stateful step of a batch follows, and the chain the three engines
/// (one process, a group member, the Gold stage) loop over instead of wiring their steps by
/// hand: each engine builds a chain of the operators it runs and decides only where their
/// state goes and which tables commit in which order.
namespace medallion::engine {

/// What one batch carries through a chain. The engine fills the inputs; each operator reads
/// what the ones before it put and adds its own outputs. A field an engine does not use stays
/// empty (the Gold stage has no events; a group member no payments).
struct BatchFlow {
  // Inputs, set by the engine.
  /// The batch's id, written into its Late rows (the Gold stage: the Silver version it ends at).
  int64_t batch_id = 0;
  /// The batch's clock (ingest time, or the Silver files' log time); none: the watermark
  /// does not move in this batch (a Gold batch over entries without data files).
  std::optional<int64_t> clock_us;
  /// Partitions whose next records are already waiting: they are not idle.
  std::set<int32_t> behind;
  /// Events before this time count as beyond the dedup horizon whatever the watermark (set by
  /// a restart that made the horizon longer; the lowest int64 when there is none).
  int64_t dedup_floor_us = std::numeric_limits<int64_t>::min();
  /// The batch's valid events, or (the Gold stage) Silver's lines read from its log.
  std::shared_ptr<arrow::RecordBatch> events;
  std::shared_ptr<arrow::RecordBatch> silver;
  /// The payments topic's valid events and its partitions behind, when the query joins them.
  std::shared_ptr<arrow::RecordBatch> payments;
  std::set<int32_t> payments_behind;

  // Set by the operators, in chain order.
  /// The query watermark that judges this batch (the one after the batches before it), and
  /// the one after it (state::Watermark::kNone before any event).
  int64_t watermark_before = 0;
  int64_t watermark_after = 0;
  /// The batch's PAID events seen for the first time within the dedup horizon.
  ops::RowSelection fresh;
  /// Late rows: events beyond the dedup horizon, and lines of windows already closed.
  std::shared_ptr<arrow::RecordBatch> late_horizon;
  std::shared_ptr<arrow::RecordBatch> late_final;
  /// The Gold windows the batch closed.
  std::shared_ptr<arrow::RecordBatch> final_windows;
  /// What the payment join decided in this batch.
  ops::JoinOutput joined;
};

/// Whether an operator's state belongs to a Kafka partition (and moves with it between
/// group members) or to the whole query.
enum class StateScope { kPartition, kGlobal };

/// One step of a batch. `Consume` runs for every operator of a chain in order, then `Finish`
/// for every one in the same order; so an operator's Finish sees every operator's Consume
/// (the windows close after the watermark has moved, which it does after all rows were
/// seen). State is named parts (StatePart) for the engine's state files; a partition-scoped
/// operator also gives and takes one partition's state, for a group member that gains or
/// loses it. Not thread-safe: the engine thread owns its operators.
class Operator {
 public:
  virtual ~Operator() = default;

  /// Adds the batch's input; may set outputs of `flow`.
  virtual arrow::Status Consume(BatchFlow* flow) = 0;
  /// Called once the whole batch was consumed by every operator of the chain.
  virtual arrow::Status Finish(BatchFlow* flow) { return arrow::Status::OK(); }

  virtual StateScope scope() const { return StateScope::kGlobal; }
  /// The operator's parts of the engine state (none for a stateless one).
  virtual std::vector<StatePart> StateParts() { return {}; }

  /// Partition-scoped operators only: partition p's state alone, its restore (Invalid when
  /// the bytes hold another partition), and forgetting p; what changed in p since its last
  /// snapshot, delta or restore, and the replay of such a delta on the state it was taken
  /// from.
  virtual std::string SnapshotPartition(int32_t p) { return {}; }
  virtual arrow::Status RestorePartition(int32_t p, std::string_view bytes) { return arrow::Status::OK(); }
  virtual void DropPartition(int32_t p) {}
  virtual std::string SnapshotPartitionDelta(int32_t p) { return {}; }
  virtual arrow::Status ApplyPartitionDelta(int32_t p, std::string_view bytes) { return arrow::Status::OK(); }
};

/// A stage's operators in the order they run; owns them.
class OperatorChain {
 public:
  /// Makes an operator at the end of the chain; returns it (owned by the chain) for the
  /// engine's reports.
  template <typename Op, typename... Args>
  Op* Emplace(Args&&... args) {
    auto op = std::make_unique<Op>(std::forward<Args>(args)...);
    Op* raw = op.get();
    operators_.push_back(std::move(op));
    return raw;
  }

  /// Every operator's Consume, then every operator's Finish.
  arrow::Status Run(BatchFlow* flow);

  /// Every operator's parts of the engine state, in chain order.
  std::vector<StatePart> StateParts();

  /// The partition-scoped operator whose state a group member stores per partition; null
  /// when the chain has none. A member's partition state file holds one operator's bytes, so
  /// a chain with two is a bug (MEDALLION_CHECK).
  Operator* PartitionState() const;

 private:
  std::vector<std::unique_ptr<Operator>> operators_;
};

}  // namespace medallion::engine
