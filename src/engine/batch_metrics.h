#pragma once

#include <cstdint>
#include <string>

#include <arrow/status.h>

#include "engine/pipeline.h"

namespace medallion::engine {

/// The running totals of the batches this process committed and the state after the last
/// one, published as a Prometheus text file (`metrics_file`) that node_exporter's textfile
/// collector, or any scraper that reads files, picks up. Rewritten after every batch.
/// Counters start at zero with the process, as Prometheus expects. Not thread-safe.
class BatchMetrics {
 public:
  BatchMetrics(std::string path, const std::string& topic, const std::string& query_id);

  /// Writes the file with zero totals, so a path that cannot be written fails at start-up.
  arrow::Status Start();

  /// Adds a committed batch to the totals and rewrites the file.
  arrow::Status Record(const BatchReport& report, int64_t committed_at_us);

 private:
  arrow::Status Write(const BatchReport* last, int64_t committed_at_us) const;

  std::string path_;
  std::string topic_;
  std::string query_id_;
  int64_t batches_ = 0;
  int64_t records_ = 0;
  int64_t quarantined_ = 0;
  int64_t paid_new_ = 0;
  int64_t silver_lines_ = 0;
  int64_t late_lines_ = 0;
};

}  // namespace medallion::engine
