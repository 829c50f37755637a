#include "ops/dedup.h"

#include <algorithm>
#include <vector>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/datum.h>

#include "ops/state_codec.h"

namespace medallion::ops {
namespace {
constexpr uint32_t kStateVersion = 1;
}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> Deduplicator::Process(
    const std::shared_ptr<arrow::RecordBatch>& events) {
  auto ids = std::dynamic_pointer_cast<arrow::StringArray>(events->GetColumnByName("event_id"));
  auto times = std::dynamic_pointer_cast<arrow::TimestampArray>(events->GetColumnByName("event_time"));
  if (!ids || !times) return arrow::Status::Invalid("Deduplicator: needs event_id and event_time");
  arrow::BooleanBuilder mask;
  ARROW_RETURN_NOT_OK(mask.Reserve(events->num_rows()));
  for (int64_t i = 0; i < events->num_rows(); ++i) {
    const bool fresh = seen_.try_emplace(std::string(ids->GetView(i)), times->Value(i)).second;
    mask.UnsafeAppend(fresh);
  }
  ARROW_ASSIGN_OR_RAISE(auto mask_array, mask.Finish());
  ARROW_ASSIGN_OR_RAISE(auto kept, arrow::compute::Filter(arrow::Datum(events), mask_array));
  return kept.record_batch();
}

int64_t Deduplicator::EvictBefore(int64_t horizon_us) {
  return static_cast<int64_t>(
      std::erase_if(seen_, [horizon_us](const auto& kv) { return kv.second < horizon_us; }));
}

std::string Deduplicator::SerializeState() const {
  // Sorted, so the same state always gives the same bytes.
  std::vector<const std::pair<const std::string, int64_t>*> entries;
  entries.reserve(seen_.size());
  for (const auto& kv : seen_) entries.push_back(&kv);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
  StateWriter w("ops.dedup", kStateVersion);
  w.WriteInt<uint64_t>(entries.size());
  for (auto* kv : entries) {
    w.WriteString(kv->first);
    w.WriteInt<int64_t>(kv->second);
  }
  return std::move(w).Finish();
}

arrow::Status Deduplicator::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, "ops.dedup", kStateVersion));
  ARROW_ASSIGN_OR_RAISE(uint64_t n, r.ReadCount(12));
  std::unordered_map<std::string, int64_t> seen;
  seen.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(std::string id, r.ReadString());
    ARROW_ASSIGN_OR_RAISE(int64_t t, r.ReadInt<int64_t>());
    seen.emplace(std::move(id), t);
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  seen_ = std::move(seen);
  return arrow::Status::OK();
}

}  // namespace medallion::ops
