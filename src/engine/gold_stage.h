#pragma once

#include <atomic>
#include <memory>

#include <arrow/status.h>

#include "engine/pipeline_options.h"
#include "engine/status_board.h"

namespace medallion::engine {

/// The Gold stage (issue 10 step 4, docs/scale-out.md decision 5). Reads the
/// Silver table by Delta version (versions are its offsets), keeps the window, top-products
/// and customer-spend aggregates, and commits the Gold tables and Late's window_final rows
/// with txn("<query id>-gold", Silver version). One active instance: a lease on
/// `<checkpoint>/gold`. Its watermark is one process's (state::Watermark) over the Kafka
/// partitions of the Silver lines it reads, with the Silver files' log time as its clock.
class GoldStage {
 public:
  ~GoldStage();
  static arrow::Result<std::unique_ptr<GoldStage>> Make(const PipelineOptions& options);
  arrow::Status Run(const std::atomic<bool>& stop);

  /// Where the stage publishes its batches for /metrics, /status and the metrics file. Its
  /// lag counts Silver versions, not records: 0 once it has read Silver's newest entry,
  /// unknown (not ready) while it waits for the lease or catches up.
  std::shared_ptr<StatusBoard> status_board() const;

  class Impl;

 private:
  explicit GoldStage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Why `options` cannot run as the Gold stage (a message naming the setting), or "".
std::string GoldStageRefusal(const PipelineOptions& options);

}  // namespace medallion::engine
