#include "ops/payment_join.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>

#include "format/bronze_builder.h"
#include "format/event_parser.h"
#include "format/schemas.h"
#include "silver_batch_builder.h"
#include "state/watermark.h"

namespace medallion::ops {
namespace {

static_assert(kNoJoinWatermark == state::Watermark::kNone);

using testing::kMinute;
using testing::kUnit;
using testing::Rows;

constexpr int64_t kBefore = 15 * kMinute;
constexpr int64_t kAfter = 60 * kMinute;
constexpr int64_t kT = 1000 * kMinute;  // an order time far from zero

struct OrderIn {
  std::string order_id;
  std::string event_id;
  int64_t time_us = kT;
  int64_t total = 10 * kUnit;
  std::optional<std::string> currency = "USD";
};

struct PaymentIn {
  std::string payment_id;
  std::string order_id;
  int64_t time_us = kT;
  int64_t amount = 10 * kUnit;
  std::string currency = "USD";
  std::optional<std::string> method = "card";
  std::optional<std::string> provider = "acme-pay";
};

arrow::Status AppendOptional(arrow::StringBuilder* b, const std::optional<std::string>& v) {
  return v ? b->Append(*v) : b->AppendNull();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> Finish(
    const std::shared_ptr<arrow::Schema>& schema, int64_t n,
    std::vector<arrow::ArrayBuilder*> builders) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (auto* b : builders) {
    std::shared_ptr<arrow::Array> a;
    ARROW_RETURN_NOT_OK(b->Finish(&a));
    columns.push_back(std::move(a));
  }
  return arrow::RecordBatch::Make(schema, n, std::move(columns));
}

/// A format::JoinOrderSchema() batch.
std::shared_ptr<arrow::RecordBatch> Orders(const std::vector<OrderIn>& orders) {
  arrow::StringBuilder order_id, event_id, currency;
  arrow::TimestampBuilder time(format::TimestampType(), arrow::default_memory_pool());
  arrow::Decimal128Builder total(format::MoneyType());
  arrow::Int32Builder partition;
  arrow::Int64Builder offset;
  int64_t n = 0;
  for (const auto& o : orders) {
    EXPECT_TRUE(order_id.Append(o.order_id).ok());
    EXPECT_TRUE(event_id.Append(o.event_id).ok());
    EXPECT_TRUE(time.Append(o.time_us).ok());
    EXPECT_TRUE(total.Append(arrow::Decimal128(o.total)).ok());
    EXPECT_TRUE(AppendOptional(&currency, o.currency).ok());
    EXPECT_TRUE(partition.Append(0).ok());
    EXPECT_TRUE(offset.Append(n++).ok());
  }
  return Finish(format::JoinOrderSchema(), n,
                {&order_id, &event_id, &time, &total, &currency, &partition, &offset})
      .ValueOrDie();
}

/// A format::PaymentSchema() batch (status CAPTURED).
std::shared_ptr<arrow::RecordBatch> Payments(const std::vector<PaymentIn>& payments) {
  arrow::StringBuilder payment_id, order_id, status, currency, method, provider;
  arrow::TimestampBuilder time(format::TimestampType(), arrow::default_memory_pool());
  arrow::Decimal128Builder amount(format::MoneyType());
  arrow::Int32Builder partition, version;
  arrow::Int64Builder offset;
  int64_t n = 0;
  for (const auto& p : payments) {
    EXPECT_TRUE(payment_id.Append(p.payment_id).ok());
    EXPECT_TRUE(order_id.Append(p.order_id).ok());
    EXPECT_TRUE(time.Append(p.time_us).ok());
    EXPECT_TRUE(status.Append("CAPTURED").ok());
    EXPECT_TRUE(amount.Append(arrow::Decimal128(p.amount)).ok());
    EXPECT_TRUE(currency.Append(p.currency).ok());
    EXPECT_TRUE(AppendOptional(&method, p.method).ok());
    EXPECT_TRUE(AppendOptional(&provider, p.provider).ok());
    EXPECT_TRUE(partition.Append(0).ok());
    EXPECT_TRUE(offset.Append(n++).ok());
    EXPECT_TRUE(version.Append(1).ok());
  }
  return Finish(format::PaymentSchema(), n,
                {&payment_id, &order_id, &time, &status, &amount, &currency, &method, &provider,
                 &partition, &offset, &version})
      .ValueOrDie();
}

/// One micro-batch: the join watermark before it, its inputs, the watermark after it.
struct Step {
  std::vector<OrderIn> orders;
  std::vector<PaymentIn> payments;
  int64_t watermark_before = kNoJoinWatermark;
  int64_t watermark_after = kNoJoinWatermark;
};

const std::vector<std::string> kMatchColumns = {"order_id", "event_id", "payment_id",
                                                "delay_ms"};
const std::vector<std::string> kReconColumns = {"reason", "order_id", "event_id", "payment_id",
                                                "late", "watermark"};

/// Everything the join wrote, as rows of text, batch by batch.
struct Output {
  std::vector<std::string> matches;
  std::vector<std::string> reconciliation;
  bool operator==(const Output&) const = default;
};

void Take(PaymentJoin* join, int64_t batch_id, Output* out) {
  auto taken = join->TakeOutput(batch_id);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_TRUE(taken->matches->schema()->Equals(*format::OrderPaymentsSchema()));
  ASSERT_TRUE(taken->reconciliation->schema()->Equals(*format::ReconciliationSchema()));
  ASSERT_TRUE(taken->matches->ValidateFull().ok());
  ASSERT_TRUE(taken->reconciliation->ValidateFull().ok());
  for (auto& r : Rows(*taken->matches, kMatchColumns)) out->matches.push_back(std::move(r));
  for (auto& r : Rows(*taken->reconciliation, kReconColumns)) {
    out->reconciliation.push_back(std::move(r));
  }
}

/// Runs `steps` through `join`; with `restore_after` set, the join is replaced after that
/// step by a fresh one restored from its snapshot.
Output RunSteps(const std::vector<Step>& steps, std::optional<size_t> restore_after = std::nullopt,
           PaymentJoinOptions options = {}) {
  auto join = std::make_unique<PaymentJoin>(options);
  Output out;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    EXPECT_TRUE(join->Consume(*Orders(s.orders), *Payments(s.payments), s.watermark_before).ok());
    EXPECT_TRUE(join->AdvanceWatermark(s.watermark_after).ok());
    Take(join.get(), static_cast<int64_t>(i), &out);
    if (restore_after == i) {
      const std::string bytes = join->SerializeState();
      auto restored = std::make_unique<PaymentJoin>(options);
      EXPECT_TRUE(restored->RestoreState(bytes).ok());
      EXPECT_EQ(restored->SerializeState(), bytes);
      EXPECT_EQ(restored->unmatched_orders(), join->unmatched_orders());
      EXPECT_EQ(restored->unmatched_payments(), join->unmatched_payments());
      EXPECT_EQ(restored->state_bytes(), join->state_bytes());
      join = std::move(restored);
    }
  }
  return out;
}

std::string W(int64_t us) { return std::to_string(us); }

class PaymentJoinTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(arrow::compute::Initialize().ok()); }
};

TEST_F(PaymentJoinTest, MatchesWhateverTheOrderOfArrival) {
  const OrderIn order{"O-1", "e1", kT};
  const PaymentIn payment{"p1", "O-1", kT + 1500};  // delay 1.5 ms: 1
  const std::string match = "O-1|e1|p1|1";
  struct Case {
    std::string name;
    std::vector<Step> steps;
  };
  const std::vector<Case> cases = {
      {"same batch", {{{order}, {payment}}}},
      {"order first", {{{order}, {}, kNoJoinWatermark, kT}, {{}, {payment}, kT, kT + kMinute}}},
      {"payment first", {{{}, {payment}, kNoJoinWatermark, kT}, {{order}, {}, kT, kT}}},
      {"batches apart",
       {{{}, {payment}, kT - kMinute, kT},
        {{}, {}, kT, kT},
        {{order}, {}, kT, kT + kAfter}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Output out = RunSteps(c.steps);
    EXPECT_EQ(out.matches, std::vector<std::string>{match});
    EXPECT_TRUE(out.reconciliation.empty());
  }
}

TEST_F(PaymentJoinTest, MatchRowCarriesBothSides) {
  PaymentJoin join;
  ASSERT_TRUE(join.Consume(*Orders({{"O-1", "e1", kT, 25 * kUnit, "EUR"}}),
                           *Payments({{"p1", "O-1", kT - 1999, 25 * kUnit, "EUR", std::nullopt,
                                       "prov"}}),
                           kNoJoinWatermark)
                  .ok());
  EXPECT_EQ(join.unmatched_orders(), 0);
  EXPECT_EQ(join.unmatched_payments(), 0);
  EXPECT_EQ(join.state_bytes(), 0);
  auto out = join.TakeOutput(7).ValueOrDie();
  EXPECT_EQ(Rows(*out.matches, {"order_id", "event_id", "payment_id", "order_time",
                                "payment_time", "order_total", "payment_amount", "currency",
                                "method", "provider", "delay_ms"}),
            std::vector<std::string>{"O-1|e1|p1|" + W(kT) + "|" + W(kT - 1999) +
                                     "|25.0000|25.0000|EUR|null|prov|-1"});
  EXPECT_EQ(out.reconciliation->num_rows(), 0);
}

TEST_F(PaymentJoinTest, IntervalBoundsAreInclusive) {
  struct Case {
    std::string name;
    int64_t payment_time;
    bool matches;
  };
  const std::vector<Case> cases = {
      {"to - before", kT - kBefore, true},
      {"to - before - 1us", kT - kBefore - 1, false},
      {"to + after", kT + kAfter, true},
      {"to + after + 1us", kT + kAfter + 1, false},
      {"to", kT, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    for (const bool order_first : {true, false}) {
      SCOPED_TRACE(order_first ? "order first" : "payment first");
      const OrderIn order{"O-1", "e1", kT};
      const PaymentIn payment{"p1", "O-1", c.payment_time};
      const int64_t flush = kT + 2 * kAfter;
      const std::vector<Step> steps =
          order_first ? std::vector<Step>{{{order}, {}}, {{}, {payment}, kNoJoinWatermark, flush}}
                      : std::vector<Step>{{{}, {payment}}, {{order}, {}, kNoJoinWatermark, flush}};
      const Output out = RunSteps(steps);
      if (c.matches) {
        EXPECT_EQ(out.matches.size(), 1u);
        EXPECT_TRUE(out.reconciliation.empty());
      } else {
        EXPECT_TRUE(out.matches.empty());
        EXPECT_EQ(out.reconciliation,
                  (std::vector<std::string>{"missing_payment|O-1|e1|null|false|" + W(flush),
                                            "orphan_payment|O-1|null|p1|false|" + W(flush)}));
      }
    }
  }
}

TEST_F(PaymentJoinTest, DuplicatesFollowTheTieRules) {
  struct Case {
    std::string name;
    std::vector<OrderIn> orders;
    std::vector<PaymentIn> payments;
    std::vector<std::string> matches;
    std::vector<std::string> left;  // reconciliation after the flush
  };
  const int64_t flush = kT + 3 * kAfter;
  const std::vector<Case> cases = {
      {"two orders: the earlier order takes the payment",
       {{"O-1", "e2", kT + 10}, {"O-1", "e1", kT + 20}},
       {{"p1", "O-1", kT + 30}},
       {"O-1|e2|p1|0"},
       {"missing_payment|O-1|e1|null|false|" + W(flush)}},
      {"two orders at the same time: the smaller event_id takes it",
       {{"O-1", "e2", kT}, {"O-1", "e1", kT}},
       {{"p1", "O-1", kT}},
       {"O-1|e1|p1|0"},
       {"missing_payment|O-1|e2|null|false|" + W(flush)}},
      {"two payments: the earlier payment is taken",
       {{"O-1", "e1", kT}},
       {{"p1", "O-1", kT + 5000}, {"p2", "O-1", kT + 1000}},
       {"O-1|e1|p2|1"},
       {"orphan_payment|O-1|null|p1|false|" + W(flush)}},
      {"two payments at the same time: the smaller payment_id is taken",
       {{"O-1", "e1", kT}},
       {{"p2", "O-1", kT}, {"p1", "O-1", kT}},
       {"O-1|e1|p1|0"},
       {"orphan_payment|O-1|null|p2|false|" + W(flush)}},
      {"two orders, two payments: each order its own",
       {{"O-1", "e1", kT}, {"O-1", "e2", kT + kMinute}},
       {{"p1", "O-1", kT + 1000}, {"p2", "O-1", kT + kMinute}},
       {"O-1|e1|p1|1", "O-1|e2|p2|0"},
       {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Output out = RunSteps({{c.orders, c.payments, kNoJoinWatermark, flush}});
    EXPECT_EQ(out.matches, c.matches);
    EXPECT_EQ(out.reconciliation, c.left);
  }
}

TEST_F(PaymentJoinTest, MatchInTheBatchWhoseWatermarkPassesTheOrder) {
  // The order's bound is kT + kAfter; the batch that brings the payment at that bound also
  // moves the watermark past it. Consume runs first, so the pair still meets.
  const Output out = RunSteps({{{{"O-1", "e1", kT}}, {}, kNoJoinWatermark, kT + kAfter},
                          {{}, {{"p1", "O-1", kT + kAfter}}, kT + kAfter, kT + kAfter + 1}});
  EXPECT_EQ(out.matches, std::vector<std::string>{"O-1|e1|p1|3600000"});
  EXPECT_TRUE(out.reconciliation.empty());
  // The same for a payment waiting for its order.
  const Output out2 = RunSteps({{{}, {{"p1", "O-1", kT}}, kNoJoinWatermark, kT + kBefore},
                           {{{"O-1", "e1", kT + kBefore}}, {}, kT + kBefore, kT + kBefore + 1}});
  EXPECT_EQ(out2.matches, std::vector<std::string>{"O-1|e1|p1|-900000"});
  EXPECT_TRUE(out2.reconciliation.empty());
}

TEST_F(PaymentJoinTest, LateInputsAreReportedAtOnceAndMatchNothing) {
  const int64_t wm = kT;
  struct Case {
    std::string name;
    std::vector<Step> steps;
    std::vector<std::string> reconciliation;
  };
  const std::vector<Case> cases = {
      {"late order; its payment ends as orphan",
       {{{{"O-1", "e1", wm - 1}}, {{"p1", "O-1", wm}}, wm, wm + kBefore},
        {{}, {}, wm + kBefore, wm + kBefore + 1}},
       {"missing_payment|O-1|e1|null|true|" + W(wm),
        "orphan_payment|O-1|null|p1|false|" + W(wm + kBefore + 1)}},
      {"late payment; its order ends as missing",
       {{{}, {{"p1", "O-1", wm - 1}}, wm, wm},
        {{{"O-1", "e1", wm}}, {}, wm, wm + kAfter},
        {{}, {}, wm + kAfter, wm + kAfter + 1}},
       {"orphan_payment|O-1|null|p1|true|" + W(wm),
        "missing_payment|O-1|e1|null|false|" + W(wm + kAfter + 1)}},
      {"both late, same batch",
       {{{{"O-1", "e1", wm - 1}}, {{"p1", "O-1", wm - 1}}, wm, wm}},
       {"missing_payment|O-1|e1|null|true|" + W(wm), "orphan_payment|O-1|null|p1|true|" + W(wm)}},
      {"at the watermark is not late",
       {{{{"O-1", "e1", wm}}, {{"p1", "O-1", wm}}, wm, wm}},
       {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Output out = RunSteps(c.steps);
    EXPECT_EQ(out.reconciliation, c.reconciliation);
    EXPECT_EQ(out.matches.size(), c.reconciliation.empty() ? 1u : 0u);
  }
}

TEST_F(PaymentJoinTest, EvictsExactlyWhenTheWatermarkPasses) {
  PaymentJoin join;
  ASSERT_TRUE(join.Consume(*Orders({{"O-1", "e1", kT}}), *Payments({{"p9", "O-9", kT}}),
                           kNoJoinWatermark)
                  .ok());
  EXPECT_EQ(join.unmatched_orders(), 1);
  EXPECT_EQ(join.unmatched_payments(), 1);
  EXPECT_GT(join.state_bytes(), 0);
  struct Tick {
    int64_t watermark;
    std::vector<std::string> reconciliation;
  };
  const std::vector<Tick> ticks = {
      {kNoJoinWatermark, {}},
      {kT + kBefore, {}},
      {kT + kBefore + 1, {"orphan_payment|O-9|null|p9|false|" + W(kT + kBefore + 1)}},
      {kT + kAfter, {}},
      {kT + kAfter + 1, {"missing_payment|O-1|e1|null|false|" + W(kT + kAfter + 1)}},
  };
  for (size_t i = 0; i < ticks.size(); ++i) {
    SCOPED_TRACE("watermark " + W(ticks[i].watermark));
    ASSERT_TRUE(join.AdvanceWatermark(ticks[i].watermark).ok());
    Output out;
    Take(&join, static_cast<int64_t>(i), &out);
    EXPECT_EQ(out.reconciliation, ticks[i].reconciliation);
  }
  EXPECT_EQ(join.unmatched_orders(), 0);
  EXPECT_EQ(join.unmatched_payments(), 0);
  EXPECT_EQ(join.state_bytes(), 0);
}

TEST_F(PaymentJoinTest, AmountMismatch) {
  struct Case {
    std::string name;
    int64_t total;
    std::optional<std::string> order_currency;
    int64_t amount;
    std::string payment_currency;
    bool mismatch;
  };
  const std::vector<Case> cases = {
      {"equal", 10 * kUnit, "USD", 10 * kUnit, "USD", false},
      {"amount differs by 0.0001", 10 * kUnit, "USD", 10 * kUnit + 1, "USD", true},
      {"currency differs", 10 * kUnit, "USD", 10 * kUnit, "EUR", true},
      {"order currency unknown", 10 * kUnit, std::nullopt, 10 * kUnit, "EUR", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    PaymentJoin join;
    ASSERT_TRUE(join.Consume(*Orders({{"O-1", "e1", kT, c.total, c.order_currency}}),
                             *Payments({{"p1", "O-1", kT, c.amount, c.payment_currency}}), kT)
                    .ok());
    auto out = join.TakeOutput(3).ValueOrDie();
    EXPECT_EQ(out.matches->num_rows(), 1);
    const auto rows = Rows(*out.reconciliation,
                           {"reason", "order_id", "event_id", "payment_id", "order_time",
                            "payment_time", "order_total", "payment_amount", "currency", "late",
                            "watermark", "batch_id"});
    if (c.mismatch) {
      const std::string money = [](int64_t u) {
        return std::to_string(u / kUnit) + "." + (std::to_string(10000 + u % kUnit).substr(1));
      }(c.amount);
      EXPECT_EQ(rows, std::vector<std::string>{"amount_mismatch|O-1|e1|p1|" + W(kT) + "|" +
                                               W(kT) + "|10.0000|" + money + "|" +
                                               c.payment_currency + "|false|" + W(kT) + "|3"});
    } else {
      EXPECT_TRUE(rows.empty());
    }
  }
  // Without a watermark the mismatch's watermark is null.
  PaymentJoin join;
  ASSERT_TRUE(join.Consume(*Orders({{"O-1", "e1", kT, 1}}), *Payments({{"p1", "O-1", kT, 2}}),
                           kNoJoinWatermark)
                  .ok());
  Output out;
  Take(&join, 0, &out);
  EXPECT_EQ(out.reconciliation, std::vector<std::string>{"amount_mismatch|O-1|e1|p1|false|null"});
}

/// A run with orders and payments waiting across several batches, some matched, some not.
std::vector<Step> MidIntervalSteps() {
  return {
      {{{"O-1", "e1", kT}, {"O-2", "e2", kT + kMinute}},
       {{"p3", "O-3", kT}, {"p9", "O-9", kT + 2 * kMinute, 5 * kUnit, "EUR"}},
       kNoJoinWatermark,
       kT},
      {{{"O-3", "e3", kT + 5 * kMinute}}, {{"p1", "O-1", kT + 30 * kMinute, 11 * kUnit}}, kT,
       kT + 10 * kMinute},
      {{{"O-4", "e4", kT + 20 * kMinute}}, {}, kT + 10 * kMinute, kT + 40 * kMinute},
      {{}, {{"p4", "O-4", kT + 50 * kMinute}}, kT + 40 * kMinute, kT + 90 * kMinute},
      {{}, {}, kT + 90 * kMinute, kT + 200 * kMinute},
  };
}

TEST_F(PaymentJoinTest, RestoredStateGivesTheSameOutput) {
  const auto steps = MidIntervalSteps();
  const Output expected = RunSteps(steps);
  EXPECT_EQ(expected.matches,
            (std::vector<std::string>{"O-1|e1|p1|1800000", "O-3|e3|p3|-300000",
                                      "O-4|e4|p4|1800000"}));
  EXPECT_EQ(expected.reconciliation,
            (std::vector<std::string>{
                "amount_mismatch|O-1|e1|p1|false|" + W(kT),
                "orphan_payment|O-9|null|p9|false|" + W(kT + 40 * kMinute),
                "missing_payment|O-2|e2|null|false|" + W(kT + 90 * kMinute)}));
  for (size_t after = 0; after < steps.size(); ++after) {
    SCOPED_TRACE("restored after batch " + std::to_string(after));
    EXPECT_EQ(RunSteps(steps, after), expected);
  }
}

TEST_F(PaymentJoinTest, SnapshotKeepsOutputNotYetTaken) {
  PaymentJoin join;
  ASSERT_TRUE(join.Consume(*Orders({{"O-1", "e1", kT, 1}, {"O-2", "e2", kT - 1}}),
                           *Payments({{"p1", "O-1", kT, 2}, {"p5", "O-5", kT + 1}}), kT)
                  .ok());
  PaymentJoin restored;
  ASSERT_TRUE(restored.RestoreState(join.SerializeState()).ok());
  Output a, b;
  Take(&join, 1, &a);
  Take(&restored, 1, &b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.matches.size(), 1u);
  EXPECT_EQ(a.reconciliation.size(), 2u);  // the mismatch and the late order
  EXPECT_EQ(restored.unmatched_payments(), 1);
}

TEST_F(PaymentJoinTest, RestoreRejectsBadSnapshotsAndKeepsState) {
  PaymentJoin join;
  ASSERT_TRUE(join.Consume(*Orders({{"O-1", "e1", kT}}), *Payments({}), kNoJoinWatermark).ok());
  const std::string bytes = join.SerializeState();

  PaymentJoin other({.before_us = kBefore, .after_us = 2 * kAfter});
  ASSERT_TRUE(other.Consume(*Orders({}), *Payments({{"p1", "O-2", kT}}), kNoJoinWatermark).ok());
  const std::string other_bytes = other.SerializeState();
  EXPECT_TRUE(other.RestoreState(bytes).IsInvalid());  // another interval
  std::string corrupted = bytes;
  corrupted[corrupted.size() / 2] ^= 0x5a;
  EXPECT_TRUE(other.RestoreState(corrupted).IsInvalid());
  EXPECT_TRUE(other.RestoreState(bytes.substr(0, bytes.size() - 3)).IsInvalid());
  EXPECT_EQ(other.SerializeState(), other_bytes);
  EXPECT_EQ(other.unmatched_payments(), 1);
}

TEST_F(PaymentJoinTest, EvictionEmptiesTheState) {
  PaymentJoin join;
  std::vector<OrderIn> orders;
  std::vector<PaymentIn> payments;
  for (int i = 0; i < 200; ++i) {
    const std::string id = "O-" + std::to_string(i);
    orders.push_back({id, "e" + std::to_string(i), kT + i * kMinute});
    // Half the payments match, half are far outside their order's interval.
    const int64_t tp = i % 2 == 0 ? kT + i * kMinute + 1 : kT + i * kMinute + kAfter + 1;
    payments.push_back({"p" + std::to_string(i), id, tp});
  }
  ASSERT_TRUE(join.Consume(*Orders(orders), *Payments(payments), kNoJoinWatermark).ok());
  EXPECT_EQ(join.unmatched_orders(), 100);
  EXPECT_EQ(join.unmatched_payments(), 100);
  ASSERT_TRUE(join.AdvanceWatermark(kT + 100 * kMinute).ok());
  EXPECT_LT(join.unmatched_orders(), 100);
  ASSERT_TRUE(join.AdvanceWatermark(kT + 1000 * kMinute).ok());
  EXPECT_EQ(join.unmatched_orders(), 0);
  EXPECT_EQ(join.unmatched_payments(), 0);
  EXPECT_EQ(join.state_bytes(), 0);
  auto out = join.TakeOutput(0).ValueOrDie();
  EXPECT_EQ(out.matches->num_rows(), 100);
  EXPECT_EQ(out.reconciliation->num_rows(), 200);
}

TEST_F(PaymentJoinTest, EmptyInputsGiveEmptyBatchesWithTheirSchemas) {
  PaymentJoin join;
  ASSERT_TRUE(join.Consume(*Orders({}), *Payments({}), kNoJoinWatermark).ok());
  ASSERT_TRUE(join.AdvanceWatermark(kT).ok());
  auto out = join.TakeOutput(0).ValueOrDie();
  EXPECT_EQ(out.matches->num_rows(), 0);
  EXPECT_EQ(out.reconciliation->num_rows(), 0);
  EXPECT_TRUE(out.matches->schema()->Equals(*format::OrderPaymentsSchema()));
  EXPECT_TRUE(out.reconciliation->schema()->Equals(*format::ReconciliationSchema()));
  EXPECT_EQ(join.unmatched_orders(), 0);
  EXPECT_EQ(join.state_bytes(), 0);
  PaymentJoin restored;
  EXPECT_TRUE(restored.RestoreState(join.SerializeState()).ok());
}

TEST_F(PaymentJoinTest, RejectsBadInputWithoutChangingState) {
  PaymentJoin join;
  ASSERT_TRUE(join.Consume(*Orders({{"O-1", "e1", kT}}), *Payments({}), kNoJoinWatermark).ok());
  const std::string before = join.SerializeState();
  const auto orders = Orders({{"O-2", "e2", kT}});
  const auto payments = Payments({{"p1", "O-1", kT}});
  for (const std::string column : {"order_id", "event_id", "order_time", "order_total"}) {
    SCOPED_TRACE("orders without " + column);
    auto st = join.Consume(*testing::DropColumn(*orders, column), *payments, kNoJoinWatermark);
    EXPECT_TRUE(st.IsInvalid()) << st.ToString();
    EXPECT_NE(st.message().find(column), std::string::npos);
  }
  for (const std::string column : {"payment_id", "order_id", "event_time", "amount", "currency"}) {
    SCOPED_TRACE("payments without " + column);
    auto st = join.Consume(*orders, *testing::DropColumn(*payments, column), kNoJoinWatermark);
    EXPECT_TRUE(st.IsInvalid()) << st.ToString();
  }
  EXPECT_EQ(join.SerializeState(), before);
  EXPECT_TRUE(PaymentJoinOptions{.before_us = -1}.Validate().IsInvalid());
  EXPECT_TRUE(PaymentJoinOptions{.after_us = -1}.Validate().IsInvalid());
}

// --- JoinOrdersFromEvents ---------------------------------------------------------------

std::shared_ptr<arrow::RecordBatch> ParseEvents(const std::vector<std::string>& values) {
  format::BronzeBuilder b("orders", 1795564800000000);  // 2026-11-25T00:00:00Z
  int64_t offset = 0;
  for (const auto& v : values) {
    EXPECT_TRUE(b.Append(3, offset++, std::nullopt, nullptr, 0, v.data(), v.size()).ok());
  }
  format::EventParser parser;
  auto parsed = parser.Parse(*b.Finish().ValueOrDie()).ValueOrDie();
  EXPECT_EQ(parsed.quarantine->num_rows(), 0);
  return parsed.events;
}

TEST_F(PaymentJoinTest, JoinOrdersFromEventsTotalsTheLines) {
  const std::string item = R"("product_id":"P","category":"Toys")";
  const auto events = ParseEvents({
      R"({"event_id":"a","event_time":"2026-11-24T10:00:00Z","order_id":"O-a","status":"PAID",)"
      R"("customer":{"customer_id":"C"},"payment":{"currency":"USD"},"items":[{)" +
          item + R"(,"quantity":2,"unit_price":19.99},{)" + item +
          R"(,"quantity":1,"unit_price":0.0001}]})",
      R"({"event_id":"b","event_time":1795514400000,"order_id":"O-b","status":"PAID",)"
      R"("customer":{"customer_id":"C"},"items":[{)" +
          item + R"(,"quantity":1,"unit_price":5}]})",
      R"({"schema_version":2,"event_id":"c","event_time":"2026-11-24T10:00:00.5Z",)"
      R"("order_id":"O-c","status":"PAID","customer":{"customer_id":"C"},)"
      R"("payment":{"currency":"EUR"},"items":[{)" +
          item + R"(,"quantity":3,"unit_price":10,"discount":2.5},{)" + item +
          R"(,"quantity":1,"unit_price":1}]})",
  });
  ASSERT_EQ(events->num_rows(), 3);
  auto orders = JoinOrdersFromEvents(*events, {0, 2}).ValueOrDie();
  ASSERT_TRUE(orders->schema()->Equals(*format::JoinOrderSchema()));
  ASSERT_TRUE(orders->ValidateFull().ok());
  EXPECT_EQ(Rows(*orders, {"order_id", "event_id", "order_time", "order_total", "currency",
                           "kafka_partition", "kafka_offset"}),
            (std::vector<std::string>{"O-a|a|1795514400000000|39.9801|USD|3|0",
                                      "O-c|c|1795514400500000|28.5000|EUR|3|2"}));
  auto one = JoinOrdersFromEvents(*events, {1}).ValueOrDie();
  EXPECT_EQ(Rows(*one, {"order_id", "order_total", "currency"}),
            std::vector<std::string>{"O-b|5.0000|null"});
  EXPECT_EQ(JoinOrdersFromEvents(*events, {}).ValueOrDie()->num_rows(), 0);
  EXPECT_FALSE(JoinOrdersFromEvents(*events, {3}).ok());
}

// --- Randomized: batch boundaries do not matter -----------------------------------------

struct Item {
  bool is_order;
  size_t index;
  int64_t time;
};

/// Feeds `orders` and `payments` in `batches` random batches (random order within each) with
/// a monotone watermark that never makes an input late, then flushes.
Output RunRandomSplit(const std::vector<OrderIn>& orders, const std::vector<PaymentIn>& payments,
                      int batches, std::mt19937_64& rng) {
  std::vector<Item> items;
  for (size_t i = 0; i < orders.size(); ++i) items.push_back({true, i, orders[i].time_us});
  for (size_t i = 0; i < payments.size(); ++i) items.push_back({false, i, payments[i].time_us});
  std::shuffle(items.begin(), items.end(), rng);
  std::vector<std::vector<Item>> split(static_cast<size_t>(batches));
  for (const Item& it : items) split[rng() % split.size()].push_back(it);
  // Watermark before batch k: at most the earliest time of batch k or any later one.
  std::vector<int64_t> suffix_min(split.size() + 1, std::numeric_limits<int64_t>::max());
  for (size_t k = split.size(); k-- > 0;) {
    suffix_min[k] = suffix_min[k + 1];
    for (const Item& it : split[k]) suffix_min[k] = std::min(suffix_min[k], it.time);
  }
  int64_t max_time = 0;
  for (const Item& it : items) max_time = std::max(max_time, it.time);
  const int64_t flush = max_time + kAfter + kBefore + 1;
  std::vector<int64_t> wm(split.size() + 1, kNoJoinWatermark);
  for (size_t k = 1; k <= split.size(); ++k) {
    const int64_t cap = std::min(suffix_min[k], flush);
    const int64_t slack = static_cast<int64_t>(rng() % (3 * kMinute));
    wm[k] = std::max(wm[k - 1], rng() % 4 == 0 ? cap : cap - slack);
  }
  PaymentJoin join;
  Output out;
  for (size_t k = 0; k < split.size(); ++k) {
    std::vector<OrderIn> o;
    std::vector<PaymentIn> p;
    for (const Item& it : split[k]) {
      if (it.is_order) {
        o.push_back(orders[it.index]);
      } else {
        p.push_back(payments[it.index]);
      }
    }
    EXPECT_TRUE(join.Consume(*Orders(o), *Payments(p), wm[k]).ok());
    EXPECT_TRUE(join.AdvanceWatermark(wm[k + 1]).ok());
    Take(&join, static_cast<int64_t>(k), &out);
  }
  EXPECT_TRUE(join.AdvanceWatermark(flush).ok());
  Take(&join, batches, &out);
  EXPECT_EQ(join.unmatched_orders(), 0);
  EXPECT_EQ(join.unmatched_payments(), 0);
  EXPECT_EQ(join.state_bytes(), 0);
  return out;
}

TEST_F(PaymentJoinTest, RandomBatchSplitsMatchBruteForce) {
  std::mt19937_64 rng(20261201);
  for (int trial = 0; trial < 30; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    // Per order_id: maybe an order, maybe a payment near it (sometimes exactly on or just
    // past a bound), maybe one more far outside its interval. So at most one payment is
    // eligible for each order, and the pairing is unique.
    std::vector<OrderIn> orders;
    std::vector<PaymentIn> payments;
    const int ids = 1 + static_cast<int>(rng() % 80);
    for (int i = 0; i < ids; ++i) {
      const std::string id = "O-" + std::to_string(i);
      const int64_t to = kT + static_cast<int64_t>(rng() % (600 * kMinute));
      const bool has_order = rng() % 10 < 8;
      if (has_order) {
        orders.push_back({id, "e" + std::to_string(i), to, (1 + static_cast<int64_t>(rng() % 3)) * kUnit,
                          rng() % 5 == 0 ? std::optional<std::string>() : "USD"});
      }
      auto payment = [&](int n, int64_t tp) {
        payments.push_back({"p" + std::to_string(i) + "-" + std::to_string(n), id, tp,
                            (1 + static_cast<int64_t>(rng() % 3)) * kUnit,
                            rng() % 6 == 0 ? "EUR" : "USD"});
      };
      if (rng() % 10 < 7) {
        const int64_t edges[] = {to - kBefore, to - kBefore - 1, to + kAfter, to + kAfter + 1};
        payment(0, rng() % 4 == 0 ? edges[rng() % 4]
                                  : to - kBefore - kMinute +
                                        static_cast<int64_t>(rng() % (kBefore + kAfter + 2 * kMinute)));
      }
      if (rng() % 10 < 2) {
        payment(1, rng() % 2 == 0 ? to + kAfter + 1 + static_cast<int64_t>(rng() % kAfter)
                                  : to - kBefore - 1 - static_cast<int64_t>(rng() % kAfter));
      }
    }
    // Brute force over the whole input at once.
    std::vector<std::string> matches, left;
    std::vector<bool> paid(payments.size(), false);
    for (const OrderIn& o : orders) {
      std::optional<size_t> best;
      for (size_t j = 0; j < payments.size(); ++j) {
        const PaymentIn& p = payments[j];
        if (p.order_id == o.order_id && o.time_us - kBefore <= p.time_us &&
            p.time_us <= o.time_us + kAfter) {
          EXPECT_FALSE(best.has_value()) << "the generator makes one eligible payment at most";
          best = j;
        }
      }
      if (!best) {
        left.push_back("missing_payment|" + o.order_id + "|" + o.event_id + "|null|false");
        continue;
      }
      const PaymentIn& p = payments[*best];
      paid[*best] = true;
      matches.push_back(o.order_id + "|" + o.event_id + "|" + p.payment_id + "|" +
                        std::to_string((p.time_us - o.time_us) / 1000));
      if (o.total != p.amount || (o.currency && *o.currency != p.currency)) {
        left.push_back("amount_mismatch|" + o.order_id + "|" + o.event_id + "|" + p.payment_id +
                       "|false");
      }
    }
    for (size_t j = 0; j < payments.size(); ++j) {
      if (!paid[j]) {
        left.push_back("orphan_payment|" + payments[j].order_id + "|null|" +
                       payments[j].payment_id + "|false");
      }
    }
    std::sort(matches.begin(), matches.end());
    std::sort(left.begin(), left.end());

    for (int split = 0; split < 3; ++split) {
      SCOPED_TRACE("split " + std::to_string(split));
      Output out = RunRandomSplit(orders, payments, 1 + static_cast<int>(rng() % 12), rng);
      std::sort(out.matches.begin(), out.matches.end());
      std::vector<std::string> got;
      for (const std::string& r : out.reconciliation) {
        got.push_back(r.substr(0, r.rfind('|')));  // without the watermark
      }
      std::sort(got.begin(), got.end());
      EXPECT_EQ(out.matches, matches);
      EXPECT_EQ(got, left);
    }
  }
}

}  // namespace
}  // namespace medallion::ops
