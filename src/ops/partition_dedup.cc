#include "ops/partition_dedup.h"

#include <algorithm>
#include <optional>

#include <arrow/array.h>

#include "common/time_util.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {

constexpr uint32_t kStateVersion = 1;

}  // namespace

arrow::Result<PartitionDedup::Judgment> PartitionDedup::Process(const arrow::RecordBatch& events,
                                                                const RowSelection& paid, int64_t floor_us) {
  auto ids = std::dynamic_pointer_cast<arrow::StringArray>(events.GetColumnByName("event_id"));
  auto times = std::dynamic_pointer_cast<arrow::TimestampArray>(events.GetColumnByName("event_time"));
  auto parts = std::dynamic_pointer_cast<arrow::Int32Array>(events.GetColumnByName("kafka_partition"));
  if (!ids || !times || !parts) {
    return arrow::Status::Invalid("PartitionDedup: needs event_id, event_time and kafka_partition");
  }
  Judgment out;
  out.fresh.reserve(paid.size());
  auto next_paid = paid.begin();
  Partition* p = nullptr;
  int32_t p_id = 0;
  for (int64_t row = 0; row < events.num_rows(); ++row) {
    if (p == nullptr || parts->Value(row) != p_id) {
      p_id = parts->Value(row);
      p = &partitions_[p_id];
    }
    const int64_t t = times->Value(row);
    if (next_paid != paid.end() && *next_paid == row) {
      ++next_paid;
      const int64_t wm = Watermark(*p);
      const int64_t horizon = wm == kNone ? floor_us : std::max(wm - horizon_us_, floor_us);
      if (horizon != kNone && t < horizon) {
        out.beyond.push_back(row);
        out.beyond_watermarks.push_back(wm);
      } else if (p->ids.Admit(ids->GetView(row), t, horizon)) {
        out.fresh.push_back(row);
      }
    }
    p->max_event_time_us = std::max(p->max_event_time_us, t);
  }
  if (next_paid != paid.end()) return arrow::Status::Invalid("PartitionDedup: PAID rows out of row order");
  return out;
}

void PartitionDedup::Evict() {
  for (auto& [id, p] : partitions_) {
    if (p.max_event_time_us != kNone) p.ids.EvictBefore(Watermark(p) - horizon_us_);
  }
}

int64_t PartitionDedup::WatermarkOf(int32_t partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? kNone : Watermark(it->second);
}

int64_t PartitionDedup::MaxWatermark() const {
  int64_t out = kNone;
  for (const auto& [id, p] : partitions_) out = std::max(out, Watermark(p));
  return out;
}

int64_t PartitionDedup::MinWatermark() const {
  int64_t out = kNone;
  for (const auto& [id, p] : partitions_) {
    const int64_t wm = Watermark(p);
    if (wm != kNone) out = out == kNone ? wm : std::min(out, wm);
  }
  return out;
}

int64_t PartitionDedup::size() const {
  int64_t n = 0;
  for (const auto& [id, p] : partitions_) n += p.ids.size();
  return n;
}

template <typename IdBytes>
std::string PartitionDedup::WritePartitions(std::string_view tag, IdBytes id_bytes, const int32_t* only) {
  StateWriter w(tag, kStateVersion);
  w.WriteInt<uint64_t>(only == nullptr ? partitions_.size() : partitions_.count(*only));
  for (auto& [id, p] : partitions_) {
    if (only != nullptr && id != *only) continue;
    w.WriteInt<int32_t>(id);
    w.WriteInt<int64_t>(p.max_event_time_us);
    w.WriteString(id_bytes(p.ids));
  }
  return std::move(w).Finish();
}

// Both forms: a count of partitions, then per partition its id, its greatest event time and
// its Deduplicator's snapshot (a full file) or delta. A delta lists every partition held, so
// a partition first seen since the last snapshot starts from an empty Deduplicator.
std::string PartitionDedup::SerializeState() {
  return WritePartitions("ops.partition_dedup", [](Deduplicator& ids) { return ids.SerializeState(); });
}

std::string PartitionDedup::SerializeDelta() {
  return WritePartitions("ops.partition_dedup.delta", [](Deduplicator& ids) { return ids.SerializeDelta(); });
}

namespace {

/// Reads the partitions of a snapshot or delta, calling `apply(id, max, bytes)` for each.
template <typename Apply>
arrow::Status ReadPartitions(std::string_view bytes, std::string_view tag, Apply apply) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, tag, kStateVersion));
  ARROW_ASSIGN_OR_RAISE(uint64_t n, r.ReadCount(16));
  for (uint64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(int32_t id, r.ReadInt<int32_t>());
    ARROW_ASSIGN_OR_RAISE(int64_t max_time, r.ReadInt<int64_t>());
    // Watermark() subtracts the lateness from it (see InEventTimeRange).
    if (max_time != PartitionDedup::kNone && !InEventTimeRange(max_time)) {
      return arrow::Status::Invalid("dedup state: partition ", id, " holds event time ", max_time,
                                    " (microseconds), outside years 1970..9999");
    }
    ARROW_ASSIGN_OR_RAISE(std::string ids, r.ReadString());
    ARROW_RETURN_NOT_OK(apply(id, max_time, ids));
  }
  return r.Finish();
}

}  // namespace

arrow::Status PartitionDedup::RestoreState(std::string_view bytes) {
  partitions_.clear();
  arrow::Status st = ReadPartitions(bytes, "ops.partition_dedup", [this](int32_t id, int64_t max_time,
                                                                         std::string_view ids) {
    if (partitions_.count(id)) return arrow::Status::Invalid("partition ", id, " appears twice");
    Partition& p = partitions_[id];
    p.max_event_time_us = max_time;
    return p.ids.RestoreState(ids);
  });
  if (!st.ok()) partitions_.clear();
  return st;
}

std::string PartitionDedup::SerializePartition(int32_t p) {
  return WritePartitions("ops.partition_dedup", [](Deduplicator& ids) { return ids.SerializeState(); }, &p);
}

arrow::Status PartitionDedup::RestorePartition(int32_t p, std::string_view bytes) {
  std::optional<Partition> restored;
  ARROW_RETURN_NOT_OK(ReadPartitions(bytes, "ops.partition_dedup", [&](int32_t id, int64_t max_time, std::string_view ids) {
    if (id != p || restored) return arrow::Status::Invalid("a snapshot of partition ", p, " holds partition ", id);
    restored.emplace();
    restored->max_event_time_us = max_time;
    return restored->ids.RestoreState(ids);
  }));
  partitions_.erase(p);
  if (restored) partitions_.emplace(p, std::move(*restored));
  return arrow::Status::OK();
}

std::string PartitionDedup::SerializePartitionDelta(int32_t p) {
  return WritePartitions("ops.partition_dedup.delta", [](Deduplicator& ids) { return ids.SerializeDelta(); }, &p);
}

arrow::Status PartitionDedup::ApplyPartitionDelta(int32_t p, std::string_view bytes) {
  // Checked before anything is applied, so that a delta of another partition changes nothing.
  ARROW_RETURN_NOT_OK(ReadPartitions(bytes, "ops.partition_dedup.delta", [p](int32_t id, int64_t, std::string_view) {
    return id == p ? arrow::Status::OK() : arrow::Status::Invalid("a delta of partition ", p, " holds partition ", id);
  }));
  return ApplyDelta(bytes);
}

arrow::Status PartitionDedup::ApplyDelta(std::string_view bytes) {
  return ReadPartitions(bytes, "ops.partition_dedup.delta", [this](int32_t id, int64_t max_time,
                                                                   std::string_view ids) {
    Partition& p = partitions_[id];
    p.max_event_time_us = std::max(p.max_event_time_us, max_time);
    return p.ids.ApplyDelta(ids);
  });
}

}  // namespace medallion::ops
