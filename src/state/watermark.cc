#include "state/watermark.h"

#include <algorithm>

#include <arrow/array.h>

#include "common/time_util.h"
#include "ops/state_codec.h"

namespace medallion::state {
namespace {
constexpr std::string_view kTag = "state.watermark";
constexpr uint32_t kVersion = 1;
}  // namespace

void Watermark::ObserveRows(const arrow::RecordBatch& rows, int64_t now_us) {
  auto times = std::static_pointer_cast<arrow::TimestampArray>(rows.GetColumnByName("event_time"));
  auto partitions = std::static_pointer_cast<arrow::Int32Array>(rows.GetColumnByName("kafka_partition"));
  std::map<int32_t, int64_t> max_time;
  for (int64_t i = 0; i < rows.num_rows(); ++i) {
    auto [it, inserted] = max_time.try_emplace(partitions->Value(i), times->Value(i));
    if (!inserted) it->second = std::max(it->second, times->Value(i));
  }
  for (const auto& [p, t] : max_time) Observe(p, t, now_us);
}

void Watermark::Observe(int32_t partition, int64_t max_event_time_us, int64_t now_us) {
  PartitionProgress& p = partitions_[partition];
  p.max_event_time_us = std::max(p.max_event_time_us, max_event_time_us);
  p.last_seen_us = std::max(p.last_seen_us, now_us);
}

int64_t Watermark::Advance(int64_t now_us, const std::set<int32_t>& behind) {
  for (int32_t id : behind) {
    auto it = partitions_.find(id);
    if (it == partitions_.end() || it->second.max_event_time_us == kNone) return current_;
  }
  int64_t min_active = kNone, max_all = kNone;
  bool any_active = false;
  for (const auto& [id, p] : partitions_) {
    if (p.max_event_time_us == kNone) continue;
    max_all = std::max(max_all, p.max_event_time_us);
    if (now_us - p.last_seen_us < idle_us_ || behind.count(id) > 0) {
      min_active = any_active ? std::min(min_active, p.max_event_time_us) : p.max_event_time_us;
      any_active = true;
    }
  }
  const int64_t basis = any_active ? min_active : max_all;
  if (basis != kNone) current_ = std::max(current_, basis - lateness_us_);
  return current_;
}

std::string Watermark::SerializeState() const {
  ops::StateWriter w(kTag, kVersion);
  w.WriteInt<int64_t>(current_);
  w.WriteInt<uint64_t>(partitions_.size());
  for (const auto& [id, p] : partitions_) {
    w.WriteInt<int32_t>(id);
    w.WriteInt<int64_t>(p.max_event_time_us);
    w.WriteInt<int64_t>(p.last_seen_us);
  }
  return std::move(w).Finish();
}

arrow::Status Watermark::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, ops::StateReader::Open(bytes, kTag, kVersion));
  ARROW_ASSIGN_OR_RAISE(int64_t current, r.ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(uint64_t n, r.ReadCount(20));
  std::map<int32_t, PartitionProgress> partitions;
  for (uint64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(int32_t id, r.ReadInt<int32_t>());
    PartitionProgress p;
    ARROW_ASSIGN_OR_RAISE(p.max_event_time_us, r.ReadInt<int64_t>());
    ARROW_ASSIGN_OR_RAISE(p.last_seen_us, r.ReadInt<int64_t>());
    // Advance subtracts these times (see InEventTimeRange).
    if ((p.max_event_time_us != kNone && !InEventTimeRange(p.max_event_time_us)) || !InEventTimeRange(p.last_seen_us)) {
      return arrow::Status::Invalid("watermark state: partition ", id, " holds event time ", p.max_event_time_us,
                                    " and last seen ", p.last_seen_us, " (microseconds), outside years 1970..9999");
    }
    partitions[id] = p;
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  // The watermark is an event time minus the allowed lateness, so it may lie before 1970.
  if (current != kNone && (current < -kMaxEventTimeMicros || current > kMaxEventTimeMicros)) {
    return arrow::Status::Invalid("watermark state: watermark ", current, " (microseconds) is outside years 1970..9999 "
                                  "less any allowed lateness");
  }
  current_ = current;
  partitions_ = std::move(partitions);
  return arrow::Status::OK();
}

}  // namespace medallion::state
