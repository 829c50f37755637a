#include "engine/batch_operators.h"

#include <algorithm>
#include <optional>

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include "ops/filter_status.h"
#include "ops/flatten.h"
#include "ops/late_lines.h"
#include "ops/split_by_time.h"

namespace medallion::engine {
namespace {

constexpr int64_t kNone = state::Watermark::kNone;

/// The rows `rows` of `batch`, in that order.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> TakeRows(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                            const ops::RowSelection& rows) {
  arrow::Int64Builder indices;
  ARROW_RETURN_NOT_OK(indices.AppendValues(rows));
  ARROW_ASSIGN_OR_RAISE(auto index_array, indices.Finish());
  ARROW_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(batch, index_array));
  return taken.record_batch();
}

}  // namespace

arrow::Status WatermarkOperator::Consume(BatchFlow* flow) {
  flow->watermark_before = watermark_.current();
  const auto& rows = input_ == Input::kEvents ? flow->events : flow->silver;
  if (flow->clock_us && rows) watermark_.ObserveRows(*rows, *flow->clock_us);
  return arrow::Status::OK();
}

arrow::Status WatermarkOperator::Finish(BatchFlow* flow) {
  if (flow->clock_us) watermark_.Advance(*flow->clock_us, flow->behind);
  flow->watermark_after = watermark_.current();
  return arrow::Status::OK();
}

arrow::Status QueryDedupOperator::Consume(BatchFlow* flow) {
  const arrow::RecordBatch& events = *flow->events;
  const int64_t wm = flow->watermark_before;
  const int64_t horizon = wm == kNone ? wm : std::max(wm - horizon_us_, flow->dedup_floor_us);
  ARROW_ASSIGN_OR_RAISE(auto paid, ops::SelectByStatus(events, "PAID"));
  ARROW_ASSIGN_OR_RAISE(auto split, ops::SplitByTime(events, paid, "event_time", horizon));
  ARROW_ASSIGN_OR_RAISE(flow->fresh, dedup_.Process(events, split.after));
  ARROW_ASSIGN_OR_RAISE(auto lines, ops::FlattenToOrderLines(events, split.before));
  ARROW_ASSIGN_OR_RAISE(flow->late_horizon,
                        ops::BuildLateLines(*lines, nullptr, window_size_us_, "beyond_dedup_horizon",
                                            wm == kNone ? std::nullopt : std::optional<int64_t>(wm), flow->batch_id));
  return arrow::Status::OK();
}

arrow::Status QueryDedupOperator::Finish(BatchFlow* flow) {
  if (flow->watermark_after != kNone) dedup_.EvictBefore(flow->watermark_after - horizon_us_);
  return arrow::Status::OK();
}

arrow::Status PartitionDedupOperator::Consume(BatchFlow* flow) {
  const arrow::RecordBatch& events = *flow->events;
  ARROW_ASSIGN_OR_RAISE(auto paid, ops::SelectByStatus(events, "PAID"));
  ARROW_ASSIGN_OR_RAISE(auto judged, dedup_.Process(events, paid, flow->dedup_floor_us));
  flow->fresh = std::move(judged.fresh);
  ARROW_ASSIGN_OR_RAISE(auto lines, ops::FlattenToOrderLines(events, judged.beyond));
  ARROW_ASSIGN_OR_RAISE(auto marks, ops::PerLine(*lines, events, judged.beyond, judged.beyond_watermarks));
  ARROW_ASSIGN_OR_RAISE(flow->late_horizon, ops::BuildLateLines(*lines, nullptr, window_size_us_,
                                                                "beyond_dedup_horizon", std::nullopt, flow->batch_id,
                                                                &marks));
  return arrow::Status::OK();
}

arrow::Status PartitionDedupOperator::Finish(BatchFlow* flow) {
  dedup_.Evict();
  return arrow::Status::OK();
}

arrow::Status FlattenOperator::Consume(BatchFlow* flow) {
  ARROW_ASSIGN_OR_RAISE(flow->silver, ops::FlattenToOrderLines(*flow->events, flow->fresh));
  return arrow::Status::OK();
}

int64_t PaymentJoinOperator::JoinWatermark(int64_t orders_watermark_us) const {
  if (orders_watermark_us == kNone || payments_watermark_.current() == kNone) return kNone;
  return std::min(orders_watermark_us, payments_watermark_.current());
}

arrow::Status PaymentJoinOperator::Consume(BatchFlow* flow) {
  // Orders and payments behind the join's watermark are reported late at once (never held);
  // their ids are remembered from that watermark on, and evicted by it, so a re-send is not
  // reported again until the watermark has moved a dedup horizon past the first copy.
  const int64_t join_wm = JoinWatermark(flow->watermark_before);
  const std::shared_ptr<arrow::RecordBatch>& payments = flow->payments;
  if (flow->clock_us) payments_watermark_.ObserveRows(*payments, *flow->clock_us);
  ARROW_ASSIGN_OR_RAISE(auto first_paid, paid_orders_.Process(*flow->events, flow->fresh, join_wm));
  ARROW_ASSIGN_OR_RAISE(auto orders, ops::JoinOrdersFromEvents(*flow->events, first_paid));
  ARROW_ASSIGN_OR_RAISE(auto captured, ops::SelectByStatus(*payments, "CAPTURED"));
  ARROW_ASSIGN_OR_RAISE(auto first_captured, payment_dedup_.Process(*payments, captured, join_wm));
  ARROW_ASSIGN_OR_RAISE(auto payment_rows, TakeRows(payments, first_captured));
  return join_.Consume(*orders, *payment_rows, join_wm);
}

arrow::Status PaymentJoinOperator::Finish(BatchFlow* flow) {
  if (flow->clock_us) payments_watermark_.Advance(*flow->clock_us, flow->payments_behind);
  const int64_t join_wm = JoinWatermark(flow->watermark_after);
  ARROW_RETURN_NOT_OK(join_.AdvanceWatermark(join_wm));
  if (join_wm != kNone) {
    paid_orders_.EvictBefore(join_wm - horizon_us_);
    payment_dedup_.EvictBefore(join_wm - horizon_us_);
  }
  ARROW_ASSIGN_OR_RAISE(flow->joined, join_.TakeOutput(flow->batch_id));
  return arrow::Status::OK();
}

std::vector<StatePart> PaymentJoinOperator::StateParts() {
  return {WholeState("payments_watermark", &payments_watermark_), IncrementalState("payment_dedup", &payment_dedup_),
          IncrementalState("paid_orders", &paid_orders_), WholeState("payment_join", &join_)};
}

}  // namespace medallion::engine
