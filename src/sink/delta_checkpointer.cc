#include "sink/delta_checkpointer.h"

#include <cstdio>
#include <exception>
#include <utility>

#include "common/fault_point.h"
#include "common/file_util.h"
#include "common/time_util.h"
#include "sink/delta_checkpoint.h"
#include "sink/delta_log_cleanup.h"

namespace medallion::sink {
namespace {

std::string EntryPathIn(const std::string& log_dir, int64_t version) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020lld.json", static_cast<long long>(version));
  return log_dir + "/" + name;
}

}  // namespace

arrow::Status LoadDeltaSnapshot(const std::string& log_dir, int64_t version, DeltaSnapshot* snapshot) {
  *snapshot = DeltaSnapshot{};
  ARROW_ASSIGN_OR_RAISE(const std::vector<DirEntry> listing, ListDir(log_dir));
  const CheckpointFiles checkpoint = NewestCompleteCheckpoint(listing, version);
  if (checkpoint.version >= 0) ARROW_RETURN_NOT_OK(ReadDeltaCheckpointFiles(log_dir, checkpoint, snapshot));
  while (snapshot->version < version) {
    const std::string path = EntryPathIn(log_dir, snapshot->version + 1);
    ARROW_ASSIGN_OR_RAISE(std::string text, ReadFile(path));
    auto status = ApplyLogEntry(text, snapshot, nullptr);
    if (!status.ok()) return status.WithMessage(path, ": ", status.message());
    ++snapshot->version;
  }
  return arrow::Status::OK();
}

arrow::Status WriteCheckpointAndCleanUp(const std::string& log_dir, const DeltaSnapshot& snapshot,
                                        const LogRetention& retention, int64_t now_ms) {
  FaultPoint("delta_log.before_checkpoint");
  ARROW_RETURN_NOT_OK(WriteDeltaCheckpoint(log_dir, snapshot, now_ms, retention.removed_file_retention_ms));
  FaultPoint("delta_log.after_checkpoint");
  if (!retention.log_cleanup_enabled) return arrow::Status::OK();
  FaultPoint("delta_log.before_cleanup");
  auto cleanup = CleanUpExpiredLog(log_dir, snapshot.version, now_ms, retention.log_retention_ms);
  FaultPoint("delta_log.after_cleanup");
  return cleanup.status();
}

BackgroundCheckpointer::BackgroundCheckpointer(std::string log_dir, std::string table_name)
    : log_dir_(std::move(log_dir)), table_name_(std::move(table_name)) {}

BackgroundCheckpointer::~BackgroundCheckpointer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundCheckpointer::Request(int64_t version, const LogRetention& retention) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_.has_value() && waiting_->version > version) return;
    waiting_ = Job{version, retention};
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  }
  changed_.notify_all();
}

arrow::Status BackgroundCheckpointer::TakeFailure() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(failure_, arrow::Status::OK());
}

arrow::Status BackgroundCheckpointer::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !running_ && !waiting_.has_value(); });
  return std::exchange(failure_, arrow::Status::OK());
}

void BackgroundCheckpointer::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || waiting_.has_value(); });
    if (!waiting_.has_value()) return;  // stopping, nothing left to do
    const Job job = *waiting_;
    waiting_.reset();
    running_ = true;
    lock.unlock();
    arrow::Status status;
    try {
      status = Run(job);
    } catch (const std::exception& e) {  // e.g. std::bad_alloc: fail the job, not the process
      status = arrow::Status::UnknownError("exception: ", e.what());
    }
    lock.lock();
    running_ = false;
    if (!status.ok() && failure_.ok()) {
      failure_ = status.WithMessage("table ", table_name_, ": the checkpoint of version ", job.version,
                                    " (written in the background) failed: ", status.message());
    }
    changed_.notify_all();
  }
}

arrow::Status BackgroundCheckpointer::Run(const Job& job) const {
  DeltaSnapshot snapshot;
  ARROW_RETURN_NOT_OK(LoadDeltaSnapshot(log_dir_, job.version, &snapshot));
  return WriteCheckpointAndCleanUp(log_dir_, snapshot, job.retention, NowMillis());
}

}  // namespace medallion::sink
