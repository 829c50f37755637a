#pragma once

#include <cstdint>
#include <memory>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace medallion::format {

/// What the parser makes of one Bronze batch: the valid events (EventSchema, one row per
/// event, items as a list) and the records that break the contract (QuarantineSchema).
/// Every Bronze row lands in exactly one of the two.
struct ParseResult {
  std::shared_ptr<arrow::RecordBatch> events;
  std::shared_ptr<arrow::RecordBatch> quarantine;
};

/// What the parser is told beyond the contract itself.
struct EventParserOptions {
  /// An event whose time is more than this far ahead of its record's reference time
  /// (min(kafka_timestamp, ingest_time), or ingest_time without a usable Kafka timestamp)
  /// is quarantined as event_time_in_future, so it cannot move the watermark.
  int64_t max_future_skew_us = 600'000'000;
};

/// Schema-driven JSON → Arrow parser for order events (EVENTS.md), versions 1 and 2.
///
/// schema_version selects the contract and is judged before any other field: absent or null
/// is version 1, a non-integer is wrong_type, any integer but 1 or 2 is
/// unsupported_schema_version. The version 2 fields (channel, customer.loyalty_tier,
/// items[].sku, items[].discount) are read only in a version 2 event; in a version 1 event
/// they are unknown fields, ignored like any other (and kept in Bronze).
///
/// Uses simdjson's DOM parser, which validates the whole record, so a truncated record or
/// one with trailing bytes is quarantined instead of half-read. A malformed record is
/// data, not an error: the returned Status is only an error for a broken input batch
/// (wrong schema) or an allocation failure. Not thread-safe: use one parser per thread;
/// reusing one across batches reuses its buffers.
class EventParser {
 public:
  explicit EventParser(EventParserOptions options = {});
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  /// Parses every row of a Bronze batch (BronzeSchema). Future skew is judged against the
  /// batch's own kafka_timestamp and ingest_time columns, so a replay decides the same.
  arrow::Result<ParseResult> Parse(const arrow::RecordBatch& bronze);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medallion::format
