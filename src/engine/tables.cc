#include "engine/tables.h"

#include <spdlog/spdlog.h>

#include "common/file_util.h"
#include "engine/bronze_batch.h"
#include "format/schemas.h"

namespace medallion::engine {

arrow::Result<Tables> Tables::Open(const PipelineOptions& options, const std::string& query_id) {
  const std::string& d = options.data_dir;
  const int ci = options.log_checkpoint_interval;
  const sink::ParquetOptions pq = TableParquetOptions(options.parquet);
  const int64_t rr = options.removed_file_retention_us / 1000;
  const int64_t lr = options.log_retention_us / 1000;
  Tables t;
  ARROW_RETURN_NOT_OK(MakeDirs(d));
  ARROW_ASSIGN_OR_RAISE(t.lock, DirLock::Acquire(d + "/.writer.lock", "data directory", d));
  // Every Bronze table: one row per Kafka record, partitioned by ingest date and hour.
  auto open_bronze = [&](const std::string& rel, const std::string& name) {
    return sink::Table::Open(d + "/" + rel, name, format::BronzeSchema(),
                             {arrow::field("ingest_date", arrow::date32()), arrow::field("ingest_hour", arrow::int32())},
                             pq, ci, rr, lr);
  };
  ARROW_ASSIGN_OR_RAISE(t.bronze, open_bronze("bronze/orders_raw", "bronze_orders_raw"));
  ARROW_ASSIGN_OR_RAISE(t.quarantine, sink::Table::Open(d + "/quarantine/orders", "quarantine_orders",
                                                        format::QuarantineSchema(), {}, pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.silver, sink::Table::Open(d + "/silver/order_lines", "silver_order_lines",
                                                    format::SilverSchema(),
                                                    {arrow::field("event_date", arrow::date32())}, pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.late, sink::Table::Open(d + "/late/order_lines", "late_order_lines",
                                                  format::LateSchema(), {}, pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.gold_windows,
                        sink::Table::Open(d + "/gold/revenue_by_category_window", "gold_revenue_by_category_window",
                                          format::RevenueWindowSchema(), {}, pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.gold_top, sink::Table::Open(d + "/gold/top_products", "gold_top_products",
                                                      format::TopProductsSchema(), {}, pq, ci, rr, lr));
  ARROW_ASSIGN_OR_RAISE(t.gold_customers, sink::Table::Open(d + "/gold/customer_spend", "gold_customer_spend",
                                                            format::CustomerSpendSchema(), {}, pq, ci, rr, lr));
  if (!options.payments_topic.empty()) {
    ARROW_ASSIGN_OR_RAISE(t.bronze_payments, open_bronze("bronze/payments_raw", "bronze_payments_raw"));
    ARROW_ASSIGN_OR_RAISE(t.quarantine_payments, sink::Table::Open(d + "/quarantine/payments", "quarantine_payments",
                                                                   format::QuarantineSchema(), {}, pq, ci, rr, lr));
    ARROW_ASSIGN_OR_RAISE(t.order_payments,
                          sink::Table::Open(d + "/silver/order_payments", "silver_order_payments",
                                            format::OrderPaymentsSchema(),
                                            {arrow::field("order_date", arrow::date32())}, pq, ci, rr, lr));
    ARROW_ASSIGN_OR_RAISE(t.reconciliation,
                          sink::Table::Open(d + "/gold/payment_reconciliation", "gold_payment_reconciliation",
                                            format::ReconciliationSchema(), {}, pq, ci, rr, lr));
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
                                  const std::string& checkpoint_dir) const {
  for (const sink::Table* table : All()) {
    const int64_t txn = table->CommittedBatch(query_id);
    if (txn < 0) continue;  // not written by this query yet (CheckWriter has vetted it)
    const int64_t newest_allowed = next_planned ? last_committed + 1 : last_committed;
    if (txn > newest_allowed) {
      return arrow::Status::Invalid(
          "table ", table->name(), " (", table->root(), ") holds batch ", txn, " of query ", query_id,
          " (its Delta txn version), but the checkpoint '", checkpoint_dir, "' last committed batch ",
          last_committed, next_planned ? " and planned the next one" : " and planned none after it",
          ": the checkpoint is older than the tables (restored or copied from an earlier moment?). "
          "Running would plan batches the table already holds and skip them there, losing their "
          "records. Resume with the checkpoint directory as the tables' last run left it, or start "
          "a new checkpoint directory with a new data directory");
    }
    if (txn < last_committed) {
      return arrow::Status::Invalid(
          "table ", table->name(), " (", table->root(), ") holds batches of query ", query_id, " up to ", txn,
          " (its Delta txn version), but the checkpoint '", checkpoint_dir, "' last committed batch ",
          last_committed, ": the table is older than the checkpoint (restored from an earlier copy?) and "
          "would never receive batches ", txn + 1, "..", last_committed, ". Restore the data directory "
          "and the checkpoint directory from the same moment, or start both anew");
    }
  }
  return arrow::Status::OK();
}

}  // namespace medallion::engine
