#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "common/dir_lock.h"
#include "engine/pipeline_options.h"
#include "sink/table.h"

namespace medallion::engine {

/// The tables of EVENTS.md and the late table, laid out under the data directory:
/// names, schemas, partition columns and Parquet settings in one place.
struct Tables {
  std::unique_ptr<DirLock> lock;
  std::unique_ptr<sink::Table> bronze, quarantine, silver, late, gold_windows, gold_top, gold_customers;

  /// Locks `options.data_dir` for this process, opens (or creates) every table under it,
  /// checks that they are not another query's (Table::CheckWriter), then removes the data
  /// files that no commit references (left by a batch that crashed before committing).
  static arrow::Result<Tables> Open(const PipelineOptions& options, const std::string& query_id);

  std::vector<sink::Table*> All() const {
    return {bronze.get(), quarantine.get(), silver.get(), late.get(), gold_windows.get(),
            gold_top.get(), gold_customers.get()};
  }
};

}  // namespace medallion::engine
