#include "engine/group_stage.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <spdlog/spdlog.h>

#include "common/check.h"
#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/time_util.h"
#include "common/uuid.h"
#include "engine/batch_operators.h"
#include "engine/bronze_batch.h"
#include "engine/checkpoint.h"
#include "engine/operator.h"
#include "engine/partition_state_files.h"
#include "engine/partitioning.h"
#include "engine/read_ahead.h"
#include "engine/status_board.h"
#include "engine/tables.h"
#include "format/event_parser.h"
#include "format/schemas.h"
#include "sink/delta_transaction.h"
#include "source/kafka_source.h"
#include "state/watermark.h"

namespace medallion::engine {
namespace {

using Clock = std::chrono::steady_clock;

/// How long start-up waits for the broker.
constexpr int kBrokerWaitMs = 60000;

/// Each partition's first offset that a table still needs: its txn for the partition.
/// Rows of a partition below it are in the table already (absent: none are).
using Floors = std::map<int32_t, int64_t>;

/// The rows of `batch` at or past their partition's floor (columns `partition_column`,
/// `offset_column`); `batch` itself when no row is below one.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> FromFloors(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                              const Floors& floors, const char* partition_column,
                                                              const char* offset_column) {
  if (floors.empty() || batch->num_rows() == 0) return batch;
  auto partitions = std::static_pointer_cast<arrow::Int32Array>(batch->GetColumnByName(partition_column));
  auto offsets = std::static_pointer_cast<arrow::Int64Array>(batch->GetColumnByName(offset_column));
  arrow::BooleanBuilder keep;
  ARROW_RETURN_NOT_OK(keep.Reserve(batch->num_rows()));
  bool dropped = false;
  for (int64_t i = 0; i < batch->num_rows(); ++i) {
    auto floor = floors.find(partitions->Value(i));
    const bool kept = floor == floors.end() || offsets->Value(i) >= floor->second;
    dropped = dropped || !kept;
    keep.UnsafeAppend(kept);
  }
  if (!dropped) return batch;
  ARROW_ASSIGN_OR_RAISE(auto mask, keep.Finish());
  ARROW_ASSIGN_OR_RAISE(auto filtered, arrow::compute::Filter(batch, mask));
  return filtered.record_batch();
}

/// The ranges of `offsets` whose end is past their partition's floor in a table: the
/// partitions whose txn that table's commit records (a table already past a partition's batch
/// end must not have its txn moved back).
source::BatchOffsets PastFloors(const source::BatchOffsets& offsets, const Floors& floors) {
  source::BatchOffsets out;
  for (const auto& [p, range] : offsets) {
    auto floor = floors.find(p);
    if (floor == floors.end() || range.end > floor->second) out.emplace(p, range);
  }
  return out;
}

}  // namespace

CompactionWriters SharedTableWriters(const std::string& query_id) {
  return [marker = "-" + query_id + "-"](sink::Table& table) {
    static constexpr std::string_view kSuffix = ".parquet";
    // The entries committed since the last call first: a writer whose files are all newer
    // than the handle's snapshot would never be found (Compact refreshes only when called).
    if (auto st = table.log().ApplyAvailable(); !st.ok()) {
      spdlog::warn("compaction: table {}: {} (tried again later)", table.name(), st.ToString());
    }
    std::set<std::string> writers;
    for (const auto& [path, add] : table.log().live_files()) {
      const std::string_view name = std::string_view(path).substr(path.rfind('/') + 1);
      const size_t at = name.find(marker);
      if (!name.starts_with("part-") || !name.ends_with(kSuffix) || at == std::string_view::npos) continue;
      writers.emplace(name.substr(at + 1, name.size() - at - 1 - kSuffix.size()));
    }
    return std::vector<std::string>(writers.begin(), writers.end());
  };
}

std::string GroupModeRefusal(const PipelineOptions& options) {
  const std::string mode = "scale.mode = \"group\" (--scale-mode group)";
  if (!options.payments_topic.empty()) {
    return mode + " does not join payments yet: remove payments.topic (--payments-topic), or run one process";
  }
  if (options.dedup_scope == DedupScope::kQuery) {
    return mode + " needs watermark.dedup_scope (--dedup-scope) partition, not query: a query-wide dedup "
           "horizon would depend on partitions other members read";
  }
  if (options.until_caught_up || options.max_batches > 0) {
    return mode + " runs until it is stopped, as a member of its group: --until-caught-up and --max-batches "
           "belong to one process";
  }
  return "";
}

class GroupStage::Impl : public source::PartitionListener {
 public:
  explicit Impl(PipelineOptions options)
      : options_(std::move(options)),
        parser_(format::EventParserOptions{.max_future_skew_us = options_.max_future_skew_us}),
        dedup_(chain_.Emplace<PartitionDedupOperator>(options_.allowed_lateness_us, options_.dedup_horizon_us,
                                                      options_.window_size_us)) {
    chain_.Emplace<FlattenOperator>();
    partition_state_ = chain_.PartitionState();
  }

  arrow::Status Init() {
    ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
    ARROW_RETURN_NOT_OK(MakeDirs(options_.checkpoint_dir));
    ARROW_ASSIGN_OR_RAISE(query_id_, SharedQueryId(options_.checkpoint_dir));
    ARROW_ASSIGN_OR_RAISE(const std::string member, RandomUuid());
    // The member's own txn (its batches) keeps its file names apart from other members'.
    member_app_ = query_id_ + "-member-" + member.substr(0, 8);
    ARROW_ASSIGN_OR_RAISE(tables_, Tables::Open(options_, query_id_));
    ARROW_RETURN_NOT_OK(tables_.EvolveSchemas());
    ARROW_ASSIGN_OR_RAISE(source_, source::KafkaSource::Make(options_.source));
    ARROW_RETURN_NOT_OK(source_->Partitions(kBrokerWaitMs).status());
    board_ = std::make_shared<StatusBoard>(options_, query_id_);
    ARROW_RETURN_NOT_OK(board_->Start());
    spdlog::info("group mode: query {}, member {}, data {}, checkpoint {}", query_id_, member_app_,
                 options_.data_dir, options_.checkpoint_dir);
    if (options_.compaction) spdlog::info("group mode: members do not compact; the Gold stage compacts the tables");
    return arrow::Status::OK();
  }

  arrow::Status Run(const std::atomic<bool>& stop) {
    source_->SetStopFlag(&stop);
    ARROW_RETURN_NOT_OK(source_->Subscribe(this));
    while (!stop.load()) {
      const auto started = Clock::now();
      auto polled = source_->Poll(options_.limits, nullptr);
      if (!polled.ok()) {
        if (polled.status().IsCancelled()) break;
        return polled.status();
      }
      if (polled->empty()) {
        board_->Refresh(NowMicros(), source_->Lag(source_->positions()), LagByPartition(*source_, source_->positions()));
      } else {
        arrow::Status st = Guarded("batch", [&] { return ExecuteBatch(std::move(*polled)); });
        if (sink::ConflictOf(st) == sink::CommitConflict::kSourceTaken) {
          spdlog::warn("group mode: {}; reading every partition of this member again from the tables", st.message());
          ARROW_RETURN_NOT_OK(Resume());
        } else {
          ARROW_RETURN_NOT_OK(st);
        }
      }
      const auto due = started + std::chrono::milliseconds(options_.trigger_interval_ms);
      while (!stop.load() && Clock::now() < due) {
        std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
      }
    }
    spdlog::info("group mode: stopped after {} batch(es)", batches_);
    return arrow::Status::OK();
  }

  /// Restores each partition from the tables: its start (Bronze's txn), the floors of the
  /// other tables, and its dedup state as of that start.
  arrow::Result<std::map<int32_t, int64_t>> OnAssigned(const std::vector<int32_t>& partitions) override {
    ARROW_RETURN_NOT_OK(RefreshTables());
    std::map<int32_t, int64_t> starts;
    for (int32_t p : partitions) {
      ARROW_RETURN_NOT_OK(MakeDirs(PartitionDir(p)));  // where its state files go from now on
      const std::string app = PartitionAppId(query_id_, options_.source.topic, p);
      const int64_t start = tables_.bronze->log().TxnVersion(app);
      for (auto& [table, floors] : Derived()) {
        const int64_t txn = table->log().TxnVersion(app);
        if (txn > start) {
          (*floors)[p] = txn;
          spdlog::info("group mode: {} holds partition {} up to offset {}, ahead of Bronze's {}: its rows below are "
                       "not written again", table->name(), p, txn, start);
        } else {
          floors->erase(p);
        }
      }
      partition_state_->DropPartition(p);
      state_files_.erase(p);
      auto& files = state_files_.try_emplace(p, PartitionDir(p), p).first->second;
      if (start < 0) continue;  // a partition no batch has read: starting_offsets
      arrow::Status restored = files.Restore(partition_state_, start);
      if (restored.IsKeyError()) {
        return arrow::Status::Invalid(
            "Bronze holds partition ", p, " of ", options_.source.topic, " up to offset ", start,
            " but no dedup state in '", PartitionDir(p), "' reaches that offset: group mode writes it before every "
            "Bronze commit, so these tables were written by a single-process query (whose state is in its own "
            "checkpoint) or the checkpoint directory is not the one the group wrote with. Give group mode new data "
            "and checkpoint directories, or go on with one process");
      }
      ARROW_RETURN_NOT_OK(restored);
      starts[p] = start;
    }
    owned_.insert(partitions.begin(), partitions.end());
    board_->SetPartitions({owned_.begin(), owned_.end()});
    return starts;
  }

  void OnRevoked(const std::vector<int32_t>& partitions) override {
    for (int32_t p : partitions) {
      partition_state_->DropPartition(p);
      state_files_.erase(p);
      for (auto& [table, floors] : Derived()) floors->erase(p);
      owned_.erase(p);
    }
    board_->SetPartitions({owned_.begin(), owned_.end()});
  }

  std::shared_ptr<StatusBoard> board() const { return board_; }

 private:
  /// The tables members write.
  std::vector<sink::Table*> Written() const {
    return {tables_.bronze.get(), tables_.quarantine.get(), tables_.silver.get(), tables_.late.get()};
  }

  /// The tables written before Bronze, each with its floors.
  std::vector<std::pair<sink::Table*, Floors*>> Derived() {
    return {{tables_.quarantine.get(), &quarantine_floors_},
            {tables_.silver.get(), &silver_floors_},
            {tables_.late.get(), &late_floors_}};
  }

  /// Reads the entries other members committed since, into every table's snapshot.
  arrow::Status RefreshTables() {
    for (sink::Table* table : Written()) {
      ARROW_RETURN_NOT_OK(table->log().ApplyAvailable());
    }
    return arrow::Status::OK();
  }

  /// After a lost compare-and-set: every partition of this member starts again from the
  /// tables, as if just assigned.
  arrow::Status Resume() {
    std::vector<int32_t> partitions;
    for (const auto& [p, next] : source_->positions()) partitions.push_back(p);
    ARROW_ASSIGN_OR_RAISE(auto starts, OnAssigned(partitions));
    return source_->Reposition(starts);
  }

  std::string PartitionDir(int32_t p) const {
    return options_.checkpoint_dir + "/partitions/" + options_.source.topic + "-" + std::to_string(p);
  }

  /// The state files of partition p (one this member holds).
  PartitionStateFiles& StateFiles(int32_t p) {
    auto it = state_files_.find(p);
    MEDALLION_CHECK(it != state_files_.end());
    return it->second;
  }

  arrow::Status ExecuteBatch(source::FetchedRecords records) {
    const auto started = Clock::now();
    const DiskSyncTotals syncs_before = DiskSyncs();
    // Never the id of an attempt that failed: it may have committed some tables under it
    // (the member's txn), which would then skip this batch's rows there as committed.
    const int64_t b = next_batch_++;
    const int64_t ingest_time_us = NowMicros();
    const source::BatchOffsets offsets = records.offsets();
    const int64_t n_records = static_cast<int64_t>(records.size());
    ARROW_ASSIGN_OR_RAISE(auto bronze, BronzeFromRecords(records, options_.source.topic, ingest_time_us));
    records = source::FetchedRecords();
    ARROW_ASSIGN_OR_RAISE(format::ParseResult parsed, parser_.Parse(*bronze));
    // No query watermark here: each partition's dedup keeps its own.
    BatchFlow flow;
    flow.batch_id = b;
    flow.events = parsed.events;
    ARROW_RETURN_NOT_OK(chain_.Run(&flow));

    // Each table's commit records the partitions whose end is past that table's floor.
    auto txns = [&](const Floors& floors) {
      return PartitionTxns(query_id_, options_.source.topic, PastFloors(offsets, floors));
    };
    ARROW_ASSIGN_OR_RAISE(auto quarantine, FromFloors(parsed.quarantine, quarantine_floors_, "partition", "offset"));
    ARROW_RETURN_NOT_OK(tables_.quarantine->Append(member_app_, b, {{{}, quarantine}},
                                                   txns(quarantine_floors_)));
    ARROW_ASSIGN_OR_RAISE(auto silver, FromFloors(flow.silver, silver_floors_, "kafka_partition", "kafka_offset"));
    ARROW_ASSIGN_OR_RAISE(auto silver_parts, SplitByDate(silver, "event_time", "event_date"));
    ARROW_RETURN_NOT_OK(tables_.silver->Append(member_app_, b, silver_parts, txns(silver_floors_)));
    ARROW_ASSIGN_OR_RAISE(auto late, FromFloors(flow.late_horizon, late_floors_, "kafka_partition", "kafka_offset"));
    ARROW_RETURN_NOT_OK(tables_.late->Append(member_app_, b, {{{}, late}}, txns(late_floors_)));
    FaultPoint("group.before_bronze");
    // Each partition's state after the batch, named by the offset Bronze is about to record.
    for (const auto& [p, range] : offsets) ARROW_RETURN_NOT_OK(StateFiles(p).Write(partition_state_, range.end));
    ARROW_RETURN_NOT_OK(tables_.bronze->Append(member_app_, b, {BronzePart(ingest_time_us, bronze)}, txns({})));
    FaultPoint("group.after_bronze");
    std::map<int32_t, int64_t> next;
    for (const auto& [p, range] : offsets) next[p] = range.end;
    source_->CommitForMonitoring(next);  // lag tools see the group's progress; Bronze is the truth
    for (const auto& [p, range] : offsets) {
      StateFiles(p).Prune();  // the files of range.start stay for a member restoring it now
      for (auto& [table, floors] : Derived()) {
        auto floor = floors->find(p);
        if (floor != floors->end() && range.end >= floor->second) floors->erase(floor);  // the table is past it
      }
    }
    ++batches_;
    ARROW_RETURN_NOT_OK(Report(b, n_records, parsed, flow.fresh.size(), *silver, *late, started));
    std::string ranges;
    for (const auto& [p, r] : offsets) {
      ranges += (ranges.empty() ? "" : " ") + std::to_string(p) + ":" + std::to_string(r.start) + ".." +
                std::to_string(r.end);
    }
    spdlog::info("group batch {}: {} records ({}), {} quarantined, {} silver lines, {} late lines, {} dedup ids, {:.3f} s",
                 b, n_records, ranges, parsed.quarantine->num_rows(), silver->num_rows(), late->num_rows(),
                 dedup_->dedup().size(), std::chrono::duration<double>(Clock::now() - started).count());
    if (auto stall = DiskStallSince(syncs_before)) spdlog::warn("group batch {}: {}", b, *stall);
    return arrow::Status::OK();
  }

  /// Publishes a committed batch on the status board.
  arrow::Status Report(int64_t b, int64_t n_records, const format::ParseResult& parsed, size_t paid_new,
                       const arrow::RecordBatch& silver, const arrow::RecordBatch& late, Clock::time_point started) {
    BatchReport report;
    report.batch_id = b;
    report.records = n_records;
    report.quarantined = parsed.quarantine->num_rows();
    report.events = parsed.events->num_rows();
    report.paid_new = static_cast<int64_t>(paid_new);
    report.silver_lines = silver.num_rows();
    report.late_lines = late.num_rows();
    report.dedup_state = dedup_->dedup().size();
    report.watermark_us = state::Watermark::kNone;  // one per partition here; the board shows one per query
    ARROW_ASSIGN_OR_RAISE(report.quarantined_by_reason, CountReasons(*parsed.quarantine, "error"));
    if (late.num_rows() > 0) report.late_by_reason["beyond_dedup_horizon"] = late.num_rows();
    report.lag = source_->Lag(source_->positions());  // the positions after this batch's records
    report.lag_by_partition = LagByPartition(*source_, source_->positions());
    report.tables = TableSizes(Written());
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    board_->RecordBatch(report, NowMicros());
    return arrow::Status::OK();
  }

  PipelineOptions options_;
  std::string query_id_;
  std::string member_app_;
  Tables tables_;
  format::EventParser parser_;
  /// The member's operators: dedup per partition, then the Silver lines.
  OperatorChain chain_;
  PartitionDedupOperator* dedup_;
  /// The operator whose state moves with a partition (the dedup), and its state files per
  /// partition held.
  Operator* partition_state_;
  std::map<int32_t, PartitionStateFiles> state_files_;
  Floors quarantine_floors_, silver_floors_, late_floors_;
  int64_t next_batch_ = 0;
  int64_t batches_ = 0;
  /// The partitions the group gives this member now.
  std::set<int32_t> owned_;
  std::shared_ptr<StatusBoard> board_;
  /// Declared last: destroyed first, while the listener it calls is whole.
  std::unique_ptr<source::KafkaSource> source_;
};

GroupStage::GroupStage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GroupStage::~GroupStage() = default;

arrow::Result<std::unique_ptr<GroupStage>> GroupStage::Make(const PipelineOptions& options) {
  const std::string refusal = GroupModeRefusal(options);
  if (!refusal.empty()) return arrow::Status::Invalid(refusal);
  PipelineOptions group = options;
  // Group mode keeps no query record: its dedup scope is the one it can run with.
  if (group.dedup_scope == DedupScope::kRecorded) group.dedup_scope = DedupScope::kPartition;
  auto impl = std::make_unique<Impl>(std::move(group));
  ARROW_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<GroupStage>(new GroupStage(std::move(impl)));
}

arrow::Status GroupStage::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }

std::shared_ptr<StatusBoard> GroupStage::status_board() const { return impl_->board(); }

}  // namespace medallion::engine
