#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <arrow/record_batch.h>

namespace medallion::sink {

/// The rows of data files the stream wrote lately, kept in memory for the compactor's first
/// merge of them: a merge of a run of one-batch files then reads none of them back (opening
/// and decoding many small Parquet files was half the compactor's CPU). The rows are the
/// batch the file was written from, so a merge of them writes what a merge of the files
/// would. Bounded by bytes of Arrow data: past the bound, the oldest entries go first; a file
/// not (or no longer) here is read from its path as before, so the bound trades memory for
/// CPU and never changes a result. Thread-safe: the stream's thread puts, the compactor's
/// takes.
class RecentFiles {
 public:
  explicit RecentFiles(int64_t max_bytes) : max_bytes_(max_bytes) {}

  /// Keeps `rows` as the content of the file at `path` (a full path, unique to the file).
  void Put(const std::string& path, std::shared_ptr<arrow::RecordBatch> rows);
  /// The rows kept for `path`, removed from here; null when none are.
  std::shared_ptr<arrow::RecordBatch> Take(const std::string& path);

  /// Bytes of Arrow data held now.
  int64_t bytes() const;

 private:
  void EvictTo(int64_t max_bytes);

  struct Entry {
    std::shared_ptr<arrow::RecordBatch> rows;
    int64_t bytes = 0;
  };
  const int64_t max_bytes_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  /// Paths in the order they were put (some may have been taken since).
  std::deque<std::string> order_;
  int64_t bytes_ = 0;
};

}  // namespace medallion::sink
