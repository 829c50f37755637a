#include "ops/top_products_agg.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include <arrow/builder.h>
#include <arrow/util/decimal.h>

#include "format/schemas.h"
#include "ops/silver_columns.h"
#include "ops/state_codec.h"

namespace medallion::ops {
namespace {

constexpr std::string_view kStateTag = "ops.top_products";
/// Version 2 holds revenue as 128 bits; version 1 (64 bits) is still read.
constexpr uint32_t kStateVersion = 2;
/// A delta: the changed products, each as a version 2 snapshot holds it.
constexpr std::string_view kDeltaTag = "ops.top_products.delta";
constexpr uint32_t kDeltaVersion = 1;
/// Bytes a product takes at least: 4 + 2 * 8 + (8 + 4 + 8 + 4) + 1 + 4, 8 more with a
/// 128-bit revenue.
constexpr size_t kMinProductBytes = 49;
constexpr size_t kMinWideProductBytes = 57;

arrow::Status ProductOverflow(std::string_view product_id) {
  return arrow::Status::CapacityError("gold top products, product '", product_id,
                                      "': revenue exceeds decimal(38,4) or total_quantity exceeds int64");
}

}  // namespace

arrow::Status TopProductsAggregator::Consume(const arrow::RecordBatch& silver) {
  ARROW_ASSIGN_OR_RAISE(auto product_id, StringColumn(silver, "product_id", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto product_name, StringColumn(silver, "product_name", Nulls::kAllowed));
  ARROW_ASSIGN_OR_RAISE(auto category, StringColumn(silver, "category", Nulls::kRequired));
  ARROW_ASSIGN_OR_RAISE(auto quantity, Int64Column(silver, "quantity"));
  ARROW_ASSIGN_OR_RAISE(auto line_amount, MoneyColumn(silver, "line_amount"));
  ARROW_ASSIGN_OR_RAISE(auto event_time, MicrosColumn(silver, "event_time"));
  ARROW_ASSIGN_OR_RAISE(auto partition, Int32Column(silver, "kafka_partition"));
  ARROW_ASSIGN_OR_RAISE(auto offset, Int64Column(silver, "kafka_offset"));
  ARROW_ASSIGN_OR_RAISE(auto line_no, Int32Column(silver, "line_no"));

  // Every sum is checked before any product changes, so an error leaves the state as it was.
  std::unordered_map<std::string_view, Product> partial;
  for (int64_t i = 0; i < silver.num_rows(); ++i) {
    Product& p = partial[product_id->GetView(i)];
    if (!AddCount(&p.quantity, quantity->Value(i)) || !AddMoney(&p.revenue, MoneyUnits(*line_amount, i))) {
      return ProductOverflow(product_id->GetView(i));
    }
  }
  for (const auto& [id, t] : partial) {
    auto it = products_.find(id);
    if (it == products_.end()) continue;
    Product sum = t;
    if (!AddCount(&sum.quantity, it->second.quantity) || !AddMoney(&sum.revenue, it->second.revenue)) {
      return ProductOverflow(id);
    }
  }
  for (int64_t i = 0; i < silver.num_rows(); ++i) {
    const std::string_view id = product_id->GetView(i);
    const LinePosition pos{event_time->Value(i), partition->Value(i), offset->Value(i),
                           line_no->Value(i)};
    auto it = products_.find(id);
    const bool is_new = it == products_.end();
    if (is_new) it = products_.emplace(std::string(id), Product{}).first;
    MarkChanged(*it);
    Product& p = it->second;
    p.quantity += quantity->Value(i);
    p.revenue += MoneyUnits(*line_amount, i);
    if (is_new || pos > p.latest) {
      p.latest = pos;
      p.name = ToOwned(OptionalView(*product_name, i));
      p.category = std::string(category->GetView(i));
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> TopProductsAggregator::Snapshot() const {
  using Entry = const ProductMap::value_type*;
  std::vector<Entry> entries;
  entries.reserve(products_.size());
  for (const auto& kv : products_) entries.push_back(&kv);
  auto better = [](Entry a, Entry b) {
    if (a->second.quantity != b->second.quantity) return a->second.quantity > b->second.quantity;
    if (a->second.revenue != b->second.revenue) return a->second.revenue > b->second.revenue;
    return a->first < b->first;
  };
  size_t n = entries.size();
  if (top_n_ > 0 && static_cast<size_t>(top_n_) < n) n = static_cast<size_t>(top_n_);
  std::partial_sort(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(n),
                    entries.end(), better);

  auto* pool = arrow::default_memory_pool();
  arrow::StringBuilder id_b(pool), name_b(pool), category_b(pool);
  arrow::Int64Builder quantity_b(pool);
  arrow::Decimal128Builder revenue_b(format::GoldMoneyType(), pool);
  arrow::Int32Builder rank_b(pool);
  for (size_t r = 0; r < n; ++r) {
    const auto& [id, p] = *entries[r];
    ARROW_RETURN_NOT_OK(id_b.Append(id));
    ARROW_RETURN_NOT_OK(p.name ? name_b.Append(*p.name) : name_b.AppendNull());
    ARROW_RETURN_NOT_OK(category_b.Append(p.category));
    ARROW_RETURN_NOT_OK(quantity_b.Append(p.quantity));
    ARROW_RETURN_NOT_OK(revenue_b.Append(ToDecimal(p.revenue)));
    ARROW_RETURN_NOT_OK(rank_b.Append(static_cast<int32_t>(r + 1)));
  }
  std::vector<std::shared_ptr<arrow::Array>> columns(6);
  ARROW_RETURN_NOT_OK(id_b.Finish(&columns[0]));
  ARROW_RETURN_NOT_OK(name_b.Finish(&columns[1]));
  ARROW_RETURN_NOT_OK(category_b.Finish(&columns[2]));
  ARROW_RETURN_NOT_OK(quantity_b.Finish(&columns[3]));
  ARROW_RETURN_NOT_OK(revenue_b.Finish(&columns[4]));
  ARROW_RETURN_NOT_OK(rank_b.Finish(&columns[5]));
  return arrow::RecordBatch::Make(format::TopProductsSchema(), static_cast<int64_t>(n),
                                  std::move(columns));
}

void TopProductsAggregator::MarkChanged(ProductEntry& entry) {
  if (entry.second.in_delta) return;
  entry.second.in_delta = true;
  changed_.push_back(&entry);
}

void TopProductsAggregator::ClearDelta() {
  for (ProductEntry* entry : changed_) entry->second.in_delta = false;
  changed_.clear();
}

void TopProductsAggregator::WriteProduct(const ProductEntry& entry, StateWriter* w) {
  const Product& p = entry.second;
  w->WriteString(entry.first);
  w->WriteInt<int64_t>(p.quantity);
  WriteMoneySum(w, p.revenue);
  w->WriteInt<int64_t>(p.latest.event_time_us);
  w->WriteInt<int32_t>(p.latest.partition);
  w->WriteInt<int64_t>(p.latest.offset);
  w->WriteInt<int32_t>(p.latest.line_no);
  w->WriteOptionalString(p.name);
  w->WriteString(p.category);
}

arrow::Result<std::pair<std::string, TopProductsAggregator::Product>> TopProductsAggregator::ReadProduct(
    StateReader* r, bool wide) {
  std::pair<std::string, Product> entry;
  auto& [id, p] = entry;
  ARROW_ASSIGN_OR_RAISE(id, r->ReadString());
  ARROW_ASSIGN_OR_RAISE(p.quantity, r->ReadInt<int64_t>());
  if (wide) {
    ARROW_ASSIGN_OR_RAISE(p.revenue, ReadMoneySum(r));
  } else {
    ARROW_ASSIGN_OR_RAISE(p.revenue, r->ReadInt<int64_t>());
  }
  ARROW_ASSIGN_OR_RAISE(p.latest.event_time_us, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(p.latest.partition, r->ReadInt<int32_t>());
  ARROW_ASSIGN_OR_RAISE(p.latest.offset, r->ReadInt<int64_t>());
  ARROW_ASSIGN_OR_RAISE(p.latest.line_no, r->ReadInt<int32_t>());
  ARROW_ASSIGN_OR_RAISE(p.name, r->ReadOptionalString());
  ARROW_ASSIGN_OR_RAISE(p.category, r->ReadString());
  return entry;
}

std::string TopProductsAggregator::SerializeState() {
  ClearDelta();
  std::vector<const ProductEntry*> entries;
  entries.reserve(products_.size());
  for (const auto& kv : products_) entries.push_back(&kv);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });

  StateWriter w(kStateTag, kStateVersion);
  w.WriteInt<uint64_t>(entries.size());
  for (const ProductEntry* e : entries) WriteProduct(*e, &w);
  return std::move(w).Finish();
}

arrow::Status TopProductsAggregator::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, kStateTag, kStateVersion));
  const bool wide = r.version() >= 2;
  ARROW_ASSIGN_OR_RAISE(uint64_t count, r.ReadCount(wide ? kMinWideProductBytes : kMinProductBytes));
  ProductMap products;
  products.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    ARROW_ASSIGN_OR_RAISE(auto entry, ReadProduct(&r, wide));
    if (!products.insert(std::move(entry)).second) {
      return arrow::Status::Invalid("top products state: duplicate product id");
    }
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  changed_.clear();  // they point into the map being replaced
  products_ = std::move(products);
  return arrow::Status::OK();
}

std::string TopProductsAggregator::SerializeDelta() {
  std::sort(changed_.begin(), changed_.end(), [](auto* a, auto* b) { return a->first < b->first; });
  StateWriter w(kDeltaTag, kDeltaVersion);
  w.WriteInt<uint64_t>(changed_.size());
  for (const ProductEntry* e : changed_) WriteProduct(*e, &w);
  ClearDelta();
  return std::move(w).Finish();
}

arrow::Status TopProductsAggregator::ApplyDelta(std::string_view bytes) {
  if (StateReader::PeekTag(bytes) == kStateTag) return RestoreState(bytes);
  ARROW_ASSIGN_OR_RAISE(auto r, StateReader::Open(bytes, kDeltaTag, kDeltaVersion));
  ARROW_ASSIGN_OR_RAISE(uint64_t count, r.ReadCount(kMinWideProductBytes));
  std::vector<std::pair<std::string, Product>> changed;
  changed.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    ARROW_ASSIGN_OR_RAISE(auto entry, ReadProduct(&r, /*wide=*/true));
    if (!changed.empty() && !(changed.back().first < entry.first)) {
      return arrow::Status::Invalid("top products delta: product ids not in increasing order");
    }
    changed.push_back(std::move(entry));
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  ClearDelta();
  for (auto& [id, p] : changed) products_.insert_or_assign(std::move(id), std::move(p));
  return arrow::Status::OK();
}

}  // namespace medallion::ops
