#include "engine/gold_aggregates.h"

#include <optional>

#include "engine/tables.h"
#include "ops/late_lines.h"
#include "state/watermark.h"

namespace medallion::engine {

GoldAggregates::GoldAggregates(ops::WindowSpec window, int top_n, bool update)
    : window_size_us_(window.size_us), update_(update), windows_(window), top_(top_n) {}

arrow::Status GoldAggregates::Consume(BatchFlow* flow) {
  const arrow::RecordBatch& silver = *flow->silver;
  const int64_t watermark_us = flow->watermark_before;
  std::vector<ops::LateLine> late;
  ARROW_RETURN_NOT_OK(windows_.Consume(silver, watermark_us, &late));
  ARROW_RETURN_NOT_OK(top_.Consume(silver));
  ARROW_RETURN_NOT_OK(customers_.Consume(silver));
  const std::optional<int64_t> wm =
      watermark_us == state::Watermark::kNone ? std::nullopt : std::optional<int64_t>(watermark_us);
  ARROW_ASSIGN_OR_RAISE(flow->late_final,
                        ops::BuildLateLines(silver, &late, window_size_us_, "window_final", wm, flow->batch_id));
  return arrow::Status::OK();
}

arrow::Status GoldAggregates::Finish(BatchFlow* flow) {
  ARROW_ASSIGN_OR_RAISE(flow->final_windows, windows_.TakeFinal(flow->watermark_after));
  return arrow::Status::OK();
}

arrow::Status GoldAggregates::CommitWindows(const Tables& tables, const std::string& app, int64_t b,
                                            const std::shared_ptr<arrow::RecordBatch>& final_rows,
                                            int64_t open_after) {
  std::shared_ptr<arrow::RecordBatch> open_rows;
  if (update_) {
    ARROW_ASSIGN_OR_RAISE(open_rows, windows_.Snapshot());
  }
  return tables.gold_windows->AppendAndReplaceOpen(app, b, final_rows, open_rows,
                                                   sink::Table::OpenRows{"window_end", open_after});
}

arrow::Status GoldAggregates::CommitSnapshots(const Tables& tables, const std::string& app, int64_t b) {
  ARROW_ASSIGN_OR_RAISE(auto top, top_.Snapshot());
  ARROW_RETURN_NOT_OK(tables.gold_top->Replace(app, b, top));
  ARROW_ASSIGN_OR_RAISE(auto customers, customers_.Snapshot());
  return tables.gold_customers->Replace(app, b, customers);
}

std::vector<StatePart> GoldAggregates::StateParts() {
  return {WholeState("windows", &windows_), IncrementalState("top_products", &top_),
          IncrementalState("customer_spend", &customers_)};
}

}  // namespace medallion::engine
