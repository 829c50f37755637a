#include "produce/payment_generator.h"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>

#include "common/check.h"
#include "produce/text_append.h"

namespace medallion::produce {
namespace {

using text::AppendInt;
using text::AppendIsoMillis;
using text::AppendMoney4;
using text::AppendPadded;
using text::AppendQuoted;
using text::FloorDiv;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
/// Salt of the payment stream's seed, so that it differs from the order stream's.
constexpr uint64_t kPaymentSalt = 0x9a7e11ed5eedULL;

constexpr std::string_view kProviders[] = {"acme-pay", "payflux", "nordpay", "cardhub"};

}  // namespace

const char* PaymentKindName(PaymentKind kind) {
  switch (kind) {
    case PaymentKind::kMatched: return "matched";
    case PaymentKind::kLate: return "late";
    case PaymentKind::kMismatch: return "mismatch";
    case PaymentKind::kOutside: return "outside";
    case PaymentKind::kOrphan: return "orphan";
    case PaymentKind::kNoise: return "noise";
    case PaymentKind::kDuplicate: return "duplicate";
    case PaymentKind::kMalformed: return "malformed";
    case PaymentKind::kInvalid: return "invalid";
  }
  return "unknown";
}

std::string PaymentGeneratorOptions::Validate() const {
  const std::pair<const char*, double> fractions[] = {
      {"missing_fraction", missing_fraction},       {"orphan_fraction", orphan_fraction},
      {"duplicate_fraction", duplicate_fraction},   {"late_fraction", late_fraction},
      {"mismatch_fraction", mismatch_fraction},     {"outside_fraction", outside_fraction},
      {"malformed_fraction", malformed_fraction},   {"invalid_fraction", invalid_fraction},
      {"authorized_fraction", authorized_fraction}, {"failed_fraction", failed_fraction},
      {"refunded_fraction", refunded_fraction}};
  for (const auto& [name, value] : fractions) {
    if (!(value >= 0.0 && value <= 1.0)) {
      return std::string(name) + " must be a number in [0, 1], got " + std::to_string(value);
    }
  }
  const double capture = missing_fraction + late_fraction + mismatch_fraction + outside_fraction;
  if (capture > 1.0 + 1e-9) {
    return "the sum of missing_fraction, late_fraction, mismatch_fraction and outside_fraction "
           "must be at most 1, got " + std::to_string(capture);
  }
  const double extra = orphan_fraction + malformed_fraction + invalid_fraction;
  if (extra > 1.0 + 1e-9) {
    return "the sum of orphan_fraction, malformed_fraction and invalid_fraction must be at "
           "most 1, got " + std::to_string(extra);
  }
  if (late_by_micros < 0) return "late_by_micros must be >= 0";
  return "";
}

PaymentGenerator::PaymentGenerator(PaymentGeneratorOptions options)
    : options_(options), rng_(options.seed ^ kPaymentSalt) {
  MEDALLION_CHECK(options_.Validate().empty());
}

uint64_t PaymentGenerator::Uniform(uint64_t n) {
  // Rejection sampling: unbiased and identical on every standard library.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = rng_();
    if (r >= threshold) return r % n;
  }
}

double PaymentGenerator::UniformUnit() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

int64_t PaymentGenerator::UniformRange(int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(Uniform(static_cast<uint64_t>(hi - lo) + 1));
}

void PaymentGenerator::Observe(const PaidOrderFacts& facts, int64_t clock_micros) {
  if (!facts.first_paid) return;
  ++paid_orders_;
  const int64_t order_time = facts.event_time_micros;
  const std::string_view provider = kProviders[Uniform(std::size(kProviders))];

  // What happens to the order's capture: one draw over the exclusive kinds.
  const double u = UniformUnit();
  double edge = options_.missing_fraction;
  PaymentKind kind = PaymentKind::kMatched;
  bool missing = false;
  if (u < edge) {
    missing = true;
  } else if (u < (edge += options_.late_fraction)) {
    kind = PaymentKind::kLate;
  } else if (u < (edge += options_.mismatch_fraction)) {
    kind = PaymentKind::kMismatch;
  } else if (u < (edge += options_.outside_fraction)) {
    kind = PaymentKind::kOutside;
  }

  // The capture's delay from the order, in whole milliseconds like event times.
  int64_t delay;
  if (kind == PaymentKind::kOutside) {
    delay = Uniform(10) < 3 ? -UniformRange(15 * kMinute / 1000 + 1, 20 * kMinute / 1000) * 1000
                            : UniformRange(kHour / 1000 + 1, 3 * kHour / 1000) * 1000;
  } else {
    const uint64_t d = Uniform(100);
    delay = d < 85   ? UniformRange(0, 5 * kMinute / 1000) * 1000
            : d < 95 ? UniformRange(5 * kMinute / 1000 + 1, 55 * kMinute / 1000) * 1000
                     : -UniformRange(kMinute / 1000, 14 * kMinute / 1000) * 1000;
  }
  const int64_t capture_time = order_time + delay;
  int64_t amount = facts.total_units;

  if (missing) {
    ++missing_orders_;
    if (Uniform(2) == 0) {  // an authorization that then fails
      const int64_t failed_at = capture_time + UniformRange(5, 120) * kSecond;
      Schedule(PaymentKind::kNoise, "AUTHORIZED", &facts, facts.order_id, capture_time,
               capture_time, amount, provider);
      Schedule(PaymentKind::kNoise, "FAILED", &facts, facts.order_id, failed_at, failed_at,
               amount, provider);
    }
  } else {
    if (UniformUnit() < options_.authorized_fraction) {
      const int64_t at = capture_time - UniformRange(1, 60) * kSecond;
      Schedule(PaymentKind::kNoise, "AUTHORIZED", &facts, facts.order_id, at, at, amount,
               provider);
    }
    if (UniformUnit() < options_.failed_fraction) {
      const int64_t at = capture_time - UniformRange(5, 120) * kSecond;
      Schedule(PaymentKind::kNoise, "FAILED", &facts, facts.order_id, at, at, amount,
               provider);
    }
    if (kind == PaymentKind::kMismatch) {
      const int64_t cents = UniformRange(1, 5);
      amount += (Uniform(2) == 0 && amount >= cents * 100 ? -cents : cents) * 100;
    }
    const int64_t release =
        kind == PaymentKind::kLate
            ? capture_time + options_.late_by_micros +
                  static_cast<int64_t>(Uniform(options_.late_by_micros / 2 + 1))
            : capture_time;
    Schedule(kind, "CAPTURED", &facts, facts.order_id, capture_time, release, amount,
             provider, /*may_duplicate=*/true);
    if (UniformUnit() < options_.refunded_fraction) {
      const int64_t at =
          capture_time + UniformRange(kHour / kSecond, 6 * kHour / kSecond) * kSecond;
      Schedule(PaymentKind::kNoise, "REFUNDED", &facts, facts.order_id, at, at, amount,
               provider);
    }
  }

  // An extra record beside the order's payments: an orphan, or a broken record.
  const double v = UniformUnit();
  edge = options_.orphan_fraction;
  if (v < edge) {
    std::string orphan_id = "ORD-X";
    AppendPadded(&orphan_id, static_cast<int64_t>(++orphan_seq_), 8);
    const int64_t at = FloorDiv(clock_micros, 1000) * 1000;
    Schedule(PaymentKind::kOrphan, "CAPTURED", nullptr, orphan_id, at, at, facts.total_units,
             kProviders[Uniform(std::size(kProviders))], /*may_duplicate=*/true);
  } else if (v < (edge += options_.malformed_fraction)) {
    ScheduleBroken(true, facts, clock_micros);
  } else if (v < (edge += options_.invalid_fraction)) {
    ScheduleBroken(false, facts, clock_micros);
  }
}

void PaymentGenerator::Schedule(PaymentKind kind, std::string_view status,
                                const PaidOrderFacts* facts, const std::string& order_id,
                                int64_t event_time, int64_t release, int64_t amount_units,
                                std::string_view provider, bool may_duplicate) {
  GeneratedPayment p;
  p.key = order_id;
  p.kind = kind;
  p.status = std::string(status);
  p.event_time_micros = event_time;
  p.amount_units = amount_units;
  if (facts != nullptr) {
    p.order_time_micros = facts->event_time_micros;
    p.order_total_units = facts->total_units;
  }
  std::string payment_id = "pay-";
  AppendInt(&payment_id, static_cast<int64_t>(options_.seed));
  payment_id.push_back('-');
  AppendInt(&payment_id, static_cast<int64_t>(payment_seq_++));
  WriteValue(payment_id, order_id, event_time, status, amount_units,
             facts != nullptr ? facts->currency : "USD",
             facts != nullptr ? facts->method : "card", provider, &p.value);
  if (may_duplicate && UniformUnit() < options_.duplicate_fraction) {
    GeneratedPayment copy = p;
    copy.kind = PaymentKind::kDuplicate;
    Push(release + UniformRange(1, 30) * kSecond, std::move(copy));
  }
  Push(release, std::move(p));
}

void PaymentGenerator::ScheduleBroken(bool malformed, const PaidOrderFacts& facts,
                                      int64_t clock_micros) {
  const int64_t at = FloorDiv(clock_micros, 1000) * 1000;
  GeneratedPayment p;
  p.key = facts.order_id;
  p.event_time_micros = at;
  std::string payment_id = "pay-";
  AppendInt(&payment_id, static_cast<int64_t>(options_.seed));
  payment_id.push_back('-');
  AppendInt(&payment_id, static_cast<int64_t>(payment_seq_++));
  const std::string_view provider = kProviders[Uniform(std::size(kProviders))];
  if (malformed) {
    static constexpr std::string_view kNotObjects[] = {
        "pay-1,ORD-00000001,CAPTURED,19.99", "{payment_id: pay-1}", "[\"CAPTURED\",19.99]",
        "\"CAPTURED\"", "19.99", "null"};
    p.kind = PaymentKind::kMalformed;
    if (Uniform(2) == 0) {
      p.value.assign(kNotObjects[Uniform(std::size(kNotObjects))]);
    } else {  // a proper prefix of an object is never valid JSON
      std::string whole;
      WriteValue(payment_id, facts.order_id, at, "CAPTURED", facts.total_units, facts.currency,
                 facts.method, provider, &whole);
      p.value.assign(whole, 0, 1 + Uniform(whole.size() - 1));
    }
    Push(at, std::move(p));
    return;
  }
  p.kind = PaymentKind::kInvalid;
  WriteValue(payment_id, facts.order_id, at, "CAPTURED", facts.total_units, facts.currency,
             facts.method, provider, &p.value);
  std::string& v = p.value;
  // Replaces the value of `field` (its text up to the next ',' or '}') by `text`, or drops
  // the field when `text` is empty.
  auto replace = [&v](std::string_view field, std::string_view text) {
    const std::string needle = "\"" + std::string(field) + "\":";
    const size_t begin = v.find(needle);
    // No value the generator writes contains ',' or '}'.
    const size_t end = v.find_first_of(",}", begin + needle.size());
    if (text.empty()) {
      v.erase(begin, end + 1 - begin);  // with its comma (never the last field)
    } else {
      v.replace(begin + needle.size(), end - begin - needle.size(), text);
    }
  };
  static constexpr std::string_view kRequired[] = {"payment_id", "order_id", "event_time",
                                                   "status", "amount", "currency"};
  switch (Uniform(5)) {
    case 0:  // a required field is missing
      replace(kRequired[Uniform(std::size(kRequired))], "");
      break;
    case 1: {  // a negative amount
      std::string amount = "-";
      AppendMoney4(&amount, std::max<int64_t>(facts.total_units, 100));
      replace("amount", amount);
      break;
    }
    case 2: {  // an unknown status
      static constexpr std::string_view kUnknown[] = {"\"SETTLED\"", "\"PENDING\"", "\"\"",
                                                      "\"captured\""};
      replace("status", kUnknown[Uniform(std::size(kUnknown))]);
      break;
    }
    case 3: {  // a wrong type
      static constexpr std::string_view kWrongTypes[][2] = {
          {"amount", "\"19.99\""}, {"order_id", "123"}, {"currency", "840"}, {"status", "2"}};
      const auto& wrong = kWrongTypes[Uniform(std::size(kWrongTypes))];
      replace(wrong[0], wrong[1]);
      break;
    }
    default: {  // a bad event_time
      static constexpr std::string_view kBadTimes[] = {"\"yesterday\"", "\"2026-13-45T10:00:00Z\"",
                                                       "\"\"", "true"};
      replace("event_time", kBadTimes[Uniform(std::size(kBadTimes))]);
      break;
    }
  }
  Push(at, std::move(p));
}

void PaymentGenerator::Push(int64_t release, GeneratedPayment payment) {
  payment.release_micros = release;
  heap_.push(Scheduled{release, seq_++, std::move(payment)});
}

void PaymentGenerator::WriteValue(std::string_view payment_id, const std::string& order_id,
                                  int64_t event_time, std::string_view status,
                                  int64_t amount_units, std::string_view currency,
                                  std::string_view method, std::string_view provider,
                                  std::string* out) {
  std::string& o = *out;
  o.clear();
  o.append("{\"payment_id\":");
  AppendQuoted(&o, payment_id);
  o.append(",\"order_id\":");
  AppendQuoted(&o, order_id);
  o.append(",\"event_time\":\"");
  AppendIsoMillis(&o, FloorDiv(event_time, 1000));
  o.append("\",\"status\":");
  AppendQuoted(&o, status);
  o.append(",\"amount\":");
  AppendMoney4(&o, amount_units);
  o.append(",\"currency\":");
  AppendQuoted(&o, currency);
  o.append(",\"method\":");
  AppendQuoted(&o, method);
  o.append(",\"provider\":");
  AppendQuoted(&o, provider);
  o.append(",\"schema_version\":1}");
}

bool PaymentGenerator::PopDue(int64_t clock_micros, GeneratedPayment* out) {
  if (heap_.empty() || heap_.top().release_micros >= clock_micros) return false;
  // priority_queue::top() is const; the element is popped right after, so moving is safe.
  *out = std::move(const_cast<Scheduled&>(heap_.top()).payment);
  heap_.pop();
  return true;
}

OrderPaymentStream::OrderPaymentStream(EventGeneratorOptions orders,
                                       PaymentGeneratorOptions payments, int64_t order_count)
    : orders_(orders), payments_(payments), remaining_(order_count) {}

StreamTopic OrderPaymentStream::Next(GeneratedEvent* order, GeneratedPayment* payment) {
  // Look ahead far enough that every payment due before the first held order is scheduled:
  // an order not yet generated has a clock past the last one's, and schedules nothing due
  // more than kMaxLeadMicros (plus an out-of-order shift) before that.
  constexpr int64_t kLookahead =
      PaymentGenerator::kMaxLeadMicros + EventGenerator::kMaxOutOfOrderMicros;
  while (remaining_ > 0 &&
         (held_.empty() || orders_.clock_micros() - held_.front().clock_micros <= kLookahead)) {
    Held held;
    if (!spare_.empty()) {
      held.event = std::move(spare_.back());
      spare_.pop_back();
    }
    orders_.Next(&held.event);
    held.clock_micros = orders_.clock_micros();
    payments_.Observe(orders_.last_order(), held.clock_micros);
    held_.push_back(std::move(held));
    --remaining_;
  }
  if (held_.empty()) {
    return payments_.PopDue(INT64_MAX, payment) ? StreamTopic::kPayments : StreamTopic::kEnd;
  }
  if (payments_.PopDue(held_.front().clock_micros, payment)) return StreamTopic::kPayments;
  std::swap(*order, held_.front().event);
  spare_.push_back(std::move(held_.front().event));
  held_.pop_front();
  return StreamTopic::kOrders;
}

}  // namespace medallion::produce
