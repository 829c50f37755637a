#pragma once

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

/// Schema-driven JSON → Arrow parser for order events (EVENTS.md).
///
/// Uses simdjson's DOM parser, which validates the whole record, so a truncated record or
/// one with trailing bytes is quarantined instead of half-read. A malformed record is
/// data, not an error: the returned Status is only an error for a broken input batch
/// (wrong schema) or an allocation failure. Not thread-safe: use one parser per thread;
/// reusing one across batches reuses its buffers.
class EventParser {
 public:
  EventParser();
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  /// Parses every row of a Bronze batch (BronzeSchema).
  arrow::Result<ParseResult> Parse(const arrow::RecordBatch& bronze);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medallion::format
