#include "engine/gold_stage.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <thread>

#include <arrow/array.h>
#include <arrow/compute/api.h>
#include <arrow/table.h>
#include <spdlog/spdlog.h>

#include "common/dir_lock.h"
#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/time_util.h"
#include "engine/checkpoint.h"
#include "engine/compactor.h"
#include "engine/engine_state.h"
#include "engine/batch_operators.h"
#include "engine/gold_aggregates.h"
#include "engine/operator.h"
#include "engine/status_board.h"
#include "engine/group_stage.h"
#include "engine/tables.h"
#include "format/schemas.h"
#include "sink/delta_log.h"
#include "sink/table_reader.h"
#include "state/watermark.h"

namespace medallion::engine {
namespace {

using Clock = std::chrono::steady_clock;

/// Silver versions one Gold batch reads at most.
constexpr int64_t kMaxVersionsPerBatch = 100;
/// How often an idle Gold stage lists Silver's log for entries removed before it read them.
constexpr auto kCleanupCheckEvery = std::chrono::seconds(30);

}  // namespace

std::string GoldStageRefusal(const PipelineOptions& options) {
  const std::string mode = "scale.mode = \"gold\" (--scale-mode gold)";
  if (!options.payments_topic.empty()) {
    return mode + " does not reconcile payments yet: remove payments.topic (--payments-topic), or run one process";
  }
  if (options.until_caught_up || options.max_batches > 0) {
    return mode + " runs until it is stopped: --until-caught-up and --max-batches belong to one process";
  }
  if (IsObjectStorePath(options.checkpoint_dir)) {
    return mode + " takes its lease as a file lock in the checkpoint directory, which '" + options.checkpoint_dir +
           "' (an object store) cannot hold: give the Gold stages a checkpoint directory of their own on a local "
           "or network file system (NFS); the tables and the members' checkpoint may stay on the object store";
  }
  return "";
}

class GoldStage::Impl {
 public:
  Impl(PipelineOptions options, ops::WindowSpec window)
      : options_(std::move(options)), gold_(MakeChain(window)), state_(chain_.StateParts()) {}

  arrow::Status Init() {
    ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
    ARROW_RETURN_NOT_OK(MakeDirs(GoldDir() + "/state"));
    ARROW_ASSIGN_OR_RAISE(query_id_, SharedQueryId(options_.checkpoint_dir));
    board_ = std::make_shared<StatusBoard>(options_, query_id_);
    return board_->Start();
  }

  std::shared_ptr<StatusBoard> board() const { return board_; }

  /// Waits for the lease (one Gold stage writes at a time; a waiting one takes over when the
  /// holder dies, as the kernel drops its lock), then opens the tables and restores the state
  /// of the least Silver version its tables hold.
  arrow::Status Start(const std::atomic<bool>& stop) {
    bool said = false;
    while (true) {
      auto lease = DirLock::Acquire(GoldDir() + "/.lease", "Gold stage", GoldDir());
      if (lease.ok()) {
        lease_ = std::move(*lease);
        break;
      }
      if (!said) spdlog::info("Gold stage: the lease on {} is taken; waiting to take over", GoldDir());
      said = true;
      for (int i = 0; i < 10 && !stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (stop.load()) return arrow::Status::Cancelled("stop requested");
    }
    const std::string& query_id = query_id_;
    app_ = query_id + "-gold";  // names its data files too, so no "/"
    ARROW_ASSIGN_OR_RAISE(tables_, Tables::Open(options_, query_id));
    // Gold tables a single process keeps would get every final window twice.
    for (sink::Table* gold : GoldTables()) {
      ARROW_RETURN_NOT_OK(gold->CheckWriter(app_));
    }
    // Where Gold stands: the least Silver version its tables hold (a stage that died between
    // its commits of one version runs that version again; the tables that hold it skip it).
    // Late is committed after the windows and before the snapshots, and only with rows, so it
    // is not in the minimum: a version it lacks is re-run through the snapshots' minimum.
    version_ = std::min({tables_.gold_windows->CommittedBatch(app_), tables_.gold_top->CommittedBatch(app_),
                         tables_.gold_customers->CommittedBatch(app_)});
    // The batch a stage died in is run again with the same bounds, so that the tables that
    // committed it skip exactly what they hold (a longer batch would add its rows again).
    redo_to_ = std::max({tables_.gold_windows->CommittedBatch(app_), tables_.gold_top->CommittedBatch(app_),
                         tables_.gold_customers->CommittedBatch(app_), tables_.late->CommittedBatch(app_)});
    ARROW_ASSIGN_OR_RAISE(std::vector<int64_t> states, StateVersions());
    for (int64_t v : states) {
      // Written by a stage that died before committing them: the redo writes them again.
      if (v > version_) ARROW_RETURN_NOT_OK(RemoveFile(StatePath(v)));
    }
    if (version_ >= 0) {
      auto previous = [&states](int64_t v) {
        auto it = std::lower_bound(states.begin(), states.end(), v);
        return it == states.begin() ? int64_t{-1} : *std::prev(it);
      };
      ARROW_RETURN_NOT_OK(state_.Restore(
          version_, [this](int64_t v) -> arrow::Result<std::string> { return ReadFile(StatePath(v)); }, previous));
    }
    spdlog::info("Gold stage: holds the lease; query {}, Silver read up to version {}", query_id, version_);
    if (options_.compaction) {
      // The one Gold stage at a time also compacts the tables the members share (members
      // do not: several compactors would abandon each other's merges).
      std::vector<std::unique_ptr<sink::Table>> handles;
      for (const sink::Table* table : tables_.Compactable()) {
        ARROW_ASSIGN_OR_RAISE(auto handle, table->OpenAnother());
        handles.push_back(std::move(handle));
      }
      compactor_ = std::make_unique<Compactor>(std::move(handles), SharedTableWriters(query_id), options_.compactor);
    }
    return arrow::Status::OK();
  }

  arrow::Status Run(const std::atomic<bool>& stop) {
    arrow::Status leased = Start(stop);
    if (leased.IsCancelled()) return arrow::Status::OK();
    ARROW_RETURN_NOT_OK(leased);
    while (!stop.load()) {
      const auto started = Clock::now();
      ARROW_ASSIGN_OR_RAISE(bool ran, RunBatch());
      // Merges wait while Silver is more than a batch ahead of Gold.
      if (compactor_) compactor_->SetBacklog(ran && behind_);
      if (ran) continue;
      if (compactor_) board_->SetCompaction(compactor_->totals());
      board_->Refresh(NowMicros(), /*lag=*/0, {});  // Silver's newest entry is read
      const auto due = started + std::chrono::milliseconds(options_.trigger_interval_ms);
      while (!stop.load() && Clock::now() < due) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return arrow::Status::OK();
  }

 private:
  std::string GoldDir() const { return options_.checkpoint_dir + "/gold"; }
  std::string StatePath(int64_t v) const { return GoldDir() + "/state/" + std::to_string(v); }
  std::string SilverRoot() const { return tables_.silver->root(); }
  /// The three Gold tables this stage keeps (it writes Late's window_final rows too).
  std::vector<sink::Table*> GoldTables() const {
    return {tables_.gold_windows.get(), tables_.gold_top.get(), tables_.gold_customers.get()};
  }

  /// Reads Silver's versions after version_ (up to kMaxVersionsPerBatch) and runs them as one
  /// Gold batch; false when Silver has no new version.
  arrow::Result<bool> RunBatch() {
    std::vector<sink::DeltaAddFile> adds;
    int64_t last = version_;
    const int64_t upto = version_ < redo_to_ ? redo_to_ : version_ + kMaxVersionsPerBatch;
    for (int64_t v = version_ + 1; v <= upto; ++v) {
      ARROW_ASSIGN_OR_RAISE(auto entry, sink::DeltaLog::EntryDataAdds(SilverRoot(), v));
      if (!entry) {
        ARROW_RETURN_NOT_OK(CheckNotCleanedUp(v));
        break;
      }
      adds.insert(adds.end(), entry->begin(), entry->end());
      last = v;
    }
    if (last == version_) return false;
    behind_ = last - version_ == kMaxVersionsPerBatch;
    ARROW_ASSIGN_OR_RAISE(auto rows, sink::ReadFilesAs(SilverRoot(), adds, format::SilverSchema()));
    ARROW_ASSIGN_OR_RAISE(auto silver, rows->CombineChunksToBatch());
    const auto started = Clock::now();
    const DiskSyncTotals syncs_before = DiskSyncs();
    BatchFlow flow;
    flow.batch_id = last;
    flow.silver = silver;
    if (!adds.empty()) {
      int64_t now_ms = 0;
      for (const auto& add : adds) now_ms = std::max(now_ms, add.modification_time_ms);
      // The clock is the Silver files' own (their time in the log: a batch run again sees the
      // same), and it is what makes a partition that brings no more lines idle.
      flow.clock_us = now_ms * 1000;
    }
    ARROW_RETURN_NOT_OK(chain_.Run(&flow));
    const std::string state_bytes = state_.SerializeBatch(last);
    ARROW_RETURN_NOT_OK(WriteFileAtomic(StatePath(last), state_bytes));
    ARROW_RETURN_NOT_OK(gold_->CommitWindows(tables_, app_, last, flow.final_windows, flow.watermark_before));
    FaultPoint("gold.after_windows");
    ARROW_RETURN_NOT_OK(tables_.late->Append(app_, last, {{{}, flow.late_final}}));
    ARROW_RETURN_NOT_OK(gold_->CommitSnapshots(tables_, app_, last));
    PruneStates(version_);
    spdlog::info("Gold batch: Silver versions {}..{}, {} lines, {} final windows, {} window_final late lines",
                 version_ + 1, last, silver->num_rows(), flow.final_windows->num_rows(), flow.late_final->num_rows());
    if (auto stall = DiskStallSince(syncs_before)) spdlog::warn("Gold batch of Silver version {}: {}", last, *stall);
    version_ = last;
    Report(flow, silver->num_rows(), static_cast<int64_t>(state_bytes.size()), started);
    return true;
  }

  /// Publishes a committed Gold batch on the status board: its id is the Silver version it
  /// ends at, its records the Silver lines it read.
  void Report(const BatchFlow& flow, int64_t lines, int64_t state_bytes, Clock::time_point started) {
    BatchReport report;
    report.batch_id = flow.batch_id;
    report.records = lines;
    report.silver_lines = lines;
    report.late_lines = flow.late_final->num_rows();
    if (report.late_lines > 0) report.late_by_reason["window_final"] = report.late_lines;
    report.open_windows = gold_->open_windows();
    report.watermark_us = flow.watermark_after;
    report.state_bytes = state_bytes;
    report.lag = behind_ ? -1 : 0;  // Silver versions not read: none, or not known while it catches up
    std::vector<sink::Table*> written = GoldTables();
    written.push_back(tables_.late.get());
    report.tables = TableSizes(written);
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (compactor_) board_->SetCompaction(compactor_->totals());
    board_->RecordBatch(report, NowMicros());
  }

  /// Silver's entry `missing` is not there: fine when no later one is (not written yet); an
  /// error when one is, as log cleanup removed it before this stage read it. The log is
  /// listed on the first miss and then at most every kCleanupCheckEvery: an idle stage looks
  /// for the next entry every trigger, and the log may hold many thousands of entries.
  arrow::Status CheckNotCleanedUp(int64_t missing) {
    if (cleanup_checked_ && Clock::now() - *cleanup_checked_ < kCleanupCheckEvery) return arrow::Status::OK();
    cleanup_checked_ = Clock::now();
    ARROW_ASSIGN_OR_RAISE(auto listing, ListDir(SilverRoot() + "/_delta_log"));
    for (const DirEntry& e : listing) {
      const auto dot = e.name.find('.');
      const std::optional<int64_t> v = ParseBatchId(e.name.substr(0, dot));
      if (v && *v > missing) {
        return arrow::Status::Invalid(
            "Silver's log entry ", missing, " is gone (removed by log cleanup, delta.log_retention) while the Gold "
            "stage had read up to version ", missing - 1, ": it was stopped for longer than the log's retention. "
            "To rebuild Gold from Silver, remove '", GoldDir(), "' and the Gold tables and start it again; to avoid "
            "it, keep Silver's log longer (delta.log_retention)");
      }
    }
    return arrow::Status::OK();
  }

  /// The Silver versions that have a state file, ascending.
  arrow::Result<std::vector<int64_t>> StateVersions() const {
    ARROW_ASSIGN_OR_RAISE(auto listing, ListDir(GoldDir() + "/state"));
    std::vector<int64_t> versions;
    for (const DirEntry& e : listing) {
      if (const std::optional<int64_t> v = ParseBatchId(e.name)) versions.push_back(*v);
    }
    std::sort(versions.begin(), versions.end());
    return versions;
  }

  /// Removes state files a restore no longer reads: before both the version read before
  /// this batch (a restore of the tables' least version may need it) and the last full file.
  void PruneStates(int64_t previous) {
    auto versions = StateVersions();
    if (!versions.ok()) return;
    const int64_t keep_from = std::min(previous, state_.last_full());
    for (int64_t v : *versions) {
      if (v < keep_from) (void)RemoveFile(StatePath(v));
    }
  }

  /// The stage's operators: the watermark over Silver's lines, then the Gold aggregates.
  GoldAggregates* MakeChain(ops::WindowSpec window) {
    chain_.Emplace<WatermarkOperator>(options_.allowed_lateness_us, options_.idle_timeout_us,
                                      WatermarkOperator::Input::kSilver);
    return chain_.Emplace<GoldAggregates>(window, options_.top_n, options_.output_mode == "update");
  }

  PipelineOptions options_;
  std::string query_id_;
  std::shared_ptr<StatusBoard> board_;
  std::unique_ptr<DirLock> lease_;
  std::string app_;
  Tables tables_;
  /// The Silver version this stage has read up to (its tables' least), and the greatest any
  /// of them holds: up to that, batches end where the one that died ended.
  int64_t version_ = -1;
  int64_t redo_to_ = -1;
  /// Whether the last batch stopped at kMaxVersionsPerBatch (Silver may hold more).
  bool behind_ = false;
  /// When CheckNotCleanedUp last listed Silver's log.
  std::optional<Clock::time_point> cleanup_checked_;
  OperatorChain chain_;
  GoldAggregates* gold_;
  EngineState state_;
  /// Merges the shared tables' small files on a thread of its own (null when off). Declared
  /// last: stopped first, while the tables it reads are whole.
  std::unique_ptr<Compactor> compactor_;
};

GoldStage::GoldStage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GoldStage::~GoldStage() = default;

arrow::Result<std::unique_ptr<GoldStage>> GoldStage::Make(const PipelineOptions& options) {
  const std::string refusal = GoldStageRefusal(options);
  if (!refusal.empty()) return arrow::Status::Invalid(refusal);
  ARROW_ASSIGN_OR_RAISE(auto window, ops::WindowSpec::Make(options.window_size_us, options.window_slide_us));
  auto impl = std::make_unique<Impl>(options, window);
  ARROW_RETURN_NOT_OK(impl->Init());
  return std::unique_ptr<GoldStage>(new GoldStage(std::move(impl)));
}

arrow::Status GoldStage::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }

std::shared_ptr<StatusBoard> GoldStage::status_board() const { return impl_->board(); }

}  // namespace medallion::engine
