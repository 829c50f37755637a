#pragma once

#include <string_view>

namespace medallion::format {

/// Why a record was sent to quarantine. The code is machine-readable and stable
/// (it is stored in the `error` column); the detail string says which field and why.
enum class QuarantineReason {
  kNotJson,        ///< value is empty, not UTF-8 JSON, truncated or has trailing bytes
  kNotObject,      ///< valid JSON, but the top level is not an object
  kMissingField,   ///< a required field is absent, null or an empty string
  kWrongType,      ///< a field has the wrong JSON type
  kEmptyItems,     ///< items is an empty array
  kBadEventTime,   ///< event_time is neither ISO-8601 with a zone nor epoch millis
  kUnknownStatus,  ///< status is not one of CREATED|PAID|SHIPPED|CANCELLED|REFUNDED
  kBadQuantity,    ///< an item's quantity is not > 0
  kBadUnitPrice,   ///< an item's unit_price is < 0 or has more than 4 decimals
};

/// The stable code stored in quarantine.error, e.g. "missing_field".
constexpr std::string_view ReasonCode(QuarantineReason reason) {
  switch (reason) {
    case QuarantineReason::kNotJson: return "not_json";
    case QuarantineReason::kNotObject: return "not_object";
    case QuarantineReason::kMissingField: return "missing_field";
    case QuarantineReason::kWrongType: return "wrong_type";
    case QuarantineReason::kEmptyItems: return "empty_items";
    case QuarantineReason::kBadEventTime: return "bad_event_time";
    case QuarantineReason::kUnknownStatus: return "unknown_status";
    case QuarantineReason::kBadQuantity: return "bad_quantity";
    case QuarantineReason::kBadUnitPrice: return "bad_unit_price";
  }
  return "unknown";
}

}  // namespace medallion::format
