#include "format/json_fields.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <arrow/memory_pool.h>

#include "common/time_util.h"
#include "common/utf8.h"
#include "format/schemas.h"

namespace medallion::format::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

/// Bytes of a value quoted in a violation's detail.
constexpr size_t kQuotedBytes = 64;

/// Why a JSON number is not money.
enum class MoneyError { kNone, kOutOfRange, kTooManyDecimals };

/// Reads a JSON number as an exact count of 1/10000 units (the rule ReadMoney states).
MoneyError ToMoney(const element& e, int64_t* units) {
  if (e.type() == element_type::INT64) {
    const int64_t v = int64_t(e);
    if (v > kMaxMoneyInteger || v < -kMaxMoneyInteger) return MoneyError::kOutOfRange;
    *units = v * kMoneyScale;
    return MoneyError::kNone;
  }
  if (e.type() == element_type::UINT64) return MoneyError::kOutOfRange;  // > INT64_MAX
  const double d = double(e);
  if (!std::isfinite(d)) return MoneyError::kOutOfRange;
  const double n = std::nearbyint(d * static_cast<double>(kMoneyScale));
  if (std::fabs(n) > 9007199254740992.0) return MoneyError::kOutOfRange;
  if (n / static_cast<double>(kMoneyScale) != d) return MoneyError::kTooManyDecimals;
  *units = static_cast<int64_t>(n);
  return MoneyError::kNone;
}

/// The detail for a number that is not money, e.g. "items[0].unit_price has more than 4
/// decimals, got 1.23456".
std::string MoneyDetail(const std::string& path, MoneyError error, const element& e) {
  const std::string text = Quoted(simdjson::minify(e));
  if (error == MoneyError::kTooManyDecimals) return path + " has more than 4 decimals, got " + text;
  return path + " is out of range for decimal(18,4) (|value| must be <= 99999999999999.9999), got " + text;
}

bool IsNumber(element_type t) {
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

/// The detail for a record simdjson's DOM parser rejects. simdjson validates the whole
/// document: bytes that are not UTF-8 (UTF8_ERROR), a string escape encoding an unpaired
/// surrogate (STRING_ERROR) and an integer literal outside the 64-bit range (NUMBER_ERROR)
/// all reject it, wherever they are, unknown fields included.
std::string NotJsonDetail(simdjson::error_code error) {
  std::string detail = "not valid JSON: ";
  switch (error) {
    case simdjson::UTF8_ERROR:
      detail += "the bytes are not valid UTF-8";
      break;
    case simdjson::STRING_ERROR:
      detail += "a string is malformed (a bad escape or an unpaired surrogate)";
      break;
    case simdjson::NUMBER_ERROR:
      detail += "a number is out of range (an integer beyond 64 bits or a double beyond its range) or malformed";
      break;
    default:
      detail += simdjson::error_message(error);
      return detail;
  }
  detail += " (";
  detail += simdjson::error_message(error);
  detail += ")";
  return detail;
}

}  // namespace

const char* TypeName(element_type t) {
  switch (t) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "number";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

std::string Path::str() const {
  std::string out(parent);
  if (index >= 0) out += "[" + std::to_string(index) + "]";
  if (!key.empty()) {
    if (!out.empty()) out += ".";
    out += key;
  }
  return out;
}

std::string Quoted(std::string_view value) { return std::string(Utf8Prefix(value, kQuotedBytes)); }

std::optional<Violation> ReadMoney(const element& e, const Path& path, QuarantineReason malformed,
                                   QuarantineReason negative, int64_t* units) {
  if (!IsNumber(e.type())) {
    return Violation{QuarantineReason::kWrongType, path.str() + " must be a number, got " + TypeName(e.type())};
  }
  if (const MoneyError error = ToMoney(e, units); error != MoneyError::kNone) {
    return Violation{malformed, MoneyDetail(path.str(), error, e)};
  }
  if (*units < 0) return Violation{negative, path.str() + " must be >= 0, got " + Quoted(simdjson::minify(e))};
  return std::nullopt;
}

std::optional<Violation> ReadEventTime(const std::optional<element>& e, const TimeBound& bound, int64_t* out) {
  if (!e) return Violation{QuarantineReason::kMissingField, "event_time is missing"};
  auto out_of_range = [](const std::string& shown) {
    return Violation{QuarantineReason::kEventTimeOutOfRange,
                     "event_time " + shown + " is outside [1970-01-01T00:00:00Z, 9999-12-31T23:59:59.999999Z]"};
  };
  if (e->type() == element_type::STRING) {
    const std::string_view text(*e);
    // The text as a reason shows it, made only for a reason (not for every valid event).
    auto shown = [text] { return "'" + Quoted(text) + "'"; };
    auto micros = ParseIso8601Micros(text);
    if (!micros) {
      return Violation{QuarantineReason::kBadEventTime,
                       "event_time " + shown() + " is not ISO-8601 with a zone (e.g. 2026-11-24T10:15:30.123Z)"};
    }
    if (*micros < kMinEventTimeMicros || *micros > kMaxEventTimeMicros) return out_of_range(shown());
    *out = *micros;
  } else if (e->type() == element_type::INT64) {
    const int64_t millis = int64_t(*e);
    if (millis < kMinEventTimeMicros / 1000 || millis > kMaxEventTimeMicros / 1000) {
      return out_of_range(std::to_string(millis) + " (epoch millis)");
    }
    *out = millis * 1000;
  } else if (e->type() == element_type::UINT64) {
    return out_of_range(std::to_string(uint64_t(*e)) + " (epoch millis)");
  } else {
    return Violation{QuarantineReason::kWrongType,
                     std::string("event_time must be an ISO-8601 string or epoch millis, got ") +
                         TypeName(e->type())};
  }
  int64_t latest;
  if (__builtin_add_overflow(bound.reference_us, bound.max_future_skew_us, &latest)) {
    latest = std::numeric_limits<int64_t>::max();
  }
  if (*out > latest) {
    return Violation{QuarantineReason::kEventTimeInFuture,
                     "event_time " + FormatIso8601Micros(*out) + " is more than " +
                         std::to_string(bound.max_future_skew_us) + " us (watermark.max_future_skew) ahead of " +
                         "the record's time " + FormatIso8601Micros(bound.reference_us) +
                         " (min of Kafka timestamp and ingest time)"};
  }
  return std::nullopt;
}

std::optional<Violation> ReadSchemaVersion(const std::optional<element>& e, const SchemaVersions& known,
                                           int32_t* out) {
  if (!e) {
    *out = 1;
    return std::nullopt;
  }
  auto unsupported = [&known](const std::string& shown) {
    return Violation{QuarantineReason::kUnsupportedSchemaVersion,
                     "schema_version " + shown + " is not supported (this engine reads " + std::string(known.text) +
                         ")"};
  };
  if (e->type() == element_type::UINT64) return unsupported(std::to_string(uint64_t(*e)));
  if (e->type() != element_type::INT64) {
    return Violation{QuarantineReason::kWrongType,
                     std::string("schema_version must be an integer, got ") +
                         (e->type() == element_type::DOUBLE ? "a fraction" : TypeName(e->type()))};
  }
  const int64_t version = int64_t(*e);
  if (version < known.min || version > known.max) return unsupported(std::to_string(version));
  *out = static_cast<int32_t>(version);
  return std::nullopt;
}

std::optional<Violation> RequireObject(const element& root) {
  if (root.type() == element_type::OBJECT) return std::nullopt;
  return Violation{QuarantineReason::kNotObject, std::string("top level must be an object, got ") +
                                                     TypeName(root.type())};
}

arrow::Result<BronzeRecords> BronzeRecords::Make(const arrow::RecordBatch& bronze, std::string_view parser) {
  BronzeRecords in;
  in.topic_ = std::static_pointer_cast<arrow::StringArray>(bronze.GetColumnByName("topic"));
  in.partition_ = std::static_pointer_cast<arrow::Int32Array>(bronze.GetColumnByName("partition"));
  in.offset_ = std::static_pointer_cast<arrow::Int64Array>(bronze.GetColumnByName("offset"));
  in.value_ = std::static_pointer_cast<arrow::BinaryArray>(bronze.GetColumnByName("value"));
  in.ingest_ = std::static_pointer_cast<arrow::TimestampArray>(bronze.GetColumnByName("ingest_time"));
  in.kafka_ts_ = std::static_pointer_cast<arrow::TimestampArray>(bronze.GetColumnByName("kafka_timestamp"));
  if (!in.topic_ || !in.partition_ || !in.offset_ || !in.value_ || !in.ingest_ || !in.kafka_ts_) {
    return arrow::Status::Invalid(parser, ": input batch is not a Bronze batch: ", bronze.schema()->ToString());
  }
  in.value_capacity_ = in.value_->value_data() ? in.value_->value_data()->capacity() : 0;
  return in;
}

std::optional<Violation> BronzeRecords::ParseValue(int64_t row, simdjson::dom::parser* dom, element* root) const {
  if (value_->IsNull(row) || value_->value_length(row) == 0) {
    return Violation{QuarantineReason::kNotJson, "value is empty"};
  }
  const std::string_view bytes = value_->GetView(row);
  // The JSON parser reads up to SIMDJSON_PADDING bytes past the value; where the Bronze
  // buffer has them (every value but the last few), it parses in place.
  const int64_t end = value_->value_offset(row) + value_->value_length(row);
  const bool padded = end + static_cast<int64_t>(simdjson::SIMDJSON_PADDING) <= value_capacity_;
  auto error = dom->parse(bytes.data(), bytes.size(), /*realloc_if_needed=*/!padded).get(*root);
  if (error != simdjson::SUCCESS) return Violation{QuarantineReason::kNotJson, NotJsonDetail(error)};
  return std::nullopt;
}

TimeBound BronzeRecords::Bound(int64_t row, int64_t max_future_skew_us) const {
  TimeBound bound{ingest_->Value(row), max_future_skew_us};
  if (kafka_ts_->IsValid(row) && kafka_ts_->Value(row) >= 0) {
    bound.reference_us = std::min(bound.reference_us, kafka_ts_->Value(row));
  }
  return bound;
}

QuarantineBuilder::QuarantineBuilder() : ingest_(TimestampType(), arrow::default_memory_pool()) {}

arrow::Status QuarantineBuilder::Append(const BronzeRecords& in, int64_t row, const Violation& violation) {
  ARROW_RETURN_NOT_OK(topic_.Append(in.topic_->GetView(row)));
  ARROW_RETURN_NOT_OK(partition_.Append(in.partition_->Value(row)));
  ARROW_RETURN_NOT_OK(offset_.Append(in.offset_->Value(row)));
  if (in.value_->IsNull(row)) {
    ARROW_RETURN_NOT_OK(value_.AppendNull());
  } else {
    ARROW_RETURN_NOT_OK(value_.Append(in.value_->GetView(row)));
  }
  ARROW_RETURN_NOT_OK(error_.Append(ReasonCode(violation.reason)));
  ARROW_RETURN_NOT_OK(detail_.Append(violation.detail));
  return ingest_.Append(in.ingest_->Value(row));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> QuarantineBuilder::Finish() {
  const int64_t rows = offset_.length();
  std::vector<std::shared_ptr<arrow::Array>> cols;
  for (arrow::ArrayBuilder* b : std::initializer_list<arrow::ArrayBuilder*>{
           &topic_, &partition_, &offset_, &value_, &error_, &detail_, &ingest_}) {
    std::shared_ptr<arrow::Array> a;
    ARROW_RETURN_NOT_OK(b->Finish(&a));
    cols.push_back(std::move(a));
  }
  return arrow::RecordBatch::Make(QuarantineSchema(), rows, std::move(cols));
}

}  // namespace medallion::format::internal
