#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>
#include <simdjson.h>

#include "format/quarantine_reason.h"

/// Internal to medallion_format: what the JSON event parsers (EventParser for orders,
/// PaymentParser for payments) share when they read one Kafka record's value: the Bronze
/// input, the rules of fields every event type has (strings, money, event_time,
/// schema_version) and the quarantine table. Not part of the module's interface.
namespace medallion::format::internal {

/// A contract violation found while reading one record: the code and a detail that names
/// the field.
struct Violation {
  QuarantineReason reason;
  std::string detail;
};

/// The JSON name of a simdjson element type, for a detail ("number", "object", ...).
const char* TypeName(simdjson::dom::element_type t);

/// The values of the keys a reader needs from one object, found in one pass over it (one
/// at_key per key would walk the object again for each). The first occurrence of a key
/// counts, as with at_key; a null value counts as absent.
template <size_t N>
class Fields {
 public:
  Fields(const simdjson::dom::object& obj, const std::array<std::string_view, N>& keys) {
    static_assert(N <= 32);
    uint32_t seen = 0;
    // Producers write an object's keys in one order, mostly the order of `keys`: each key
    // is looked for from the one after the last found, so in that order it is the first
    // compared.
    size_t next = 0;
    for (const auto field : obj) {
      for (size_t k = 0; k < N; ++k) {
        const size_t i = next + k < N ? next + k : next + k - N;
        if ((seen >> i & 1u) == 0 && field.key == keys[i]) {
          seen |= 1u << i;
          if (field.value.type() != simdjson::dom::element_type::NULL_VALUE) values_[i] = field.value;
          next = i + 1 < N ? i + 1 : 0;
          break;
        }
      }
    }
  }
  const std::optional<simdjson::dom::element>& operator[](size_t i) const { return values_[i]; }

 private:
  std::array<std::optional<simdjson::dom::element>, N> values_;
};

/// Where a value sits in the event ("customer.name", "items[2].quantity"), spelled out only
/// when a violation names it.
struct Path {
  std::string_view parent;  // "" at the top level
  int64_t index = -1;       // the item's index, under "items"
  std::string_view key;     // "" for the item itself

  std::string str() const;
};

/// Reads a required string: absent (or null) or empty is missing_field, another JSON type
/// is wrong_type. On success `*out` points into the parsed document.
inline std::optional<Violation> RequiredString(const std::optional<simdjson::dom::element>& e, const Path& path,
                                               std::string_view* out) {
  if (!e) return Violation{QuarantineReason::kMissingField, path.str() + " is missing"};
  if (e->type() != simdjson::dom::element_type::STRING) {
    return Violation{QuarantineReason::kWrongType, path.str() + " must be a string, got " + TypeName(e->type())};
  }
  *out = std::string_view(*e);
  if (out->empty()) return Violation{QuarantineReason::kMissingField, path.str() + " is empty"};
  return std::nullopt;
}

/// Reads an optional string: absent (or null) is nullopt, another JSON type is wrong_type.
inline std::optional<Violation> OptionalString(const std::optional<simdjson::dom::element>& e, const Path& path,
                                               std::optional<std::string_view>* out) {
  if (!e) {
    *out = std::nullopt;
    return std::nullopt;
  }
  if (e->type() != simdjson::dom::element_type::STRING) {
    return Violation{QuarantineReason::kWrongType, path.str() + " must be a string, got " + TypeName(e->type())};
  }
  *out = std::string_view(*e);
  return std::nullopt;
}

/// Largest integer literal accepted as money: its value times 10^4 fits decimal(18,4).
constexpr int64_t kMaxMoneyInteger = 99'999'999'999'999;
/// Largest amount in 1/10000 units that decimal(18,4) holds.
constexpr int64_t kMaxMoneyUnits = 999'999'999'999'999'999;

/// `value` cut to at most 64 bytes on a UTF-8 character boundary, for a detail.
std::string Quoted(std::string_view value);

/// Reads a money field that is present (unit_price, amount, discount): a JSON number (else
/// wrong_type) read as an exact count of 1/10000 units that fits decimal(18,4) (else
/// `malformed`) and is >= 0 (else `negative`). An integer literal must satisfy
/// |v| <= kMaxMoneyInteger. A literal with a fraction or exponent is read as the double d
/// (as every JSON parser reads it); n = round-half-even(d * 10000.0) is accepted iff
/// |n| <= 2^53 and n / 10000.0 == d exactly. `path` names the field in the detail; it is
/// spelled out only for a violation (this runs for every item of every event).
std::optional<Violation> ReadMoney(const simdjson::dom::element& e, const Path& path,
                                   QuarantineReason malformed, QuarantineReason negative, int64_t* units);

/// The time an event's time is judged against: the latest it may be is
/// reference_us + max_future_skew_us.
struct TimeBound {
  int64_t reference_us;
  int64_t max_future_skew_us;
};

/// Reads event_time: an ISO-8601 string with a zone or an integer of epoch millis, within
/// [1970-01-01, 9999-12-31T23:59:59.999999Z] (else event_time_out_of_range) and at most
/// bound.max_future_skew_us ahead of bound.reference_us (else event_time_in_future), as
/// UTC microseconds.
std::optional<Violation> ReadEventTime(const std::optional<simdjson::dom::element>& e, const TimeBound& bound,
                                       int64_t* out);

/// The schema versions an event type has.
struct SchemaVersions {
  int64_t min;
  int64_t max;
  /// How a detail names them: "versions 1 and 2", "version 1".
  std::string_view text;
};

/// Reads schema_version: absent (or null) is version 1; a non-integer is wrong_type; an
/// integer outside `known` is unsupported_schema_version.
std::optional<Violation> ReadSchemaVersion(const std::optional<simdjson::dom::element>& e,
                                           const SchemaVersions& known, int32_t* out);

/// The top level of a record must be an object (else not_object).
std::optional<Violation> RequireObject(const simdjson::dom::element& root);

/// The columns of a Bronze batch (BronzeSchema) a parser reads, and the reading of one
/// record's value as a JSON document. Holds references to the batch's arrays; lives no
/// longer than one Parse call.
class BronzeRecords {
 public:
  /// The Bronze columns of `bronze`; Invalid (naming `parser`) if it is not a Bronze batch.
  static arrow::Result<BronzeRecords> Make(const arrow::RecordBatch& bronze, std::string_view parser);

  int64_t num_rows() const { return value_->length(); }
  int32_t partition(int64_t row) const { return partition_->Value(row); }
  int64_t offset(int64_t row) const { return offset_->Value(row); }

  /// Parses the value of record `row` with `dom` into `*root`. An empty or null value (a
  /// Kafka tombstone) and a value simdjson's DOM parser rejects (which validates the whole
  /// document: UTF-8, escapes, number ranges, trailing bytes) are not_json.
  std::optional<Violation> ParseValue(int64_t row, simdjson::dom::parser* dom, simdjson::dom::element* root) const;

  /// What record `row`'s event time is judged against: min(kafka_timestamp, ingest_time),
  /// or ingest_time when the record has no usable Kafka timestamp.
  TimeBound Bound(int64_t row, int64_t max_future_skew_us) const;

 private:
  friend class QuarantineBuilder;
  BronzeRecords() = default;

  std::shared_ptr<arrow::StringArray> topic_;
  std::shared_ptr<arrow::Int32Array> partition_;
  std::shared_ptr<arrow::Int64Array> offset_;
  std::shared_ptr<arrow::BinaryArray> value_;
  int64_t value_capacity_ = 0;  // of value_'s data buffer: the bytes a parse may read
  std::shared_ptr<arrow::TimestampArray> ingest_;
  std::shared_ptr<arrow::TimestampArray> kafka_ts_;
};

/// Builds the quarantine table (QuarantineSchema): one row per record that breaks the
/// contract, with the record's coordinates and value unchanged. Rare rows, so Arrow's
/// builders. Reusable after Finish.
class QuarantineBuilder {
 public:
  QuarantineBuilder();

  /// Appends record `row` of `in` with the violation's code and detail.
  arrow::Status Append(const BronzeRecords& in, int64_t row, const Violation& violation);

  /// The rows appended since the last Finish, as a QuarantineSchema batch.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Finish();

 private:
  arrow::StringBuilder topic_, error_, detail_;
  arrow::Int32Builder partition_;
  arrow::Int64Builder offset_;
  arrow::BinaryBuilder value_;
  arrow::TimestampBuilder ingest_;
};

/// The record loop both parsers share: parses each record of `in` with `dom`, reads it with
/// `read(root, bound)` (a Violation, or nullopt when the record is valid), and hands a valid
/// record's coordinates to `append(partition, offset)` and an invalid one to `quarantine`.
/// Every record ends in exactly one of the two, in input order.
template <typename Read, typename Append>
arrow::Status ForEachRecord(const BronzeRecords& in, simdjson::dom::parser* dom, int64_t max_future_skew_us,
                            QuarantineBuilder* quarantine, Read&& read, Append&& append) {
  for (int64_t row = 0; row < in.num_rows(); ++row) {
    simdjson::dom::element root;
    std::optional<Violation> violation = in.ParseValue(row, dom, &root);
    if (!violation) violation = read(root, in.Bound(row, max_future_skew_us));
    if (violation) {
      ARROW_RETURN_NOT_OK(quarantine->Append(in, row, *violation));
      continue;
    }
    append(in.partition(row), in.offset(row));
  }
  return arrow::Status::OK();
}

}  // namespace medallion::format::internal
