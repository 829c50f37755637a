#include "engine/tables.h"

#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "common/object_store.h"
#include "engine/bronze_batch.h"
#include "format/schemas.h"
#include "ops/state_codec.h"

namespace medallion::engine {

namespace {

/// Below this many rows a Silver, Quarantine or Late file, with compaction on, is one the
/// compactor merges again (a continuous batch's within seconds; a small catch-up batch's in
/// the next continuous run): it is written by medallion's own encoder
/// (sink::EncodePlainParquet), not Arrow's writer. Bronze's files are always written by that
/// encoder: their message bytes gain nothing from Arrow's dictionaries and statistics, and
/// the encoder took 7% off the Bronze floor's CPU (bench/consume_ceiling --writer).
constexpr int64_t kPlainBelowRows = 1 << 16;

}  // namespace

sink::ParquetOptions ParquetFor(const PipelineOptions& options, const std::string& layer) {
  sink::ParquetOptions pq = options.parquet;
  auto codec = options.layer_codecs.find(layer);
  if (codec != options.layer_codecs.end()) {
    pq.compression = codec->second.compression;
    pq.compression_level = codec->second.compression_level;
  }
  if (options.compaction && (layer == "silver" || layer == "quarantine" || layer == "late")) {
    pq.plain_below_rows = kPlainBelowRows;
  }
  if (layer == "bronze") pq.plain_below_rows = INT64_MAX;
  return TableParquetOptions(std::move(pq));
}

arrow::Result<Tables> Tables::Open(const PipelineOptions& options, const std::string& query_id) {
  const std::string& d = options.data_dir;
  const int ci = options.log_checkpoint_interval;
  const sink::ParquetOptions bronze_pq = ParquetFor(options, "bronze"), quarantine_pq = ParquetFor(options, "quarantine"),
                             silver_pq = ParquetFor(options, "silver"), late_pq = ParquetFor(options, "late"),
                             gold_pq = ParquetFor(options, "gold");
  const int64_t rr = options.removed_file_retention_us / 1000;
  const int64_t lr = options.log_retention_us / 1000;
  Tables t;
  ARROW_RETURN_NOT_OK(MakeDirs(d));
  if (options.shared_tables()) {
    // Several members write these tables at once; their commits are compare-and-sets on the
    // partitions' positions (Table::set_sources_owned).
  } else if (IsObjectStorePath(d)) {
    // No lock on an object store: each table's log takes one version per create, so two
    // writers cannot both commit a version (see Checkpoint::Open for the checkpoint's fence).
    ARROW_RETURN_NOT_OK(objstore::CheckConditionalPut(d));
  } else {
    ARROW_ASSIGN_OR_RAISE(t.lock, DirLock::Acquire(d + "/.writer.lock", "data directory", d));
  }
  // Every Bronze table: one row per Kafka record, partitioned by ingest date and hour.
  auto open_bronze = [&](const std::string& rel, const std::string& name) {
    return sink::Table::Open(d + "/" + rel, name, format::BronzeSchema(),
                             {arrow::field("ingest_date", arrow::date32()), arrow::field("ingest_hour", arrow::int32())},
                             bronze_pq, ci, rr, lr);
  };
  ARROW_ASSIGN_OR_RAISE(t.bronze, open_bronze("bronze/orders_raw", "bronze_orders_raw"));
  ARROW_ASSIGN_OR_RAISE(t.quarantine, sink::Table::Open(d + "/quarantine/orders", "quarantine_orders",
                                                        format::QuarantineSchema(), {}, quarantine_pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.silver, sink::Table::Open(d + "/silver/order_lines", "silver_order_lines",
                                                    format::SilverSchema(),
                                                    {arrow::field("event_date", arrow::date32())}, silver_pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.late, sink::Table::Open(d + "/late/order_lines", "late_order_lines",
                                                  format::LateSchema(), {}, late_pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.gold_windows,
                        sink::Table::Open(d + "/gold/revenue_by_category_window", "gold_revenue_by_category_window",
                                          format::RevenueWindowSchema(), {}, gold_pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.gold_top, sink::Table::Open(d + "/gold/top_products", "gold_top_products",
                                                      format::TopProductsSchema(), {}, gold_pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.gold_customers, sink::Table::Open(d + "/gold/customer_spend", "gold_customer_spend",
                                                            format::CustomerSpendSchema(), {}, gold_pq, ci, rr, lr));
  if (!options.payments_topic.empty()) {
    ARROW_ASSIGN_OR_RAISE(t.bronze_payments, open_bronze("bronze/payments_raw", "bronze_payments_raw"));
    ARROW_ASSIGN_OR_RAISE(t.quarantine_payments, sink::Table::Open(d + "/quarantine/payments", "quarantine_payments",
                                                                   format::QuarantineSchema(), {}, quarantine_pq, ci, rr, lr));
    ARROW_ASSIGN_OR_RAISE(t.order_payments,
                          sink::Table::Open(d + "/silver/order_payments", "silver_order_payments",
                                            format::OrderPaymentsSchema(),
                                            {arrow::field("order_date", arrow::date32())}, silver_pq, ci, rr, lr));
    ARROW_ASSIGN_OR_RAISE(t.reconciliation,
                          sink::Table::Open(d + "/gold/payment_reconciliation", "gold_payment_reconciliation",
                                            format::ReconciliationSchema(), {}, gold_pq, ci, rr, lr));
  }
  if (options.shared_tables()) {
    // A member's files in flight are named by its own txn, which no other member removes as
    // orphans (VACUUM's retention removes what a member that died left behind).
    for (auto* table : t.All()) table->set_sources_owned(true);
    return t;
  }
  for (auto* table : t.All()) ARROW_RETURN_NOT_OK(table->CheckWriter(query_id));
  for (auto* table : t.All()) ARROW_RETURN_NOT_OK(table->RemoveOrphans(query_id));
  return t;
}

arrow::Status Tables::EvolveSchemas() {
  for (sink::Table* table : All()) {
    if (table->log().pending_columns().empty()) continue;
    std::string columns;
    for (const auto& column : table->log().pending_columns()) columns += (columns.empty() ? "" : ", ") + column;
    ARROW_RETURN_NOT_OK(table->EvolveSchema());
    spdlog::info("table {}: schema evolved in place at Delta version {}, nullable columns appended: {}",
                 table->name(), table->log().version(), columns);
  }
  return arrow::Status::OK();
}

arrow::Status Tables::CheckInStep(const std::string& query_id, int64_t last_committed, bool next_planned,
                                  const TableProgress& progress, const std::string& checkpoint_dir) const {
  for (const sink::Table* table : All()) {
    const int64_t txn = table->CommittedBatch(query_id);
    const std::optional<int64_t> recorded = progress.Expected(table->name());
    if (!recorded && txn < 0) continue;  // not written by this query yet (CheckWriter has vetted it)
    const int64_t expected = recorded.value_or(last_committed);
    if (txn == expected || (next_planned && txn == last_committed + 1)) continue;
    // A Gold snapshot deferred by gold_commit_interval, and the rows of Quarantine and Late
    // held by side_commit_interval and of Bronze by bronze_commit_interval, are committed
    // after the checkpoint recorded the table's older batch (Pipeline's FlushDeferredGold and
    // FlushHeldRows): up to the last batch.
    const bool deferred = table == gold_top.get() || table == gold_customers.get() || table == gold_windows.get() ||
                          table == quarantine.get() || table == late.get() || table == bronze.get();
    if (deferred && recorded && txn > expected && txn <= last_committed) continue;
    if (txn > expected) {
      return arrow::Status::Invalid(
          "table ", table->name(), " (", table->root(), ") holds batch ", txn, " of query ", query_id,
          " (its Delta txn version), but the checkpoint '", checkpoint_dir, "' last committed batch ",
          last_committed, next_planned ? " and planned the next one" : " and planned none after it",
          recorded ? ", after which the table held batch " + std::to_string(*recorded) : std::string(),
          ": the checkpoint is older than the tables (restored or copied from an earlier moment?)",
          IsObjectStorePath(checkpoint_dir)
              ? ", or another medallion process is using this checkpoint right now (on an object "
                "store no lock keeps a second one out; this check and the batch plans do)"
              : "",
          ". Running would plan batches the table already holds and skip them there, losing their "
          "records. Resume with the checkpoint directory as the tables' last run left it, or start "
          "a new checkpoint directory with a new data directory");
    }
    return arrow::Status::Invalid(
        "table ", table->name(), " (", table->root(), ") holds batches of query ", query_id, " up to ", txn,
        " (its Delta txn version), but the checkpoint '", checkpoint_dir, "' last committed batch ",
        last_committed, " with the table at batch ", expected, ": the table is older than the checkpoint "
        "(restored from an earlier copy?) and would never receive batches ", txn + 1, "..", expected,
        ". Restore the data directory and the checkpoint directory from the same moment, or start both anew");
  }
  return arrow::Status::OK();
}

void TableProgress::Record(const Tables& tables, const std::string& query_id) {
  for (const sink::Table* table : tables.All()) batches_[table->name()] = table->CommittedBatch(query_id);
}

std::optional<int64_t> TableProgress::Expected(const std::string& table) const {
  auto it = batches_.find(table);
  if (it == batches_.end()) return std::nullopt;
  return it->second;
}

namespace {
constexpr std::string_view kProgressTag = "engine.table_progress";
}  // namespace

std::string TableProgress::SerializeState() const {
  ops::StateWriter w(kProgressTag, 1);
  w.WriteInt<uint64_t>(batches_.size());
  for (const auto& [name, batch] : batches_) {
    w.WriteString(name);
    w.WriteInt<int64_t>(batch);
  }
  return std::move(w).Finish();
}

arrow::Status TableProgress::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, ops::StateReader::Open(bytes, kProgressTag, 1));
  ARROW_ASSIGN_OR_RAISE(const uint64_t n, r.ReadCount(12));
  std::map<std::string, int64_t> batches;
  for (uint64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(std::string name, r.ReadString());
    ARROW_ASSIGN_OR_RAISE(const int64_t batch, r.ReadInt<int64_t>());
    if (batch < -1) return arrow::Status::Invalid("table progress: batch ", batch, " of table ", name);
    batches[std::move(name)] = batch;
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  batches_ = std::move(batches);
  return arrow::Status::OK();
}

}  // namespace medallion::engine
