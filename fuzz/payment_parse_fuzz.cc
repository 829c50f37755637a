// libFuzzer target: message bytes → Bronze batch → PaymentParser::Parse.
//
// The input is up to kMaxRecords Kafka record values separated by kSeparator (as in
// parse_fuzz, so a seed of one JSON text is one record); the batch always ends with a record
// whose value is null (a tombstone). Every Bronze row must land in exactly one of payments and
// quarantine, each table in input order; every quarantine code must be one a payment can get,
// with a detail, and the record's value unchanged; every array must pass ValidateFull (valid
// UTF-8, decimals within their precision). An accepted payment must keep the contract: the
// required strings non-empty, a payment status, amount in [0, 99999999999999.9999], event_time
// within the readable years and at most max_future_skew ahead, schema_version 1. Anything
// else aborts (a finding).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/util/decimal.h>

#include "format/bronze_builder.h"
#include "format/payment_parser.h"

namespace {

using medallion::format::BronzeBuilder;
using medallion::format::PaymentParser;

constexpr std::string_view kSeparator = "\xff\xfe\xfd\xfc";
constexpr size_t kMaxRecords = 8;
// The record's Kafka timestamp and the batch's ingest time: 2026-12-01T00:00:00Z.
constexpr int64_t kKafkaTimestampMs = 1796083200000;
constexpr int64_t kIngestTimeUs = kKafkaTimestampMs * 1000 + 5000000;
// Contract bounds (EVENTS.md), in the engine's units.
const arrow::Decimal128 kMaxAmountUnits(int64_t{999999999999999999});
constexpr int64_t kMinEventTimeUs = 0;
constexpr int64_t kMaxEventTimeUs = int64_t{253402300799999999};
constexpr int64_t kMaxFutureSkewUs = int64_t{10} * 60 * 1000000;

/// The codes a payment can be quarantined with.
const std::set<std::string, std::less<>> kCodes = {
    "not_json",       "not_object",         "missing_field",           "wrong_type",
    "bad_event_time", "event_time_in_future", "event_time_out_of_range", "unknown_status",
    "bad_payment_amount", "unsupported_schema_version"};
const std::set<std::string, std::less<>> kStatuses = {"AUTHORIZED", "CAPTURED", "FAILED", "REFUNDED"};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "payment_parse_fuzz invariant broken: %s\n", what.c_str());
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

template <typename A>
const A& Col(const arrow::RecordBatch& b, const char* name) {
  auto col = b.GetColumnByName(name);
  if (!col) Fail(std::string("no column ") + name);
  return static_cast<const A&>(*col);
}

/// The reference instant of the future-skew rule for the record at `offset`: min(Kafka
/// timestamp, ingest time) for the records with a timestamp (even offsets), else ingest time.
int64_t ReferenceUs(int64_t offset) {
  return offset % 2 == 0 ? std::min(kKafkaTimestampMs * 1000, kIngestTimeUs) : kIngestTimeUs;
}

/// Every accepted payment keeps the contract's value rules.
void CheckPayments(const arrow::RecordBatch& payments) {
  const auto& payment_id = Col<arrow::StringArray>(payments, "payment_id");
  const auto& order_id = Col<arrow::StringArray>(payments, "order_id");
  const auto& currency = Col<arrow::StringArray>(payments, "currency");
  const auto& status = Col<arrow::StringArray>(payments, "status");
  const auto& amount = Col<arrow::Decimal128Array>(payments, "amount");
  const auto& time = Col<arrow::TimestampArray>(payments, "event_time");
  const auto& version = Col<arrow::Int32Array>(payments, "schema_version");
  const auto& offset = Col<arrow::Int64Array>(payments, "kafka_offset");
  for (int64_t i = 0; i < payments.num_rows(); ++i) {
    const std::string row = "payment " + std::to_string(i) + ": ";
    Check(payment_id.value_length(i) > 0, row + "empty payment_id");
    Check(order_id.value_length(i) > 0, row + "empty order_id");
    Check(currency.value_length(i) > 0, row + "empty currency");
    Check(kStatuses.count(status.GetView(i)) == 1, row + "status '" + status.GetString(i) + "'");
    const arrow::Decimal128 a(amount.GetValue(i));
    Check(a >= arrow::Decimal128(0) && a <= kMaxAmountUnits,
          row + "amount out of range: " + a.ToIntegerString() + "e-4");
    Check(time.Value(i) >= kMinEventTimeUs && time.Value(i) <= kMaxEventTimeUs,
          row + "event_time out of range: " + std::to_string(time.Value(i)));
    Check(time.Value(i) <= ReferenceUs(offset.Value(i)) + kMaxFutureSkewUs,
          row + "event_time beyond the future skew: " + std::to_string(time.Value(i)));
    Check(version.Value(i) == 1, row + "schema_version " + std::to_string(version.Value(i)));
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
  static BronzeBuilder& builder = *new BronzeBuilder("payments", kIngestTimeUs);
  int64_t value_bytes = 0;
  for (const auto r : records) value_bytes += static_cast<int64_t>(r.size());
  const auto n = static_cast<int64_t>(records.size());
  CheckOk(builder.Reserve(n + 1, n, value_bytes), "Bronze reserve");
  int64_t offset = 0;
  for (const auto r : records) {
    // Every other record without a Kafka timestamp (the reference is then the ingest time).
    const std::optional<int64_t> ts =
        offset % 2 == 0 ? std::optional<int64_t>(kKafkaTimestampMs) : std::nullopt;
    CheckOk(builder.Append(0, offset++, ts, "k", 1, r.data(), r.size()), "Bronze append");
  }
  CheckOk(builder.Append(0, offset++, kKafkaTimestampMs, nullptr, 0, nullptr, 0), "Bronze append");
  const auto bronze = Ok(builder.Finish(), "Bronze finish");

  static PaymentParser* parser = new PaymentParser();  // reused across inputs, as the engine does
  const auto parsed = Ok(parser->Parse(*bronze), "PaymentParser::Parse");
  const auto& payments = *parsed.events;
  const auto& quarantine = *parsed.quarantine;
  CheckOk(payments.ValidateFull(), "payments");
  CheckOk(quarantine.ValidateFull(), "quarantine");

  // Every Bronze row in exactly one of payments and quarantine, each table in input order.
  Check(payments.num_rows() + quarantine.num_rows() == bronze->num_rows(),
        "payments + quarantine rows != bronze rows");
  std::vector<int> seen(static_cast<size_t>(bronze->num_rows()), 0);
  const auto& p_off = Col<arrow::Int64Array>(payments, "kafka_offset");
  const auto& q_off = Col<arrow::Int64Array>(quarantine, "offset");
  for (const arrow::Int64Array* offsets : {&p_off, &q_off}) {
    for (int64_t i = 0; i < offsets->length(); ++i) {
      ++seen.at(static_cast<size_t>(offsets->Value(i)));
      Check(i == 0 || offsets->Value(i - 1) < offsets->Value(i), "rows out of input order");
    }
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    Check(seen[i] == 1, "bronze row " + std::to_string(i) + " appears " + std::to_string(seen[i]) + " times");
  }
  const auto& codes = Col<arrow::StringArray>(quarantine, "error");
  const auto& detail = Col<arrow::StringArray>(quarantine, "detail");
  const auto& q_value = Col<arrow::BinaryArray>(quarantine, "value");
  const auto& b_value = Col<arrow::BinaryArray>(*bronze, "value");
  for (int64_t i = 0; i < quarantine.num_rows(); ++i) {
    Check(kCodes.count(codes.GetView(i)) == 1, "unexpected quarantine code '" + codes.GetString(i) + "'");
    Check(!detail.IsNull(i) && detail.value_length(i) > 0, "empty quarantine detail");
    const int64_t row = q_off.Value(i);
    Check(q_value.IsNull(i) == b_value.IsNull(row) &&
              (q_value.IsNull(i) || q_value.GetView(i) == b_value.GetView(row)),
          "quarantine value differs from the Bronze value");
  }
  // The tombstone at the end is never a payment.
  Check(quarantine.num_rows() > 0 && q_off.Value(quarantine.num_rows() - 1) == bronze->num_rows() - 1,
        "the null record was not quarantined");
  CheckPayments(payments);
  return 0;
}
