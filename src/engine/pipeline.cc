#include "engine/pipeline.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <thread>

#include <arrow/array.h>
#include <arrow/compute/initialize.h>
#include <spdlog/spdlog.h>

#include "common/duration.h"
#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/task_pool.h"
#include "common/time_util.h"
#include "engine/status_board.h"
#include "engine/batch_operators.h"
#include "engine/bronze_batch.h"
#include "engine/engine_state.h"
#include "engine/gold_aggregates.h"
#include "engine/operator.h"
#include "engine/partitioning.h"
#include "engine/pending_appends.h"
#include "engine/query_settings.h"
#include "engine/read_ahead.h"
#include "engine/tables.h"
#include "format/event_parser.h"
#include "format/payment_parser.h"
#include "format/schemas.h"
#include "ops/payment_join.h"
#include "sink/table.h"
#include "source/kafka_source.h"
#include "state/watermark.h"

namespace medallion::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBrokerWaitMs = 10 * 60 * 1000;
/// How long a streaming batch's payments poll waits for records (its orders poll waited
/// already).
constexpr int64_t kPaymentsPollWaitMs = 50;
/// The side tables (Quarantine, Late) commit their held rows once these reach 1 MiB.
constexpr int64_t kMaxHeldSideBytes = 1 << 20;

/// One topic's part of a poll: the records (with their offset ranges), the next offset of
/// every partition after them, and each partition's end as known after the poll.
struct TopicPoll {
  source::FetchedRecords records;
  std::map<int32_t, int64_t> next;
  std::map<int32_t, int64_t> ends;
};

/// One poll of the orders topic and, when the query joins payments, of the payments topic,
/// with the processing time they were read at (the batch's ingest time).
struct Polled {
  TopicPoll orders;
  std::optional<TopicPoll> payments;
  int64_t ingest_time_us = 0;
};

/// The payments topic's part of a prepared batch: its Bronze batch and parsed payments.
struct PreparedPayments {
  TopicPlan positions;  // the topic, its ranges, next offsets and known ends
  int64_t records = 0;
  std::shared_ptr<arrow::RecordBatch> bronze;
  format::ParseResult parsed;
};

/// One batch as far as it goes without operator state: read from Kafka, copied into Bronze
/// (the fetched records are released then) and parsed.
struct Prepared {
  source::BatchOffsets offsets;
  std::map<int32_t, int64_t> next;  // every partition's next offset after this batch
  std::map<int32_t, int64_t> ends;  // every partition's end offset as known at planning
  int64_t ingest_time_us = 0;
  int64_t records = 0;
  std::shared_ptr<arrow::RecordBatch> bronze;
  format::ParseResult parsed;
  std::optional<PreparedPayments> payments;
  double parse_seconds = 0;

  int64_t all_records() const { return records + (payments ? payments->records : 0); }
};

/// Marks the start-up error of a batch given up after kMaxBatchAttempts failures.
class BatchGivenUpDetail : public arrow::StatusDetail {
 public:
  const char* type_id() const override { return "medallion::engine::BatchGivenUp"; }
  std::string ToString() const override { return "batch given up after repeated failures"; }
};

/// The plan's ranges as "topic/p [start, end)" for messages.
std::string DescribeRanges(const BatchPlan& plan) {
  std::string out;
  for (const auto& [p, r] : plan.offsets) {
    out += (out.empty() ? "" : ", ") + plan.topic + "/" + std::to_string(p) + " [" + std::to_string(r.start) +
           ", " + std::to_string(r.end) + ")";
  }
  return out.empty() ? "no records" : out;
}

/// Whether a table on a cadence of `interval_us` (0: none) is due, its last commit at `last`.
bool IntervalPassed(Clock::time_point last, int64_t interval_us) {
  return interval_us <= 0 || Clock::now() - last >= std::chrono::microseconds(interval_us);
}

/// Whether a cadence of `interval_us` is due (IntervalPassed); if so, it starts again now.
bool TakeDue(Clock::time_point* last, int64_t interval_us) {
  if (!IntervalPassed(*last, interval_us)) return false;
  *last = Clock::now();
  return true;
}

}  // namespace

bool IsBatchGivenUp(const arrow::Status& status) {
  return status.detail() != nullptr &&
         std::string_view(status.detail()->type_id()) == "medallion::engine::BatchGivenUp";
}

class Pipeline::Impl {
 public:
  Impl(PipelineOptions options, ops::WindowSpec window)
      : options_(std::move(options)),
        window_(window),
        pool_(std::make_unique<TaskPool>(options_.threads > 1 ? std::max(options_.threads, 3) : 0)) {
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      parsers_.push_back(std::make_unique<format::EventParser>(
          format::EventParserOptions{.max_future_skew_us = options_.max_future_skew_us}));
    }
    if (joins()) {
      payment_parser_ = std::make_unique<format::PaymentParser>(
          format::EventParserOptions{.max_future_skew_us = options_.max_future_skew_us});
    }
  }

  arrow::Status Init() {
    ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
    ARROW_ASSIGN_OR_RAISE(checkpoint_, Checkpoint::Open(options_.checkpoint_dir));
    ARROW_RETURN_NOT_OK(CheckQueryChanges());
    MakeChain();
    state_ = MakeEngineState();
    board_ = std::make_shared<StatusBoard>(options_, checkpoint_->query_id());
    ARROW_RETURN_NOT_OK(board_->Start());
    ARROW_ASSIGN_OR_RAISE(tables_, Tables::Open(options_, checkpoint_->query_id()));
    ARROW_RETURN_NOT_OK(Restore());
    ARROW_RETURN_NOT_OK(tables_.EvolveSchemas());
    ARROW_RETURN_NOT_OK(RecordQuerySettings());
    options_.source.prefetch_bytes = 2 * options_.limits.max_bytes;
    ARROW_ASSIGN_OR_RAISE(source_, source::KafkaSource::Make(options_.source));
    if (joins()) {
      source::SourceOptions payments = options_.source;
      payments.topic = options_.payments_topic;
      // A batch's payments are a fraction of its orders: one batch's worth fetched ahead is
      // enough, and keeps the second consumer's buffers from doubling the memory.
      payments.prefetch_bytes = options_.limits.max_bytes;
      ARROW_ASSIGN_OR_RAISE(payments_source_, source::KafkaSource::Make(payments));
    }
    // A catch-up run writes few, large files and ends once the backlog is done, and a run of
    // a set number of batches (tests, benchmarks) ends as soon: they leave compaction to the
    // continuous runs, and their tables hold exactly their batches' commits.
    if (options_.compaction && !options_.until_caught_up && options_.max_batches == 0) {
      std::vector<std::unique_ptr<sink::Table>> handles;
      for (sink::Table* table : tables_.Compactable()) {
        ARROW_ASSIGN_OR_RAISE(auto handle, table->OpenAnother());
        handles.push_back(std::move(handle));
      }
      compactor_ = std::make_unique<Compactor>(
          std::move(handles), [id = checkpoint_->query_id()](sink::Table&) { return std::vector<std::string>{id}; },
          options_.compactor);
    }
    return arrow::Status::OK();
  }

  /// Runs batches until the stop flag is set (or, with until_caught_up / max_batches, until
  /// done). A stop request ends every wait (broker down, replay, trigger) within about a
  /// second; the run then ends cleanly: what was committed stays, the rest is done next time.
  arrow::Status Run(const std::atomic<bool>& stop) {
    source_->SetStopFlag(&stop);
    if (payments_source_) payments_source_->SetStopFlag(&stop);
    arrow::Status st = RunBatches(stop);
    if (st.IsCancelled()) {
      spdlog::info("stop requested while waiting; last committed batch {}", checkpoint_->LastCommitted());
      return arrow::Status::OK();
    }
    return st;
  }

  std::shared_ptr<StatusBoard> board() const { return board_; }

 private:
  /// True when the query joins the orders with a payments topic.
  bool joins() const { return !options_.payments_topic.empty(); }

  /// Records between `positions` and `targets`, summed over the targets' partitions.
  static int64_t Remaining(const std::map<int32_t, int64_t>& positions, const std::map<int32_t, int64_t>& targets) {
    int64_t left = 0;
    for (const auto& [p, target] : targets) {
      auto it = positions.find(p);
      left += std::max<int64_t>(0, target - (it == positions.end() ? 0 : it->second));
    }
    return left;
  }

  /// The limits of a batch's payments poll, read after its orders poll. Draining a backlog,
  /// it takes the payments in proportion to the orders just read (`orders_read` of
  /// `orders_left` before the poll, against `payments_left`), so that both topics are drained
  /// at the same pace and neither runs ahead of the other in event time: what runs ahead waits
  /// in the join's state. It may wait as long as the orders poll for that share: capped at
  /// kPaymentsPollWaitMs (a poll that ends at its wait may end short of its share), the
  /// payments waiting in the join grew with the stream on a slow host (test_long_stream, from
  /// the middle to the last third: 1.5k to 6.9k, 6k to 11.7k, 10.9k to 16.4k in three runs);
  /// uncapped, they stay flat (18.5k to 18.9k in two). Streaming, it waits briefly: the orders
  /// poll has waited already.
  source::BatchLimits PaymentLimits(int64_t orders_read, int64_t orders_left, int64_t payments_left) const {
    source::BatchLimits limits = options_.limits;
    if (options_.until_caught_up && orders_left > 0) {
      const double share = static_cast<double>(payments_left) / static_cast<double>(orders_left);
      limits.max_records = std::clamp<int64_t>(
          static_cast<int64_t>(std::ceil(static_cast<double>(orders_read) * share)), 1, limits.max_records);
    } else {
      limits.max_wait_ms = std::min<int64_t>(limits.max_wait_ms, kPaymentsPollWaitMs);
    }
    return limits;
  }

  arrow::Status RunBatches(const std::atomic<bool>& stop) {
    ARROW_ASSIGN_OR_RAISE(auto partitions, source_->Partitions(kBrokerWaitMs));
    board_->SetPartitions(partitions);
    if (payments_source_) ARROW_RETURN_NOT_OK(payments_source_->Partitions(kBrokerWaitMs).status());
    int64_t batches = 0;
    ARROW_RETURN_NOT_OK(RefillHeldBronze());
    if (pending_replay_) {
      const BatchPlan plan = *pending_replay_;
      pending_replay_.reset();
      spdlog::info("replaying batch {} from its plan (crash recovery)", plan.batch_id);
      ARROW_ASSIGN_OR_RAISE(source::FetchedRecords records, source_->Replay(plan.offsets, kBrokerWaitMs));
      // Every record of the plan may have been deleted since (accepted data loss): the batch
      // still runs, empty, so that every table and the checkpoint commit it.
      ARROW_ASSIGN_OR_RAISE(auto prepared, Prepare(std::move(records), plan.ingest_time_us, options_.threads,
                                                   /*even_empty=*/true));
      if (joins()) {
        // A plan written before the query joined payments has no payments part: none read.
        TopicPoll side;
        side.next = payments_next_;
        if (plan.payments) {
          ARROW_ASSIGN_OR_RAISE(side.records, payments_source_->Replay(plan.payments->offsets, kBrokerWaitMs));
          side.next = plan.payments->next;
          side.ends = plan.payments->ends;
        }
        ARROW_ASSIGN_OR_RAISE(prepared.payments, PreparePayments(std::move(side), plan.ingest_time_us));
      }
      ARROW_RETURN_NOT_OK(ExecuteCounted(plan, prepared, BatchStart::Now(), /*replayed=*/true));
      next_ = plan.next;
      if (plan.payments) payments_next_ = plan.payments->next;
      ++batches;
    }
    ARROW_RETURN_NOT_OK(source_->Start(next_));
    std::map<int32_t, int64_t> targets, payment_targets;
    if (options_.until_caught_up) {
      ARROW_ASSIGN_OR_RAISE(targets, source_->EndOffsets(kBrokerWaitMs));
    }
    if (payments_source_) {
      ARROW_RETURN_NOT_OK(payments_source_->Start(payments_next_));
      if (options_.until_caught_up) {
        ARROW_ASSIGN_OR_RAISE(payment_targets, payments_source_->EndOffsets(kBrokerWaitMs));
      }
    }
    // Draining a backlog (--until-caught-up), three batches are in flight: batch k is
    // processed and written, k+1 is copied into Bronze and parsed, k+2 is read from Kafka,
    // each on a thread of the pool. Continuous runs poll when their trigger fires. Beside a batch
    // in flight, one parser keeps a core busy; more would only add the cost of concatenating
    // their slices (1M events: 6.2-6.5 CPU-s with one, 6.4-8.0 with two, same wall time).
    const bool read_ahead = options_.until_caught_up && options_.threads > 1;
    const int parsers = read_ahead ? 1 : options_.threads;
    // True if no batch follows once `count` batches have run and reading is at `position`
    // (and, with payments, at `payment_position` in the payments topic).
    auto last = [this, &targets, &payment_targets](const std::map<int32_t, int64_t>& position,
                                                    const std::map<int32_t, int64_t>& payment_position,
                                                    int64_t count) {
      return (options_.until_caught_up && source::Reached(position, targets) &&
              (!joins() || source::Reached(payment_position, payment_targets))) ||
             (options_.max_batches > 0 && count >= options_.max_batches);
    };
    // Reads one topic's next records; draining to fixed targets, they are the ends this run
    // goes to.
    auto poll_topic = [this](source::KafkaSource* source, const source::BatchLimits& limits,
                             const std::map<int32_t, int64_t>& stop_at) -> arrow::Result<TopicPoll> {
      TopicPoll part;
      ARROW_ASSIGN_OR_RAISE(part.records, source->Poll(limits, options_.until_caught_up ? &stop_at : nullptr));
      part.next = source->positions();
      part.ends = source->KnownEnds(part.next);
      for (auto& [p, end] : part.ends) {
        auto t = stop_at.find(p);
        if (t != stop_at.end()) end = std::max(end, t->second);
      }
      return part;
    };
    auto poll = [&]() -> arrow::Result<Polled> {
      Polled polled;
      const int64_t orders_left = Remaining(source_->positions(), targets);
      ARROW_ASSIGN_OR_RAISE(polled.orders, poll_topic(source_.get(), options_.limits, targets));
      if (joins()) {
        ARROW_ASSIGN_OR_RAISE(
            polled.payments,
            poll_topic(payments_source_.get(),
                       PaymentLimits(static_cast<int64_t>(polled.orders.records.size()), orders_left,
                                     Remaining(payments_source_->positions(), payment_targets)),
                       payment_targets));
      }
      polled.ingest_time_us = NowMicros();
      return polled;
    };
    // Only the thread preparing a batch touches `polling`, one batch at a time. However this
    // function returns, `ahead` (declared after `polling`; its work takes from `polling`) is
    // closed first, then `polling`: both wait for work in flight and release records read
    // ahead, so every fetched batch is released while the source is alive.
    ReadAhead<arrow::Result<Polled>> polling;
    auto prepare_next = [&](int64_t count_before) -> arrow::Result<Prepared> {
      ARROW_ASSIGN_OR_RAISE(Polled polled, polling.valid() ? polling.Take() : poll());
      if (read_ahead &&
          !last(polled.orders.next, polled.payments ? polled.payments->next : payments_next_, count_before + 1)) {
        polling = ReadAhead<arrow::Result<Polled>>::Start(pool_.get(), "reading ahead from Kafka", poll);
      }
      // With payments, a batch may hold payments and no orders: its orders part is then
      // prepared empty, as a replay's is.
      const bool even_empty = polled.payments && !polled.payments->records.empty();
      ARROW_ASSIGN_OR_RAISE(Prepared prepared,
                            Prepare(std::move(polled.orders.records), polled.ingest_time_us, parsers, even_empty));
      prepared.next = std::move(polled.orders.next);
      prepared.ends = std::move(polled.orders.ends);
      if (polled.payments) {
        ARROW_ASSIGN_OR_RAISE(prepared.payments,
                              PreparePayments(std::move(*polled.payments), polled.ingest_time_us));
      }
      return prepared;
    };
    ReadAhead<arrow::Result<Prepared>> ahead;
    std::map<int32_t, int64_t> position = source_->positions();
    std::map<int32_t, int64_t> payment_position =
        payments_source_ ? payments_source_->positions() : std::map<int32_t, int64_t>{};
    while (!stop.load()) {
      if (last(position, payment_position, batches)) break;
      const auto started = Clock::now();
      ARROW_ASSIGN_OR_RAISE(Prepared prepared, ahead.valid() ? ahead.Take() : prepare_next(batches));
      position = prepared.next;
      if (prepared.payments) payment_position = prepared.payments->positions.next;
      if (read_ahead && !last(position, payment_position, batches + 1)) {
        ahead = ReadAhead<arrow::Result<Prepared>>::Start(pool_.get(), "preparing the next batch",
                                                          [&prepare_next, n = batches + 1] { return prepare_next(n); });
      }
      if (prepared.all_records() > 0) {
        BatchPlan plan;
        plan.batch_id = checkpoint_->LastCommitted() + 1;
        plan.topic = options_.source.topic;
        plan.ingest_time_us = prepared.ingest_time_us;
        plan.offsets = std::move(prepared.offsets);
        plan.next = std::move(prepared.next);
        plan.ends = std::move(prepared.ends);
        if (prepared.payments) plan.payments = prepared.payments->positions;
        const BatchStart start = BatchStart::Now();  // the plan's fsyncs are the batch's too
        ARROW_RETURN_NOT_OK(checkpoint_->WritePlan(plan));
        ARROW_RETURN_NOT_OK(ExecuteCounted(plan, prepared, start, /*replayed=*/false));
        next_ = plan.next;
        if (plan.payments) payments_next_ = plan.payments->next;
        ++batches;
      } else {
        // A poll that found nothing: no backlog, so the compactor may run (it waits for this
        // or a batch that caught up, and a restarted engine with no new records has no batch).
        if (compactor_) compactor_->SetBacklog(false);
        ARROW_RETURN_NOT_OK(CommitDueWhileIdle());
        if (compactor_) board_->SetCompaction(compactor_->totals());
        board_->Refresh(NowMicros(), Lag(position, payment_position), LagByPartition(*source_, position),
                        payments_source_ ? LagByPartition(*payments_source_, payment_position)
                                         : std::map<int32_t, int64_t>{});
      }
      if (!options_.until_caught_up) {
        // Processing-time trigger, as Spark's: a batch starts at most every trigger
        // interval; one that took longer is followed at once.
        // The wait is cut in slices so that a stop request is seen at once.
        const auto due = started + std::chrono::milliseconds(options_.trigger_interval_ms);
        while (!stop.load() && Clock::now() < due) {
          std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
        }
      }
    }
    // Read ahead but not processed: the checkpoint has these offsets still to do.
    ahead.Close();
    polling.Close();
    ARROW_RETURN_NOT_OK(FlushDeferredGold());
    ARROW_RETURN_NOT_OK(FlushHeldRows());
    spdlog::info("stopped after {} batch(es); last committed batch {}", batches,
                 checkpoint_->LastCommitted());
    return arrow::Status::OK();
  }

  /// Compares the settings recorded with the checkpoint with this run's and refuses a
  /// change the query cannot apply (QuerySettingsTable), before anything is written.
  arrow::Status CheckQueryChanges() {
    ARROW_ASSIGN_OR_RAISE(recorded_, ReadQueryRecord(options_.checkpoint_dir));
    ARROW_RETURN_NOT_OK(ResolveDedupScope());
    if (!recorded_) return arrow::Status::OK();
    changes_ = DiffSettings(*recorded_, RecordOf(options_));
    if (changes_.empty()) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto pending, checkpoint_->ReadPlan(checkpoint_->LastCommitted() + 1));
    // Nothing computed under the recorded settings yet: every change is simply recorded.
    if (checkpoint_->LastCommitted() < 0 && !pending) return arrow::Status::OK();
    return CheckChanges(changes_, pending ? pending->batch_id : -1, options_.checkpoint_dir);
  }

  /// Fills in an unset watermark.dedup_scope with the recorded one: "query" for a query
  /// recorded without one (its state holds the query-wide ids) and for a new query (until
  /// group mode, which needs "partition", makes that the default). A set one different from
  /// the recorded one is refused by CheckChanges, and any but "query" for a query that has
  /// run (a batch committed or planned) without a record.
  arrow::Status ResolveDedupScope() {
    constexpr const char* kKey = "watermark.dedup_scope";
    DedupScope recorded = DedupScope::kQuery;
    if (recorded_) {
      auto it = recorded_->settings.find(kKey);
      if (it != recorded_->settings.end()) {
        recorded = DedupScopeNamed(it->second);
        if (recorded == DedupScope::kRecorded) {
          return arrow::Status::Invalid("checkpoint file '", QueryRecordPath(options_.checkpoint_dir), "': ", kKey,
                                        " '", it->second, "' is neither query nor partition");
        }
      }
      // DiffSettings then sees a scope recorded by omission, and refuses another.
      recorded_->settings[kKey] = DedupScopeName(recorded);
    } else if (options_.dedup_scope == DedupScope::kPartition) {
      ARROW_ASSIGN_OR_RAISE(auto planned, checkpoint_->ReadPlan(checkpoint_->LastCommitted() + 1));
      if (checkpoint_->LastCommitted() < 0 && !planned) return arrow::Status::OK();  // a new query
      return arrow::Status::Invalid("checkpoint '", options_.checkpoint_dir, "' was started before medallion recorded ",
                                    kKey, ": its dedup state is query-wide, so it goes on with query, not partition");
    }
    if (options_.dedup_scope == DedupScope::kRecorded) options_.dedup_scope = recorded;
    return arrow::Status::OK();
  }

  /// True when the dedup horizon follows each partition's own watermark (ops::PartitionDedup).
  bool dedup_by_partition() const { return options_.dedup_scope == DedupScope::kPartition; }

  /// Records this run's settings with the checkpoint once the state is restored: for a new
  /// query, for a checkpoint without a record (the current settings are taken as the
  /// query's), and after applied changes. A longer dedup horizon sets the dedup floor:
  /// the ids before the restored watermark minus the old horizon were evicted already.
  arrow::Status RecordQuerySettings() {
    QueryRecord now = RecordOf(options_);
    if (!recorded_) {
      if (checkpoint_->LastCommitted() >= 0 || pending_replay_) {
        spdlog::warn("checkpoint {} has no {} (written before medallion recorded a query's settings): this "
                     "run's settings are recorded now as the query's, and later restarts are compared with them",
                     options_.checkpoint_dir, QueryRecordPath(options_.checkpoint_dir));
      }
      return WriteQueryRecord(options_.checkpoint_dir, now);
    }
    now.dedup_floor_us = recorded_->dedup_floor_us;
    // The ids evicted under the old horizon: before the watermark minus it, the greatest
    // partition watermark when each partition evicts by its own. The full horizon holds once
    // every watermark the dedup follows has passed the floor by the new horizon.
    const int64_t wm = dedup_by_partition() ? partition_dedup_->dedup().MaxWatermark() : watermark();
    const int64_t wm_least = dedup_by_partition() ? partition_dedup_->dedup().MinWatermark() : wm;
    for (const SettingChange& change : changes_) {
      if (checkpoint_->LastCommitted() < 0) {
        spdlog::info("query change before any batch: {} changed from {} to {}", change.setting->key,
                     change.recorded, change.current);
        continue;
      }
      spdlog::warn("query change: {}", DescribeChange(change));
      if (std::string_view(change.setting->key) != "watermark.dedup_horizon" || wm == state::Watermark::kNone) {
        continue;
      }
      const std::optional<int64_t> old_us = ParseDurationMicros(change.recorded);
      if (!old_us) return arrow::Status::Invalid("checkpoint file '", QueryRecordPath(options_.checkpoint_dir),
                                                 "': watermark.dedup_horizon '", change.recorded,
                                                 "' is not a duration");
      if (*old_us < options_.dedup_horizon_us) now.dedup_floor_us = std::max(now.dedup_floor_us, wm - *old_us);
    }
    if (now.dedup_floor_us != QueryRecord::kNoFloor && wm_least != state::Watermark::kNone &&
        wm_least - options_.dedup_horizon_us >= now.dedup_floor_us) {
      now.dedup_floor_us = QueryRecord::kNoFloor;  // the full horizon holds
    }
    dedup_floor_us_ = now.dedup_floor_us;
    if (changes_.empty() && now.dedup_floor_us == recorded_->dedup_floor_us) return arrow::Status::OK();
    return WriteQueryRecord(options_.checkpoint_dir, now);
  }

  /// Loads operator state and offsets of the last committed batch; finds a planned batch
  /// without a commit (to replay).
  arrow::Status Restore() {
    const int64_t last = checkpoint_->LastCommitted();
    if (last >= 0) {
      ARROW_ASSIGN_OR_RAISE(auto plan, checkpoint_->ReadPlan(last));
      if (!plan) {
        const arrow::Status missing =
            MissingCheckpointFile(last, "offsets/" + std::to_string(last),
                                  "batch " + std::to_string(last) + " is committed but its offsets file is missing");
        return missing.WithMessage("checkpoint '", options_.checkpoint_dir, "': ", missing.message());
      }
      if (plan->topic != options_.source.topic) {
        return arrow::Status::Invalid("checkpoint '", options_.checkpoint_dir, "' belongs to topic '",
                                      plan->topic, "', not '", options_.source.topic, "'");
      }
      if (plan->payments && plan->payments->topic != options_.payments_topic) {
        return arrow::Status::Invalid("checkpoint '", options_.checkpoint_dir, "' joins payments topic '",
                                      plan->payments->topic, "', not '", options_.payments_topic, "'");
      }
      ARROW_RETURN_NOT_OK(RestoreState(last));
      DropCommittedPending(last);
      next_ = plan->next;
      if (plan->payments) payments_next_ = plan->payments->next;
    }
    ARROW_ASSIGN_OR_RAISE(pending_replay_, checkpoint_->ReadPlan(last + 1));
    ARROW_RETURN_NOT_OK(tables_.CheckInStep(checkpoint_->query_id(), last, pending_replay_.has_value(), table_progress_,
                                            options_.checkpoint_dir));
    if (pending_replay_) ARROW_RETURN_NOT_OK(CheckAttempts(*pending_replay_));
    spdlog::info("checkpoint {}: query {}, last committed batch {}{}", options_.checkpoint_dir,
                 checkpoint_->query_id(), last, pending_replay_ ? ", one planned batch to replay" : "");
    return arrow::Status::OK();
  }

  /// Refuses to try planned batch `plan` again once it failed kMaxBatchAttempts times.
  arrow::Status CheckAttempts(const BatchPlan& plan) {
    ARROW_ASSIGN_OR_RAISE(const BatchAttempts attempts, checkpoint_->ReadAttempts(plan.batch_id));
    if (attempts.failures < kMaxBatchAttempts) return arrow::Status::OK();
    const std::string& dir = options_.checkpoint_dir;
    return arrow::Status::Invalid(
               "batch ", plan.batch_id, " (offsets ", DescribeRanges(plan), ") has failed ", attempts.failures,
               " times; the last error: ", attempts.last_error,
               ". medallion does not try it again: a batch that fails every time is a lasting "
               "infrastructure problem or an engine bug, and retrying would loop. What to do: keep a copy "
               "of the checkpoint directory '", dir, "' and this log for a bug report; if the cause was "
               "outside medallion (disk full, permissions, the broker) and is fixed, remove '",
               checkpoint_->AttemptsPath(plan.batch_id), "' and start again; to give up this checkpoint, "
               "start with a new checkpoint directory and a new data directory (the topic is read again "
               "from kafka.starting_offsets)")
        .WithDetail(std::make_shared<BatchGivenUpDetail>());
  }

  /// When a batch began, from before its plan was written: its seconds and the slow fsyncs
  /// its log line names count the plan's fsyncs too (a stalled disk shows there first, as it
  /// is the batch's first write).
  struct BatchStart {
    Clock::time_point time;
    DiskSyncTotals syncs;
    static BatchStart Now() { return {Clock::now(), DiskSyncs()}; }
  };

  /// Runs planned batch `plan` and, if it fails (an error or an exception), records the
  /// failure as an attempt of that batch. Only the batch's own work counts: a broker that is
  /// down, a failed login or records deleted before they were read fail the run before this
  /// point and are fixed outside the data, so they never use up a batch's attempts.
  arrow::Status ExecuteCounted(const BatchPlan& plan, const Prepared& prepared, const BatchStart& start,
                               bool replayed) {
    arrow::Status st = Guarded("batch", [&] { return ExecuteBatch(plan, prepared, start, replayed); });
    if (st.ok()) return st;
    auto attempts = checkpoint_->RecordFailedAttempt(plan.batch_id, st.ToString());
    if (!attempts.ok()) {
      spdlog::error("batch {} failed; its failed attempt could not be recorded: {}", plan.batch_id,
                    attempts.status().ToString());
    } else if (attempts->failures >= kMaxBatchAttempts) {
      spdlog::error("batch {} failed {} times (recorded in {}): the next start stops before it, exit code 3",
                    plan.batch_id, attempts->failures, checkpoint_->AttemptsPath(plan.batch_id));
    } else {
      spdlog::error("batch {} failed (attempt {} of {}, recorded in {}); a restart replays it", plan.batch_id,
                    attempts->failures, kMaxBatchAttempts, checkpoint_->AttemptsPath(plan.batch_id));
    }
    return st;
  }

 private:
  /// The operator state after batch `b` (state/<b>). The parts that grow with the stream
  /// (id sets, per-product and per-customer totals) are written as deltas, and whole when
  /// EngineState's cadence says (about each time they have doubled).
  std::string SerializeState(int64_t b) { return state_->SerializeBatch(b); }

  /// The error for a checkpoint file that restoring batch `last` needs and did not find: `why`,
  /// or, when a batch after `last` was committed since this process listed the checkpoint, that
  /// another process is using it (without a lock, on an object store, a process started beside
  /// a running one can find the files it listed pruned by the other).
  arrow::Status MissingCheckpointFile(int64_t last, const std::string& file, const std::string& why) {
    auto now = LastCommittedBatch(options_.checkpoint_dir);
    if (now.ok() && *now > last) {
      return arrow::Status::Invalid(file, " was removed while this process read the checkpoint, and batch ", *now,
                                    " was committed meanwhile: another medallion process is using this checkpoint "
                                    "right now. Stop one");
    }
    return arrow::Status::Invalid(why);
  }

  /// Restores every operator to its state after batch `last` (EngineState::Restore).
  arrow::Status RestoreState(int64_t last) {
    arrow::Status st = state_->Restore(last, [this, last](int64_t id) -> arrow::Result<std::string> {
      ARROW_ASSIGN_OR_RAISE(auto bytes, checkpoint_->ReadState(id));
      if (!bytes) {
        const std::string file = "state/" + std::to_string(id);
        return MissingCheckpointFile(last, file, file + " is missing; the state of the last commit cannot be rebuilt");
      }
      return std::move(*bytes);
    });
    if (st.ok()) return st;
    return st.WithMessage("checkpoint '", options_.checkpoint_dir, "': ", st.message());
  }

  /// The batch's operators, in the order they run (the dedup scope is known by now).
  void MakeChain() {
    watermark_ = chain_.Emplace<WatermarkOperator>(options_.allowed_lateness_us, options_.idle_timeout_us,
                                                   WatermarkOperator::Input::kEvents);
    if (dedup_by_partition()) {
      partition_dedup_ = chain_.Emplace<PartitionDedupOperator>(options_.allowed_lateness_us,
                                                                options_.dedup_horizon_us, options_.window_size_us);
    } else {
      query_dedup_ = chain_.Emplace<QueryDedupOperator>(options_.dedup_horizon_us, options_.window_size_us);
    }
    chain_.Emplace<FlattenOperator>();
    gold_ = chain_.Emplace<GoldAggregates>(window_, options_.top_n, options_.output_mode == "update");
    if (joins()) {
      join_ = chain_.Emplace<PaymentJoinOperator>(
          options_.allowed_lateness_us, options_.idle_timeout_us, options_.dedup_horizon_us,
          ops::PaymentJoinOptions{.before_us = options_.payment_before_us, .after_us = options_.payment_after_us});
    }
  }

  /// The operators' state, and the engine's own parts: what each table holds and the side
  /// tables' rows held back.
  std::unique_ptr<EngineState> MakeEngineState() {
    std::vector<StatePart> parts = chain_.StateParts();
    parts.push_back(WholeState("table_progress", &table_progress_));
    parts.push_back(IncrementalState("pending_quarantine", &pending_quarantine_));
    parts.push_back(IncrementalState("pending_late", &pending_late_));
    parts.push_back(WholeState("held_bronze", &held_bronze_));
    return std::make_unique<EngineState>(std::move(parts));
  }

  /// The query watermark (state::Watermark::kNone before any event).
  int64_t watermark() const { return watermark_->watermark().current(); }

  /// Writes and commits the payments side's tables for batch `b`: Bronze and Quarantine of
  /// the payments topic, the matches and the reconciliation rows.
  arrow::Status WritePaymentTables(int64_t b, const BatchPlan& plan, const PreparedPayments& payments,
                                   const ops::JoinOutput& joined) {
    const std::string& app = checkpoint_->query_id();
    const sink::SourceTxns sources = PartitionTxns(app, options_.payments_topic, plan.payments->offsets);
    ARROW_RETURN_NOT_OK(
        tables_.bronze_payments->Append(app, b, {BronzePart(plan.ingest_time_us, payments.bronze)}, sources));
    ARROW_RETURN_NOT_OK(tables_.quarantine_payments->Append(app, b, {{{}, payments.parsed.quarantine}}, sources));
    ARROW_ASSIGN_OR_RAISE(auto matches, SplitByDate(joined.matches, "order_time", "order_date"));
    ARROW_RETURN_NOT_OK(tables_.order_payments->Append(app, b, matches));
    return tables_.reconciliation->Append(app, b, {{{}, joined.reconciliation}});
  }

  /// Writes and commits every table but Bronze for batch `b`; `watermark_before` is the
  /// watermark the batch was judged by (the one after the batch before).
  arrow::Status WriteDerivedTables(int64_t b, const sink::SourceTxns& sources, const format::ParseResult& parsed,
                                   const std::shared_ptr<arrow::RecordBatch>& silver,
                                   const std::shared_ptr<arrow::RecordBatch>& late_final,
                                   const std::shared_ptr<arrow::RecordBatch>& late_horizon,
                                   const std::shared_ptr<arrow::RecordBatch>& final_windows,
                                   int64_t watermark_before) {
    const std::string& app = checkpoint_->query_id();
    const bool side_due = TakeDue(&last_side_commit_, options_.side_commit_interval_us);
    pending_quarantine_.Add({parsed.quarantine}, sources);
    ARROW_RETURN_NOT_OK(CommitHeldIfDue(HeldQuarantine(), b, side_due));
    ARROW_ASSIGN_OR_RAISE(auto silver_parts, SplitByDate(silver, "event_time", "event_date"));
    ARROW_RETURN_NOT_OK(tables_.silver->Append(app, b, silver_parts, sources));
    pending_late_.Add({late_final, late_horizon}, sources);
    ARROW_RETURN_NOT_OK(CommitHeldIfDue(HeldLate(), b, side_due));
    FaultPoint("batch.before_gold");
    // The aggregates change only with Silver lines (and windows also when they close): a
    // batch without either leaves the Gold tables as they are, uncommitted. The first batch of
    // a run writes them anyway, so a switch of output mode takes effect at once. A batch that
    // closes a window commits the windows table (its final rows are not held anywhere else);
    // the snapshots wait for gold_commit_interval all the same.
    const bool aggregates_changed = silver->num_rows() > 0 || !gold_written_;
    const bool windows_closed = final_windows->num_rows() > 0;
    const bool due = GoldDue();
    if (aggregates_changed && !due) gold_deferred_ = true;
    const bool snapshots = due && (aggregates_changed || gold_deferred_);
    if (windows_closed || snapshots) {
      // The live open rows are those of windows still open after the batch before.
      ARROW_RETURN_NOT_OK(gold_->CommitWindows(tables_, app, b, final_windows, watermark_before));
    }
    if (snapshots) ARROW_RETURN_NOT_OK(CommitGoldSnapshots(b));
    gold_written_ = true;
    return arrow::Status::OK();
  }

  /// A table whose rows are held between its commits (HeldRows): Quarantine and Late
  /// (side_commit_interval), Bronze (bronze_commit_interval).
  struct Held {
    sink::Table* table;
    HeldRows* pending;
    /// Bronze: on bronze_commit_interval, its rows to the partitions of their ingest hour.
    /// The side tables have no partitions.
    bool bronze = false;
  };
  Held HeldQuarantine() { return {tables_.quarantine.get(), &pending_quarantine_}; }
  Held HeldLate() { return {tables_.late.get(), &pending_late_}; }
  Held HeldBronzeRows() { return {tables_.bronze.get(), &held_bronze_, true}; }
  std::array<Held, 3> HeldTables() { return {HeldQuarantine(), HeldLate(), HeldBronzeRows()}; }

  /// Commits the rows `held` holds (the batch's added), as batch `b`, when `due` (its
  /// interval has passed), when they are as many as it holds back (full), or when the table
  /// already holds batch `b`: a replay of a batch whose earlier attempt committed them (the
  /// commit is then a no-op and the rows are dropped). A replay restores the rows held
  /// before the batch, so it commits the same rows whatever it decides.
  arrow::Status CommitHeldIfDue(const Held& held, int64_t b, bool due) {
    if (held.pending->empty()) return arrow::Status::OK();
    const std::string& app = checkpoint_->query_id();
    if (!due && !held.pending->full() && held.table->CommittedBatch(app) < b) return arrow::Status::OK();
    return CommitHeld(held, b);
  }

  arrow::Status CommitHeld(const Held& held, int64_t b) {
    ARROW_ASSIGN_OR_RAISE(auto all, held.pending->Rows());
    std::vector<sink::PartitionedBatch> parts{{{}, all}};
    if (held.bronze) {
      ARROW_ASSIGN_OR_RAISE(parts, BronzeParts(all));
    }
    ARROW_RETURN_NOT_OK(held.table->Append(checkpoint_->query_id(), b, parts, held.pending->sources()));
    held.pending->Clear();
    return arrow::Status::OK();
  }

  /// After the state of batch `last` is restored: rows it held for a table that the table
  /// already holds (a run that ended after `last` committed them, as batch `last`) are
  /// dropped. A table at an older batch has not got them.
  void DropCommittedPending(int64_t last) {
    const std::string& app = checkpoint_->query_id();
    for (const Held& held : HeldTables()) {
      if (!held.pending->empty() && held.table->CommittedBatch(app) >= last) held.pending->Clear();
    }
  }

  /// After a restore: reads the Bronze rows the last committed batch held again from the
  /// topic, batch by batch, as a planned batch is replayed (records deleted since are data
  /// loss, KafkaSource::Replay).
  arrow::Status RefillHeldBronze() {
    if (!held_bronze_.needs_refill()) return arrow::Status::OK();
    spdlog::info("reading the {} batch(es) Bronze held at the last commit again from {}",
                 held_bronze_.batches().size(), options_.source.topic);
    auto read = [this](const std::vector<const HeldBronze::Batch*>& held)
        -> arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> {
      std::vector<source::BatchOffsets> offsets;
      for (const HeldBronze::Batch* b : held) offsets.push_back(b->offsets);
      ARROW_ASSIGN_OR_RAISE(std::vector<source::FetchedRecords> records, source_->Replay(offsets, kBrokerWaitMs));
      std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
      for (size_t i = 0; i < held.size(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto batch, BronzeFromRecords(records[i], options_.source.topic, held[i]->ingest_time_us));
        rows.push_back(std::move(batch));
      }
      return rows;
    };
    const auto begin = Clock::now();
    ARROW_RETURN_NOT_OK(held_bronze_.Refill(read));
    spdlog::info("read {} held Bronze row(s) again in {:.3f} s", held_bronze_.num_rows(),
                 std::chrono::duration<double>(Clock::now() - begin).count());
    return arrow::Status::OK();
  }

  /// Before a run ends: commits the rows held for every table as of the last committed batch.
  arrow::Status FlushHeldRows() {
    const int64_t b = checkpoint_->LastCommitted();
    for (const Held& held : HeldTables()) {
      if (held.pending->empty() || b < 0) continue;
      spdlog::info("committing {} {} row(s) held by {}, as of batch {}", held.pending->num_rows(),
                   held.table->name(), held.bronze ? "bronze_commit_interval" : "side_commit_interval", b);
      ARROW_RETURN_NOT_OK(CommitHeld(held, b));
    }
    return arrow::Status::OK();
  }

  /// Whether a batch that changed the Gold aggregates commits them (a batch that closes a
  /// window commits the windows table in any case): always with no gold_commit_interval,
  /// the first batch of a run, and otherwise once the interval (or the longer wait that
  /// gold_snapshot_share made of the last snapshots' cost) has passed since the last Gold commit.
  bool GoldDue() const {
    return !gold_written_ ||
           IntervalPassed(last_gold_commit_, std::max(options_.gold_commit_interval_us, gold_snapshot_wait_us_));
  }

  /// Before a run ends (caught up, its batch count reached, or stopped): commits the Gold
  /// snapshots a gold_commit_interval deferred, as of the last committed batch, so that a
  /// finished run leaves Gold in step with Silver. Also after a restart that ran no batch:
  /// the run before may have been killed with Gold deferred; and while the stream is idle,
  /// once the interval has passed (CommitDueWhileIdle). The windows' open rows are
  /// found by the current watermark: no window closed since the windows table's last commit
  /// (a batch that closes one commits it), so every final row is at or before it and every
  /// open row after it. The checkpoint recorded Gold's older batch for the last one, which
  /// CheckInStep accepts for these tables.
  arrow::Status FlushDeferredGold(std::string_view when = "before the run ends") {
    const int64_t b = checkpoint_->LastCommitted();
    if (options_.gold_commit_interval_us <= 0 || b < 0) return arrow::Status::OK();
    const std::string& app = checkpoint_->query_id();
    const bool behind = tables_.gold_top->CommittedBatch(app) < b ||
                        tables_.gold_customers->CommittedBatch(app) < b ||
                        tables_.gold_windows->CommittedBatch(app) < b;
    if (!gold_deferred_ && !(behind && !gold_written_)) return arrow::Status::OK();
    ARROW_RETURN_NOT_OK(gold_->CommitWindows(tables_, app, b, /*final_rows=*/nullptr, watermark()));
    ARROW_RETURN_NOT_OK(CommitGoldSnapshots(b));
    spdlog::info("committed the Gold snapshots deferred by gold commit_interval, as of batch {}, {}", b, when);
    return arrow::Status::OK();
  }

  /// Commits the Gold snapshots (top products, customer spend) as of batch `b`, and from the
  /// time they took sets how long the next must wait at least (gold_snapshot_share).
  arrow::Status CommitGoldSnapshots(int64_t b) {
    const auto started = Clock::now();
    ARROW_RETURN_NOT_OK(gold_->CommitSnapshots(tables_, checkpoint_->query_id(), b));
    last_gold_commit_ = Clock::now();
    gold_deferred_ = false;
    if (options_.gold_commit_interval_us <= 0) return arrow::Status::OK();
    const auto took_us = std::chrono::duration_cast<std::chrono::microseconds>(last_gold_commit_ - started).count();
    const auto wait_us = static_cast<int64_t>(static_cast<double>(took_us) / options_.gold_snapshot_share);
    // Said when the wait has doubled or halved since it was last said (at first: the interval).
    const int64_t wait = std::max(wait_us, options_.gold_commit_interval_us);
    const int64_t said = std::max(gold_said_wait_us_, options_.gold_commit_interval_us);
    if (wait >= 2 * said || 2 * wait <= said) {
      spdlog::info("the Gold snapshots took {:.3f} s as of batch {}: the next waits {:.1f} s at the earliest "
                   "(gold snapshot_share {}, commit_interval {:.1f} s)",
                   took_us / 1e6, b, wait / 1e6, options_.gold_snapshot_share, options_.gold_commit_interval_us / 1e6);
      gold_said_wait_us_ = wait;
    }
    gold_snapshot_wait_us_ = wait_us;
    return arrow::Status::OK();
  }

  /// A poll that found nothing: commits, as of the last committed batch, what the intervals
  /// made due meanwhile (held rows, deferred Gold), so that a stream gone quiet leaves no
  /// table behind Silver for longer than its interval. A restart then finds these tables at
  /// that batch, which the state of that batch still holds back: it drops them
  /// (DropCommittedPending; Gold is not deferred in any state).
  arrow::Status CommitDueWhileIdle() {
    const int64_t b = checkpoint_->LastCommitted();
    if (b < 0) return arrow::Status::OK();
    const bool bronze_due = !held_bronze_.empty() && TakeDue(&last_bronze_commit_, options_.bronze_commit_interval_us);
    const bool side_due = (!pending_quarantine_.empty() || !pending_late_.empty()) &&
                          TakeDue(&last_side_commit_, options_.side_commit_interval_us);
    for (const Held& held : HeldTables()) {
      if (held.pending->empty() || !(held.bronze ? bronze_due : side_due)) continue;
      spdlog::info("committing {} {} row(s) held since the stream went idle, as of batch {}", held.pending->num_rows(),
                   held.table->name(), b);
      ARROW_RETURN_NOT_OK(CommitHeld(held, b));
    }
    if (gold_deferred_ && GoldDue()) ARROW_RETURN_NOT_OK(FlushDeferredGold("while the stream is idle"));
    return arrow::Status::OK();
  }

  /// Parses the Bronze batch in up to `parsers` slices at once (one parser each) and
  /// concatenates the results in slice order: the same rows, in the same order, as one
  /// parser would give.
  arrow::Result<format::ParseResult> ParseInParallel(const std::shared_ptr<arrow::RecordBatch>& bronze,
                                                     int parsers) {
    const int64_t n = bronze->num_rows();
    const auto slices = static_cast<int>(std::min<int64_t>(parsers, std::max<int64_t>(1, n / 4096)));
    if (slices <= 1) return parsers_[0]->Parse(*bronze);
    std::vector<ReadAhead<arrow::Result<format::ParseResult>>> parts;
    for (int i = 0; i < slices; ++i) {
      const int64_t begin = n * i / slices, end = n * (i + 1) / slices;
      auto slice = bronze->Slice(begin, end - begin);
      parts.push_back(ReadAhead<arrow::Result<format::ParseResult>>::Start(
          pool_.get(), "parsing", [this, i, slice] { return parsers_[i]->Parse(*slice); }));
    }
    arrow::RecordBatchVector events, quarantine;
    arrow::Status status;
    for (auto& part : parts) {
      auto r = part.Take();
      if (!r.ok()) {
        status = r.status();
        continue;
      }
      events.push_back(r->events);
      quarantine.push_back(r->quarantine);
    }
    ARROW_RETURN_NOT_OK(status);
    format::ParseResult result;
    ARROW_ASSIGN_OR_RAISE(result.events, arrow::ConcatenateRecordBatches(events));
    ARROW_ASSIGN_OR_RAISE(result.quarantine, arrow::ConcatenateRecordBatches(quarantine));
    return result;
  }

  /// Copies the records into a Bronze batch, releases them, and parses the batch on
  /// `parsers` threads. No records give an empty Prepared without batches, unless
  /// `even_empty` (a batch that must run): then its Bronze and parse results are empty.
  arrow::Result<Prepared> Prepare(source::FetchedRecords records, int64_t ingest_time_us, int parsers,
                                  bool even_empty = false) {
    const auto started = Clock::now();
    Prepared prepared;
    prepared.offsets = records.offsets();
    prepared.ingest_time_us = ingest_time_us;
    prepared.records = static_cast<int64_t>(records.size());
    if (records.empty() && !even_empty) return prepared;
    ARROW_ASSIGN_OR_RAISE(prepared.bronze, BronzeFromRecords(records, options_.source.topic, ingest_time_us));
    records = source::FetchedRecords();  // frees the fetched buffers before parsing
    ARROW_ASSIGN_OR_RAISE(prepared.parsed, ParseInParallel(prepared.bronze, parsers));
    prepared.parse_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    FaultPoint("batch.after_prepare");
    return prepared;
  }

  /// Copies the payments records into their Bronze batch, releases them, and parses it.
  arrow::Result<PreparedPayments> PreparePayments(TopicPoll side, int64_t ingest_time_us) {
    PreparedPayments out;
    out.positions.topic = options_.payments_topic;
    out.positions.offsets = side.records.offsets();
    out.positions.next = std::move(side.next);
    out.positions.ends = std::move(side.ends);
    out.records = static_cast<int64_t>(side.records.size());
    ARROW_ASSIGN_OR_RAISE(out.bronze, BronzeFromRecords(side.records, options_.payments_topic, ingest_time_us));
    side.records = source::FetchedRecords();
    ARROW_ASSIGN_OR_RAISE(out.parsed, payment_parser_->Parse(*out.bronze));
    return out;
  }

  arrow::Status ExecuteBatch(const BatchPlan& plan, const Prepared& prepared, const BatchStart& start,
                             bool replayed) {
    BatchReport report;
    report.batch_id = plan.batch_id;
    report.records = prepared.records;
    report.replayed = replayed;
    report.parse_seconds = prepared.parse_seconds;
    const std::string& app = checkpoint_->query_id();
    const int64_t b = plan.batch_id;
    const format::ParseResult& parsed = prepared.parsed;
    const std::shared_ptr<arrow::RecordBatch>& bronze = prepared.bronze;

    // Every operator consumes the batch, then every one finishes it: the dedup, Silver's
    // lines and the Gold aggregates judged by the watermark of the batches before, which then
    // moves; the windows it closed, the ids it left a horizon behind, the join's decisions.
    BatchFlow flow;
    flow.batch_id = b;
    flow.clock_us = plan.ingest_time_us;
    flow.behind = plan.Behind();
    flow.dedup_floor_us = dedup_floor_us_;
    flow.events = parsed.events;
    if (joins()) {
      flow.payments = prepared.payments->parsed.events;
      if (plan.payments) flow.payments_behind = plan.payments->Behind();
    }
    ARROW_RETURN_NOT_OK(chain_.Run(&flow));
    const std::shared_ptr<arrow::RecordBatch>& silver = flow.silver;
    const std::shared_ptr<arrow::RecordBatch>& late_final = flow.late_final;
    const std::shared_ptr<arrow::RecordBatch>& late_horizon = flow.late_horizon;
    const ops::JoinOutput& joined = flow.joined;
    if (joins()) {
      report.join = true;
      report.payment_records = prepared.payments->records;
      report.payments_quarantined = prepared.payments->parsed.quarantine->num_rows();
      report.join_matches = joined.matches->num_rows();
      ARROW_ASSIGN_OR_RAISE(report.reconciliation_by_reason, CountReasons(*joined.reconciliation, "reason"));
      report.join_orders_waiting = join_->unmatched_orders();
      report.join_payments_waiting = join_->unmatched_payments();
    }
    report.quarantined = parsed.quarantine->num_rows();
    report.events = parsed.events->num_rows();
    report.paid_new = static_cast<int64_t>(flow.fresh.size());
    report.silver_lines = silver->num_rows();
    report.late_lines = late_final->num_rows() + late_horizon->num_rows();
    report.dedup_state = dedup_by_partition() ? partition_dedup_->dedup().size() : query_dedup_->size();
    report.open_windows = gold_->open_windows();
    report.watermark_us = flow.watermark_after;
    FaultPoint("batch.after_compute");

    const auto written_from = Clock::now();
    const sink::SourceTxns sources = PartitionTxns(app, plan.topic, plan.offsets);
    // Bronze, the largest file, is written on a second thread while the other tables are
    // written here; every table commits on its own, so their order does not matter.
    // With one thread the pool has none, and Take writes Bronze here, after the others.
    const bool bronze_due = TakeDue(&last_bronze_commit_, options_.bronze_commit_interval_us);
    held_bronze_.Add(bronze, plan.ingest_time_us, plan.offsets, sources);
    auto bronze_done = ReadAhead<arrow::Status>::Start(pool_.get(), "writing Bronze", [&] {
      return CommitHeldIfDue(HeldBronzeRows(), b, bronze_due);
    });
    arrow::Status others = WriteDerivedTables(b, sources, parsed, silver, late_final, late_horizon, flow.final_windows,
                                              flow.watermark_before);
    if (others.ok() && joins()) others = WritePaymentTables(b, plan, *prepared.payments, joined);
    ARROW_RETURN_NOT_OK(bronze_done.Take());
    ARROW_RETURN_NOT_OK(others);
    report.write_seconds = std::chrono::duration<double>(Clock::now() - written_from).count();
    table_progress_.Record(tables_, app);

    const std::string state_bytes = SerializeState(b);
    report.state_bytes = static_cast<int64_t>(state_bytes.size());
    ARROW_RETURN_NOT_OK(checkpoint_->Commit(b, state_bytes));
    checkpoint_->Prune(b, options_.retain_batches, state_->last_full());
    source_->CommitForMonitoring(plan.next);
    if (compactor_) compactor_->SetBacklog(!plan.Behind().empty());
    report.lag = Lag(plan.next, plan.payments ? plan.payments->next : payments_next_);
    report.lag_by_partition = LagByPartition(*source_, plan.next);
    if (payments_source_) {
      report.payments_lag_by_partition =
          LagByPartition(*payments_source_, plan.payments ? plan.payments->next : payments_next_);
    }
    ARROW_ASSIGN_OR_RAISE(report.quarantined_by_reason, CountReasons(*parsed.quarantine, "error"));
    if (late_final->num_rows() > 0) report.late_by_reason["window_final"] = late_final->num_rows();
    if (late_horizon->num_rows() > 0) report.late_by_reason["beyond_dedup_horizon"] = late_horizon->num_rows();
    report.tables = TableSizes(tables_.All());

    report.seconds = std::chrono::duration<double>(Clock::now() - start.time).count();
    spdlog::info(
        "batch {}{}: {} records, {} quarantined, {} events, {} new PAID, {} silver lines, "
        "{} late lines, watermark {}, state: {} dedup ids, {} open window groups, {} bytes, "
        "{:.3f} s (write {:.3f}; Bronze built and parsed before in {:.3f}), lag {}",
        report.batch_id, report.replayed ? " (replayed)" : "", report.records, report.quarantined,
        report.events, report.paid_new, report.silver_lines, report.late_lines,
        report.watermark_us == state::Watermark::kNone ? std::string("none")
                                                       : FormatIso8601Micros(report.watermark_us),
        report.dedup_state, report.open_windows, report.state_bytes, report.seconds,
        report.write_seconds, report.parse_seconds,
        report.lag < 0 ? std::string("unknown") : std::to_string(report.lag) + " records");
    // The process's fsyncs while the batch ran (its plan's, the compactor's and the Bronze
    // thread's included).
    if (auto stall = DiskStallSince(start.syncs)) spdlog::warn("batch {}: {}", report.batch_id, *stall);
    if (report.join) {
      const int64_t join_wm = join_->JoinWatermark(watermark());
      std::string reasons;
      for (const auto& [reason, n] : report.reconciliation_by_reason) {
        reasons += (reasons.empty() ? "" : ", ") + std::to_string(n) + " " + reason;
      }
      spdlog::info("batch {} payments: {} records, {} quarantined, {} matched, reconciliation: {}; "
                   "join state: {} orders and {} payments waiting, watermark {}",
                   report.batch_id, report.payment_records, report.payments_quarantined, report.join_matches,
                   reasons.empty() ? "none" : reasons, report.join_orders_waiting, report.join_payments_waiting,
                   join_wm == state::Watermark::kNone ? std::string("none") : FormatIso8601Micros(join_wm));
    }
    if (compactor_) board_->SetCompaction(compactor_->totals());
    board_->RecordBatch(report, NowMicros());
    return arrow::Status::OK();
  }

  /// Records the orders topic holds beyond `next` and, with a payment join, the payments
  /// topic beyond `payments_next`, as last seen in fetch responses; -1 while either is not
  /// known. Readiness and the lag alert then wait for both topics.
  int64_t Lag(const std::map<int32_t, int64_t>& next, const std::map<int32_t, int64_t>& payments_next) const {
    const int64_t orders = source_->Lag(next);
    if (!payments_source_ || orders < 0) return orders;
    const int64_t payments = payments_source_->Lag(payments_next);
    return payments < 0 ? -1 : orders + payments;
  }

  PipelineOptions options_;
  ops::WindowSpec window_;
  std::unique_ptr<Checkpoint> checkpoint_;
  std::shared_ptr<StatusBoard> board_;
  std::unique_ptr<source::KafkaSource> source_;
  Tables tables_;
  /// The batch each table holds after the last batch (a batch commits only where it writes).
  TableProgress table_progress_;
  /// Whether this run has written the Gold tables yet.
  bool gold_written_ = false;
  /// A batch changed the Gold aggregates without committing them (gold_commit_interval), and
  /// when the last Gold commit was.
  bool gold_deferred_ = false;
  Clock::time_point last_gold_commit_;
  /// How long after last_gold_commit_ the next Gold snapshots wait at least by their cost
  /// (CommitGoldSnapshots; gold_commit_interval applies when longer), and the wait last logged.
  int64_t gold_snapshot_wait_us_ = 0;
  int64_t gold_said_wait_us_ = 0;
  /// Quarantine's and Late's rows held for side_commit_interval, and when they were last due.
  PendingAppends pending_quarantine_{format::QuarantineSchema(), kMaxHeldSideBytes};
  PendingAppends pending_late_{format::LateSchema(), kMaxHeldSideBytes};
  Clock::time_point last_side_commit_;
  /// Bronze's rows held for bronze_commit_interval, and when they were last due. At most
  /// 8 MiB, about 13,000 messages of the bench's 640 bytes (the interval decides below about
  /// 10,000 events/s at the default second; a catch-up batch, larger, is committed at once),
  /// and 64 batches, the Kafka reads a restart makes to hold them again.
  HeldBronze held_bronze_{8 << 20, 64};
  Clock::time_point last_bronze_commit_;
  std::vector<std::unique_ptr<format::EventParser>> parsers_;
  /// The batch's operators (MakeChain), and the ones the engine reports on or commits from:
  /// the watermark, the dedup of a query with watermark.dedup_scope "query" or the one of
  /// "partition" (the other is null), the Gold windows, top products and customer spend, and
  /// the payment join (null unless the query joins payments).
  OperatorChain chain_;
  WatermarkOperator* watermark_ = nullptr;
  QueryDedupOperator* query_dedup_ = nullptr;
  PartitionDedupOperator* partition_dedup_ = nullptr;
  GoldAggregates* gold_ = nullptr;
  PaymentJoinOperator* join_ = nullptr;
  /// The payments side (used only when the query joins payments): its source and parser.
  std::unique_ptr<source::KafkaSource> payments_source_;
  std::unique_ptr<format::PaymentParser> payment_parser_;
  std::map<int32_t, int64_t> payments_next_;
  /// Every operator's state, as the checkpoint writes and restores it.
  std::unique_ptr<EngineState> state_;
  std::map<int32_t, int64_t> next_;
  std::optional<BatchPlan> pending_replay_;
  /// The settings recorded with the checkpoint (nullopt: none yet) and this run's changes.
  std::optional<QueryRecord> recorded_;
  std::vector<SettingChange> changes_;
  int64_t dedup_floor_us_ = QueryRecord::kNoFloor;
  /// Merges the append tables' small files on a thread of its own (null when off).
  std::unique_ptr<Compactor> compactor_;
  /// The threads of the read-ahead, the parse slices and the Bronze writer: none with one
  /// thread (the work runs on the engine thread), else `threads` and at least three (a
  /// batch prepared, one read from Kafka, Bronze written, all at once). Declared last, so it
  /// is destroyed first, while everything its tasks use is alive.
  std::unique_ptr<TaskPool> pool_;
};

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::~Pipeline() = default;

arrow::Result<std::unique_ptr<Pipeline>> Pipeline::Make(const PipelineOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto window, ops::WindowSpec::Make(options.window_size_us, options.window_slide_us));
  auto impl = std::make_unique<Impl>(options, window);
  ARROW_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

std::shared_ptr<StatusBoard> Pipeline::status_board() const { return impl_->board(); }

arrow::Status Pipeline::Run(const std::atomic<bool>& stop) {
  return Guarded("the micro-batch loop", [&] { return impl_->Run(stop); });
}

}  // namespace medallion::engine
