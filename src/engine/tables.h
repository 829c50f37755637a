#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "common/dir_lock.h"
#include "engine/pipeline_options.h"
#include "sink/table.h"

namespace medallion::engine {

struct Tables;

/// The batch each table last committed for the query (its Delta txn version), as it stood
/// after a batch. A batch that leaves a table unchanged commits nothing there (no file, no
/// log entry), so a table may hold an older batch than the checkpoint's last: this record,
/// kept in the engine state of every batch, is what each table must hold.
class TableProgress {
 public:
  /// Records every table's txn version for `query_id` as loaded now.
  void Record(const Tables& tables, const std::string& query_id);
  /// The batch `table` must hold, or nullopt when the state did not record it (a checkpoint
  /// written before this record existed: every table then committed every batch).
  std::optional<int64_t> Expected(const std::string& table) const;

  /// A versioned snapshot ("engine.table_progress", version 1).
  std::string SerializeState() const;
  /// Replaces the record with a snapshot from SerializeState(); a corrupted one is Invalid
  /// and leaves it unchanged.
  arrow::Status RestoreState(std::string_view bytes);

 private:
  std::map<std::string, int64_t> batches_;
};

/// The Parquet settings of the tables of `layer` (one of kParquetLayers): options.parquet
/// with the layer's codec where options.layer_codecs names one, plus the engine's column
/// settings (TableParquetOptions).
sink::ParquetOptions ParquetFor(const PipelineOptions& options, const std::string& layer);

/// The tables of EVENTS.md and the late table, laid out under the data directory:
/// names, schemas, partition columns and Parquet settings in one place.
struct Tables {
  std::unique_ptr<DirLock> lock;
  std::unique_ptr<sink::Table> bronze, quarantine, silver, late, gold_windows, gold_top, gold_customers;
  /// The payments side (null when the query has no payments topic): bronze/payments_raw,
  /// quarantine/payments, silver/order_payments and gold/payment_reconciliation.
  std::unique_ptr<sink::Table> bronze_payments, quarantine_payments, order_payments, reconciliation;

  /// Locks `options.data_dir` for this process, opens (or creates) every table under it
  /// (a table whose schema this build cannot evolve to is refused; one it can opens with its
  /// new columns pending, see EvolveSchemas), checks that they are not another query's
  /// (Table::CheckWriter), then removes the data files that no commit references (left by a
  /// batch that crashed before committing).
  static arrow::Result<Tables> Open(const PipelineOptions& options, const std::string& query_id);

  /// Fails, naming the table, if a table's batches of query `query_id` are not in step with
  /// the checkpoint: every table holds the batch `progress` recorded for it after
  /// `last_committed` (without a record: `last_committed` itself), or `last_committed + 1`
  /// when that batch is planned (offsets/<B> present: a crash between the table commits and
  /// state/<B>, which the replay completes). A table ahead of that (a checkpoint older than
  /// the tables, restored from a copy) would skip the re-planned batches as already
  /// committed and lose their records; a table behind it (a data directory older than the
  /// checkpoint) would never get the batches it misses. The Gold snapshot tables, Quarantine,
  /// Late and Bronze may also hold any batch after their recorded one up to `last_committed`
  /// (a deferred snapshot or held rows committed after the checkpoint,
  /// PipelineOptions::gold_commit_interval_us, side_commit_interval_us and
  /// bronze_commit_interval_us).
  arrow::Status CheckInStep(const std::string& query_id, int64_t last_committed, bool next_planned,
                            const TableProgress& progress, const std::string& checkpoint_dir) const;

  /// Commits, in every table an earlier build wrote, the nullable columns this build appends
  /// to its schema (sink::Table::EvolveSchema): one metaData entry per such table, no txn.
  /// Called once every start-up check has passed, so a run refused at start-up leaves the
  /// tables as the earlier build can still write them; batches cannot commit before it.
  arrow::Status EvolveSchemas();

  /// The tables whose small files the compactor merges: the append-only ones (Bronze,
  /// Quarantine, Silver, Late and the payments side's four) and Gold's windows table, which
  /// appends its final windows as a file per batch that closes one. Its open-windows file,
  /// replaced every batch, is never merged (Table::Compact takes only "part-" files), so the
  /// stream's replace and a merge never remove the same file. The other Gold tables are a
  /// file each.
  std::vector<sink::Table*> Compactable() const {
    std::vector<sink::Table*> out = {bronze.get(), quarantine.get(), silver.get(), late.get(), gold_windows.get()};
    for (sink::Table* t : {bronze_payments.get(), quarantine_payments.get(), order_payments.get(), reconciliation.get()}) {
      if (t != nullptr) out.push_back(t);
    }
    return out;
  }

  /// Every open table, the payments side last when there is one.
  std::vector<sink::Table*> All() const {
    std::vector<sink::Table*> all = {bronze.get(),       quarantine.get(), silver.get(),        late.get(),
                                     gold_windows.get(), gold_top.get(),   gold_customers.get()};
    for (sink::Table* t : {bronze_payments.get(), quarantine_payments.get(), order_payments.get(), reconciliation.get()}) {
      if (t != nullptr) all.push_back(t);
    }
    return all;
  }
};

}  // namespace medallion::engine
