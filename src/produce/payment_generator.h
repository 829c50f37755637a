#pragma once

#include <cstdint>
#include <deque>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "produce/event_generator.h"

namespace medallion::produce {

/// What a generated payment record is meant to exercise downstream.
enum class PaymentKind : uint8_t {
  kMatched,    ///< The CAPTURED payment of a PAID order, within the interval, same amount.
  kLate,       ///< As kMatched, but released late_by to 1.5 x late_by after its event time.
  kMismatch,   ///< As kMatched, but the amount differs from the order's total by 1-5 cents.
  kOutside,    ///< As kMatched, but more than 1 h after or more than 15 min before the order.
  kOrphan,     ///< A CAPTURED payment for an order_id that never has a PAID event.
  kNoise,      ///< An AUTHORIZED, FAILED or REFUNDED payment (never matched).
  kDuplicate,  ///< Byte-identical re-send of an earlier CAPTURED payment, same key.
  kMalformed,  ///< Not a JSON object.
  kInvalid,    ///< A JSON object that breaks the payment contract (see EVENTS.md).
};

/// Number of PaymentKind values.
constexpr int kNumPaymentKinds = 9;

/// "matched", "late", "mismatch", "outside", "orphan", "noise", "duplicate", "malformed" or
/// "invalid".
const char* PaymentKindName(PaymentKind kind);

/// One payment record for the payments topic: key (order_id; empty means no key) and value.
struct GeneratedPayment {
  std::string key;
  std::string value;
  PaymentKind kind = PaymentKind::kMatched;
  /// "AUTHORIZED", "CAPTURED", "FAILED" or "REFUNDED"; the status written into a valid
  /// value (empty for kMalformed and kInvalid).
  std::string status;
  /// The event time written into the value (the release time for kMalformed/kInvalid).
  int64_t event_time_micros = 0;
  /// The order-stream event time at which the record is due (see PaymentGenerator).
  int64_t release_micros = 0;
  /// The amount written into a valid value, in 1/10^4 units.
  int64_t amount_units = 0;
  /// The event time of the PAID order the record belongs to (0 for kOrphan, kMalformed,
  /// kInvalid).
  int64_t order_time_micros = 0;
  /// The order's items total in 1/10^4 units (0 when there is no order).
  int64_t order_total_units = 0;
};

/// Knobs of the payment generator. All fractions are probabilities per PAID order (the
/// first kValid PAID event of an order), except duplicate_fraction, which is per CAPTURED
/// payment. Each lies in [0, 1]; missing + late + mismatch + outside (what happens to an
/// order's capture) is at most 1, and so is orphan + malformed + invalid (an extra record
/// beside the order's payments). See Validate().
struct PaymentGeneratorOptions {
  /// Seed of the payment stream (mixed with a salt, so it may equal the order seed).
  uint64_t seed = 1;
  /// No CAPTURED payment at all; half of these orders get an AUTHORIZED then FAILED pair.
  double missing_fraction = 0.02;
  /// An extra CAPTURED payment, at the clock, for an order_id the order generator never
  /// uses ("ORD-X" and 8 digits).
  double orphan_fraction = 0.01;
  /// A CAPTURED payment is re-sent byte-identical 1 to 30 s (of event time) later.
  double duplicate_fraction = 0.03;
  /// The capture is released late_by_micros to 1.5 x late_by_micros after its event time.
  double late_fraction = 0.01;
  /// The capture's amount differs from the order's total by 1 to 5 cents.
  double mismatch_fraction = 0.01;
  /// The capture is 1 h to 3 h after, or 15 to 20 min before, the order (30% before).
  double outside_fraction = 0.01;
  /// An extra record that is not a JSON object.
  double malformed_fraction = 0.005;
  /// An extra JSON object that breaks the contract: a missing required field, a negative
  /// amount, an unknown status, a wrong type or a bad event_time.
  double invalid_fraction = 0.005;
  /// An AUTHORIZED payment 1 to 60 s before a capture.
  double authorized_fraction = 0.3;
  /// A FAILED attempt 5 to 120 s before a capture.
  double failed_fraction = 0.05;
  /// A REFUNDED payment 1 to 6 h after a capture.
  double refunded_fraction = 0.02;
  /// Minimum delay of a late capture's release; the actual delay is in [late_by, 1.5 x late_by).
  int64_t late_by_micros = 10LL * 60 * 1000000;

  /// Returns an empty string when the options are usable, else a message naming the
  /// offending option (by its option-struct name) and the expected form.
  std::string Validate() const;
};

/// Deterministic generator of payment events (EVENTS.md, topic `payments`) for the PAID
/// orders of an EventGenerator.
///
/// Observe() is given every order record right after EventGenerator::Next(). For the first
/// kValid PAID event of each order it schedules that order's payments (all random draws
/// happen here, so the output is a pure function of the seeds and the order stream):
/// normally one CAPTURED payment with a fresh payment_id ("pay-<seed>-<n>"), the same
/// order_id, amount (the order's items total, up to 4 decimals), currency and method, a
/// provider from a small list, and an event time of the order's event time plus a delay:
/// 85% 0 to 5 min after, 10% 5 to 55 min after, 5% 1 to 14 min before. The fractions of
/// PaymentGeneratorOptions then make some orders miss their capture or get it late, with
/// another amount or outside the interval, and add orphans, duplicates, AUTHORIZED, FAILED
/// and REFUNDED noise and malformed or invalid records.
///
/// A scheduled record is due at its release time (its event time; later for a late capture
/// and for a duplicate). PopDue() hands out the due records in (release time, schedule
/// order) order. Not thread-safe.
class PaymentGenerator {
 public:
  /// Options must satisfy Validate() (checked: a violation aborts).
  explicit PaymentGenerator(PaymentGeneratorOptions options);

  /// Schedules the payments of the order behind `facts` when it is a first PAID event;
  /// `clock_micros` is the order generator's clock (the time orphans and broken records
  /// are due at).
  void Observe(const PaidOrderFacts& facts, int64_t clock_micros);

  /// Moves the scheduled record with the smallest release time into `out` if that time is
  /// before `clock_micros`; returns whether it did.
  bool PopDue(int64_t clock_micros, GeneratedPayment* out);

  /// Number of records scheduled and not yet handed out.
  size_t pending() const { return heap_.size(); }

  /// PAID orders observed so far, and those of them that get no CAPTURED payment.
  uint64_t paid_orders() const { return paid_orders_; }
  uint64_t missing_orders() const { return missing_orders_; }

  /// Largest distance a record's release time may lie before the event time of the order
  /// that schedules it: an outside capture 20 min before, preceded by a FAILED attempt up
  /// to 2 min earlier.
  static constexpr int64_t kMaxLeadMicros = 22LL * 60 * 1000000;

 private:
  struct Scheduled {
    int64_t release_micros;
    uint64_t seq;
    GeneratedPayment payment;
  };
  struct Later {
    bool operator()(const Scheduled& a, const Scheduled& b) const {
      return a.release_micros != b.release_micros ? a.release_micros > b.release_micros
                                                  : a.seq > b.seq;
    }
  };

  uint64_t Uniform(uint64_t n);  // in [0, n)
  double UniformUnit();          // in [0, 1)
  int64_t UniformRange(int64_t lo, int64_t hi);  // in [lo, hi]
  /// Schedules one valid payment record (`facts` is null for an orphan) and, when
  /// `may_duplicate`, with probability duplicate_fraction a re-send of it 1 to 30 s later.
  void Schedule(PaymentKind kind, std::string_view status, const PaidOrderFacts* facts,
                const std::string& order_id, int64_t event_time, int64_t release,
                int64_t amount_units, std::string_view provider, bool may_duplicate = false);
  void ScheduleBroken(bool malformed, const PaidOrderFacts& facts, int64_t clock_micros);
  void Push(int64_t release, GeneratedPayment payment);
  void WriteValue(std::string_view payment_id, const std::string& order_id,
                  int64_t event_time, std::string_view status, int64_t amount_units,
                  std::string_view currency, std::string_view method,
                  std::string_view provider, std::string* out);

  PaymentGeneratorOptions options_;
  std::mt19937_64 rng_;
  uint64_t seq_ = 0;
  uint64_t payment_seq_ = 0;  // numbers payment ids
  uint64_t orphan_seq_ = 0;   // numbers orphan order ids
  uint64_t paid_orders_ = 0;
  uint64_t missing_orders_ = 0;
  std::priority_queue<Scheduled, std::vector<Scheduled>, Later> heap_;
};

/// Which topic a record of an OrderPaymentStream goes to.
enum class StreamTopic : uint8_t { kEnd, kOrders, kPayments };

/// The order stream of an EventGenerator interleaved with its payments in event-time order.
///
/// A payment may be due up to 22 min before its order (PaymentGenerator::kMaxLeadMicros),
/// and the generator learns of an order only when it generates it. So that such a payment
/// still arrives in time order (and not behind the payments' watermark), the stream
/// generates orders up to kMaxLeadMicros of event time ahead and holds them in a FIFO
/// buffer: the order records come out exactly as EventGenerator::Next() gives them (same
/// bytes, same order), and before each one every payment due before its clock. After the
/// last order, the payments still scheduled come out in release order. The buffer holds
/// about kMaxLeadMicros / event_time_step_micros orders (about 130k at the default 10 ms
/// step, some 200 MB). A payment of a late or out-of-order order is due relative to that
/// order's (shifted) event time, so it may come out behind the orders, like its order.
class OrderPaymentStream {
 public:
  /// Both options must satisfy Validate(). `order_count` orders are generated in all.
  OrderPaymentStream(EventGeneratorOptions orders, PaymentGeneratorOptions payments,
                     int64_t order_count);

  /// Generates the next record into `order` or `payment` and returns its topic; kEnd
  /// after the last one.
  StreamTopic Next(GeneratedEvent* order, GeneratedPayment* payment);

  const PaymentGenerator& payments() const { return payments_; }

 private:
  struct Held {
    int64_t clock_micros;
    GeneratedEvent event;
  };

  EventGenerator orders_;
  PaymentGenerator payments_;
  int64_t remaining_;
  std::deque<Held> held_;
  std::vector<GeneratedEvent> spare_;  // recycled events (keep their string capacity)
};

}  // namespace medallion::produce
