#include "ops/dedup.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include <arrow/array.h>

#include "common/check.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {
// 1: ids as strings with their times. 2: 128-bit fingerprints with their times, sorted.
constexpr uint32_t kStateVersion = 2;
constexpr uint32_t kDeltaVersion = 2;
constexpr uint32_t kEmptyBucket = 0xFFFFFFFF;  // position 2^bits - 1 is never used (load ≤ 0.75)
constexpr int kMinBits = 4;
constexpr int kMaxBits = 31;  // a bucket keeps at least one bit of tag; 1.6e9 ids

uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t Fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

/// Little-endian on every platform (one load on x86 and ARM).
uint64_t Load64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

/// Fewest buckets (a power of two) that hold `n` entries at load ≤ 0.75.
uint64_t BucketsFor(uint64_t n) {
  uint64_t buckets = uint64_t{1} << kMinBits;
  while (n * 4 > buckets * 3) buckets *= 2;
  return buckets;
}

int Log2(uint64_t power_of_two) { return std::countr_zero(power_of_two); }
}  // namespace

IdFingerprint FingerprintOf(std::string_view id, uint32_t seed) {
  // MurmurHash3_x64_128 (SMHasher), unchanged but for the explicit little-endian reads.
  const auto* data = reinterpret_cast<const unsigned char*>(id.data());
  const size_t len = id.size();
  constexpr uint64_t c1 = 0x87c37b91114253d5ULL;
  constexpr uint64_t c2 = 0x4cf5ad432745937fULL;
  uint64_t h1 = seed;
  uint64_t h2 = seed;
  const size_t blocks = len / 16;
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t k1 = Load64(data + 16 * i);
    uint64_t k2 = Load64(data + 16 * i + 8);
    k1 *= c1, k1 = Rotl(k1, 31), k1 *= c2, h1 ^= k1;
    h1 = Rotl(h1, 27), h1 += h2, h1 = h1 * 5 + 0x52dce729;
    k2 *= c2, k2 = Rotl(k2, 33), k2 *= c1, h2 ^= k2;
    h2 = Rotl(h2, 31), h2 += h1, h2 = h2 * 5 + 0x38495ab5;
  }
  const unsigned char* tail = data + 16 * blocks;
  const size_t rest = len & 15;
  uint64_t k1 = 0;
  uint64_t k2 = 0;
  for (size_t i = rest; i > 8; --i) k2 ^= uint64_t{tail[i - 1]} << (8 * (i - 9));
  if (rest > 8) k2 *= c2, k2 = Rotl(k2, 33), k2 *= c1, h2 ^= k2;
  for (size_t i = std::min<size_t>(rest, 8); i > 0; --i) k1 ^= uint64_t{tail[i - 1]} << (8 * (i - 1));
  if (rest > 0) k1 *= c1, k1 = Rotl(k1, 31), k1 *= c2, h1 ^= k1;
  h1 ^= len, h2 ^= len;
  h1 += h2, h2 += h1;
  h1 = Fmix(h1), h2 = Fmix(h2);
  h1 += h2, h2 += h1;
  return {h1, h2};
}

namespace {
/// Reads the (id, time) list that ends a snapshot or a delta: ids as strings (version 1,
/// fingerprinted here) or as fingerprints (version 2).
template <typename Entry>
arrow::Result<std::vector<Entry>> ReadEntries(StateReader* r) {
  const bool strings = r->version() == 1;
  // At least a 4-byte length and 8 bytes of time, or 16 bytes of fingerprint and 8 of time.
  ARROW_ASSIGN_OR_RAISE(uint64_t n, r->ReadCount(strings ? 12 : 24));
  std::vector<Entry> entries;
  entries.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    IdFingerprint fp;
    if (strings) {
      ARROW_ASSIGN_OR_RAISE(std::string id, r->ReadString());
      fp = FingerprintOf(id);
    } else {
      ARROW_ASSIGN_OR_RAISE(fp.hi, r->ReadInt<uint64_t>());
      ARROW_ASSIGN_OR_RAISE(fp.lo, r->ReadInt<uint64_t>());
    }
    ARROW_ASSIGN_OR_RAISE(int64_t t, r->ReadInt<int64_t>());
    entries.push_back({fp, t});
  }
  ARROW_RETURN_NOT_OK(r->Finish());
  return entries;
}

template <typename Entry>
void WriteEntries(const std::vector<Entry>& entries, StateWriter* w) {
  w->WriteInt<uint64_t>(entries.size());
  for (const Entry& e : entries) {
    w->WriteInt<uint64_t>(e.fp.hi);
    w->WriteInt<uint64_t>(e.fp.lo);
    w->WriteInt<int64_t>(e.time_us);
  }
}

/// `entries` in fingerprint order: a counting pass on the top 16 bits (uniform), then
/// small sorts, so a snapshot costs O(n) rather than O(n log n).
template <typename Entry>
std::vector<Entry> SortedByFingerprint(const std::vector<Entry>& entries) {
  constexpr int kShift = 48;
  std::vector<uint32_t> start((size_t{1} << (64 - kShift)) + 1, 0);
  for (const Entry& e : entries) ++start[(e.fp.hi >> kShift) + 1];
  for (size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
  std::vector<Entry> sorted(entries.size());
  std::vector<uint32_t> next(start.begin(), start.end() - 1);
  for (const Entry& e : entries) sorted[next[e.fp.hi >> kShift]++] = e;
  auto less = [](const Entry& a, const Entry& b) {
    return a.fp.hi != b.fp.hi ? a.fp.hi < b.fp.hi : a.fp.lo < b.fp.lo;
  };
  for (size_t i = 0; i + 1 < start.size(); ++i) {
    std::sort(sorted.begin() + start[i], sorted.begin() + start[i + 1], less);
  }
  return sorted;
}
}  // namespace

Deduplicator::Deduplicator(std::string key_column) : key_column_(std::move(key_column)) {
  MEDALLION_CHECK(RebuildIndex(BucketsFor(0)));
}

bool Deduplicator::RebuildIndex(uint64_t capacity) {
  MEDALLION_CHECK(Log2(capacity) <= kMaxBits);
  bits_ = Log2(capacity);
  index_.assign(capacity, kEmptyBucket);
  const uint64_t bucket_mask = capacity - 1;
  const uint32_t mask = PositionMask();
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    const IdFingerprint& fp = entries_[i].fp;
    const uint32_t tag = Tag(fp.hi);
    uint64_t b = Home(fp.hi);
    for (; index_[b] != kEmptyBucket; b = (b + 1) & bucket_mask) {
      if ((index_[b] & ~mask) == tag && entries_[index_[b] & mask].fp == fp) return false;
    }
    index_[b] = tag | i;
  }
  return true;
}

Deduplicator::Entry* Deduplicator::Insert(const IdFingerprint& fp, int64_t time_us) {
  const uint32_t tag = Tag(fp.hi);
  const uint32_t mask = PositionMask();
  const uint64_t bucket_mask = index_.size() - 1;
  uint64_t b = Home(fp.hi);
  for (; index_[b] != kEmptyBucket; b = (b + 1) & bucket_mask) {
    if ((index_[b] & ~mask) == tag && entries_[index_[b] & mask].fp == fp) return &entries_[index_[b] & mask];
  }
  const auto position = static_cast<uint32_t>(entries_.size());
  entries_.push_back({fp, time_us});
  if (entries_.size() * 4 > index_.size() * 3) {
    MEDALLION_CHECK(RebuildIndex(index_.size() * 2));  // the new entry included
  } else {
    index_[b] = tag | position;
  }
  min_time_us_ = std::min(min_time_us_, time_us);
  added_.push_back({fp, time_us});
  return nullptr;
}

bool Deduplicator::Admit(std::string_view id, int64_t time_us, int64_t forget_before_us) {
  const IdFingerprint fp = FingerprintOf(id);
  Entry* held = Insert(fp, time_us);
  if (held == nullptr) return true;
  if (held->time_us >= forget_before_us) return false;
  // Held only because no eviction ran since it fell behind: a new first occurrence. A delta
  // records it as added again, and ApplyDelta takes the later time (see there).
  held->time_us = time_us;
  added_.push_back({fp, time_us});
  return true;
}

uint64_t Deduplicator::BucketOf(uint32_t i) const {
  const uint32_t mask = PositionMask();
  const uint64_t bucket_mask = index_.size() - 1;
  uint64_t b = Home(entries_[i].fp.hi);
  while ((index_[b] & mask) != i) b = (b + 1) & bucket_mask;  // an empty bucket's position is never i
  return b;
}

void Deduplicator::EraseBucket(uint64_t b) {
  // Backward-shift deletion: an entry later in the run moves into the hole unless its home lies
  // cyclically after the hole, so every run stays unbroken and lookups need no tombstones
  // (which would lengthen probes until a rehash).
  const uint32_t mask = PositionMask();
  const uint64_t bucket_mask = index_.size() - 1;
  uint64_t hole = b;
  for (uint64_t j = (b + 1) & bucket_mask; index_[j] != kEmptyBucket; j = (j + 1) & bucket_mask) {
    const uint64_t home = Home(entries_[index_[j] & mask].fp.hi);
    if (((j - home) & bucket_mask) >= ((j - hole) & bucket_mask)) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = kEmptyBucket;
}

void Deduplicator::RemoveEntry(uint32_t i) {
  EraseBucket(BucketOf(i));
  const auto last = static_cast<uint32_t>(entries_.size() - 1);
  if (i != last) {
    const uint64_t b = BucketOf(last);
    index_[b] = (index_[b] & ~PositionMask()) | i;
    entries_[i] = entries_[last];
  }
  entries_.pop_back();
}

void Deduplicator::ClearDelta() {
  added_.clear();
  evicted_before_ = std::numeric_limits<int64_t>::min();
}

arrow::Result<RowSelection> Deduplicator::Process(const arrow::RecordBatch& events,
                                                  const RowSelection& rows, int64_t remember_from_us) {
  auto ids = std::dynamic_pointer_cast<arrow::StringArray>(events.GetColumnByName(key_column_));
  auto times = std::dynamic_pointer_cast<arrow::TimestampArray>(events.GetColumnByName("event_time"));
  if (!ids || !times) return arrow::Status::Invalid("Deduplicator: needs ", key_column_, " and event_time");
  RowSelection fresh;
  fresh.reserve(rows.size());
  for (const int64_t row : rows) {
    if (Insert(FingerprintOf(ids->GetView(row)), std::max(times->Value(row), remember_from_us)) == nullptr) {
      fresh.push_back(row);
    }
  }
  return fresh;
}

int64_t Deduplicator::EvictBefore(int64_t horizon_us) {
  evicted_before_ = std::max(evicted_before_, horizon_us);
  // An id added since the last delta may be evicted here: drop it from the delta too
  // (replaying the delta evicts it again anyway).
  std::erase_if(added_, [horizon_us](const Entry& e) { return e.time_us < horizon_us; });
  if (horizon_us <= min_time_us_) return 0;
  int64_t due = 0;
  int64_t kept_min = std::numeric_limits<int64_t>::max();
  for (const Entry& e : entries_) {
    if (e.time_us < horizon_us) {
      ++due;
    } else {
      kept_min = std::min(kept_min, e.time_us);
    }
  }
  min_time_us_ = kept_min;
  if (due == 0) return 0;
  if (due * 16 >= size()) {
    // Many: compact in order and rebuild the index (sequential), shrinking a mostly empty one.
    std::erase_if(entries_, [horizon_us](const Entry& e) { return e.time_us < horizon_us; });
    uint64_t buckets = index_.size();
    while (buckets > BucketsFor(0) && entries_.size() * 16 < buckets * 3) buckets /= 2;
    if (buckets < index_.size()) entries_.shrink_to_fit();
    MEDALLION_CHECK(RebuildIndex(buckets));
  } else {
    // Few: remove each, the last entry taking its place.
    for (uint32_t i = 0; i < entries_.size();) {
      if (entries_[i].time_us < horizon_us) {
        RemoveEntry(i);
      } else {
        ++i;
      }
    }
  }
  return due;
}

std::string Deduplicator::SerializeState() {
  ClearDelta();
  StateWriter w("ops.dedup", kStateVersion);
  WriteEntries(SortedByFingerprint(entries_), &w);
  return std::move(w).Finish();
}

arrow::Status Deduplicator::Reset(std::vector<Entry> entries) {
  entries_ = std::move(entries);
  ClearDelta();
  min_time_us_ = std::numeric_limits<int64_t>::max();
  for (const Entry& e : entries_) min_time_us_ = std::min(min_time_us_, e.time_us);
  if (!RebuildIndex(BucketsFor(entries_.size()))) {
    entries_.clear();
    min_time_us_ = std::numeric_limits<int64_t>::max();
    MEDALLION_CHECK(RebuildIndex(BucketsFor(0)));
    return arrow::Status::Invalid("dedup state holds a duplicate ", key_column_);
  }
  return arrow::Status::OK();
}

arrow::Status Deduplicator::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, "ops.dedup", kStateVersion));
  ARROW_ASSIGN_OR_RAISE(auto entries, ReadEntries<Entry>(&r));
  MEDALLION_CHECK(BucketsFor(entries.size()) <= (uint64_t{1} << kMaxBits));
  return Reset(std::move(entries));
}

std::string Deduplicator::SerializeDelta() {
  StateWriter w("ops.dedup.delta", kDeltaVersion);
  w.WriteInt<int64_t>(evicted_before_);
  WriteEntries(added_, &w);
  ClearDelta();
  return std::move(w).Finish();
}

arrow::Status Deduplicator::ApplyDelta(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, "ops.dedup.delta", kDeltaVersion));
  ARROW_ASSIGN_OR_RAISE(int64_t horizon, r.ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(auto entries, ReadEntries<Entry>(&r));
  for (const Entry& e : entries) {
    Entry* held = Insert(e.fp, e.time_us);
    if (held == nullptr) continue;
    // Held already: only an id Admit took again after it fell behind, at a later time.
    if (held->time_us >= e.time_us) return arrow::Status::Invalid("dedup delta adds an id twice");
    held->time_us = e.time_us;
  }
  if (horizon != std::numeric_limits<int64_t>::min()) EvictBefore(horizon);
  ClearDelta();
  return arrow::Status::OK();
}

}  // namespace medallion::ops
