#include "ops/dedup.h"

#include <algorithm>
#include <vector>

#include <arrow/array.h>

#include "ops/state_codec.h"

namespace medallion::ops {
namespace {
constexpr uint32_t kStateVersion = 1;
constexpr uint32_t kDeltaVersion = 1;
constexpr int64_t kMinuteUs = 60'000'000;

int64_t MinuteOf(int64_t us) { return us / kMinuteUs - (us % kMinuteUs < 0 ? 1 : 0); }

/// Reads the (event_id, event time) list that ends a snapshot or a delta.
arrow::Result<std::vector<std::pair<std::string, int64_t>>> ReadEntries(StateReader* r) {
  ARROW_ASSIGN_OR_RAISE(uint64_t n, r->ReadCount(12));  // a 4-byte length and 8 bytes at least
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(std::string id, r->ReadString());
    ARROW_ASSIGN_OR_RAISE(int64_t t, r->ReadInt<int64_t>());
    entries.emplace_back(std::move(id), t);
  }
  ARROW_RETURN_NOT_OK(r->Finish());
  return entries;
}
}  // namespace

bool Deduplicator::Insert(std::string id, int64_t event_time_us) {
  auto [it, inserted] = seen_.try_emplace(std::move(id), event_time_us);
  if (inserted) {
    by_minute_[MinuteOf(event_time_us)].emplace_back(it->first, event_time_us);
    added_.emplace_back(it->first, event_time_us);
  }
  return inserted;
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
    // One hash lookup: the insert itself tells whether the id was new (a repeated id costs
    // a string it then drops, which is rarer than a fresh one).
    if (Insert(std::string(ids->GetView(row)), std::max(times->Value(row), remember_from_us))) fresh.push_back(row);
  }
  return fresh;
}

int64_t Deduplicator::EvictBefore(int64_t horizon_us) {
  evicted_before_ = std::max(evicted_before_, horizon_us);
  // An id added since the last delta may be evicted here: drop it from the delta's list
  // first, while its view is still valid (replaying the delta evicts it again anyway).
  std::erase_if(added_, [horizon_us](const auto& e) { return e.second < horizon_us; });
  int64_t evicted = 0;
  const int64_t horizon_minute = MinuteOf(horizon_us);
  for (auto it = by_minute_.begin(); it != by_minute_.end() && it->first <= horizon_minute;) {
    std::vector<std::pair<std::string_view, int64_t>> kept;
    for (const auto& [id, time] : it->second) {
      if (time < horizon_us) {
        seen_.erase(seen_.find(id));
        ++evicted;
      } else {
        kept.emplace_back(id, time);  // same minute as the horizon, not yet passed
      }
    }
    if (kept.empty()) {
      it = by_minute_.erase(it);
    } else {
      it->second = std::move(kept);
      ++it;
    }
  }
  return evicted;
}

std::string Deduplicator::SerializeState() {
  ClearDelta();
  // In minute order (not sorted within a minute: sorting 10^5..10^6 ids every batch cost
  // more than the rest of the snapshot).
  StateWriter w("ops.dedup", kStateVersion);
  w.WriteInt<uint64_t>(seen_.size());
  for (const auto& [minute, ids] : by_minute_) {
    for (const auto& [id, time] : ids) {
      w.WriteString(id);
      w.WriteInt<int64_t>(time);
    }
  }
  return std::move(w).Finish();
}

arrow::Status Deduplicator::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, "ops.dedup", kStateVersion));
  ARROW_ASSIGN_OR_RAISE(auto entries, ReadEntries(&r));
  seen_.clear();
  by_minute_.clear();
  seen_.reserve(entries.size());
  for (auto& [id, t] : entries) Insert(std::move(id), t);
  ClearDelta();
  if (seen_.size() != entries.size()) {
    seen_.clear();
    by_minute_.clear();
    return arrow::Status::Invalid("dedup state holds a duplicate ", key_column_);
  }
  return arrow::Status::OK();
}

std::string Deduplicator::SerializeDelta() {
  StateWriter w("ops.dedup.delta", kDeltaVersion);
  w.WriteInt<int64_t>(evicted_before_);
  w.WriteInt<uint64_t>(added_.size());
  for (const auto& [id, time] : added_) {
    w.WriteString(id);
    w.WriteInt<int64_t>(time);
  }
  ClearDelta();
  return std::move(w).Finish();
}

arrow::Status Deduplicator::ApplyDelta(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, "ops.dedup.delta", kDeltaVersion));
  ARROW_ASSIGN_OR_RAISE(int64_t horizon, r.ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(auto entries, ReadEntries(&r));
  for (auto& [id, t] : entries) {
    if (!Insert(std::move(id), t)) return arrow::Status::Invalid("dedup delta adds an id twice");
  }
  if (horizon != std::numeric_limits<int64_t>::min()) EvictBefore(horizon);
  ClearDelta();
  return arrow::Status::OK();
}

}  // namespace medallion::ops
