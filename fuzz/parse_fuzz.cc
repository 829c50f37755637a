// libFuzzer target: message bytes → Bronze batch → EventParser::Parse → Silver lines.
//
// The input is up to kMaxRecords Kafka record values separated by kSeparator (a byte sequence
// that cannot occur in valid UTF-8, so a seed of one JSON text is one record); the batch
// always ends with a record whose value is null. The records carry Kafka timestamps from
// kStamps (none, the epoch, past what microseconds hold, ...), chosen by their lengths: Bronze
// must hold each as its microseconds or null. Every Bronze row must land in exactly one of
// events and quarantine; every string the engine writes must be valid UTF-8; every quarantine
// code must be one of the contract's; Silver's line_amount must equal quantity × unit_price
// exactly; every array must pass ValidateFull. Anything else aborts (a finding).
//
// With MEDALLION_FUZZ_CONTRACT=0 in the environment the value rules of the contract (ranges of
// quantity, unit_price, amounts and event_time, decimals within their precision, a flatten
// that fails on an amount beyond int64) are not asserted: to fuzz for crashes, UB, UTF-8 and
// the structural invariants alone on a parser that does not implement those rules yet.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/util/decimal.h>
#include <arrow/util/utf8.h>
#include <simdjson.h>

#include "format/bronze_builder.h"
#include "format/event_parser.h"
#include "ops/flatten.h"
#include "ops/row_selection.h"
#include "sink/file_stats.h"

namespace {

using medallion::format::BronzeBuilder;
using medallion::format::EventParser;

constexpr std::string_view kSeparator = "\xff\xfe\xfd\xfc";
constexpr size_t kMaxRecords = 8;
// The record's Kafka timestamp and the batch's ingest time: 2026-12-01T00:00:00Z.
constexpr int64_t kKafkaTimestampMs = 1796083200000;
constexpr int64_t kIngestTimeUs = kKafkaTimestampMs * 1000 + 5000000;
// Contract bounds (EVENTS.md and the rules), in the engine's units.
constexpr int64_t kMaxQuantity = 1000000000;
constexpr int64_t kMaxUnitPriceUnits = int64_t{99999999999999} * 10000;
const arrow::Decimal128 kMaxAmountUnits(int64_t{999999999999999999});
constexpr int64_t kMinEventTimeUs = 0;
constexpr int64_t kMaxEventTimeUs = int64_t{253402300799999999};
constexpr int64_t kMaxFutureSkewUs = int64_t{10} * 60 * 1000000;

const std::set<std::string, std::less<>> kCodes = {
    "not_json",       "not_object",      "missing_field",          "wrong_type",
    "empty_items",    "bad_event_time",  "event_time_out_of_range", "event_time_in_future",
    "unknown_status", "bad_quantity",    "bad_unit_price",         "amount_out_of_range",
    "bad_payment_amount", "unsupported_schema_version", "bad_channel", "bad_discount",
    "negative_discount", "discount_exceeds_line"};

bool ContractChecks() {
  static const bool on = [] {
    const char* v = std::getenv("MEDALLION_FUZZ_CONTRACT");
    return v == nullptr || std::string_view(v) != "0";
  }();
  return on;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "parse_fuzz invariant broken: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

template <typename T>
T Ok(arrow::Result<T> r, const char* what) {
  if (!r.ok()) Fail(std::string(what) + ": " + r.status().ToString());
  return std::move(r).ValueUnsafe();
}

void CheckOk(const arrow::Status& s, const char* what) {
  if (!s.ok()) Fail(std::string(what) + ": " + s.ToString());
}

/// Every value of every utf8 column (and of the structs and lists inside) is valid UTF-8.
/// `name` is the column's path, made only for the message of a failure.
void CheckUtf8(const arrow::Array& array, const std::function<std::string()>& name) {
  switch (array.type_id()) {
    case arrow::Type::STRING: {
      const auto& s = static_cast<const arrow::StringArray&>(array);
      for (int64_t i = 0; i < s.length(); ++i) {
        if (s.IsNull(i)) continue;
        const std::string_view v = s.GetView(i);
        if (!arrow::util::ValidateUTF8(reinterpret_cast<const uint8_t*>(v.data()),
                                       static_cast<int64_t>(v.size()))) {
          Fail(name() + "[" + std::to_string(i) + "] is not valid UTF-8");
        }
      }
      break;
    }
    case arrow::Type::STRUCT: {
      const auto& s = static_cast<const arrow::StructArray&>(array);
      for (int f = 0; f < s.num_fields(); ++f) {
        CheckUtf8(*s.field(f), [&] { return name() + "." + s.type()->field(f)->name(); });
      }
      break;
    }
    case arrow::Type::LIST:
      CheckUtf8(*static_cast<const arrow::ListArray&>(array).values(),
                [&] { return name() + "[]"; });
      break;
    default:
      break;
  }
}

/// ValidateFull: offsets, every decimal within its precision and every utf8 value (nested
/// ones too) valid UTF-8. `full` false is Validate, which leaves out the decimals' precision
/// (a value rule of the contract) and UTF-8, so UTF-8 is then checked here.
void CheckBatch(const arrow::RecordBatch& batch, const char* table, bool full = true) {
  if (full) {
    CheckOk(batch.ValidateFull(), table);
    return;
  }
  CheckOk(batch.Validate(), table);
  for (int c = 0; c < batch.num_columns(); ++c) {
    CheckUtf8(*batch.column(c),
              [&] { return std::string(table) + "." + batch.schema()->field(c)->name(); });
  }
}

template <typename A>
const A& Col(const arrow::RecordBatch& b, const char* name) {
  auto col = b.GetColumnByName(name);
  if (!col) Fail(std::string("no column ") + name);
  return static_cast<const A&>(*col);
}

// The Kafka timestamps a record may carry, in ms (nullopt: none): the usual one, and what a
// producer may set where the topic accepts any: the epoch, the year 12026, the last millisecond
// whose microseconds fit 64 bits, the first past it, the extremes. Record k of an input carries
// kStamps[(k + its length) % 8], so the fuzzer chooses them by the records' lengths.
const std::array<std::optional<int64_t>, 8> kStamps = {
    kKafkaTimestampMs, std::nullopt, 0, int64_t{317336745600000}, INT64_MAX / 1000, INT64_MAX / 1000 + 1,
    INT64_MAX, INT64_MIN};

/// Bronze's kafka_timestamp for a record stamped `ms`: its microseconds, or null (nullopt)
/// without a stamp or when they do not fit 64 bits (the rule, stated apart from the builder's).
std::optional<int64_t> BronzeMicros(std::optional<int64_t> ms) {
  if (!ms || *ms > INT64_MAX / 1000 || *ms < INT64_MIN / 1000) return std::nullopt;
  return *ms * 1000;
}

/// The reference instant of the future-skew rule for each record of the input, by offset:
/// min(Kafka timestamp, ingest time) where Bronze holds a timestamp at or after the epoch,
/// else the ingest time.
std::vector<int64_t> references;

int64_t ReferenceUs(int64_t offset) { return references.at(static_cast<size_t>(offset)); }

/// The Delta stats a file of `batch` gets (sink::ComputeFileStats, the scan of every value):
/// JSON whose numRecords is the batch's rows, and, for each top-level string column with
/// bounds, a minValues at or below and a maxValues at or above every value (bytes compared
/// unsigned, as readers skip files by them): a bound on the wrong side loses rows to a filter.
void CheckStats(const arrow::RecordBatch& batch, const char* table) {
  const std::string stats = medallion::sink::ComputeFileStats(batch);
  static simdjson::dom::parser* json = new simdjson::dom::parser();
  simdjson::dom::element doc;
  Check(json->parse(stats).get(doc) == simdjson::SUCCESS, std::string(table) + " stats are not JSON: " + stats);
  int64_t records = -1;
  Check(doc["numRecords"].get(records) == simdjson::SUCCESS && records == batch.num_rows(),
        std::string(table) + " stats' numRecords is not its rows: " + stats);
  for (int c = 0; c < batch.num_columns(); ++c) {
    if (batch.column(c)->type_id() != arrow::Type::STRING) continue;
    const std::string& name = batch.schema()->field(c)->name();
    std::string_view low, high;
    const bool has_min = doc["minValues"][name].get(low) == simdjson::SUCCESS;
    const bool has_max = doc["maxValues"][name].get(high) == simdjson::SUCCESS;
    Check(has_min == has_max, std::string(table) + "." + name + " has one bound only: " + stats);
    if (!has_min) continue;
    const auto& values = static_cast<const arrow::StringArray&>(*batch.column(c));
    for (int64_t i = 0; i < values.length(); ++i) {
      if (values.IsNull(i)) continue;
      const std::string_view v = values.GetView(i);
      Check(low <= v && v <= high, std::string(table) + "." + name + " row " + std::to_string(i) +
                                       " lies outside its stats' bounds: " + stats);
    }
  }
}

void CheckSilver(const arrow::RecordBatch& silver, const arrow::RecordBatch& events) {
  CheckBatch(silver, "silver", ContractChecks());
  const auto& items = Col<arrow::ListArray>(events, "items");
  Check(silver.num_rows() == items.values()->length(), "silver has one line per item");
  const auto& q = Col<arrow::Int64Array>(silver, "quantity");
  const auto& p = Col<arrow::Decimal128Array>(silver, "unit_price");
  const auto& a = Col<arrow::Decimal128Array>(silver, "line_amount");
  const auto& d = Col<arrow::Decimal128Array>(silver, "discount");
  const auto& t = Col<arrow::TimestampArray>(silver, "event_time");
  const auto& off = Col<arrow::Int64Array>(silver, "kafka_offset");
  for (int64_t i = 0; i < silver.num_rows(); ++i) {
    const arrow::Decimal128 price(p.GetValue(i));
    const arrow::Decimal128 amount(a.GetValue(i));
    const arrow::Decimal128 discount = d.IsNull(i) ? arrow::Decimal128(0) : arrow::Decimal128(d.GetValue(i));
    const arrow::Decimal128 want = arrow::Decimal128(q.Value(i)) * price - discount;
    Check(amount == want, "line " + std::to_string(i) + ": line_amount " + amount.ToIntegerString() + "e-4" +
                              " != quantity " + std::to_string(q.Value(i)) + " x unit_price " +
                              price.ToIntegerString() + "e-4 - discount " + discount.ToIntegerString() + "e-4");
    if (!ContractChecks()) continue;
    Check(q.Value(i) >= 1 && q.Value(i) <= kMaxQuantity,
          "quantity out of 1..1e9: " + std::to_string(q.Value(i)));
    Check(price >= arrow::Decimal128(0) && price <= arrow::Decimal128(kMaxUnitPriceUnits),
          "unit_price out of range: " + price.ToIntegerString() + "e-4");
    Check(amount <= kMaxAmountUnits, "line_amount beyond decimal(18,4): " + amount.ToIntegerString() + "e-4");
    Check(amount >= arrow::Decimal128(0), "line_amount below 0: " + amount.ToIntegerString() + "e-4");
    Check(t.Value(i) >= kMinEventTimeUs && t.Value(i) <= kMaxEventTimeUs,
          "event_time out of range: " + std::to_string(t.Value(i)));
    Check(t.Value(i) <= ReferenceUs(off.Value(i)) + kMaxFutureSkewUs,
          "event_time beyond the future skew: " + std::to_string(t.Value(i)));
  }
}

void CheckEventTotals(const arrow::RecordBatch& events) {
  if (!ContractChecks()) return;
  const auto& items = Col<arrow::ListArray>(events, "items");
  const auto& item = static_cast<const arrow::StructArray&>(*items.values());
  const auto& q = static_cast<const arrow::Int64Array&>(*item.GetFieldByName("quantity"));
  const auto& p = static_cast<const arrow::Decimal128Array&>(*item.GetFieldByName("unit_price"));
  const auto& d = static_cast<const arrow::Decimal128Array&>(*item.GetFieldByName("discount"));
  const auto& pay = Col<arrow::Decimal128Array>(events, "payment_amount");
  for (int64_t r = 0; r < events.num_rows(); ++r) {
    Check(items.value_length(r) >= 1, "valid event without items");
    arrow::Decimal128 total(0);
    for (int64_t j = items.value_offset(r); j < items.value_offset(r + 1); ++j) {
      total += arrow::Decimal128(q.Value(j)) * arrow::Decimal128(p.GetValue(j));
      if (d.IsValid(j)) total -= arrow::Decimal128(d.GetValue(j));
    }
    Check(total <= kMaxAmountUnits, "event total beyond decimal(18,4): " + total.ToIntegerString() + "e-4");
    if (!pay.IsNull(r)) {
      const arrow::Decimal128 amount(pay.GetValue(r));
      Check(amount >= arrow::Decimal128(0) && amount <= kMaxAmountUnits,
            "payment amount out of range: " + amount.ToIntegerString() + "e-4");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> records;
  size_t pos = 0;
  while (records.size() + 1 < kMaxRecords) {
    const size_t sep = input.find(kSeparator, pos);
    if (sep == std::string_view::npos) break;
    records.push_back(input.substr(pos, sep - pos));
    pos = sep + kSeparator.size();
  }
  records.push_back(input.substr(pos));

  // Reused across inputs, as the engine reuses its builder (Finish resets it).
  static BronzeBuilder& builder = *new BronzeBuilder("fuzz", kIngestTimeUs);
  int64_t value_bytes = 0;
  for (const auto r : records) value_bytes += static_cast<int64_t>(r.size());
  const auto n = static_cast<int64_t>(records.size());
  CheckOk(builder.Reserve(n + 1, n, value_bytes), "Bronze reserve");
  int64_t offset = 0;
  std::vector<std::optional<int64_t>> stamps;
  for (const auto r : records) {
    stamps.push_back(kStamps[(static_cast<size_t>(offset) + r.size()) % kStamps.size()]);
    CheckOk(builder.Append(0, offset++, stamps.back(), "k", 1, r.data(), r.size()), "Bronze append");
  }
  stamps.push_back(kKafkaTimestampMs);
  CheckOk(builder.Append(0, offset++, stamps.back(), nullptr, 0, nullptr, 0), "Bronze append");
  const auto bronze = Ok(builder.Finish(), "Bronze finish");
  const auto& kafka_ts = Col<arrow::TimestampArray>(*bronze, "kafka_timestamp");
  references.clear();
  for (size_t i = 0; i < stamps.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    const std::optional<int64_t> want = BronzeMicros(stamps[i]);
    const std::optional<int64_t> have = kafka_ts.IsNull(row) ? std::nullopt : std::optional(kafka_ts.Value(row));
    Check(have == want, "Bronze kafka_timestamp of record " + std::to_string(i) + " is not its stamp in µs or null");
    references.push_back(want && *want >= 0 ? std::min(*want, kIngestTimeUs) : kIngestTimeUs);
  }

  static EventParser* parser = new EventParser();  // reused across inputs, as the engine does
  const auto parsed = Ok(parser->Parse(*bronze), "EventParser::Parse");
  const auto& events = *parsed.events;
  const auto& quarantine = *parsed.quarantine;
  CheckBatch(events, "events", ContractChecks());
  CheckBatch(quarantine, "quarantine");

  // Every Bronze row in exactly one of events and quarantine.
  Check(events.num_rows() + quarantine.num_rows() == bronze->num_rows(),
        "events + quarantine rows != bronze rows");
  std::vector<int> seen(static_cast<size_t>(bronze->num_rows()), 0);
  const auto& ev_off = Col<arrow::Int64Array>(events, "kafka_offset");
  const auto& q_off = Col<arrow::Int64Array>(quarantine, "offset");
  for (int64_t i = 0; i < ev_off.length(); ++i) ++seen.at(static_cast<size_t>(ev_off.Value(i)));
  for (int64_t i = 0; i < q_off.length(); ++i) ++seen.at(static_cast<size_t>(q_off.Value(i)));
  for (size_t i = 0; i < seen.size(); ++i) {
    Check(seen[i] == 1, "bronze row " + std::to_string(i) + " appears " + std::to_string(seen[i]) + " times");
  }
  const auto& codes = Col<arrow::StringArray>(quarantine, "error");
  const auto& detail = Col<arrow::StringArray>(quarantine, "detail");
  const auto& q_value = Col<arrow::BinaryArray>(quarantine, "value");
  const auto& b_value = Col<arrow::BinaryArray>(*bronze, "value");
  for (int64_t i = 0; i < quarantine.num_rows(); ++i) {
    Check(kCodes.count(codes.GetView(i)) == 1, "unknown quarantine code '" + codes.GetString(i) + "'");
    Check(!detail.IsNull(i) && detail.value_length(i) > 0, "empty quarantine detail");
    const int64_t row = q_off.Value(i);
    Check(q_value.IsNull(i) == b_value.IsNull(row) &&
              (q_value.IsNull(i) || q_value.GetView(i) == b_value.GetView(row)),
          "quarantine value differs from the Bronze value");
  }
  CheckEventTotals(events);
  CheckStats(quarantine, "quarantine");

  // Silver: every event's lines (the engine flattens the first-seen PAID ones; all are
  // flattened here, as a flatten that fails stops the stream).
  if (events.num_rows() == 0) return 0;
  medallion::ops::RowSelection all;
  for (int64_t r = 0; r < events.num_rows(); ++r) all.push_back(r);
  auto silver = medallion::ops::FlattenToOrderLines(events, all);
  // An amount beyond int64 is the contract's amount_out_of_range, which the value rules check.
  if (!silver.ok() && !ContractChecks()) return 0;
  const auto lines = Ok(std::move(silver), "FlattenToOrderLines");
  CheckSilver(*lines, events);
  CheckStats(*lines, "silver");
  return 0;
}
