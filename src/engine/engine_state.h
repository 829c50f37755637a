#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

/// The engine's operator state as one list of named parts that the checkpoint writes after
/// every batch (state/<B>) and restores at start-up, instead of a hand-written sequence of
/// fields: an operator joins the checkpoint by adding its part.
namespace medallion::engine {

/// One operator's state in the checkpoint. A whole part is written in full after every
/// batch; an incremental part (one that grows with the stream, as the dedup ids) is written
/// in full every few batches and as the changes since the last snapshot in between.
struct StatePart {
  /// The part's key in the state file; stable across releases.
  std::string name;
  /// The full snapshot, and its restore into a freshly made operator.
  std::function<std::string()> snapshot;
  std::function<arrow::Status(std::string_view)> restore;
  /// Incremental parts only (empty otherwise): the changes since the last snapshot or delta,
  /// and their replay on top of the state they were taken from.
  std::function<std::string()> delta;
  std::function<arrow::Status(std::string_view)> apply_delta;

  bool incremental() const { return static_cast<bool>(delta); }
};

/// A whole part over `op`'s SerializeState/RestoreState.
template <typename Op>
StatePart WholeState(std::string name, Op* op) {
  return {std::move(name), [op] { return op->SerializeState(); },
          [op](std::string_view bytes) { return op->RestoreState(bytes); }, nullptr, nullptr};
}

/// An incremental part over `op`'s SerializeState/RestoreState and SerializeDelta/ApplyDelta.
template <typename Op>
StatePart IncrementalState(std::string name, Op* op) {
  return {std::move(name), [op] { return op->SerializeState(); },
          [op](std::string_view bytes) { return op->RestoreState(bytes); },
          [op] { return op->SerializeDelta(); }, [op](std::string_view bytes) { return op->ApplyDelta(bytes); }};
}

/// Reads the state file of a batch; an error when it is missing.
using StateFileReader = std::function<arrow::Result<std::string>(int64_t batch_id)>;

/// The state file's format and the restore of every part from the files of a checkpoint.
///
/// Format (version 5, ops::StateWriter "engine.state", checksummed): whether the file is a
/// full one, then each part as (name, bytes) in the parts' order; in a full file every part
/// is a snapshot, otherwise the incremental parts are deltas. Versions 3 and 4 (fields in a
/// fixed order, written by earlier releases) are read too, their fields named as the parts
/// of this build.
///
/// Restore after batch `last`: the whole parts from state/<last>; an incremental part from
/// the newest full file at or before it, then the deltas of the files after that, in order.
/// A part the files do not hold (new in this build, or a payment join started with the
/// query) starts empty; a part the files hold that this run does not have is refused.
/// Not thread-safe; the engine thread owns it.
class EngineState {
 public:
  explicit EngineState(std::vector<StatePart> parts) : parts_(std::move(parts)) {}

  /// The state file's bytes after a batch: full (every part a snapshot) or not.
  std::string Serialize(bool full) const;

  /// The state file of batch `batch_id`, full or not as the cadence decides: full when no
  /// full file is known (none written or restored from), when the incremental parts' deltas
  /// written since the newest full file add up to its incremental bytes, or when
  /// kMaxDeltaFiles files follow it. So the bytes written stay within twice the deltas (a
  /// state that grows writes a full file each time it has doubled), and a restore reads at
  /// most about twice the newest full file and kMaxDeltaFiles files after it.
  std::string SerializeBatch(int64_t batch_id);

  /// The newest full state file written by SerializeBatch or restored from; -1 if none. A
  /// restore after any later batch needs the files from this one on.
  int64_t last_full() const { return last_full_; }

  /// Restores every part to its state after batch `last`, reading files through `read`.
  /// `previous(id)` names the batch whose file precedes `id`'s (-1 if none); by default
  /// id - 1 (one file per batch). The Gold stage names its files by the Silver version a batch
  /// ended at, so its files skip ids.
  arrow::Status Restore(int64_t last, const StateFileReader& read,
                        const std::function<int64_t(int64_t)>& previous = {});

  /// The most state files that follow a full one before SerializeBatch writes the next full.
  static constexpr int64_t kMaxDeltaFiles = 1000;

  /// The file format version Serialize writes.
  static constexpr uint32_t kVersion = 5;

 private:
  /// Serialize, adding the incremental parts' bytes to `*incremental_bytes`.
  std::string SerializeCounting(bool full, int64_t* incremental_bytes) const;

  std::vector<StatePart> parts_;
  /// The cadence: the newest full file's batch and incremental bytes, and the deltas' bytes
  /// since (one file per batch, so the batches after last_full_ are the deltas).
  int64_t last_full_ = -1;
  int64_t full_bytes_ = 0;
  int64_t delta_bytes_ = 0;
};

}  // namespace medallion::engine
