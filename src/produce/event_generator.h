#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace medallion::produce {

/// What a generated record is meant to exercise downstream.
enum class EventKind : uint8_t {
  kValid,      ///< A contract-conforming event (possibly out of order or late).
  kDuplicate,  ///< Byte-identical re-send of an earlier kValid event, same key.
  kMalformed,  ///< Not a JSON object: not JSON, truncated JSON, or another JSON type.
  kInvalid,    ///< A JSON object that breaks the contract (see EVENTS.md).
};

/// How a kValid event's event_time relates to the generator's event-time clock.
enum class TimeShift : uint8_t {
  kNone,        ///< event_time is the current clock value.
  kOutOfOrder,  ///< Shifted back by up to kMaxOutOfOrderMicros.
  kLate,        ///< Shifted back by late_by_micros to 1.5 x late_by_micros.
};

/// "valid", "duplicate", "malformed" or "invalid".
const char* EventKindName(EventKind kind);

/// One Kafka record: key (order_id; empty means no key) and value (the message bytes).
struct GeneratedEvent {
  std::string key;
  std::string value;
  EventKind kind = EventKind::kValid;
  TimeShift shift = TimeShift::kNone;
  /// The event time written into the value (for kValid/kDuplicate; the clock otherwise).
  int64_t event_time_micros = 0;
  /// The schema_version written into the value (1, 2, or 3 for an unsupported-version
  /// invalid event); 0 for a malformed record.
  int schema_version = 1;
};

/// What the order generator knows about the order behind its last record, for a payments
/// side (see PaymentGenerator). Meaningful only when `first_paid` is true.
struct PaidOrderFacts {
  /// True when the last record is a kValid PAID event and the first kValid PAID event of its
  /// order in the stream (duplicates, malformed and invalid records never count).
  bool first_paid = false;
  int64_t order_no = 0;
  /// The order_id written into the event ("ORD-" and 8 digits).
  std::string order_id;
  /// The event time written into the event (shifted for an out-of-order or late event).
  int64_t event_time_micros = 0;
  /// The order's items total in 1/10^4 units: the sum of quantity x unit_price - discount
  /// over its lines, the same numbers the event carries (and its payment.amount).
  int64_t total_units = 0;
  std::string_view currency;
  std::string_view method;
};

/// Knobs of the generator. The fractions are probabilities per generated record and
/// must each lie in [0, 1] with a sum of at most 1 (see Validate()).
struct EventGeneratorOptions {
  uint64_t seed = 1;
  /// Event time of the first event: 2026-11-24T10:00:00Z, fixed so runs are reproducible.
  int64_t start_time_micros = 1795514400LL * 1000000;
  /// Mean spacing of consecutive event times (the spacing is uniform in [0, 2 x mean]).
  int64_t event_time_step_micros = 10'000;
  int32_t num_customers = 1000;
  int32_t num_products = 200;
  double duplicate_fraction = 0.0;
  double out_of_order_fraction = 0.0;
  double late_fraction = 0.0;
  double malformed_fraction = 0.0;
  double invalid_fraction = 0.0;
  /// Minimum shift of a late event; the actual shift is in [late_by, 1.5 x late_by).
  int64_t late_by_micros = 10LL * 60 * 1000000;
  /// Share of the order events (valid and invalid ones) written as version 2 of the contract,
  /// in [0, 1]; independent of the fractions above. At 0 no random number is drawn for it,
  /// so a seed gives the same bytes as a generator that knows only version 1.
  double v2_fraction = 0.0;

  /// Returns an empty string when the options are usable, else a message naming the
  /// offending option (by its option-struct name) and the expected form.
  std::string Validate() const;
};

/// Deterministic generator of order events per the data contract (EVENTS.md), with a
/// controllable share of duplicates, out-of-order, late, malformed and invalid records, and
/// of version-2 events among the valid and invalid ones.
///
/// A version-2 event carries a channel, the customer's loyalty tier (when the customer has
/// one), a sku on most lines and a discount on some (never above the line; some lines carry
/// an explicit zero), and its payment amount is the net total. Like the rest of an order's
/// content these are pure functions of the order, customer and product ids. An invalid
/// version-2 event breaks either a version-1 rule or, about one time in three, a version-2
/// one: a negative discount, a discount above its line, an unknown channel, or
/// schema_version 3.
///
/// The same options (seed included) always give the same byte sequence on every
/// platform: randomness comes from std::mt19937_64 through our own integer helpers,
/// never through std::*_distribution. Customer and product attributes, and the content
/// of an order (customer, lines), are pure functions of their ids, so several events of
/// one order agree with each other. Not thread-safe; one generator per thread.
class EventGenerator {
 public:
  /// Options must satisfy Validate() (checked: a violation aborts).
  explicit EventGenerator(EventGeneratorOptions options);

  /// Generates the next record into `out`, reusing its string capacity (no allocation
  /// in the steady state).
  void Next(GeneratedEvent* out);

  /// Convenience form of Next(GeneratedEvent*).
  GeneratedEvent Next();

  /// Number of records generated so far.
  uint64_t generated() const { return generated_; }

  /// The generator's event-time clock: the (unshifted) time of the last record.
  int64_t clock_micros() const { return clock_micros_; }

  /// Facts of the order behind the last record generated (see PaidOrderFacts). Keeping
  /// them draws no random number, so the bytes a seed gives do not depend on them.
  const PaidOrderFacts& last_order() const { return last_order_; }

  /// Largest backward shift of an out-of-order event.
  static constexpr int64_t kMaxOutOfOrderMicros = 5'000'000;

 private:
  enum class Breakage : uint8_t;
  struct OrderRef {
    int64_t order_no;
    uint64_t content_seed;
  };

  uint64_t Uniform(uint64_t n);  // in [0, n)
  double UniformUnit();          // in [0, 1)
  void AdvanceClock();
  OrderRef PickOrder();
  /// Draws whether the next order event is version 2 (no draw when v2_fraction is 0).
  bool DrawVersion2();
  void WriteEvent(const OrderRef& order, int64_t event_time, bool epoch_millis,
                  Breakage breakage, bool version2, std::string* out);
  void WriteMalformed(GeneratedEvent* out);
  void RememberValid(const GeneratedEvent& event);

  EventGeneratorOptions options_;
  std::mt19937_64 rng_;
  uint64_t generated_ = 0;
  uint64_t event_seq_ = 0;  // numbers event ids (duplicates re-use theirs)
  int64_t next_order_no_ = 1;
  int64_t clock_micros_;
  // Recent kValid events, the pool duplicates are drawn from (ring buffer).
  std::vector<GeneratedEvent> recent_;
  size_t recent_next_ = 0;
  size_t recent_size_ = 0;
  std::string scratch_;
  // Order numbers that had a kValid PAID event, and the facts of the last record.
  std::vector<bool> paid_orders_;
  PaidOrderFacts last_order_;
  std::string_view last_status_;
};

}  // namespace medallion::produce
