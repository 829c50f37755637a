#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "engine/engine_state.h"
#include "engine/operator.h"
#include "ops/customer_spend_agg.h"
#include "ops/revenue_window_agg.h"
#include "ops/top_products_agg.h"

namespace medallion::engine {

struct Tables;

/// The Gold aggregates over Silver's lines and how they reach the Gold tables: the revenue
/// windows (whose late lines go to Late as window_final), top products and customer spend.
/// The single process feeds them each batch's new lines; the Gold stage feeds them Silver's
/// files, version after version. Both use this one class, so both keep one rule.
/// The global operator of both: it reads `silver`, `watermark_before` and `watermark_after`
/// and must follow the watermark. Not thread-safe; the engine thread owns it.
class GoldAggregates : public Operator {
 public:
  /// `update`: output mode "update" (Gold windows also hold the open windows' rows).
  GoldAggregates(ops::WindowSpec window, int top_n, bool update);

  /// Adds the batch's Silver lines, judged by the watermark before the batch
  /// (state::Watermark::kNone before there is one); sets `late_final`: the lines'
  /// window_final rows for Late (those whose window that watermark had closed).
  arrow::Status Consume(BatchFlow* flow) override;

  /// Takes the windows the watermark after the batch has closed: sets `final_windows`.
  arrow::Status Finish(BatchFlow* flow) override;

  /// Commits Gold windows as `app`'s batch `b`: the `final_rows` (null: none) and, in
  /// output mode update, the open windows' rows in place of the open rows committed after
  /// the watermark `open_after` (the one the previous commit's windows were closed by).
  arrow::Status CommitWindows(const Tables& tables, const std::string& app, int64_t b,
                              const std::shared_ptr<arrow::RecordBatch>& final_rows, int64_t open_after);

  /// Replaces the top products and customer spend tables with their snapshots, as batch `b`.
  arrow::Status CommitSnapshots(const Tables& tables, const std::string& app, int64_t b);

  /// The aggregates' parts of the engine state: windows, top_products, customer_spend.
  std::vector<StatePart> StateParts() override;

  /// Windows held (open ones).
  int64_t open_windows() const { return static_cast<int64_t>(windows_.num_groups()); }

 private:
  int64_t window_size_us_;
  bool update_;
  ops::RevenueWindowAggregator windows_;
  ops::TopProductsAggregator top_;
  ops::CustomerSpendAggregator customers_;
};

}  // namespace medallion::engine
