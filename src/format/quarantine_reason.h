#pragma once

#include <string_view>

namespace medallion::format {

/// Why a record was sent to quarantine. The code is machine-readable and stable
/// (it is stored in the `error` column); the detail string says which field and why.
enum class QuarantineReason {
  kNotJson,              ///< empty, not JSON, truncated or trailing bytes; also bytes that are
                         ///< not UTF-8, an unpaired surrogate escape, an integer beyond 64 bits
  kNotObject,            ///< valid JSON, but the top level is not an object
  kMissingField,         ///< a required field is absent, null or an empty string
  kWrongType,            ///< a field has the wrong JSON type
  kEmptyItems,           ///< items is an empty array
  kBadEventTime,         ///< event_time is neither ISO-8601 with a zone nor epoch millis
  kEventTimeOutOfRange,  ///< event_time is before 1970-01-01T00:00:00Z or after 9999-12-31T23:59:59.999999Z
  kEventTimeInFuture,    ///< event_time is more than max_future_skew ahead of the record's time
  kUnknownStatus,        ///< status is not one of CREATED|PAID|SHIPPED|CANCELLED|REFUNDED
  kBadQuantity,          ///< an item's quantity is an integer outside [1, 1000000000]
  kBadUnitPrice,         ///< an item's unit_price is < 0, has more than 4 decimals or is out of range
  kBadPaymentAmount,     ///< payment.amount is < 0, has more than 4 decimals or is out of range
  kAmountOutOfRange,     ///< a line amount or the event's total does not fit decimal(18,4)
  kUnsupportedSchemaVersion,  ///< schema_version is an integer other than 1 or 2
  kBadChannel,           ///< (version 2) channel is not one of web|app|store
  kBadDiscount,          ///< (version 2) an item's discount has more than 4 decimals or is out of range
  kNegativeDiscount,     ///< (version 2) an item's discount is < 0
  kDiscountExceedsLine,  ///< (version 2) an item's discount is more than quantity x unit_price
};

/// The last reason, for loops over every reason.
constexpr QuarantineReason kLastQuarantineReason = QuarantineReason::kDiscountExceedsLine;

/// The stable code stored in quarantine.error, e.g. "missing_field".
constexpr std::string_view ReasonCode(QuarantineReason reason) {
  switch (reason) {
    case QuarantineReason::kNotJson: return "not_json";
    case QuarantineReason::kNotObject: return "not_object";
    case QuarantineReason::kMissingField: return "missing_field";
    case QuarantineReason::kWrongType: return "wrong_type";
    case QuarantineReason::kEmptyItems: return "empty_items";
    case QuarantineReason::kBadEventTime: return "bad_event_time";
    case QuarantineReason::kEventTimeOutOfRange: return "event_time_out_of_range";
    case QuarantineReason::kEventTimeInFuture: return "event_time_in_future";
    case QuarantineReason::kUnknownStatus: return "unknown_status";
    case QuarantineReason::kBadQuantity: return "bad_quantity";
    case QuarantineReason::kBadUnitPrice: return "bad_unit_price";
    case QuarantineReason::kBadPaymentAmount: return "bad_payment_amount";
    case QuarantineReason::kAmountOutOfRange: return "amount_out_of_range";
    case QuarantineReason::kUnsupportedSchemaVersion: return "unsupported_schema_version";
    case QuarantineReason::kBadChannel: return "bad_channel";
    case QuarantineReason::kBadDiscount: return "bad_discount";
    case QuarantineReason::kNegativeDiscount: return "negative_discount";
    case QuarantineReason::kDiscountExceedsLine: return "discount_exceeds_line";
  }
  return "unknown";
}

}  // namespace medallion::format
