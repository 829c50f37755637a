#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/operator.h"
#include "ops/dedup.h"
#include "ops/partition_dedup.h"
#include "ops/payment_join.h"
#include "state/watermark.h"

/// The operators of the partition stage (watermark, dedup in either scope, flatten) and of the
/// payment join; the Gold aggregates are engine::GoldAggregates. Each follows engine::Operator.
namespace medallion::engine {

/// The query watermark (state part "watermark"). Consume records the watermark the batch is
/// judged by and observes the batch's rows (the events, or Silver's lines in the Gold stage);
/// Finish moves it by the batch's clock (not when the batch has none) and records it.
class WatermarkOperator : public Operator {
 public:
  enum class Input { kEvents, kSilver };

  WatermarkOperator(int64_t allowed_lateness_us, int64_t idle_timeout_us, Input input)
      : watermark_(allowed_lateness_us, idle_timeout_us), input_(input) {}

  arrow::Status Consume(BatchFlow* flow) override;
  arrow::Status Finish(BatchFlow* flow) override;
  std::vector<StatePart> StateParts() override { return {WholeState("watermark", &watermark_)}; }

  const state::Watermark& watermark() const { return watermark_; }

 private:
  state::Watermark watermark_;
  Input input_;
};

/// Dedup with the query-wide horizon (`watermark.dedup_scope = "query"`; state part "dedup"):
/// a PAID event older than the watermark before the batch minus the horizon (or than the
/// floor a restart with a longer horizon set) goes to Late as beyond_dedup_horizon; the others
/// are fresh unless their event_id is held. Finish forgets the ids the new watermark has left
/// a horizon behind.
class QueryDedupOperator : public Operator {
 public:
  QueryDedupOperator(int64_t dedup_horizon_us, int64_t window_size_us)
      : horizon_us_(dedup_horizon_us), window_size_us_(window_size_us) {}

  arrow::Status Consume(BatchFlow* flow) override;
  arrow::Status Finish(BatchFlow* flow) override;
  std::vector<StatePart> StateParts() override { return {IncrementalState("dedup", &dedup_)}; }

  int64_t size() const { return dedup_.size(); }

 private:
  ops::Deduplicator dedup_;
  int64_t horizon_us_;
  int64_t window_size_us_;
};

/// Dedup with a horizon per Kafka partition (ops::PartitionDedup; state part
/// "partition_dedup", and per partition for a group member): each beyond-horizon Late row
/// carries the watermark of its partition that judged it.
class PartitionDedupOperator : public Operator {
 public:
  PartitionDedupOperator(int64_t allowed_lateness_us, int64_t dedup_horizon_us, int64_t window_size_us)
      : dedup_(allowed_lateness_us, dedup_horizon_us), window_size_us_(window_size_us) {}

  arrow::Status Consume(BatchFlow* flow) override;
  arrow::Status Finish(BatchFlow* flow) override;
  StateScope scope() const override { return StateScope::kPartition; }
  std::vector<StatePart> StateParts() override { return {IncrementalState("partition_dedup", &dedup_)}; }
  std::string SnapshotPartition(int32_t p) override { return dedup_.SerializePartition(p); }
  arrow::Status RestorePartition(int32_t p, std::string_view bytes) override {
    return dedup_.RestorePartition(p, bytes);
  }
  void DropPartition(int32_t p) override { dedup_.DropPartition(p); }
  std::string SnapshotPartitionDelta(int32_t p) override { return dedup_.SerializePartitionDelta(p); }
  arrow::Status ApplyPartitionDelta(int32_t p, std::string_view bytes) override {
    return dedup_.ApplyPartitionDelta(p, bytes);
  }

  const ops::PartitionDedup& dedup() const { return dedup_; }

 private:
  ops::PartitionDedup dedup_;
  int64_t window_size_us_;
};

/// Silver's lines: the fresh events' line items, one row each. Stateless.
class FlattenOperator : public Operator {
 public:
  arrow::Status Consume(BatchFlow* flow) override;
};

/// The order–payment interval join (state parts "payments_watermark", "payment_dedup",
/// "paid_orders", "payment_join"). It is judged by the join watermark, the smaller of the
/// orders' query watermark and the payments' own: Consume feeds it the first PAID event of
/// each order among the fresh ones and the first CAPTURED occurrence of each payment, by the
/// join watermark before the batch; Finish moves the payments watermark, then the join's,
/// forgets ids a dedup horizon behind it and takes the batch's matches and reconciliation.
/// Must follow the dedup (it reads `fresh`) and the watermark (it reads watermark_after).
class PaymentJoinOperator : public Operator {
 public:
  PaymentJoinOperator(int64_t allowed_lateness_us, int64_t idle_timeout_us, int64_t dedup_horizon_us,
                      ops::PaymentJoinOptions options)
      : payments_watermark_(allowed_lateness_us, idle_timeout_us), horizon_us_(dedup_horizon_us), join_(options) {}

  arrow::Status Consume(BatchFlow* flow) override;
  arrow::Status Finish(BatchFlow* flow) override;
  std::vector<StatePart> StateParts() override;

  /// The join watermark for `orders_watermark_us` (kNone while either side has none).
  int64_t JoinWatermark(int64_t orders_watermark_us) const;
  int64_t unmatched_orders() const { return join_.unmatched_orders(); }
  int64_t unmatched_payments() const { return join_.unmatched_payments(); }

 private:
  state::Watermark payments_watermark_;
  int64_t horizon_us_;
  ops::Deduplicator payment_dedup_{"payment_id"};
  ops::Deduplicator paid_orders_{"order_id"};
  ops::PaymentJoin join_;
};

}  // namespace medallion::engine
