#pragma once

#include <memory>

#include <arrow/type.h>

/// Arrow schemas of medallion's tables: the data contract of EVENTS.md in types.
/// Timestamps are UTC microseconds (Spark and Delta reject nanoseconds). Money is
/// decimal128(18, 4) per value and decimal128(38, 4) for Gold's sums, exact in every reader.
/// Partition columns are listed separately: they live in the directory name (Hive style)
/// and the Delta log, not in the Parquet files.
namespace medallion::format {

inline std::shared_ptr<arrow::DataType> TimestampType() {
  return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
}
inline std::shared_ptr<arrow::DataType> MoneyType() { return arrow::decimal128(18, 4); }
/// Gold's money sums: decimal128(38, 4), the widest decimal every reader takes, so a sum
/// of any number of decimal(18,4) values a table can hold is exact.
inline std::shared_ptr<arrow::DataType> GoldMoneyType() { return arrow::decimal128(38, 4); }
/// Money is carried internally as an integer count of 1/10000 units.
constexpr int64_t kMoneyScale = 10000;

/// bronze/orders_raw: one row per Kafka record, value unchanged.
inline std::shared_ptr<arrow::Schema> BronzeSchema() {
  return arrow::schema({
      arrow::field("topic", arrow::utf8(), false),
      arrow::field("partition", arrow::int32(), false),
      arrow::field("offset", arrow::int64(), false),
      arrow::field("kafka_timestamp", TimestampType(), true),
      arrow::field("key", arrow::binary(), true),
      arrow::field("value", arrow::binary(), true),
      arrow::field("ingest_time", TimestampType(), false),
  });
}

/// quarantine/orders: every record that breaks the contract, with a code and a detail.
inline std::shared_ptr<arrow::Schema> QuarantineSchema() {
  return arrow::schema({
      arrow::field("topic", arrow::utf8(), false),
      arrow::field("partition", arrow::int32(), false),
      arrow::field("offset", arrow::int64(), false),
      arrow::field("value", arrow::binary(), true),
      arrow::field("error", arrow::utf8(), false),
      arrow::field("detail", arrow::utf8(), false),
      arrow::field("ingest_time", TimestampType(), false),
  });
}

/// One order line as it comes out of the parser (before flatten), a list element.
inline std::shared_ptr<arrow::DataType> ItemType() {
  return arrow::struct_({
      arrow::field("product_id", arrow::utf8(), false),
      arrow::field("product_name", arrow::utf8(), true),
      arrow::field("category", arrow::utf8(), false),
      arrow::field("quantity", arrow::int64(), false),
      arrow::field("unit_price", MoneyType(), false),
      // Version 2 fields: null when the event is version 1 or the item does not carry them.
      arrow::field("discount", MoneyType(), true),
      arrow::field("sku", arrow::utf8(), true),
  });
}

/// The parser's output: one row per valid event, items as a list.
inline std::shared_ptr<arrow::Schema> EventSchema() {
  return arrow::schema({
      arrow::field("event_id", arrow::utf8(), false),
      arrow::field("event_type", arrow::utf8(), true),
      arrow::field("event_time", TimestampType(), false),
      arrow::field("order_id", arrow::utf8(), false),
      arrow::field("status", arrow::utf8(), false),
      arrow::field("customer_id", arrow::utf8(), false),
      arrow::field("customer_name", arrow::utf8(), true),
      arrow::field("customer_email", arrow::utf8(), true),
      arrow::field("customer_country", arrow::utf8(), true),
      arrow::field("customer_segment", arrow::utf8(), true),
      arrow::field("items", arrow::list(arrow::field("item", ItemType(), false)), false),
      arrow::field("payment_method", arrow::utf8(), true),
      arrow::field("currency", arrow::utf8(), true),
      arrow::field("payment_amount", MoneyType(), true),
      arrow::field("kafka_partition", arrow::int32(), false),
      arrow::field("kafka_offset", arrow::int64(), false),
      arrow::field("schema_version", arrow::int32(), false),
      // Version 2 fields: null when the event is version 1 or does not carry them.
      arrow::field("channel", arrow::utf8(), true),
      arrow::field("customer_loyalty_tier", arrow::utf8(), true),
  });
}

/// silver/order_lines: one row per line of each first-seen PAID event.
/// Partition column event_date (date32) is derived from event_time.
/// The version 2 columns come last, nullable, so a table written before them evolves by
/// appending them: schema_version is the event's version (1 or 2; null only in files written
/// before the column existed); channel, customer_loyalty_tier, sku and discount are the event's
/// values, null for a version 1 event and where a version 2 event leaves the field out (an
/// absent discount is null, not 0, although line_amount counts it as 0).
inline std::shared_ptr<arrow::Schema> SilverSchema() {
  return arrow::schema({
      arrow::field("event_id", arrow::utf8(), false),
      arrow::field("order_id", arrow::utf8(), false),
      arrow::field("event_time", TimestampType(), false),
      arrow::field("status", arrow::utf8(), false),
      arrow::field("customer_id", arrow::utf8(), false),
      arrow::field("customer_name", arrow::utf8(), true),
      arrow::field("customer_email", arrow::utf8(), true),
      arrow::field("customer_country", arrow::utf8(), true),
      arrow::field("customer_segment", arrow::utf8(), true),
      arrow::field("line_no", arrow::int32(), false),
      arrow::field("product_id", arrow::utf8(), false),
      arrow::field("product_name", arrow::utf8(), true),
      arrow::field("category", arrow::utf8(), false),
      arrow::field("quantity", arrow::int64(), false),
      arrow::field("unit_price", MoneyType(), false),
      arrow::field("line_amount", MoneyType(), false),
      arrow::field("payment_method", arrow::utf8(), true),
      arrow::field("currency", arrow::utf8(), true),
      arrow::field("kafka_partition", arrow::int32(), false),
      arrow::field("kafka_offset", arrow::int64(), false),
      arrow::field("schema_version", arrow::int32(), true),
      arrow::field("channel", arrow::utf8(), true),
      arrow::field("customer_loyalty_tier", arrow::utf8(), true),
      arrow::field("sku", arrow::utf8(), true),
      arrow::field("discount", MoneyType(), true),
  });
}

/// gold/revenue_by_category_window.
inline std::shared_ptr<arrow::Schema> RevenueWindowSchema() {
  return arrow::schema({
      arrow::field("window_start", TimestampType(), false),
      arrow::field("window_end", TimestampType(), false),
      arrow::field("category", arrow::utf8(), false),
      arrow::field("revenue", GoldMoneyType(), false),
      arrow::field("quantity", arrow::int64(), false),
      arrow::field("orders", arrow::int64(), false),
  });
}

/// gold/top_products.
inline std::shared_ptr<arrow::Schema> TopProductsSchema() {
  return arrow::schema({
      arrow::field("product_id", arrow::utf8(), false),
      arrow::field("product_name", arrow::utf8(), true),
      arrow::field("category", arrow::utf8(), false),
      arrow::field("total_quantity", arrow::int64(), false),
      arrow::field("revenue", GoldMoneyType(), false),
      arrow::field("rank", arrow::int32(), false),
  });
}

/// gold/customer_spend.
inline std::shared_ptr<arrow::Schema> CustomerSpendSchema() {
  return arrow::schema({
      arrow::field("customer_id", arrow::utf8(), false),
      arrow::field("customer_name", arrow::utf8(), true),
      arrow::field("country", arrow::utf8(), true),
      arrow::field("orders", arrow::int64(), false),
      arrow::field("total_spend", GoldMoneyType(), false),
      arrow::field("first_order_time", TimestampType(), false),
      arrow::field("last_order_time", TimestampType(), false),
  });
}

/// late/order_lines: Silver lines that a Gold window did not take, and why:
///   "window_final"          the line's window had ended at or before the watermark (one row
///                           per line and window; sliding windows can give several)
///   "beyond_dedup_horizon"  the event is older than watermark - dedup horizon, so a
///                           duplicate can no longer be recognised: kept out of Silver
inline std::shared_ptr<arrow::Schema> LateSchema() {
  return arrow::schema({
      arrow::field("event_id", arrow::utf8(), false),
      arrow::field("order_id", arrow::utf8(), false),
      arrow::field("line_no", arrow::int32(), false),
      arrow::field("event_time", TimestampType(), false),
      arrow::field("category", arrow::utf8(), false),
      arrow::field("quantity", arrow::int64(), false),
      arrow::field("line_amount", MoneyType(), false),
      arrow::field("window_start", TimestampType(), true),
      arrow::field("window_end", TimestampType(), true),
      arrow::field("reason", arrow::utf8(), false),
      arrow::field("watermark", TimestampType(), true),
      arrow::field("batch_id", arrow::int64(), false),
      arrow::field("kafka_partition", arrow::int32(), false),
      arrow::field("kafka_offset", arrow::int64(), false),
  });
}

/// The payment parser's output: one row per valid payment event (EVENTS.md, topic
/// `payments`), every status; the join takes the CAPTURED ones.
inline std::shared_ptr<arrow::Schema> PaymentSchema() {
  return arrow::schema({
      arrow::field("payment_id", arrow::utf8(), false),
      arrow::field("order_id", arrow::utf8(), false),
      arrow::field("event_time", TimestampType(), false),
      arrow::field("status", arrow::utf8(), false),
      arrow::field("amount", MoneyType(), false),
      arrow::field("currency", arrow::utf8(), false),
      arrow::field("method", arrow::utf8(), true),
      arrow::field("provider", arrow::utf8(), true),
      arrow::field("kafka_partition", arrow::int32(), false),
      arrow::field("kafka_offset", arrow::int64(), false),
      arrow::field("schema_version", arrow::int32(), false),
  });
}

/// The order side of the payment join: one row per order (the first PAID event of each
/// order_id), with the total of its lines (line_amount, net of discounts).
inline std::shared_ptr<arrow::Schema> JoinOrderSchema() {
  return arrow::schema({
      arrow::field("order_id", arrow::utf8(), false),
      arrow::field("event_id", arrow::utf8(), false),
      arrow::field("order_time", TimestampType(), false),
      arrow::field("order_total", MoneyType(), false),
      arrow::field("currency", arrow::utf8(), true),
      arrow::field("kafka_partition", arrow::int32(), false),
      arrow::field("kafka_offset", arrow::int64(), false),
  });
}

/// silver/order_payments: one row per order matched with its CAPTURED payment.
/// delay_ms = payment_time - order_time in milliseconds (negative: paid before the order
/// event). currency is the payment's. Partition column order_date (date32) is derived
/// from order_time.
inline std::shared_ptr<arrow::Schema> OrderPaymentsSchema() {
  return arrow::schema({
      arrow::field("order_id", arrow::utf8(), false),
      arrow::field("event_id", arrow::utf8(), false),
      arrow::field("payment_id", arrow::utf8(), false),
      arrow::field("order_time", TimestampType(), false),
      arrow::field("payment_time", TimestampType(), false),
      arrow::field("order_total", MoneyType(), false),
      arrow::field("payment_amount", MoneyType(), false),
      arrow::field("currency", arrow::utf8(), false),
      arrow::field("method", arrow::utf8(), true),
      arrow::field("provider", arrow::utf8(), true),
      arrow::field("delay_ms", arrow::int64(), false),
  });
}

/// gold/payment_reconciliation: what the join could not reconcile, once final.
/// reason: missing_payment (an order without its payment; event_id and order_* set),
/// orphan_payment (a captured payment without an order; payment_* set) or amount_mismatch
/// (a match whose amounts or currencies differ; both sides set). late: the order or payment
/// arrived when the join's watermark had already passed its event time, so it never entered
/// the join. watermark: the join watermark the row was decided at. batch_id: the batch that
/// wrote it.
inline std::shared_ptr<arrow::Schema> ReconciliationSchema() {
  return arrow::schema({
      arrow::field("reason", arrow::utf8(), false),
      arrow::field("order_id", arrow::utf8(), false),
      arrow::field("event_id", arrow::utf8(), true),
      arrow::field("payment_id", arrow::utf8(), true),
      arrow::field("order_time", TimestampType(), true),
      arrow::field("payment_time", TimestampType(), true),
      arrow::field("order_total", MoneyType(), true),
      arrow::field("payment_amount", MoneyType(), true),
      arrow::field("currency", arrow::utf8(), true),
      arrow::field("late", arrow::boolean(), false),
      arrow::field("watermark", TimestampType(), true),
      arrow::field("batch_id", arrow::int64(), false),
  });
}

}  // namespace medallion::format
