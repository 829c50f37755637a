#include "engine/tables.h"

#include "common/file_util.h"
#include "engine/bronze_batch.h"
#include "format/schemas.h"

namespace medallion::engine {

arrow::Result<Tables> Tables::Open(const PipelineOptions& options, const std::string& query_id) {
  const std::string& d = options.data_dir;
  const int ci = options.log_checkpoint_interval;
  const sink::ParquetOptions pq = TableParquetOptions(options.parquet);
  const int64_t rr = options.removed_file_retention_us / 1000;
  Tables t;
  ARROW_RETURN_NOT_OK(MakeDirs(d));
  ARROW_ASSIGN_OR_RAISE(t.lock, DirLock::Acquire(d + "/.writer.lock", "data directory", d));
  ARROW_ASSIGN_OR_RAISE(t.bronze,
                        sink::Table::Open(d + "/bronze/orders_raw", "bronze_orders_raw", format::BronzeSchema(),
                                          {arrow::field("ingest_date", arrow::date32()),
                                           arrow::field("ingest_hour", arrow::int32())},
                                          pq, ci, rr));
  ARROW_ASSIGN_OR_RAISE(t.quarantine, sink::Table::Open(d + "/quarantine/orders", "quarantine_orders",
                                                        format::QuarantineSchema(), {}, pq, ci, rr));
  ARROW_ASSIGN_OR_RAISE(t.silver, sink::Table::Open(d + "/silver/order_lines", "silver_order_lines",
                                                    format::SilverSchema(),
                                                    {arrow::field("event_date", arrow::date32())}, pq, ci, rr));
  ARROW_ASSIGN_OR_RAISE(t.late, sink::Table::Open(d + "/late/order_lines", "late_order_lines",
                                                  format::LateSchema(), {}, pq, ci, rr));
  ARROW_ASSIGN_OR_RAISE(t.gold_windows,
                        sink::Table::Open(d + "/gold/revenue_by_category_window", "gold_revenue_by_category_window",
                                          format::RevenueWindowSchema(), {}, pq, ci, rr));
  ARROW_ASSIGN_OR_RAISE(t.gold_top, sink::Table::Open(d + "/gold/top_products", "gold_top_products",
                                                      format::TopProductsSchema(), {}, pq, ci, rr));
  ARROW_ASSIGN_OR_RAISE(t.gold_customers, sink::Table::Open(d + "/gold/customer_spend", "gold_customer_spend",
                                                            format::CustomerSpendSchema(), {}, pq, ci, rr));
  for (auto* table : t.All()) ARROW_RETURN_NOT_OK(table->CheckWriter(query_id));
  for (auto* table : t.All()) ARROW_RETURN_NOT_OK(table->RemoveOrphans());
  return t;
}

}  // namespace medallion::engine
