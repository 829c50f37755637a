#pragma once

#include <memory>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "format/event_parser.h"

namespace medallion::format {

/// Schema-driven JSON → Arrow parser for payment events (EVENTS.md, topic `payments`),
/// version 1. The result's events are PaymentSchema rows, its quarantine QuarantineSchema
/// rows, both in input order; every Bronze row lands in exactly one of the two.
///
/// The rules are the order parser's wherever the two contracts share a field: schema_version
/// is judged first (absent or null is version 1, a non-integer is wrong_type, any other
/// integer is unsupported_schema_version); event_time, money (amount), strings, not_json and
/// not_object read as in EventParser, with the same codes and details. Required:
/// payment_id, order_id, event_time, status (AUTHORIZED|CAPTURED|FAILED|REFUNDED, else
/// unknown_status), amount (>= 0, at most 4 decimals, fits decimal(18,4), else
/// bad_payment_amount) and currency; method and provider are optional strings. Unknown
/// fields are ignored (kept in Bronze); of a repeated key the first occurrence counts.
///
/// A malformed record is data, not an error: the returned Status is only an error for a
/// broken input batch (wrong schema) or an allocation failure. Not thread-safe: use one
/// parser per thread; reusing one across batches reuses its buffers.
class PaymentParser {
 public:
  explicit PaymentParser(EventParserOptions options = {});
  ~PaymentParser();
  PaymentParser(const PaymentParser&) = delete;
  PaymentParser& operator=(const PaymentParser&) = delete;

  /// Parses every row of a Bronze batch (BronzeSchema). Future skew is judged against the
  /// batch's own kafka_timestamp and ingest_time columns, so a replay decides the same.
  arrow::Result<ParseResult> Parse(const arrow::RecordBatch& bronze);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medallion::format
