#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "ops/money_sum.h"
#include "ops/line_order.h"
#include "ops/state_codec.h"

/// Gold operator: top products by quantity sold.
namespace medallion::ops {

/// Running totals per product_id over all Silver lines: total_quantity = sum(quantity),
/// revenue = sum(line_amount); product_name and category come from the latest line by
/// (event_time, kafka_partition, kafka_offset, line_no). Output: format::TopProductsSchema(),
/// rank 1..n by total_quantity desc, then revenue desc, then product_id asc, rows in rank
/// order, only the top_n best (top_n <= 0 outputs every product). Revenue is summed exactly
/// in 128 bits (decimal(38,4)); a total_quantity beyond int64 makes Consume() a CapacityError
/// naming the product, with the state unchanged.
///
/// State keeps every product ever seen, not only the top n, because a product outside the
/// top can climb into it later: memory is O(#products). Snapshot() costs
/// O(#products log top_n).
///
/// Checkpoints: SerializeState() is the whole state; SerializeDelta() only the products
/// changed since the last snapshot or delta, each with its totals, so a batch's checkpoint
/// grows with the products it touched rather than with every product held (no product is
/// ever removed, so a delta holds no removals). RestoreState(full) then ApplyDelta(d1),
/// ApplyDelta(d2), ... in order rebuilds the same state, byte for byte.
///
/// Lifecycle: construct, then any sequence of Consume / Snapshot / SerializeState /
/// RestoreState / SerializeDelta / ApplyDelta. Not thread-safe.
class TopProductsAggregator {
 public:
  explicit TopProductsAggregator(int top_n) : top_n_(top_n) {}

  /// Adds one micro-batch of Silver rows (columns found by name; extra columns ignored).
  /// On error (missing column, wrong type, null in a required column) the state is unchanged.
  arrow::Status Consume(const arrow::RecordBatch& silver);

  /// The current top_n products in rank order.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Snapshot() const;

  /// A versioned binary snapshot of the state (products sorted by id, so equal states give
  /// equal bytes). top_n is configuration, not state: it is not stored. Starts a new delta.
  std::string SerializeState();
  /// Replaces the state with a snapshot from SerializeState(); a corrupted snapshot or an
  /// unknown version is Invalid and leaves the state unchanged. Starts a new delta.
  arrow::Status RestoreState(std::string_view bytes);

  /// The products changed since the last SerializeState/SerializeDelta/RestoreState/
  /// ApplyDelta, with their totals (sorted by id); starts a new delta.
  std::string SerializeDelta();
  /// Replays a delta from SerializeDelta() on top of the state it was taken from. A whole
  /// snapshot is taken too and replaces the state (a build that checkpointed this state
  /// whole wrote one in place of every delta). A corrupted delta or an unknown version is
  /// Invalid and leaves the state unchanged.
  arrow::Status ApplyDelta(std::string_view bytes);

  int top_n() const { return top_n_; }
  /// Number of distinct products held.
  size_t num_products() const { return products_.size(); }

 private:
  struct Product {
    int64_t quantity = 0;
    MoneySum revenue = 0;  // 1/10000 units
    LinePosition latest;  // position of the line the attributes below come from
    std::optional<std::string> name;
    std::string category;
    bool in_delta = false;  // listed in changed_ (bookkeeping, not state: never serialized)
  };
  using ProductMap = std::unordered_map<std::string, Product, StringKeyHash, std::equal_to<>>;
  using ProductEntry = ProductMap::value_type;

  /// One product as a snapshot or a delta holds it, and its inverse (`wide`: 128-bit revenue).
  static void WriteProduct(const ProductEntry& entry, StateWriter* w);
  static arrow::Result<std::pair<std::string, Product>> ReadProduct(StateReader* r, bool wide);
  /// Lists `entry` in the next delta.
  void MarkChanged(ProductEntry& entry);
  void ClearDelta();

  int top_n_;
  ProductMap products_;
  /// The products changed since the last snapshot or delta (map nodes, which never move).
  std::vector<ProductEntry*> changed_;
};

}  // namespace medallion::ops
