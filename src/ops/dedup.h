#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "ops/line_order.h"
#include "ops/row_selection.h"

namespace medallion::ops {

/// The 128-bit fingerprint by which the Deduplicator knows an id: MurmurHash3_x64_128 of the
/// id's bytes with seed 0 (Austin Appleby's public-domain function, implemented in dedup.cc and
/// read little-endian), so it is the same on every build and platform and a snapshot of
/// fingerprints restores anywhere.
struct IdFingerprint {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend bool operator==(const IdFingerprint&, const IdFingerprint&) = default;
};
/// `seed` is 0 for ids; other seeds are only for checking the function against its reference.
IdFingerprint FingerprintOf(std::string_view id, uint32_t seed = 0);

/// Keeps the first occurrence of each id (event_id unless told another key column)
/// across batches and restarts.
///
/// State: per id, its 128-bit fingerprint and its remembered time in µs (24 bytes), in a dense
/// array, and an open-addressing index over it (one 32-bit slot per bucket: the entry's
/// position and some more bits of the fingerprint, linear probing, power-of-two capacity, load
/// ≤ 0.75, doubling). That is 24 + 4/load ≈ 29..35 bytes per id. Evicting scans the dense array
/// once when anything is due (~15 ms per million ids held, measured by bench/dedup_bench).
///
/// The one difference from keeping the ids themselves: two distinct ids with the same
/// fingerprint would count as duplicates. With 128 bits the chance that any two of n ids
/// collide is about n² / 2^129: ~1.5e-21 for 10^9 ids, ~1.5e-23 for the ~7·10^7 ids of a 1 h
/// horizon at 20,000 events/s. Ids are not chosen adversarially against a public hash here;
/// a producer that did could only make its own events look repeated.
///
/// Within a batch, "first" is row order, which the engine makes (partition, offset) order, so a
/// replay of a batch keeps the same rows.
///
/// Checkpoints: SerializeState() is the whole state (sorted by fingerprint, so equal states give
/// equal bytes); SerializeDelta() only what changed since the last snapshot or delta (ids added,
/// and the eviction horizon), so a batch does not rewrite every id it holds.
/// RestoreState(full) then ApplyDelta(d1), ApplyDelta(d2), ... in order rebuilds the same state.
/// Both also read format version 1 (ids as strings), fingerprinting them. Not thread-safe.
class Deduplicator {
 public:
  /// Deduplicates by the string column `key_column` (the event time is "event_time").
  explicit Deduplicator(std::string key_column = "event_id");

  /// Returns those of the selected `rows` of `events` whose key has not
  /// been seen, and remembers them. An id is remembered under its event time, or under
  /// `remember_from_us` if that is later: then an id that arrived far behind the eviction
  /// horizon is still kept for the horizon's length after it arrived, so that a re-send
  /// soon after is still recognised.
  arrow::Result<RowSelection> Process(const arrow::RecordBatch& events, const RowSelection& rows,
                                      int64_t remember_from_us = std::numeric_limits<int64_t>::min());

  /// Judges one id of an event at `time_us` for a stream whose ids before `forget_before_us`
  /// count as forgotten: true (and remembered under `time_us`) when it is not held, or held
  /// under a time before `forget_before_us`; false for a duplicate. So the answer for a row
  /// does not depend on when EvictBefore last ran, only on the rows before it.
  bool Admit(std::string_view id, int64_t time_us, int64_t forget_before_us);

  /// Forgets ids whose remembered time is before `horizon_us` (exactly, to the µs). Returns how
  /// many were dropped.
  int64_t EvictBefore(int64_t horizon_us);

  /// Number of ids held.
  int64_t size() const { return static_cast<int64_t>(entries_.size()); }

  /// Versioned binary snapshot of the whole state, and its inverse. Both start a new delta.
  std::string SerializeState();
  arrow::Status RestoreState(std::string_view bytes);

  /// The changes since the last SerializeState/SerializeDelta/RestoreState/ApplyDelta, and
  /// their replay on top of the state they were taken from.
  std::string SerializeDelta();
  arrow::Status ApplyDelta(std::string_view bytes);

 private:
  /// One remembered id.
  struct Entry {
    IdFingerprint fp;
    int64_t time_us;
  };

  /// Adds an id and returns null; if it was already there, returns its entry unchanged.
  Entry* Insert(const IdFingerprint& fp, int64_t time_us);
  /// Replaces the state with `entries`; fails (leaving the state empty) on a repeated fingerprint.
  arrow::Status Reset(std::vector<Entry> entries);
  /// Rebuilds the index at `capacity` buckets from entries_; returns false on a repeated fingerprint.
  bool RebuildIndex(uint64_t capacity);
  /// The bucket holding entry `i`.
  uint64_t BucketOf(uint32_t i) const;
  /// Empties bucket `b`, shifting later buckets of its run back (no tombstones).
  void EraseBucket(uint64_t b);
  /// Removes entry `i`, moving the last entry into its place.
  void RemoveEntry(uint32_t i);
  uint64_t Home(uint64_t hi) const { return hi >> (64 - bits_); }
  uint32_t Tag(uint64_t hi) const { return static_cast<uint32_t>(hi >> 32) << bits_; }
  uint32_t PositionMask() const { return (uint32_t{1} << bits_) - 1; }
  void ClearDelta();

  std::string key_column_;
  std::vector<Entry> entries_;
  /// 2^bits_ buckets; each is kEmptyBucket or (Tag(hi) | position in entries_).
  std::vector<uint32_t> index_;
  int bits_ = 0;
  /// No entry is older than this (exact after a scan, a lower bound otherwise).
  int64_t min_time_us_ = std::numeric_limits<int64_t>::max();
  /// Ids added since the last snapshot or delta, and the greatest eviction horizon since.
  std::vector<Entry> added_;
  int64_t evicted_before_ = std::numeric_limits<int64_t>::min();
};

}  // namespace medallion::ops
