#include "ops/revenue_window_agg.h"

#include <iterator>
#include <limits>
#include <unordered_map>

#include <arrow/builder.h>
#include <arrow/util/decimal.h>

#include "format/schemas.h"
#include "ops/silver_columns.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {

constexpr std::string_view kStateTag = "ops.revenue_window";
/// Version 2 holds revenue as 128 bits; version 1 (64 bits) is still read.
constexpr uint32_t kStateVersion = 2;

/// A (window, category) key whose category points into the batch being consumed.
struct BatchKey {
  int64_t start;
  std::string_view category;
  bool operator==(const BatchKey&) const = default;
};

struct BatchKeyHash {
  size_t operator()(const BatchKey& k) const {
    return std::hash<std::string_view>()(k.category) ^
           (std::hash<int64_t>()(k.start) * 0x9e3779b97f4a7c15ULL);
  }
};

/// Per-batch partial sums; distinct events are exact within one batch.
struct BatchTotals {
  MoneySum revenue = 0;
  int64_t quantity = 0;
  int64_t orders = 0;
};

arrow::Status GroupOverflow(const BatchKey& key) {
  return arrow::Status::CapacityError("gold revenue window starting at ", key.start, " us, category '",
                                      key.category,
                                      "': revenue exceeds decimal(38,4) or quantity/orders exceed int64");
}

}  // namespace

arrow::Status RevenueWindowAggregator::Consume(const arrow::RecordBatch& silver) {
  return Consume(silver, std::numeric_limits<int64_t>::min(), nullptr);
}

arrow::Status RevenueWindowAggregator::Consume(const arrow::RecordBatch& silver,
                                               int64_t watermark_us, std::vector<LateLine>* late) {
  ARROW_ASSIGN_OR_RAISE(auto runs, EventRuns::Of(silver));
  ARROW_ASSIGN_OR_RAISE(auto category, StringColumn(silver, "category", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto event_time, MicrosColumn(silver, "event_time"));
  ARROW_ASSIGN_OR_RAISE(auto quantity, Int64Column(silver, "quantity"));
  ARROW_ASSIGN_OR_RAISE(auto line_amount, MoneyColumn(silver, "line_amount"));

  const int64_t windows_per_row = spec_.size_us / spec_.slide_us;
  std::unordered_map<BatchKey, BatchTotals, BatchKeyHash> partial;
  int64_t event_start = 0;
  for (int64_t i = 0; i < silver.num_rows(); ++i) {
    if (runs.StartsEvent(i)) event_start = i;
    // An event's lines share its time, so its windows: the line counts the event in its
    // groups unless an earlier line of the event has its category.
    bool first_of_category = true;
    for (int64_t j = event_start; j < i && first_of_category; ++j) {
      first_of_category = category->GetView(j) != category->GetView(i);
    }
    const int64_t last_start = TumblingWindowStart(event_time->Value(i), spec_.slide_us);
    for (int64_t k = windows_per_row - 1; k >= 0; --k) {
      const int64_t start = last_start - k * spec_.slide_us;
      if (start + spec_.size_us <= watermark_us) {
        if (late != nullptr) late->push_back(LateLine{i, start});
        continue;
      }
      const BatchKey key{start, category->GetView(i)};
      BatchTotals& t = partial[key];
      if (!AddMoney(&t.revenue, MoneyUnits(*line_amount, i)) ||
          !AddCount(&t.quantity, quantity->Value(i))) {
        return GroupOverflow(key);
      }
      if (first_of_category) ++t.orders;
    }
  }
  // Every sum is checked before any group changes, so an error leaves the state as it was.
  std::vector<std::pair<const BatchKey*, Totals>> merged;
  merged.reserve(partial.size());
  for (const auto& [key, t] : partial) {
    auto it = groups_.find(KeyView(key.start, key.category));
    Totals sum = it == groups_.end() ? Totals{} : it->second;
    if (!AddMoney(&sum.revenue, t.revenue) || !AddCount(&sum.quantity, t.quantity) ||
        !AddCount(&sum.orders, t.orders)) {
      return GroupOverflow(key);
    }
    merged.emplace_back(&key, sum);
  }
  for (const auto& [key, sum] : merged) {
    auto it = groups_.find(KeyView(key->start, key->category));
    if (it == groups_.end()) {
      it = groups_.emplace(Key(key->start, std::string(key->category)), Totals{}).first;
    }
    it->second = sum;
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> RevenueWindowAggregator::Snapshot() const {
  return ToBatch(groups_.begin(), groups_.end());
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> RevenueWindowAggregator::TakeFinal(
    int64_t watermark_us) {
  // Windows are ordered by start and share one size, so the final ones form a prefix.
  auto end = groups_.begin();
  while (end != groups_.end() && end->first.first + spec_.size_us <= watermark_us) ++end;
  ARROW_ASSIGN_OR_RAISE(auto final_rows, ToBatch(groups_.begin(), end));
  groups_.erase(groups_.begin(), end);
  return final_rows;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> RevenueWindowAggregator::ToBatch(
    GroupMap::const_iterator begin, GroupMap::const_iterator end) const {
  auto* pool = arrow::default_memory_pool();
  arrow::TimestampBuilder start_b(format::TimestampType(), pool);
  arrow::TimestampBuilder end_b(format::TimestampType(), pool);
  arrow::StringBuilder category_b(pool);
  arrow::Decimal128Builder revenue_b(format::GoldMoneyType(), pool);
  arrow::Int64Builder quantity_b(pool);
  arrow::Int64Builder orders_b(pool);
  const auto n = static_cast<int64_t>(std::distance(begin, end));
  ARROW_RETURN_NOT_OK(start_b.Reserve(n));
  ARROW_RETURN_NOT_OK(end_b.Reserve(n));
  ARROW_RETURN_NOT_OK(category_b.Reserve(n));
  ARROW_RETURN_NOT_OK(revenue_b.Reserve(n));
  ARROW_RETURN_NOT_OK(quantity_b.Reserve(n));
  ARROW_RETURN_NOT_OK(orders_b.Reserve(n));
  for (auto it = begin; it != end; ++it) {
    const auto& [key, t] = *it;
    start_b.UnsafeAppend(key.first);
    end_b.UnsafeAppend(key.first + spec_.size_us);
    ARROW_RETURN_NOT_OK(category_b.Append(key.second));
    revenue_b.UnsafeAppend(ToDecimal(t.revenue));
    quantity_b.UnsafeAppend(t.quantity);
    orders_b.UnsafeAppend(t.orders);
  }
  std::vector<std::shared_ptr<arrow::Array>> columns(6);
  ARROW_RETURN_NOT_OK(start_b.Finish(&columns[0]));
  ARROW_RETURN_NOT_OK(end_b.Finish(&columns[1]));
  ARROW_RETURN_NOT_OK(category_b.Finish(&columns[2]));
  ARROW_RETURN_NOT_OK(revenue_b.Finish(&columns[3]));
  ARROW_RETURN_NOT_OK(quantity_b.Finish(&columns[4]));
  ARROW_RETURN_NOT_OK(orders_b.Finish(&columns[5]));
  return arrow::RecordBatch::Make(format::RevenueWindowSchema(), n, std::move(columns));
}

std::string RevenueWindowAggregator::SerializeState() const {
  StateWriter w(kStateTag, kStateVersion);
  w.WriteInt<int64_t>(spec_.size_us);
  w.WriteInt<int64_t>(spec_.slide_us);
  w.WriteInt<uint64_t>(groups_.size());
  for (const auto& [key, t] : groups_) {
    w.WriteInt<int64_t>(key.first);
    w.WriteString(key.second);
    WriteMoneySum(&w, t.revenue);
    w.WriteInt<int64_t>(t.quantity);
    w.WriteInt<int64_t>(t.orders);
  }
  return std::move(w).Finish();
}

arrow::Status RevenueWindowAggregator::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, kStateTag, kStateVersion));
  ARROW_ASSIGN_OR_RAISE(int64_t size_us, r.ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(int64_t slide_us, r.ReadInt<int64_t>());
  if (size_us != spec_.size_us || slide_us != spec_.slide_us) {
    return arrow::Status::Invalid("revenue window state was taken with windows of ", size_us,
                                  "/", slide_us, " us (size/slide), the operator has ",
                                  spec_.size_us, "/", spec_.slide_us, " us");
  }
  const bool wide = r.version() >= 2;
  // Each group takes at least 8 + 4 + 3 * 8 bytes (44 with a 128-bit revenue).
  ARROW_ASSIGN_OR_RAISE(uint64_t count, r.ReadCount(wide ? 44 : 36));
  GroupMap groups;
  for (uint64_t g = 0; g < count; ++g) {
    ARROW_ASSIGN_OR_RAISE(int64_t start, r.ReadInt<int64_t>());
    ARROW_ASSIGN_OR_RAISE(std::string category, r.ReadString());
    Totals t;
    if (wide) {
      ARROW_ASSIGN_OR_RAISE(t.revenue, ReadMoneySum(&r));
    } else {
      ARROW_ASSIGN_OR_RAISE(t.revenue, r.ReadInt<int64_t>());
    }
    ARROW_ASSIGN_OR_RAISE(t.quantity, r.ReadInt<int64_t>());
    ARROW_ASSIGN_OR_RAISE(t.orders, r.ReadInt<int64_t>());
    if (!groups.emplace(Key(start, std::move(category)), t).second) {
      return arrow::Status::Invalid("revenue window state: duplicate group at window ", start);
    }
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  groups_ = std::move(groups);
  return arrow::Status::OK();
}

}  // namespace medallion::ops
