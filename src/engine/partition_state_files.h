#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <arrow/status.h>

#include "engine/operator.h"

namespace medallion::engine {

/// A group member's state files of one Kafka partition, in `<checkpoint>/partitions/<topic>-<p>`:
/// the state of the chain's partition-scoped operator as of an offset Bronze records, written
/// before the Bronze commit that names it. A file is either full (`<offset>`: the partition's
/// whole state) or a delta (`<offset>.from-<base>`: what changed between the state at `base`
/// and the one at `offset`), so that a batch writes what it changed, not every id the
/// partition holds. A full file comes when the deltas written since the last one add up to its
/// size, or after kMaxDeltaFiles deltas (as EngineState's cadence), so that the bytes written
/// stay within twice what changed and a restore reads at most about twice the full file.
///
/// Several writers may leave files for one partition (a member that lost it mid-batch, one
/// that took it over): every file describes the state after records a writer read from a
/// state Bronze had recorded, so two files of one offset hold the same state, and a delta
/// names its base so that a restore follows only chains that reach a full file.
/// Not thread-safe: the member's engine thread owns it.
class PartitionStateFiles {
 public:
  PartitionStateFiles(std::string dir, int32_t partition) : dir_(std::move(dir)), partition_(partition) {}

  /// Restores `op`'s state of the partition as of `offset` (one Bronze recorded): the full
  /// file at or before it, then the deltas that lead from there to `offset`. KeyError when no
  /// chain of files reaches `offset`.
  arrow::Status Restore(Operator* op, int64_t offset);

  /// Writes the state as of `end`, after a batch of the partition: full, or a delta from the
  /// offset it was last restored at or written for, by the cadence (full when there is none:
  /// a partition no batch had read).
  arrow::Status Write(Operator* op, int64_t end);

  /// Removes the files no restore at the offset Bronze held before the last Write, or later,
  /// can need: those before the full file that offset's chain starts from.
  void Prune();

  /// The most deltas that follow a full file before Write writes the next full one.
  static constexpr int64_t kMaxDeltaFiles = 1000;

  /// The file name of a full state at `offset`, and of a delta from `base` to `offset`.
  static std::string FullName(int64_t offset) { return std::to_string(offset); }
  static std::string DeltaName(int64_t offset, int64_t base) {
    return std::to_string(offset) + ".from-" + std::to_string(base);
  }

 private:
  std::string dir_;
  int32_t partition_;
  /// The cadence: the full file the current chain starts from, its bytes, and the deltas'
  /// bytes and count since (none known: the next Write is full).
  std::optional<int64_t> full_offset_;
  int64_t full_bytes_ = 0;
  int64_t delta_bytes_ = 0;
  int64_t deltas_ = 0;
  /// The full file of the chain of the offset before the last Write (what Prune keeps).
  std::optional<int64_t> keep_from_;
  /// The offset the operator's state of the partition is at (restored or last written).
  std::optional<int64_t> last_offset_;
};

}  // namespace medallion::engine
