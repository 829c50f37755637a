#include "format/payment_parser.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "format/column_appender.h"
#include "format/json_fields.h"
#include "format/quarantine_reason.h"
#include "format/schemas.h"

namespace medallion::format {
namespace {

using internal::Fields;
using internal::OptionalString;
using internal::Path;
using internal::Quoted;
using internal::RequiredString;
using internal::TimeBound;
using internal::Violation;
using simdjson::dom::element;
using simdjson::dom::object;

/// The versions of the payment event this parser knows (EVENTS.md): only version 1.
constexpr internal::SchemaVersions kSchemaVersions{1, 1, "version 1"};

constexpr std::string_view kStatuses[] = {"AUTHORIZED", "CAPTURED", "FAILED", "REFUNDED"};

/// One payment read from JSON, strings pointing into the parser's document.
struct Payment {
  std::string_view payment_id, order_id, status, currency;
  std::optional<std::string_view> method, provider;
  int64_t event_time_us = 0;
  /// 1/10000 units.
  int64_t amount = 0;
  int32_t schema_version = 1;
};

enum PaymentKey { kPaymentId, kOrderId, kEventTime, kStatus, kAmount, kCurrency, kMethod, kProvider, kSchemaVersion };
constexpr std::array<std::string_view, 9> kPaymentKeys = {"payment_id", "order_id", "event_time",
                                                          "status",     "amount",   "currency",
                                                          "method",     "provider", "schema_version"};

Path Top(std::string_view key) { return Path{"", -1, key}; }

/// Reads one payment. The fields are judged in the contract's order (schema_version first,
/// then payment_id, order_id, event_time, status, amount, currency, method, provider), so a
/// record with several faults is quarantined for the first.
std::optional<Violation> ReadPayment(const element& root, const TimeBound& bound, Payment* p) {
  if (auto v = internal::RequireObject(root)) return v;
  const Fields<9> f(object(root), kPaymentKeys);
  if (auto v = internal::ReadSchemaVersion(f[kSchemaVersion], kSchemaVersions, &p->schema_version)) return v;
  if (auto v = RequiredString(f[kPaymentId], Top("payment_id"), &p->payment_id)) return v;
  if (auto v = RequiredString(f[kOrderId], Top("order_id"), &p->order_id)) return v;
  if (auto v = internal::ReadEventTime(f[kEventTime], bound, &p->event_time_us)) return v;
  if (auto v = RequiredString(f[kStatus], Top("status"), &p->status)) return v;
  if (std::find(std::begin(kStatuses), std::end(kStatuses), p->status) == std::end(kStatuses)) {
    return Violation{QuarantineReason::kUnknownStatus,
                     "status '" + Quoted(p->status) + "' is not one of AUTHORIZED|CAPTURED|FAILED|REFUNDED"};
  }
  const auto& amount = f[kAmount];
  if (!amount) return Violation{QuarantineReason::kMissingField, "amount is missing"};
  if (auto v = internal::ReadMoney(*amount, Top("amount"), QuarantineReason::kBadPaymentAmount,
                                   QuarantineReason::kBadPaymentAmount, &p->amount)) {
    return v;
  }
  if (auto v = RequiredString(f[kCurrency], Top("currency"), &p->currency)) return v;
  if (auto v = OptionalString(f[kMethod], Top("method"), &p->method)) return v;
  if (auto v = OptionalString(f[kProvider], Top("provider"), &p->provider)) return v;
  return std::nullopt;
}

}  // namespace

class PaymentParser::Impl {
 public:
  explicit Impl(EventParserOptions options) : options_(options) {}

  arrow::Result<ParseResult> Parse(const arrow::RecordBatch& bronze) {
    ARROW_ASSIGN_OR_RAISE(const auto in, internal::BronzeRecords::Make(bronze, "PaymentParser"));
    Payment p;
    ARROW_RETURN_NOT_OK(internal::ForEachRecord(
        in, &dom_, options_.max_future_skew_us, &quarantine_,
        [&p](const element& root, const TimeBound& bound) { return ReadPayment(root, bound, &p); },
        [this, &p](int32_t partition, int64_t offset) { AppendPayment(p, partition, offset); }));
    ParseResult result;
    ARROW_ASSIGN_OR_RAISE(result.events, FinishPayments());
    ARROW_ASSIGN_OR_RAISE(result.quarantine, quarantine_.Finish());
    return result;
  }

 private:
  void AppendPayment(const Payment& p, int32_t partition, int64_t offset) {
    payment_id_.Append(p.payment_id);
    order_id_.Append(p.order_id);
    event_time_.Append(p.event_time_us);
    status_.Append(p.status);
    amount_.Append(p.amount);
    currency_.Append(p.currency);
    method_.Append(p.method);
    provider_.Append(p.provider);
    kafka_partition_.Append(partition);
    kafka_offset_.Append(offset);
    schema_version_.Append(p.schema_version);
  }

  /// The payments appended since the last call, as a PaymentSchema batch.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> FinishPayments() {
    const int64_t rows = payment_id_.length();
    std::vector<std::shared_ptr<arrow::Array>> cols(11);
    ARROW_ASSIGN_OR_RAISE(cols[0], payment_id_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[1], order_id_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[2], event_time_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[3], status_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[4], amount_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[5], currency_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[6], method_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[7], provider_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[8], kafka_partition_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[9], kafka_offset_.Finish());
    ARROW_ASSIGN_OR_RAISE(cols[10], schema_version_.Finish());
    return arrow::RecordBatch::Make(PaymentSchema(), rows, std::move(cols));
  }

  EventParserOptions options_;
  simdjson::dom::parser dom_;
  // The payments table (PaymentSchema), in its column order.
  StringColumn payment_id_, order_id_, status_, currency_, method_, provider_;
  FixedColumn<int64_t> event_time_{TimestampType()};
  ScaledDecimalColumn amount_{MoneyType()};
  FixedColumn<int32_t> kafka_partition_{arrow::int32()};
  FixedColumn<int64_t> kafka_offset_{arrow::int64()};
  FixedColumn<int32_t> schema_version_{arrow::int32()};
  internal::QuarantineBuilder quarantine_;
};

PaymentParser::PaymentParser(EventParserOptions options) : impl_(std::make_unique<Impl>(options)) {}
PaymentParser::~PaymentParser() = default;

arrow::Result<ParseResult> PaymentParser::Parse(const arrow::RecordBatch& bronze) {
  return impl_->Parse(bronze);
}

}  // namespace medallion::format
