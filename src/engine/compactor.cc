#include "engine/compactor.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <exception>

#include <spdlog/spdlog.h>

namespace medallion::engine {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

Compactor::Compactor(std::vector<std::unique_ptr<sink::Table>> tables, CompactionWriters writers,
                     CompactorOptions options)
    : tables_(std::move(tables)), writers_(std::move(writers)), options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

Compactor::~Compactor() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

metrics::CompactionTotals Compactor::totals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return totals_;
}

bool Compactor::Rest(int64_t ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
  return !stop_;
}

void Compactor::Loop() {
  pthread_setname_np(pthread_self(), "compactor");  // its CPU shows apart in top and /proc
  const double share = std::clamp(options_.cpu_share, 0.01, 1.0);
  for (;;) {
    double cpu = 0;
    const bool more = !backlog_.load() && Pass(&cpu);
    // The rest keeps the compactor within its share of a core; with nothing left, it waits
    // for new small files.
    const auto rest_ms = static_cast<int64_t>(cpu * (1 - share) / share * 1000);
    if (!Rest(more ? rest_ms : std::max(rest_ms, options_.idle_ms))) return;
  }
}

bool Compactor::Pass(double* cpu_seconds) {
  bool more = false;
  for (auto& table : tables_) {
    for (const std::string& writer : writers_(*table)) {
      if (!Compact(*table, writer, cpu_seconds, &more)) return false;
    }
  }
  return more;
}

bool Compactor::Compact(sink::Table& table, const std::string& writer, double* cpu_seconds, bool* more) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_) return false;
  }
  const double cpu_from = ThreadCpuSeconds();
  const auto wall_from = std::chrono::steady_clock::now();
  arrow::Result<sink::CompactionResult> result = arrow::Status::UnknownError("not run");
  try {
    result = table.Compact(writer, options_.compaction);
  } catch (const std::exception& e) {
    result = arrow::Status::UnknownError(e.what());
  }
  const double cpu = ThreadCpuSeconds() - cpu_from;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_from).count();
  *cpu_seconds += cpu;
  std::lock_guard<std::mutex> lock(mutex_);
  totals_.cpu_seconds += cpu;
  if (!result.ok()) {
    ++totals_.errors;
    spdlog::warn("compaction: table {}: {} (the stream goes on; tried again later)", table.name(),
                 result.status().ToString());
    return true;
  }
  using Outcome = sink::CompactionResult::Outcome;
  if (result->outcome == Outcome::kCommitted) {
    ++totals_.merges;
    totals_.files_in += result->files_in;
    totals_.files_out += result->files_out;
    totals_.bytes_in += result->bytes_in;
    totals_.bytes_out += result->bytes_out;
    totals_.rows += result->rows;
    totals_.files_joined += result->files_joined;
    spdlog::info("compaction: table {} version {}: {} files -> {} ({} -> {} bytes, {} rows; {} files joined by "
                 "copying row groups) in {:.3f} s, {:.3f} CPU-s", table.name(), result->version, result->files_in,
                 result->files_out, result->bytes_in, result->bytes_out, result->rows, result->files_joined, wall,
                 cpu);
  } else if (result->outcome == Outcome::kConflict) {
    ++totals_.conflicts;
    spdlog::info("compaction: table {}: abandoned, {}", table.name(), result->conflict);
  }
  *more = *more || result->more;
  return true;
}

}  // namespace medallion::engine
